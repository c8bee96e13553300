"""`hlb` ends its process without the interpreter's teardown (hlb/cli/main.py `exit_now`), and loses nothing
by it: other threads' work, atexit functions and buffered output all complete first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = """
import atexit, sys, threading, time
from hlb.cli.main import exit_now

def late():
    time.sleep(0.3)
    with open(sys.argv[1], "w") as f:
        f.write("written")

threading.Thread(target=late).start()
from concurrent.futures import ThreadPoolExecutor
pool = ThreadPoolExecutor(2)  # never shut down: its idle worker must not keep the process alive
pool.submit(time.sleep, 0.1).result()
atexit.register(lambda: print("atexit ran", file=sys.stderr))
sys.stdout.write("buffered " * 1000)  # not flushed when exit_now is called
exit_now(3)
"""


def test_exit_now_waits_for_threads_runs_atexit_and_flushes(tmp_path: Path) -> None:
    out = tmp_path / "late"
    done = subprocess.run([sys.executable, "-c", PROBE, str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert out.read_text() == "written"
    assert done.stdout == "buffered " * 1000
    assert "atexit ran" in done.stderr


def test_the_hlb_command_exits_with_the_command_status(tmp_path: Path) -> None:
    bad = tmp_path / "bad.hlb"
    bad.write_text('fs default() {\n\tscratch\n\tmkfile "/a" 0o644 x\n}\n')
    done = subprocess.run([sys.executable, "-m", "hlb", "check", str(bad)], capture_output=True, text=True)
    assert done.returncode == 1 and "bad.hlb:3:20: error:" in done.stderr
    done = subprocess.run([sys.executable, "-m", "hlb", "format", str(bad)], capture_output=True, text=True, env=None)
    assert done.returncode == 0 and done.stdout.startswith("fs default() {")


def test_a_closed_stdout_is_not_success(tmp_path: Path) -> None:
    build = tmp_path / "b.hlb"
    build.write_text("fs default() {\n\tscratch\n}\n" * 2000)
    p = subprocess.Popen(
        [sys.executable, "-m", "hlb", "format", str(build)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert p.stdout is not None
    p.stdout.close()  # like `hlb format big.hlb | head -0`
    p.wait(timeout=60)
    assert p.returncode != 0
