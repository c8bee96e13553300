#!/usr/bin/env bash
# The long fuzz runs, failures grouped by cause with the shortest input of each group:
#
#   bench/fuzz.sh [--seed S]          HLB_FUZZ_EXAMPLES (default 20000) Hypothesis examples: grammar-generated,
#                                     well-typed and mutated programs through parse + check + compile + format
#                                     (bench/fuzz_long.py, ~60/s)
#   bench/fuzz.sh --fast [--inputs N] [--seed S] [--procs P] [--minutes M]
#                                     N (default 1,000,000) inputs without Hypothesis, in P processes (default 2)
#                                     seeded S, S+1...; the same checks (bench/fuzz_fast.py, ~350-400/s a process)
#
# For the pytest form, which stops at the first failure and shrinks it:
#   HLB_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest -m fuzz_long tests/unit/test_fuzz_hypothesis.py
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if [[ "${1:-}" == "--fast" ]]; then
	shift
	exec "$PY" bench/fuzz_fast.py "$@"
fi
exec "$PY" bench/fuzz_long.py --examples "${HLB_FUZZ_EXAMPLES:-20000}" "$@"
