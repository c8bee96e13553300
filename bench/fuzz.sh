#!/usr/bin/env bash
# The long fuzz run: HLB_FUZZ_EXAMPLES (default 20000) generated and mutated programs through
# parse + check + format, failures grouped by cause (bench/fuzz_long.py). Extra arguments are
# passed on, e.g. `bench/fuzz.sh --seed 42` to repeat a run.
# For the pytest form, which stops at the first failure and shrinks it:
#   HLB_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest -m fuzz_long tests/unit/test_fuzz_hypothesis.py
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
exec "$PY" bench/fuzz_long.py --examples "${HLB_FUZZ_EXAMPLES:-20000}" "$@"
