"""LLB snapshots of file operations, merge and diff (tests/cases/compile/fileops/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parents[2] / "cases" / "compile" / "fileops").glob("*.hlb")), ids=lambda p: p.stem
)
def test_llb_snapshot(path: Path, snapshot: SnapshotAssertion, llb_json: Callable[[Path], str]) -> None:
    assert llb_json(path) == snapshot
