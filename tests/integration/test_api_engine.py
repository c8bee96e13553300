"""The library runs a plan without the command line: hlb.api.build."""

from __future__ import annotations

import io
from pathlib import Path

from conftest import Engine

from hlb.address import resolve
from hlb.api import build, compile_source
from hlb.llb import default_platform
from hlb.source import SourceFile
from hlb.values import CacheEntry


def test_api_build_runs_a_plan_and_returns_each_solves_response(engine: Engine, tmp_path: Path, nonce: str) -> None:
    image, cache = f"127.0.0.1:5000/hlb-it/{nonce}/app:1", f"127.0.0.1:5000/hlb-it/{nonce}/cache:1"
    source = SourceFile(
        str(tmp_path / "build.hlb"),
        f'fs release() {{\n\timage "busybox:latest"\n\trun "echo {nonce}" with network("none")\n'
        f'\tdockerPush "{image}"\n}}\n',
    )
    platform = default_platform()
    compiled = compile_source(source, ["release"], platform)
    plan = compiled.plan(platform, cache_to=[CacheEntry("registry", {"ref": cache, "mode": "max"})])
    out = io.StringIO()
    outcome = build(compiled, plan, resolve(env=engine.env), out=out)
    assert outcome.code == 0, out.getvalue()
    push = next(s for s in plan.solves if s.kind == "dockerPush")
    own = next(s for s in plan.solves if s.kind == "target")
    assert outcome.responses[push.index]["containerimage.digest"].startswith("sha256:")
    assert "cache.manifest" in outcome.responses[own.index]
    assert f"pushed {image}@sha256:" in out.getvalue()
