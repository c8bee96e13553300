#!/usr/bin/env python3
"""N services that share one cache mount, built at once: what `shared`, `locked` and `private` cost.

Each service's step "installs" the same P packages into a cache mount: a package missing from the mount is
fetched (a sleep of --fetch seconds), then marked in the mount; every fetch is logged in a second, shared
mount. All N services are built by one `hlb run -t s1,...,sN` (one solve each, run concurrently), first with the cache
empty (cold: a new id each round), then again with the step forced to rerun (warm: the same id, a new
value of the step's env). A last solve reads the log. Reported per mode: wall time cold and warm, and how
many fetches happened (P is the least possible; N x P means no service profited from another).

    .venv/bin/python bench/sharing_modes.py [--services N] [--packages P] [--fetch S] [--runs R]

Needs the engine (scripts/engine up); builds on it with new cache ids, so nothing is pruned.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from results_file import save

ROOT = Path(__file__).resolve().parents[1]
HLB = ROOT / ".venv" / "bin" / "hlb"
MODES = ("shared", "locked", "private")


def module(mode: str, cache_id: str, services: int, packages: int, fetch: float, round_: str) -> str:
    step = (
        f"for p in $(seq 1 {packages}); do "
        f"if [ ! -e /cache/pkg$p ]; then sleep {fetch}; echo $SVC-$p >> /log/fetched; touch /cache/pkg$p; fi; "
        "done"
    )
    # The log lives in a mount of its own, shared: a private mount's copies would each keep a part of it.
    log = f'cacheMount "/log" with option {{ id "{cache_id}-log"; sharing "shared" }}'
    mount = f'cacheMount "/cache" with option {{ id "{cache_id}"; sharing "{mode}" }}; {log}'
    funcs = [
        f"fs s{i}() {{\n"
        f'\timage "busybox:latest"\n'
        f'\tenv "SVC" "s{i}"\n'
        f'\tenv "ROUND" "{round_}"\n'
        f'\trun "{step}" with option {{ {mount} }}\n'
        "}\n"
        for i in range(1, services + 1)
    ]
    count = (
        "fs count() {\n"
        '\timage "busybox:latest"\n'
        f'\tenv "ROUND" "{round_}"\n'
        '\trun "mkdir /out; touch /log/fetched; cp /log/fetched /out/fetched" with option { '
        f"{log} }}\n"
        '\tdownload "out"\n'
        "}\n"
    )
    return "\n".join(funcs) + "\n" + count


def hlb_run(directory: Path, *args: str) -> float:
    start = time.monotonic()
    subprocess.run([str(HLB), "run", "--progress", "plain", *args, str(directory / "build.hlb")],
                   check=True, capture_output=True, cwd=directory)  # fmt: skip
    return time.monotonic() - start


def one_round(mode: str, services: int, packages: int, fetch: float) -> dict[str, float]:
    cache_id = f"bench-sharing-{uuid.uuid4().hex[:12]}"
    targets = ",".join(f"s{i}" for i in range(1, services + 1))
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="hlb-sharing-") as tmp:
        d = Path(tmp)
        for phase in ("cold", "warm"):
            (d / "build.hlb").write_text(module(mode, cache_id, services, packages, fetch, uuid.uuid4().hex))
            result[f"{phase}_s"] = hlb_run(d, "-t", targets)
            (d / "build.hlb").write_text(module(mode, cache_id, services, packages, fetch, uuid.uuid4().hex))
            hlb_run(d, "-t", "count")
            lines = (d / "out" / "out" / "fetched").read_text().splitlines()  # the whole filesystem is downloaded
            result[f"{phase}_fetches"] = len(lines) - result.get("cold_fetches", 0) if phase == "warm" else len(lines)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=4)
    ap.add_argument("--packages", type=int, default=10)
    ap.add_argument("--fetch", type=float, default=0.3)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not os.environ.get("DOCKER_HOST") and not os.environ.get("BUILDKIT_HOST"):
        raise SystemExit('no engine: eval "$(scripts/engine env)" first')
    samples: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    for _ in range(args.runs):
        for mode in MODES:  # interleaved, so load changes hit every mode alike
            samples[mode].append(one_round(mode, args.services, args.packages, args.fetch))
    least = args.packages
    print(f"{args.services} services, {args.packages} packages at {args.fetch} s each, median of {args.runs}")
    print(f"{'sharing':8} {'cold s':>7} {'cold fetches':>13} {'warm s':>7} {'warm fetches':>13}")
    for mode in MODES:
        med = {k: statistics.median(s[k] for s in samples[mode]) for k in samples[mode][0]}
        print(f"{mode:8} {med['cold_s']:7.2f} {med['cold_fetches']:>8.0f} (>= {least}) "
              f"{med['warm_s']:7.2f} {med['warm_fetches']:>13.0f}")  # fmt: skip
    save("sharing_modes", {"args": vars(args), "samples": samples})


if __name__ == "__main__":
    main()
