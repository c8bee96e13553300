"""The real engine for integration tests.

If DOCKER_HOST or BUILDKIT_HOST is set, tests use that daemon. Otherwise the
session starts the project's own engine with `scripts/engine up` (installing it
on first use). An unreachable engine fails the tests; it never skips them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
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
