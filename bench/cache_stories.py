#!/usr/bin/env python3
"""The five caching stories of examples/caching/: wall time cold on a new machine, then warm on another new
machine that has only the registry's caches (a fresh CI runner).

Each machine is a private engine (its own dockerd, containerd and empty build cache; started as the integration
tests' `fresh_engine` is); the registry prefix is new each run, so the cold run finds nothing.

    .venv/bin/python bench/cache_stories.py [--runs R] [--story NAME ...]

Needs root and the engine's binaries (scripts/engine up). Prints, per story, the median cold and warm wall time
of the story's hlb command(s) (engine start-up excluded) and the warm/cold ratio; raw samples go to
bench/results/.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from conftest import PrivateEngine, private_engine_running  # noqa: E402
from results_file import save  # noqa: E402

EXAMPLES = ROOT / "examples" / "caching"


@dataclass
class Story:
    """A story's hlb commands: timed on a new machine (cold), then untimed on another (``settle``, when the
    story needs a run between: the first install on a primed snapshot), then timed on a third (warm)."""

    cold: list[list[str]]
    warm: list[list[str]]
    settle: list[list[str]] = field(default_factory=list)


def stories(r: str, nonce: str) -> dict[str, Story]:
    """Each story's commands (hlb run arguments) as its example's header gives them, refs under ``r``."""

    def cache(name: str) -> list[str]:
        ref = f"{r}/example/{name}"
        return ["--cache-from", ref, "--cache-to", f"type=registry,ref={ref},mode=max"]

    def same(*commands: list[str]) -> Story:
        return Story(list(commands), list(commands))

    return {
        "publish": same(["-t", "release", "--arg", f"version=1.{nonce}", *cache("publish-cache:main")]),
        "release": same(["-t", "release", *cache("release-cache:main")]),
        "services": same(["-t", "api,web,worker", *cache("services-cache:ci")]),
        # The project's first run and the scheduled snapshot; a new machine then installs on the snapshot
        # (the step reruns: its mount is now the image), and the next new machine finds that install cached.
        "dependencies": Story(
            [["-t", "install"], ["-t", "install,snapshotModules"]], [["-t", "install"]], [["-t", "install"]]
        ),
        "ci": same(cache("ci-cache:main")),
    }


def run(machine: PrivateEngine, registry: str, args: list[str], example: str) -> float:
    env = machine.env | {"HLB_REGISTRY": registry}
    cmd = [sys.executable, "-m", "hlb", "run", "--progress", "plain", *args, str(EXAMPLES / f"{example}.hlb")]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--story", action="append", help="only these stories (default: all five)")
    args = parser.parse_args()
    samples: dict[str, dict[str, list[float]]] = {}
    for _ in range(args.runs):
        nonce = uuid.uuid4().hex[:12]
        registry = f"127.0.0.1:5000/hlb-bench-{nonce}"
        for name, story in stories(registry, nonce).items():
            if args.story and name not in args.story:
                continue
            times = samples.setdefault(name, {"cold": [], "warm": []})
            for phase, commands in (("cold", story.cold), ("settle", story.settle), ("warm", story.warm)):
                if not commands:
                    continue
                with private_engine_running() as machine:
                    took = sum(run(machine, registry, c, name) for c in commands)
                if phase in times:
                    times[phase].append(took)
                    print(f"{name} {phase}: {took:.2f}s", flush=True)
    print(f"\nmedian of {args.runs} runs (wall time of the story's hlb commands on a new machine):")
    for name, times in samples.items():
        cold, warm = statistics.median(times["cold"]), statistics.median(times["warm"])
        print(f"  {name:13} cold {cold:6.2f}s  warm {warm:6.2f}s  warm/cold {warm / cold:.2f}")
    save("cache_stories", samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
