"""The fast fuzz run: a million inputs through parse + check + compile + format, without Hypothesis.

    .venv/bin/python bench/fuzz_fast.py [--inputs N] [--seed S] [--procs P] [--minutes M]

Each of P processes draws its share of the N inputs from a seeded ``random.Random`` (seed S + its
index), so a run repeats exactly from its seed. The inputs:

* 40 % well-typed programs (``Typed`` in tests/unit/test_fuzz_hypothesis.py): calls that line up
  with the builtins' signatures, so most check cleanly and get compiled, with the shapes of issue 10
  now and then (calls in a cycle, binds called in their own with block, copy/mount/format/paren
  nesting around the limits, import chains, broken URLs, NUL bytes in host paths, with-blocks on
  calls without options) and, for one fs function in 500, a flat body of 100-1,500 steps;
* 20 % of those programs mutated (1-4 token or character edits);
* 35 % programs of the corpus (tests/cases, examples) mutated the same way;
* 5 % text of random tokens and characters.

Every input goes through what tests/unit/test_fuzz_hypothesis.py checks (``assert_only_diagnostics``):
parse and check; compile of every parameterless fs/pipeline target (no daemon, ``localRun`` not run)
and marshalling of its LLB when it checks cleanly; format when it parses, which must be idempotent
and keep the errors. Anything but hlb's diagnostics is an internal error. Failures are grouped by
cause (the exception and the innermost hlb frame) with the shortest input of each group; an input
running longer than 30 s is a failure too. ``--minutes`` stops the run early (the summary says how
many inputs it reached). Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit"))

import test_fuzz_hypothesis as fuzz  # noqa: E402

TOKENS = [*fuzz.INSERTS, *fuzz.BUILTINS, *fuzz.URLS, "fs default() {", "}", "\n", " ", "\x00", '"', "${", "é", "\r"]
SLOW = 30  # seconds


class Slow(BaseException):  # not an Exception: the oracle must not catch it
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Slow(f"still running after {SLOW} s")


def draw(rng: random.Random) -> str:
    k = rng.random()
    if k < 0.40:
        return fuzz.typed_program(rng, flat=0.002)
    if k < 0.60:
        return fuzz.mutate(rng, fuzz.typed_program(rng, flat=0.0), rng.randint(1, 4))
    if k < 0.95:
        return fuzz.mutate(rng, rng.choice(fuzz.SEEDS), rng.randint(1, 6))
    return "".join(rng.choice(TOKENS) for _ in range(rng.randrange(40)))


def worker(index: int, seed: int, count: int, deadline: float, out: str) -> None:
    rng = random.Random(seed)
    failures: dict[str, tuple[str, str]] = {}
    counts: dict[str, int] = {}
    first: dict[str, tuple[int, float]] = {}  # kind -> (inputs, seconds) when first found
    slowest = (0.0, "")
    signal.signal(signal.SIGALRM, _alarm)
    gc.collect()
    gc.freeze()  # the builtin table, the grammar and the corpus are never collected again
    start = last = time.monotonic()
    done = 0

    def save(elapsed: float) -> None:
        result = {"seed": seed, "done": done, "elapsed": elapsed, "counts": counts, "first": first,
                  "failures": failures, "slowest": slowest}  # fmt: skip
        Path(out + ".tmp").write_text(json.dumps(result))
        os.replace(out + ".tmp", out)  # a checkpoint: read it while the run goes on

    while done < count and time.monotonic() < deadline:
        text = draw(rng)
        t0 = time.monotonic()
        signal.alarm(SLOW)
        try:
            fuzz.assert_only_diagnostics(text, report_known=True)
            kind = message = ""
        except fuzz.Failure as f:
            kind, message = f.kind, str(f)[:4000]
        except Slow as e:
            kind, message = f"slow (over {SLOW} s) at {fuzz.where(e)}", str(e)
        finally:
            signal.alarm(0)
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
            first.setdefault(kind, (done + 1, time.monotonic() - start))
            if kind not in failures or len(text) < len(failures[kind][0]):
                failures[kind] = (text, message)
        t = time.monotonic() - t0
        if t > slowest[0]:
            slowest = (t, text[:200])
        done += 1
        now = time.monotonic()
        if now - last > 60:
            last = now
            print(
                f"[{index}] {done} inputs in {now - start:.0f} s ({done / (now - start):.0f}/s), "
                f"{sum(counts.values())} failures in {len(failures)} groups",
                file=sys.stderr,
                flush=True,
            )
            save(now - start)
    save(time.monotonic() - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1_000_000, help="in all processes together")
    ap.add_argument("--seed", type=int, default=None, help="process i uses seed S+i; default: random, printed")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=None, help="stop after this long whatever the count")
    ap.add_argument("--out", default=None, help="directory for each process's JSON result (default: a temp dir)")
    args = ap.parse_args()
    run_seed = args.seed if args.seed is not None else random.randrange(2**32)
    out = Path(args.out) if args.out else Path(fuzz.MODULE_DIR) / "results"
    out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + (args.minutes * 60 if args.minutes else 10**9)
    shares = [args.inputs // args.procs + (i < args.inputs % args.procs) for i in range(args.procs)]
    print(
        f"fuzz_fast: {args.inputs} inputs, {args.procs} processes, seeds {run_seed}..{run_seed + args.procs - 1}, "
        f"python {platform.python_version()}, {os.cpu_count()} cpus",
        file=sys.stderr,
        flush=True,
    )
    start = time.monotonic()
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=worker, args=(i, run_seed + i, shares[i], deadline, str(out / f"{i}.json")))
        for i in range(args.procs)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.monotonic() - start
    results = [json.loads((out / f"{i}.json").read_text()) for i in range(args.procs)]
    done = sum(r["done"] for r in results)
    counts: dict[str, int] = {}
    failures: dict[str, tuple[str, str]] = {}
    for r in results:
        for kind, n in r["counts"].items():
            counts[kind] = counts.get(kind, 0) + n
        for kind, (text, message) in r["failures"].items():
            if kind not in failures or len(text) < len(failures[kind][0]):
                failures[kind] = (text, message)
    slowest = max((r["slowest"] for r in results), key=lambda s: s[0])
    print(
        f"seeds {run_seed}..{run_seed + args.procs - 1}: {done} inputs in {elapsed:.0f} s "
        f"({done / elapsed:.0f}/s over {args.procs} processes), {sum(counts.values())} failures in "
        f"{len(failures)} groups; slowest input {slowest[0]:.1f} s"
    )
    if done < args.inputs:
        print(f"stopped by --minutes at {done} of {args.inputs} inputs")
    for kind, (text, message) in sorted(failures.items()):
        found = min((r["first"][kind] for r in results if kind in r["first"]), key=lambda f: f[0])
        print(
            f"\n== {counts[kind]} x {kind} (first after {found[0]} inputs, {found[1]:.0f} s, in one process)\n"
            f"shortest input: {text[:2000]!r}{' ...' if len(text) > 2000 else ''} ({len(text)} characters)\n"
            f"{message[:1000]}"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
