"""Snapshots of string builtins feeding other builtins (tests/cases/compile/strings/*.hlb).

The client machine is stood in for: a fixed environment, platform and working
directory, so the snapshots do not depend on where the tests run. Update with
`pytest tests/unit/compiler/test_snapshots_strings.py --snapshot-update` and
review the JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from hlb.builtins import strings

CASES = Path(__file__).parents[2] / "cases" / "compile"


@pytest.fixture(autouse=True)
def client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES)  # the cases are named relative to it, so module dirs resolve there
    monkeypatch.setenv("HLB_TEST_VERSION", "1.2.3")
    monkeypatch.delenv("HLB_TEST_UNSET", raising=False)
    monkeypatch.setattr(strings, "_machine", lambda: "aarch64")
    monkeypatch.setattr(strings, "_system", lambda: "darwin")
    monkeypatch.setattr(strings, "_cwd", lambda: "/home/dev/project")


@pytest.mark.parametrize("path", sorted((CASES / "strings").glob("*.hlb")), ids=lambda p: p.stem)
def test_llb_snapshot(path: Path, snapshot: SnapshotAssertion, llb_json: Callable[[Path], str]) -> None:
    assert llb_json(path) == snapshot
