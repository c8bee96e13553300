"""Shared by the LLB snapshot modules: compile a case file's `default` target to dump-llb JSON.

Each area (file ops, sources, run options, ...) keeps its cases in
tests/cases/compile/<area>/ and its snapshots in its own module, so the
snapshot files of different areas never have to be updated together.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hlb.api import compile_source
from hlb.llb import Platform
from hlb.llb.dump import to_json
from hlb.source import SourceFile

CASES = Path(__file__).parents[2] / "cases" / "compile"
AMD64 = Platform("linux", "amd64")


def area_cases(area: str) -> list[Path]:
    return sorted((CASES / area).glob("*.hlb"))


@pytest.fixture
def llb_json() -> Callable[[Path], str]:
    def compile_case(path: Path) -> str:
        source = SourceFile(str(path.relative_to(CASES)), path.read_text())
        compiled = compile_source(source, ["default"], AMD64)
        return to_json(compiled.targets[0].definition)

    return compile_case
