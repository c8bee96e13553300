#!/usr/bin/env python3
"""A persisted cache mount (`cacheMount ... with persist REF`): the dependency step cold on a new machine (engine
A, which then pushes the cache with `--persist-caches`) against the same step on another new machine's first build
(engine B, seeded from the pushed image), and the size and time of the push.

The dependency step stands in for `npm ci`: for each of N packages missing from its download cache it sleeps
(`--sleep`, the download) and writes `--kib` KiB of random bytes (the package: incompressible, so the push moves
real bytes). Each machine is a private engine (its own dockerd and empty build cache, as the integration tests'
`fresh_engine`); the registry ref is new each run, so A's first build finds nothing.

    .venv/bin/python bench/persist_cache.py [--runs R] [--packages N] [--sleep S] [--kib K]

Needs root and the engine's binaries (scripts/engine up). Prints each run and the medians; raw samples go to
bench/results/.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from conftest import PrivateEngine, private_engine_running  # noqa: E402
from results_file import save  # noqa: E402

STEP = "install packages"


def module(packages: int, sleep: float, kib: int, ref: str) -> str:
    names = "\\n".join(f"pkg{i} 1.{i}.0" for i in range(packages))
    lines = [
        "fs default() {",
        '\timage "busybox:latest"',
        '\tmkdir "/src" 0o755',
        f'\tmkfile "/src/packages.txt" 0o644 "{names}\\n"',
        '\tdir "/src"',
        "\trun <<-SCRIPT",
        f"\t\t# {STEP}",
        "\t\twhile read name version; do",
        "\t\t\ttest -f /root/.npm/$name-$version.tgz && continue",
        f"\t\t\tsleep {sleep}",
        f"\t\t\thead -c {kib * 1024} /dev/urandom > /root/.npm/$name-$version.tgz",
        '\t\t\techo "fetched $name"',
        "\t\tdone < packages.txt",
        "\tSCRIPT with option {",
        '\t\tnetwork "none"',
        f'\t\tcacheMount "/root/.npm" with option {{ id "npm"; persist "{ref}"; }}',
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def run(machine: PrivateEngine, build: Path, *flags: str) -> tuple[str, float]:
    cmd = [sys.executable, "-m", "hlb", "run", "--progress", "plain", *flags, str(build)]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=machine.env, capture_output=True, text=True, cwd=ROOT)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return done.stderr, took


def step_time(stderr: str) -> float:
    """How long the dependency step ran (its `#N DONE 1.2s` line in plain progress)."""
    m = re.search(rf"^(?:\[\d+\] )?#(\d+) /bin/sh -c '# {STEP}", stderr, re.M)
    if not m:
        raise SystemExit(f"the dependency step is not in the output:\n{stderr[-3000:]}")
    done = re.search(rf"^(?:\[\d+\] )?#{m.group(1)} DONE ([\d.]+)s$", stderr, re.M)
    if not done:
        raise SystemExit(f"the dependency step did not finish:\n{stderr[-3000:]}")
    return float(done.group(1))


def push_cost(stderr: str) -> tuple[str, float]:
    """(size, seconds) of the persist solve: its `cache pushed: SIZE in N layer(s), Ts` line."""
    m = re.search(r"^  cache pushed: (.+?) in \d+ layers?, ([\d.]+)s$", stderr, re.M)
    if not m:
        raise SystemExit(f"no push in the output:\n{stderr[-3000:]}")
    return m.group(1), float(m.group(2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--packages", type=int, default=20)
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds per package downloaded (default: 1)")
    parser.add_argument("--kib", type=int, default=1024, help="KiB per package (default: 1024)")
    args = parser.parse_args()
    samples: list[dict[str, object]] = []
    for _ in range(args.runs):
        ref = f"127.0.0.1:5000/hlb-bench-{uuid.uuid4().hex[:12]}/npm-cache:latest"
        with tempfile.TemporaryDirectory() as tmp:
            build = Path(tmp) / "build.hlb"
            build.write_text(module(args.packages, args.sleep, args.kib, ref))
            with private_engine_running() as a:
                cold, cold_wall = run(a, build, "--persist-caches")
            with private_engine_running() as b:
                warm, warm_wall = run(b, build)
        if re.search(r"^(?:\[\d+\] )?#\d+ [\d.]+ fetched ", warm, re.M):
            raise SystemExit(f"engine B fetched packages:\n{warm[-3000:]}")
        size, push = push_cost(cold)
        sample = {
            "cold_step": step_time(cold),
            "b_step": step_time(warm),
            "cold_wall": cold_wall,
            "b_wall": warm_wall,
            "push_size": size,
            "push_seconds": push,
        }
        samples.append(sample)
        print(json.dumps(sample), flush=True)

    def med(key: str) -> float:
        return statistics.median(float(s[key]) for s in samples)  # type: ignore[arg-type]

    print(f"\nmedian of {args.runs} runs, {args.packages} packages of {args.kib} KiB, {args.sleep}s each to fetch:")
    print(f"  dependency step: cold (A) {med('cold_step'):.2f}s, B's first build {med('b_step'):.2f}s, ratio "
          f"{med('b_step') / med('cold_step'):.3f}")  # fmt: skip
    print(f"  whole hlb run: A (build + push) {med('cold_wall'):.2f}s, B {med('b_wall'):.2f}s")
    print(f"  push: {samples[0]['push_size']} in {med('push_seconds'):.2f}s")
    save("persist_cache", samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
