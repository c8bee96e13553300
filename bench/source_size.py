"""Peak memory and time of ``hlb check``, ``hlb compile`` and ``hlb format`` against the size of the source.

    .venv/bin/python bench/source_size.py [--mib N] [--runs R] [--only NAME[,NAME...]] [--commands check,format,compile]

Each input is written to a temporary ``build.hlb`` and each command runs in its own process
(``python -m hlb ...``); its peak RSS comes from ``os.wait4`` and is reported over the peak of the same command
on a one-line module, divided by the source's size in bytes. Times are wall-clock medians of ``--runs`` runs.
No engine is needed (nothing here resolves an image).

Inputs (N MiB each, default 10):

* ``string``: one double-quoted string literal of N MiB (with a ``\\n`` escape every 64 characters),
  the content of an ``mkfile``;
* ``heredoc``: the same bytes in a ``<<EOM`` heredoc;
* ``comment``: one comment line of N MiB;
* ``lines``: 100,000 short lines (one statement each);
* ``oneline``: 583,000 statements on one line separated by ``;``;
* ``copies``: 100,000 lines of ``copy scratch "/" "/dN"`` (each step adds an image history entry).

For ``compile`` (``--format binary``), the output holds the string's bytes twice itself (the mkfile data and
the source map): 2 B/byte of the peak is that.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _string(size: int) -> str:
    chunk = "x" * 62 + "\\n"
    body = chunk * (size // len(chunk))
    return f'fs default() {{\n\tscratch\n\tmkfile "/f" 0o644 "{body}"\n}}\n'


def _heredoc(size: int) -> str:
    line = "x" * 63 + "\n"
    body = line * (size // len(line))
    return f'fs default() {{\n\tscratch\n\tmkfile "/f" 0o644 <<EOM\n{body}EOM\n}}\n'


def _comment(size: int) -> str:
    return "# " + "c" * size + "\nfs default() {\n\tscratch\n}\n"


def _lines(_: int) -> str:
    body = "".join(f'\tmkdir "/d{i}" 0o755\n' for i in range(100_000))
    return "fs default() {\n\tscratch\n" + body + "}\n"


def _copies(_: int) -> str:
    body = "".join(f'\tcopy scratch "/" "/d{i}"\n' for i in range(100_000))
    return "fs default() {\n\tscratch\n" + body + "}\n"


def _oneline(_: int) -> str:
    return "fs default() { scratch; " + "; ".join('mkdir "/d" 0o755' for _ in range(583_000)) + " }\n"


INPUTS: dict[str, Callable[[int], str]] = {
    "string": _string,
    "heredoc": _heredoc,
    "comment": _comment,
    "lines": _lines,
    "oneline": _oneline,
    "copies": _copies,
}
BASE = 'fs default() { scratch; mkfile "/f" 0o644 "x" }\n'


def _command(name: str, path: Path) -> list[str]:
    if name == "compile":
        return [sys.executable, "-m", "hlb", "compile", "--format", "binary", str(path)]
    if name == "format":
        return [sys.executable, "-m", "hlb", "format", str(path)]
    return [sys.executable, "-m", "hlb", name, str(path)]


def measure(cmd: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in bytes, exit status) of one run of ``cmd``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace")[:2000])
    return elapsed, usage.ru_maxrss * 1024, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default=",".join(INPUTS))
    ap.add_argument("--commands", default="check,format,compile")
    args = ap.parse_args()
    size = int(args.mib * 1024 * 1024)
    commands = args.commands.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.hlb"
        base.write_text(BASE)
        base_rss = {c: min(measure(_command(c, base))[1] for _ in range(args.runs)) for c in commands}
        print(
            f"{'input':8} {'bytes':>10} {'command':8} {'median s':>9} {'peak MiB':>9} {'over base':>10} {'B/byte':>7}"
        )
        for name in args.only.split(","):
            text = INPUTS[name](size)
            path = Path(tmp) / "build.hlb"
            path.write_text(text)
            n = len(text.encode())
            for c in commands:
                runs = [measure(_command(c, path)) for _ in range(args.runs)]
                if any(r[2] != 0 for r in runs):
                    print(f"{name:8} {n:>10} {c:8} failed (exit {runs[0][2]})")
                    continue
                t = statistics.median(r[0] for r in runs)
                rss = max(r[1] for r in runs)
                over = rss - base_rss[c]
                print(
                    f"{name:8} {n:>10} {c:8} {t:>9.2f} {rss / 2**20:>9.0f} {over / 2**20:>9.0f}M {over / n:>7.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
