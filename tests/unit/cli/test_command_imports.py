"""Each command imports only what it needs: the commands that never talk to a daemon never load grpc."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = """
import sys
from hlb.cli.main import main
code = main(sys.argv[1:])
print("LOADED:" + ",".join(m for m in ("grpc", "hlb.solver", "hlb.session", "rich") if m in sys.modules))
raise SystemExit(code)
"""


@pytest.mark.parametrize("command", [["check"], ["lint"], ["format", "--check"], ["fmt", "--check"]])
def test_commands_without_a_daemon_do_not_load_grpc(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *command, str(ROOT / "examples" / "hello.hlb")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "LOADED:", done.stdout


def test_run_loads_the_solver() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "run", "--tree", str(ROOT / "examples" / "hello.hlb")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "grpc" in done.stdout.strip().splitlines()[-1]
