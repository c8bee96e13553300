"""The long fuzz run: parse + check + compile (+ format) of many generated and mutated programs.

Unlike the pytest properties, which stop at the first failure and shrink it, this run keeps going
and groups failures by cause, keeping the shortest input of each group, then prints a summary:

    .venv/bin/python bench/fuzz_long.py [--examples N] [--seed S]

The programs come from tests/unit/test_fuzz_hypothesis.py: generated from the grammar, well-typed
(with the shapes of issue 10), and mutated from the valid corpus and from well-typed programs.
Exit status 1 when anything but diagnostics came out. bench/fuzz_fast.py is the same without
Hypothesis, a few times faster (no shrinking), for a million inputs.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit"))

import test_fuzz_hypothesis as fuzz  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=None, help="default: a random seed, printed")
    args = ap.parse_args()
    run_seed = args.seed if args.seed is not None else random.randrange(2**32)
    failures: dict[str, tuple[str, str]] = {}  # kind -> (shortest input, message)
    counts: dict[str, int] = {}
    done = 0

    @seed(run_seed)
    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(fuzz.programs(), fuzz.mutants(), fuzz.typed_programs(), fuzz.mutated_typed_programs()))
    def run(text: str) -> None:
        nonlocal done
        done += 1
        try:
            fuzz.assert_only_diagnostics(text, report_known=True)
        except fuzz.Failure as f:
            counts[f.kind] = counts.get(f.kind, 0) + 1
            if f.kind not in failures or len(text) < len(failures[f.kind][0]):
                failures[f.kind] = (text, str(f))

    start = time.monotonic()
    run()
    elapsed = time.monotonic() - start
    print(
        f"seed {run_seed}: {done} programs in {elapsed:.0f} s ({done / elapsed:.0f}/s), {sum(counts.values())} failures"
    )
    for kind, (text, message) in sorted(failures.items()):
        print(f"\n== {counts[kind]} x {kind}\nshortest input: {text!r}\n{message}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
