"""Snapshots of the side solves (exporters, cacheContext) and pipelines: the plan, then each solve's LLB.

The cases are in tests/cases/compile/effects/. An exporter leaves the LLB
unchanged; what it adds is a solve with an exporter (and, for images, the image
config), so the snapshot holds the plan tree and every solve's exporters,
caches, image config and Definition.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from hlb.api import compile_source
from hlb.compiler.plan import render
from hlb.llb import Platform
from hlb.llb.dump import to_json_obj
from hlb.source import SourceFile

CASES = Path(__file__).parents[2] / "cases" / "compile"
AMD64 = Platform("linux", "amd64")


@pytest.mark.parametrize("path", sorted((CASES / "effects").glob("*.hlb")), ids=lambda p: p.stem)
def test_plan_snapshot(path: Path, snapshot: SnapshotAssertion, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES)  # module-relative paths (downloads, local caches) print relative to the cases
    name = str(path.relative_to(CASES))
    compiled = compile_source(SourceFile(name, path.read_text()), ["default"], AMD64)
    plan = compiled.plan(AMD64)
    solves = [
        {
            "title": s.title,
            "exporters": [{"type": x.type, "attrs": dict(x.attrs), "dest": x.dest} for x in s.exporters],
            "cache_imports": [str(c) for c in s.cache_imports],
            "cache_exports": [str(c) for c in s.cache_exports],
            "image_config": json.loads(s.image_config) if s.image_config else None,
            "llb": to_json_obj(s.definition, with_sources=False),
        }
        for s in plan.solves
    ]
    text = render(plan, cwd=str(CASES)) + json.dumps(solves, indent=2, sort_keys=True)
    assert text.replace(str(CASES), "<cases>") == snapshot  # no path of this checkout in the snapshot
