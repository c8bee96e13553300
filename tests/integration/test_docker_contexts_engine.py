"""A docker context selects the engine: the context is made by the docker CLI itself (`docker context
create`, in a private DOCKER_CONFIG) with the engine's socket as its endpoint, and DOCKER_HOST is unset,
so only the context can lead hlb to the engine (the default socket /var/run/docker.sock is not it)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import Engine
from test_sources_engine import _docker


@pytest.fixture
def contexts(engine: Engine, tmp_path: Path, nonce: str) -> tuple[dict[str, str], str, str]:
    """(the environment with no DOCKER_HOST and a private DOCKER_CONFIG, the engine's context, a dead one);
    the engine's context is the current one (`docker context use`)."""
    host = engine.env.get("DOCKER_HOST", "")
    assert host.startswith("unix://"), f"the shared engine is a Docker engine on a socket, not {host!r}"
    config = tmp_path / "docker-config"
    env = {k: v for k, v in engine.env.items() if k not in ("DOCKER_HOST", "BUILDKIT_HOST", "DOCKER_CONTEXT")}
    env["DOCKER_CONFIG"] = str(config)
    docker = _docker(engine)
    live, dead = f"hlb-live-{nonce}", f"hlb-dead-{nonce}"

    def cli(*args: str) -> None:
        done = subprocess.run([docker, *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    cli("context", "create", live, "--docker", f"host={host}")
    cli("context", "create", dead, "--docker", f"host=unix://{tmp_path}/nothing.sock")
    cli("context", "use", live)
    return env, live, dead


def build_file(tmp_path: Path, nonce: str) -> Path:
    f = tmp_path / "build.hlb"
    f.write_text(f'fs default() {{\n\timage "busybox:latest"\n\trun "echo built-on-context-{nonce}"\n}}\n')
    return f


def test_the_current_docker_context_is_the_engine(
    engine: Engine, contexts: tuple[dict[str, str], str, str], tmp_path: Path, nonce: str
) -> None:
    env, live, _ = contexts
    f = build_file(tmp_path, nonce)
    done = Engine(env).hlb("run", "--debug", "--progress", "plain", str(f))
    assert done.returncode == 0, done.stderr
    assert re.search(rf"#\d+ \d+\.\d+ built-on-context-{nonce}$", done.stderr, re.M), done.stderr
    assert f"(from docker context `{live}`, the currentContext of {env['DOCKER_CONFIG']}/config.json)" in done.stderr


def test_docker_context_and_the_context_flag_select_it(
    engine: Engine, contexts: tuple[dict[str, str], str, str], tmp_path: Path, nonce: str
) -> None:
    env, live, dead = contexts
    f = build_file(tmp_path, nonce)
    down = Engine({**env, "DOCKER_CONTEXT": dead}).hlb("run", str(f))
    assert down.returncode == 1
    assert f"(from docker context `{dead}`, set by DOCKER_CONTEXT)" in down.stderr
    assert "hint: is that engine running" in down.stderr and "docker context ls" in down.stderr

    chosen = Engine({**env, "DOCKER_CONTEXT": live}).hlb("run", "--debug", str(f))
    assert chosen.returncode == 0, chosen.stderr
    assert f"(from docker context `{live}`, set by DOCKER_CONTEXT)" in chosen.stderr

    # --context beats DOCKER_HOST and DOCKER_CONTEXT, as `docker --context` does
    dead_host = {**env, "DOCKER_CONTEXT": dead, "DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"}
    flagged = Engine(dead_host).hlb("run", "--debug", "--context", live, str(f))
    assert flagged.returncode == 0, flagged.stderr
    assert f"(from docker context `{live}`, chosen by --context)" in flagged.stderr
    du = Engine(dead_host).hlb("cache", "du", "--context", live)
    assert du.returncode == 0, du.stderr

    unknown = Engine(env).hlb("run", "--context", f"nosuch-{nonce}", str(f))
    assert unknown.returncode == 2
    assert f"docker context `nosuch-{nonce}` (chosen by --context) does not exist" in unknown.stderr
