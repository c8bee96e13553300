"""Mutated programs end in diagnostics, never in exceptions (a fixed-seed mutation fuzzer).

A longer run: HLB_FUZZ_ITERATIONS=200000 pytest tests/unit/test_fuzz_mutations.py
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from hlb.api import compile_source
from hlb.diagnostics import HlbError, render_all
from hlb.llb import Platform
from hlb.source import SourceFile

ROOT = Path(__file__).resolve().parents[2]
TOKENS = [*'{}()",;\n\t #$\\`.:0o7x9ab_', "with", "as", "option", "option::run", "fs", "string", "int", "image",
          "run", "${", "cacheMount", "mount", "0o", '""', "import", "export", "variadic", "binds", "from"]  # fmt: skip


def mutate(rng: random.Random, text: str) -> str:
    s = list(text)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(len(s) + 1)
        roll = rng.random()
        if roll < 0.4 and s:
            del s[min(pos, len(s) - 1)]
        elif roll < 0.8:
            s.insert(pos, rng.choice(TOKENS))
        else:
            j = rng.randrange(len(s) + 1)
            s[pos:pos] = s[j : j + rng.randint(1, 20)]
    return "".join(s)


def test_mutated_programs_only_produce_diagnostics() -> None:
    seeds = [p.read_text() for p in sorted((ROOT / "tests" / "cases" / "compile").glob("*.hlb"))]
    seeds.append((ROOT / "examples" / "hello.hlb").read_text())
    rng = random.Random(20261122)
    amd64 = Platform("linux", "amd64")
    for _ in range(int(os.environ.get("HLB_FUZZ_ITERATIONS", "3000"))):
        text = mutate(rng, rng.choice(seeds))
        try:
            compile_source(SourceFile("fuzz.hlb", text), ["default"], amd64)
        except HlbError as e:
            assert e.diagnostics
            render_all(e.diagnostics)
        except Exception as e:  # pragma: no cover - the failure report
            raise AssertionError(f"{type(e).__name__}: {e} for input:\n{text}") from e
