"""Snapshots of the LLB each builtin and option lowers to (tests/cases/compile/*.hlb).

Update with `pytest --snapshot-update` and review the diff like code. The
other areas' cases are in tests/cases/compile/<area>/, snapshotted by
test_snapshots_<area>.py beside this module.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from hlb.builtins.registry import all_builtins

CASES = Path(__file__).parents[2] / "cases" / "compile"


@pytest.mark.parametrize("path", sorted(CASES.glob("*.hlb")), ids=lambda p: p.stem)
def test_llb_snapshot(path: Path, snapshot: SnapshotAssertion, llb_json: Callable[[Path], str]) -> None:
    assert llb_json(path) == snapshot


def test_every_builtin_has_a_snapshot_case() -> None:
    text = "\n".join(p.read_text() for p in CASES.rglob("*.hlb"))
    # Builtins without a lowering are only declared.
    missing = [b.signature() for b in all_builtins() if b.lower is not None and b.name not in text]
    assert missing == []
