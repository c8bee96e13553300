"""Diagnostics latency of ``hlb langserver`` after a one-character edit of a 2,000-line module.

    .venv/bin/python bench/lsp_latency.py [--lines N] [--runs R]

The server runs as editors run it (``python -m hlb langserver``, JSON-RPC over stdio; the client is the
tests' one, tests/unit/lsp/lsp_client.py). The module is bench/parse_check.py's generated one (functions
with runs, option blocks, cacheMounts, heredocs, interpolations, calls between functions). Each run sends
one ``didChange`` that inserts or deletes one character in a string in the middle of the module and times
until the server's ``publishDiagnostics`` for it arrives (wall time): that publish holds every checker error
and lint finding but the cache-mount ones, which follow once the typing pauses. A ``didSave`` (everything,
cache-mount findings included) is timed as well. Medians, with min and max; no engine needed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "unit" / "lsp"))

from lsp_client import Client  # noqa: E402
from parse_check import generate  # noqa: E402
from results_file import save  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    text = generate(args.lines)
    lines = text.split("\n")
    target = next(i for i in range(len(lines) // 2, len(lines)) if 'env "PART"' in lines[i])
    col = lines[target].index('"PART"') + 2  # inside the string: the module stays valid either way

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "big.hlb"
        path.write_text(text)
        client = Client(cwd=Path(d))
        client.initialize(Path(d))
        t = time.perf_counter()
        diags = client.open(path, text)
        opened = time.perf_counter() - t
        assert diags == [], diags[:1]
        edits, saves = [], []
        for run in range(args.runs):
            change = (
                {"range": _range(target, col, target, col), "text": "x"}
                if run % 2 == 0
                else {"range": _range(target, col, target, col + 1), "text": ""}
            )
            t = time.perf_counter()
            diags = client.change(path, run + 2, [change])
            edits.append(time.perf_counter() - t)
            assert diags == [], diags[:1]
        for _ in range(max(3, args.runs // 4)):
            t = time.perf_counter()
            client.save(path)
            saves.append(time.perf_counter() - t)
        client.shutdown()

    def ms(xs: list[float]) -> str:
        return f"median {statistics.median(xs) * 1000:.1f} ms (min {min(xs) * 1000:.1f}, max {max(xs) * 1000:.1f})"

    print(f"{len(lines)} lines, {len(text)} bytes; open (parse, check, lint, cache mounts): {opened * 1000:.0f} ms")
    print(f"one-character edit -> diagnostics, {len(edits)} runs: {ms(edits)}")
    print(f"save -> diagnostics with the cache-mount findings, {len(saves)} runs: {ms(saves)}")
    out = save("lsp_latency", {"lines": len(lines), "open_s": opened, "edit_s": edits, "save_s": saves})
    print(f"raw samples: {out}")


def _range(l1: int, c1: int, l2: int, c2: int) -> dict[str, dict[str, int]]:
    return {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}}


if __name__ == "__main__":
    main()
