#!/usr/bin/env python3
"""Warm no-op build: `hlb run` against `docker buildx build` of the same graph, same engine.

Both build busybox + two RUN steps (one with a cache mount). After one warm-up
build each, every step is cached, so the time measured is each tool's fixed
cost: start-up, parsing, compiling, connecting, the solve round trip, progress.
buildx uses the engine's `docker` driver and `--output type=cacheonly` so it
exports nothing, as hlb does.

    .venv/bin/python bench/warm_noop.py [--runs N] [--timeline]

Needs the engine (scripts/engine up) and prints the median of N runs each and
the ratio hlb / buildx; results are also written to bench/results/.
``--floor`` also times ``python -c "import grpc; from hlb._proto import control_pb2"``: the
start-up any Python BuildKit client pays before it sends a byte (add the daemon's own part of a no-op
solve, from ``--timeline``, for the least such a client can take).
``--timeline`` also runs hlb N more times with ``HLB_DEBUG=1`` and prints the
median time (since the process started) of each phase it marks, and the exit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import save

ROOT = Path(__file__).resolve().parents[1]

HLB = """\
fs default() {
	image "busybox:latest"
	run "echo hello > /greeting"
	run "cat /greeting" with option {
		cacheMount "/cache"
	}
}
"""

DOCKERFILE = """\
FROM busybox:latest
RUN echo hello > /greeting
RUN --mount=type=cache,target=/cache cat /greeting
"""


def engine_env() -> dict[str, str]:
    env = dict(os.environ)
    if not env.get("DOCKER_HOST"):
        out = subprocess.run(
            [str(ROOT / "scripts" / "engine"), "env", "--json"], capture_output=True, text=True, check=True
        )
        exported = json.loads(out.stdout)
        env["DOCKER_HOST"] = exported["DOCKER_HOST"]
        env["PATH"] = f"{exported['bin']}:{env['PATH']}"
        env["HLB_ENGINE_PREFIX"] = exported["HLB_ENGINE_PREFIX"]
    return env


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return elapsed


MARK = re.compile(r"^hlb: debug:\s+([\d.]+)s\s+[+-][\d.]+s\s+(\S+)\s+(.*)$")
IDS = re.compile(r"\b[0-9a-z]{25,26}\b")  # session and build ids


def timeline(cmd: list[str], env: dict[str, str], cwd: Path, runs: int) -> None:
    """The median time of each phase ``hlb --debug`` marks, over ``runs`` runs, in the order first seen."""
    phases: dict[str, list[float]] = {}
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        p = subprocess.run(cmd, env={**env, "HLB_DEBUG": "1"}, cwd=cwd, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        seen: dict[str, int] = {}
        for line in p.stderr.splitlines():
            m = MARK.match(line)
            if m:
                what = f"{m.group(2):16s} {IDS.sub('<id>', m.group(3))}"
                seen[what] = seen.get(what, 0) + 1
                if seen[what] > 1:
                    what += f" #{seen[what]}"
                phases.setdefault(what, []).append(float(m.group(1)))
    print(f"hlb phases, HLB_DEBUG=1, {runs} runs (median seconds since the process started; thread, phase):")
    for what, ts in sorted(phases.items(), key=lambda kv: statistics.median(kv[1])):
        print(f"  {statistics.median(ts):7.3f}  {what}" + (f"  ({len(ts)} of {runs} runs)" if len(ts) != runs else ""))
    print(f"  {statistics.median(walls):7.3f}  wall (the process, as this script waited for it)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--hlb",
        action="append",
        help="the hlb executable (default: the editable dev install; a wheel install starts faster); repeat it to "
        "compare several (e.g. two commits), every one interleaved with buildx",
    )
    parser.add_argument("--timeline", action="store_true", help="also print hlb's phases (HLB_DEBUG=1)")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also time a Python process that only imports grpc and the Control API's messages and exits (the first "
        "hlb's interpreter): what any Python client pays before its first byte to the daemon",
    )
    args = parser.parse_args()
    env = engine_env()
    prefix = Path(env.get("HLB_ENGINE_PREFIX", "/var/lib/hlb-engine/prefix"))
    with tempfile.TemporaryDirectory(prefix="hlb-bench-") as tmp:
        work = Path(tmp)
        (work / "build.hlb").write_text(HLB)
        ctx = work / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        plugins = work / "docker-config" / "cli-plugins"
        plugins.mkdir(parents=True)
        (plugins / "docker-buildx").symlink_to(prefix / "usr/libexec/docker/cli-plugins/docker-buildx")
        env["DOCKER_CONFIG"] = str(work / "docker-config")
        hlbs = args.hlb or [str(ROOT / ".venv" / "bin" / "hlb")]
        names = ["hlb"] if len(hlbs) == 1 else [f"hlb{i + 1}" for i in range(len(hlbs))]
        commands = {name: [exe, "run", "build.hlb"] for name, exe in zip(names, hlbs, strict=True)}
        commands["buildx"] = ["docker", "buildx", "build", "--progress=plain", "--output", "type=cacheonly", str(ctx)]
        if args.floor:
            python = str(Path(hlbs[0]).parent / "python")
            commands["floor"] = [python, "-c", "import grpc; from hlb._proto import control_pb2"]
        for cmd in commands.values():  # warm the caches
            timed(cmd, env, work)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved, so drift hits all alike
            for name, cmd in commands.items():
                samples[name].append(timed(cmd, env, work))
        if args.timeline:
            for name in names:
                timeline(commands[name], env, work, args.runs)
    med = {k: statistics.median(v) for k, v in samples.items()}
    ratio = {name: med[name] / med["buildx"] for name in names}
    print(f"warm no-op build, {args.runs} runs each (median, min, max in ms)")
    for name, exe in zip(names, hlbs, strict=True):
        print(f"  {name} = {exe}")
    for k, v in samples.items():
        print(f"  {k:7s} {med[k] * 1000:7.1f} {min(v) * 1000:7.1f} {max(v) * 1000:7.1f}")
    for name in [*names, *(["floor"] if args.floor else [])]:
        ratio[name] = med[name] / med["buildx"]
        print(f"  ratio {name}/buildx: {ratio[name]:.2f}")
    save("warm_noop", {"samples": samples, "median": med, "ratio": ratio})
    return 0


if __name__ == "__main__":
    sys.exit(main())
