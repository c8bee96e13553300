"""Snapshots of the LLB each builtin and option lowers to (tests/cases/compile/*.hlb).

Update with `pytest --snapshot-update` and review the diff like code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from hlb.api import compile_source
from hlb.builtins.registry import all_builtins
from hlb.llb import Platform
from hlb.llb.dump import to_json
from hlb.source import SourceFile

CASES = Path(__file__).parents[2] / "cases" / "compile"
AMD64 = Platform("linux", "amd64")


def cases() -> list[Path]:
    return sorted(CASES.glob("*.hlb"))


@pytest.mark.parametrize("path", cases(), ids=lambda p: p.stem)
def test_llb_snapshot(path: Path, snapshot: SnapshotAssertion) -> None:
    source = SourceFile(path.name, path.read_text())
    compiled = compile_source(source, ["default"], AMD64)
    assert to_json(compiled.targets[0].definition) == snapshot


def test_every_builtin_has_a_snapshot_case() -> None:
    text = "\n".join(p.read_text() for p in cases())
    # Builtins without a lowering are only declared (compiled from issue #4 on).
    missing = [b.signature() for b in all_builtins() if b.lower is not None and b.name not in text]
    assert missing == []
