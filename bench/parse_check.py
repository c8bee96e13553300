"""Parse + check time for a generated 10,000-line module.

    .venv/bin/python bench/parse_check.py [--lines N] [--runs R] [--profile]

Each run parses and checks the same text from scratch in this process and is
timed with ``time.process_time`` (CPU time, so a busy machine does not inflate
it); the median of the runs is reported, with the slowest and fastest. Lark's
LALR tables come from the per-user cache, as they do for ``hlb`` itself; the
first run is also reported separately as the cold one. The collector promotes what a parse made, as in the
``hlb`` command (``hlb._gc.promote_after_pauses``).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path

from hlb import _gc
from hlb.checker.cache import check_diagnostics
from hlb.checker.check import ModuleLoader, check_module
from hlb.source import SourceFile
from hlb.syntax.parser import parse_module

CHUNK = """# Builds part {i} of the project.
fs part{i}(string ref, int mode) {{
	image ref
	env "PART" "{i}"
	dir "/src/part{i}"
	run "make -j4 part{i}" with option {{
		env "CC" "gcc"
		cacheMount "/root/.cache/part{i}" with option {{ sharing "locked"; id "part-{i}"; }}
		mount fs {{ scratch; mkfile "/x" 0o644 "${{ref}}-{i}"; }} "/in" with readonly
	}}
	mkdir "/out/part{i}" mode with createParents
	mkfile "/out/part{i}/info" 0o644 <<-EOM
		part {i} of ${{ref}}
		built with mode ${{mode}}
	EOM
}}

option::run opts{i}() {{
	dir "/work"; user "1000:1000"
}}

fs use{i}() {{
	part{i} "busybox:latest" 0o755
	run "test -f /out/part{i}/info" with opts{i}
}}

"""


def generate(lines: int) -> str:
    out: list[str] = []
    n = 0
    i = 0
    while n < lines:
        chunk = CHUNK.format(i=i)
        out.append(chunk)
        n += chunk.count("\n")
        i += 1
    return "".join(out)


def parse_and_check(text: str) -> None:
    parsed = parse_module(SourceFile("bench.hlb", text))
    assert parsed.ok and parsed.module is not None, parsed.diagnostics[:1]
    result = check_module(parsed.module, ModuleLoader())
    assert result.ok, result.diagnostics[:1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--profile", action="store_true", help="print the top functions of one run")
    ap.add_argument("--no-cache", action="store_true", help="measure only parse + check from scratch")
    args = ap.parse_args()
    _gc.promote_after_pauses()  # as the `hlb` command's own process does (not the language server's)
    text = generate(args.lines)
    print(f"module: {text.count(chr(10))} lines, {len(text)} bytes")
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(parse_and_check, text)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        return
    times = []
    for _ in range(args.runs):
        t0 = time.process_time()
        parse_and_check(text)
        times.append(time.process_time() - t0)
    print(f"cold (first) run: {times[0] * 1000:.0f} ms")
    print(
        f"parse+check: median {statistics.median(times) * 1000:.0f} ms of {args.runs} runs "
        f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}) process time"
    )
    if not args.no_cache:
        unchanged(text, args.runs)


def unchanged(text: str, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        path = Path(tmp) / "bench.hlb"
        path.write_text(text)
        times = []
        for _ in range(runs + 1):
            t0 = time.process_time()
            diagnostics = check_diagnostics(SourceFile.read(path))
            times.append(time.process_time() - t0)
            assert not any(d.is_error for d in diagnostics), diagnostics[:1]
        hits = times[1:]
        print(f"unchanged: first check (fills the cache) {times[0] * 1000:.0f} ms")
        print(
            f"unchanged: median {statistics.median(hits) * 1000:.1f} ms of {runs} cache hits "
            f"(min {min(hits) * 1000:.1f}, max {max(hits) * 1000:.1f}) process time"
        )


if __name__ == "__main__":
    main()
