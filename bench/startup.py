#!/usr/bin/env python3
"""Start-up of the commands that never talk to a daemon: `hlb check` and `hlb format --check` of a
5-line module, whole process (interpreter start, imports, Lark table load, parse, check), against the floor
issue 13 sets: a bare interpreter that imports lark (`python -c "import lark"`). The module is unchanged
between runs (answered from the front cache) but for `hlb check, edited`, whose module is rewritten (one
string differs) before each run: a miss, parsed and checked.

    .venv/bin/python bench/startup.py [--runs N] [--hlb PATH [--hlb PATH ...]]

The commands run interleaved (drift hits all alike), after one warm-up each (the page cache, the user's
Lark table cache, the .pyc files). Prints the median, min and max wall time of each in ms; the raw samples
go to bench/results/. `--hlb` is a console script measured, repeatable to compare installs (say the wheels
of two commits) back to back (default: the editable dev install's; a wheel install starts faster: it has
no import finder); the floors and `python -m hlb` use the interpreter next to the first one. No engine
needed.

PYTHONDONTWRITEBYTECODE is removed from the commands' environment: with it, every module whose .pyc is
missing or stale is compiled again by each run (tens of ms in a fresh editable checkout), which a user's
install never pays.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import save

ROOT = Path(__file__).resolve().parents[1]

MODULE = """\
fs default() {
	image "busybox:latest"
	run "echo hello > /greeting"
	env "GREETING" "hello"
}
"""


def timed(cmd: list[str], cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--hlb", action="append", help="an hlb console script (repeatable)")
    args = parser.parse_args()
    installs = [os.path.abspath(h) for h in args.hlb or [str(ROOT / ".venv" / "bin" / "hlb")]]
    python = str(Path(installs[0]).parent / "python")
    with tempfile.TemporaryDirectory(prefix="hlb-bench-") as tmp:
        work = Path(tmp)
        (work / "small.hlb").write_text(MODULE)
        assert len(MODULE.splitlines()) == 5
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "python -c 'import lark' (floor)": [python, "-c", "import lark"],
            "python -m hlb check": [python, "-m", "hlb", "check", "small.hlb"],
        }
        for i, hlb in enumerate(installs):
            tag = f" [{i + 1}]" if len(installs) > 1 else ""
            commands[f"hlb check{tag}"] = [hlb, "check", "small.hlb"]
            commands[f"hlb format --check{tag}"] = [hlb, "format", "--check", "small.hlb"]
            commands[f"hlb check, edited{tag}"] = [hlb, "check", f"edited{i}.hlb"]
        edits = 0

        def run(cmd: list[str]) -> float:
            nonlocal edits
            if cmd[-1].startswith("edited"):  # a miss: the front cache holds no answer for this text
                edits += 1
                (work / cmd[-1]).write_text(MODULE.replace("hello", f"hello {edits}", 1))
            return timed(cmd, work)

        for cmd in commands.values():  # warm-up: page cache, Lark's table cache
            run(cmd)
        samples: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                samples[name].append(run(cmd))
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"start-up, 5-line module, {args.runs} runs each (median, min, max in ms)")
    for i, hlb in enumerate(installs):
        print(f"  [{i + 1}] {hlb}")
    for k, v in samples.items():
        print(f"  {k:34s} {med[k] * 1000:7.1f} {min(v) * 1000:7.1f} {max(v) * 1000:7.1f}")
    floor = med["python -c 'import lark' (floor)"]
    for k in med:
        if k.startswith("hlb "):
            print(f"  {k} / floor: {med[k] / floor:.2f}")
    save("startup", {"hlb": installs, "samples": samples, "median": med})
    return 0


if __name__ == "__main__":
    sys.exit(main())
