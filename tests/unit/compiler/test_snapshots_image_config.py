"""Snapshots of the image config builtins (tests/cases/compile/image_config/*.hlb).

They change no LLB, so each case is snapshotted twice: its Definition (the
input's LLB, unchanged) and the OCI image config an export of it writes.
Update with `pytest tests/unit/compiler/test_snapshots_image_config.py
--snapshot-update` and review both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from hlb.api import compile_source
from hlb.llb import Platform
from hlb.oci_config import oci_config
from hlb.source import SourceFile

CASES = Path(__file__).parents[2] / "cases" / "compile"
PATHS = sorted((CASES / "image_config").glob("*.hlb"))


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_llb_snapshot(path: Path, snapshot: SnapshotAssertion, llb_json: Callable[[Path], str]) -> None:
    assert llb_json(path) == snapshot


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_image_config_snapshot(path: Path, snapshot: SnapshotAssertion) -> None:
    platform = Platform("linux", "amd64")
    compiled = compile_source(SourceFile(str(path.relative_to(CASES)), path.read_text()), ["default"], platform)
    fs = compiled.targets[0].fs
    assert fs is not None
    config = json.loads(oci_config(fs, platform))
    assert json.dumps(config, indent=2) == snapshot
