"""Snapshots of `run` and its options (tests/cases/compile/run/*.hlb).

The cases run from tests/cases/compile so relative local paths (secrets,
SSH keys, forwarded sockets) resolve against the case's own directory.
Update with `pytest tests/unit/compiler/test_snapshots_run.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

CASES = Path(__file__).parents[2] / "cases" / "compile"


@pytest.fixture(autouse=True)
def _in_cases_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES)


@pytest.mark.parametrize("path", sorted((CASES / "run").glob("*.hlb")), ids=lambda p: p.stem)
def test_llb_snapshot(path: Path, snapshot: SnapshotAssertion, llb_json: Callable[[Path], str]) -> None:
    assert llb_json(path) == snapshot
