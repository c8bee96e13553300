"""The real engine for integration tests.

If DOCKER_HOST or BUILDKIT_HOST is set, tests use that daemon. Otherwise the
session starts the project's own engine with `scripts/engine up` (installing it
on first use). An unreachable engine fails the tests; it never skips them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hlb.solver.address import resolve
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
