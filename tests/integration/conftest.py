"""The real engine for integration tests.

If DOCKER_HOST or BUILDKIT_HOST is set, tests use that daemon. Otherwise the
session starts the project's own engine with `scripts/engine up` (installing it
on first use). An unreachable engine fails the tests; it never skips them.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from hlb.address import resolve
from hlb.solver.client import BuildkitClient

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.integration)


@dataclass
class Engine:
    env: dict[str, str]

    def client(self) -> BuildkitClient:
        return BuildkitClient(resolve(env=self.env))

    def hlb(self, *args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hlb", *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="session")
def engine() -> Engine:
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    if not (env.get("DOCKER_HOST") or env.get("BUILDKIT_HOST")):
        script = ROOT / "scripts" / "engine"
        up = subprocess.run([sys.executable, str(script), "up", "--quiet"], capture_output=True, text=True)
        if up.returncode != 0:
            pytest.fail(f"could not start the engine (scripts/engine up):\n{up.stdout}\n{up.stderr}")
        exported = json.loads(
            subprocess.run(
                [sys.executable, str(script), "env", "--json"], capture_output=True, text=True, check=True
            ).stdout
        )
        env["DOCKER_HOST"] = exported["DOCKER_HOST"]
    return Engine(env)


@pytest.fixture
def nonce() -> str:
    """Unique per test, so a build is never cached by an earlier test session."""
    return uuid.uuid4().hex[:12]


# -- a loopback git daemon (git sources and git module imports) ------------------------------


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "HOME": str(cwd),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory of repositories and the git://127.0.0.1:PORT URL exporting them."""
    if shutil.which("git") is None:
        pytest.fail("git is not installed (scripts/setup installs it)")
    base = tmp_path / "repos"
    base.mkdir()
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--reuseaddr",
            f"--base-path={base}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or daemon.poll() is not None:
                    pytest.fail("git daemon did not start")
                time.sleep(0.1)
        yield base, f"git://127.0.0.1:{port}"
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


# -- another machine: a private engine of its own -----------------------------------------------


def engine_script() -> ModuleType:
    """scripts/engine as a module (it has no .py suffix): its layout and offline busybox image."""
    loader = importlib.machinery.SourceFileLoader("hlb_engine_script", str(ROOT / "scripts" / "engine"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module
    loader.exec_module(module)
    return module


@dataclass
class PrivateEngine:
    """A dockerd of its own (data root, exec root, containerd, socket, bridge): a fresh machine.

    It shares nothing with the shared engine but the binaries and the loopback registry, so a
    build on it starts with an empty build cache, as a new CI runner does.
    """

    home: Path
    proc: subprocess.Popen[bytes]

    @property
    def socket(self) -> Path:
        return self.home / "run" / "docker.sock"  # where scripts/engine's Layout looks

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("BUILDKIT_HOST", "NO_COLOR")}
        return env | {"DOCKER_HOST": self.docker_host}

    def hlb(self, *args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return Engine(self.env).hlb(*args, cwd=cwd, timeout=timeout)


def _ours(home: Path) -> list[int]:
    """Processes whose command line names the private engine's directory (its containerd, shims)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if str(home) in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
    return pids


def _cleanup(home: Path, proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    for pid in _ours(home):  # dockerd too when it never answered (no process handle then)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _ours(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(str(home))), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


_bridges = itertools.count()


@contextlib.contextmanager
def private_engine_running() -> Iterator[PrivateEngine]:
    """Start a private engine; stop it (by pid) and delete its state on exit.

    It is started as `scripts/engine up --name NAME` starts a second engine (one implementation,
    `start_dockerd`), in a throwaway state directory under /tmp instead of a named one.
    """
    script = engine_script()
    shared = script.layout_from_env()
    if os.geteuid() != 0 or not shared.dockerd.exists():
        pytest.fail(f"a private engine needs root and {shared.dockerd} (scripts/engine up installs it)")
    home = Path(tempfile.mkdtemp(prefix="hlbpe-", dir="/tmp"))  # short: unix socket paths are limited
    lay = script.Layout(home, base=shared.home)
    n = next(_bridges)
    bridge = script.Bridge(f"hlbpe{os.getpid() % 10000}x{n}", f"10.213.{(os.getpid() + n) % 250}.1/24")
    proc = None
    try:
        try:
            proc = script.start_dockerd(lay, lambda _: None, bridge)
            assert proc is not None, "a new state directory has no dockerd running"
            script.ensure_busybox(lay, lambda _: None)
        except script.EngineError as e:
            pytest.fail(f"the private dockerd did not start: {e}")
        yield PrivateEngine(home, proc)
    finally:
        _cleanup(home, proc)
        with contextlib.suppress(script.EngineError):
            script.delete_bridge(bridge.name)


@pytest.fixture
def private_engine() -> Iterator[PrivateEngine]:
    """A private engine for one test (a fresh machine; the test may kill it)."""
    with private_engine_running() as e:
        yield e


@pytest.fixture
def fresh_engine() -> Iterator[PrivateEngine]:
    """Another machine with an empty build cache: a new CI runner, for the cache-moves-between-machines stories."""
    with private_engine_running() as e:
        yield e
