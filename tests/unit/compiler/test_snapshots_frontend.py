"""`frontend` compiled with a fake frontend runner (tests/cases/compile/frontend/*.hlb).

The real builtin runs the frontend on the daemon while compiling; here the
compiler's frontend runner is a fake that answers every frontend with one fixed
Definition (built by hlb.llb, as a Dockerfile frontend's would be: names and
source locations in a `Dockerfile`) and image config. The snapshot shows those
ops verbatim under the program's own. Update with
`pytest tests/unit/compiler/test_snapshots_frontend.py --snapshot-update`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from hlb.compiler import compiler as compiler_module
from hlb.llb import Constraints, Definition, Platform, Position, Range, SourceLocation, SourceMap, State, image
from hlb.llb.state import RunOptions
from hlb.resolver import FrontendResult, ResolvedImage, ResolveError

CASES = Path(__file__).parents[2] / "cases" / "compile"
DOCKERFILE = SourceMap("Dockerfile", b"FROM busybox:latest\nRUN echo built > /built\n", "Dockerfile")
CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "config": {"Env": ["PATH=/bin", "FROM_DOCKERFILE=1"], "WorkingDir": "/work", "Cmd": ["sh"]},
}


def line(n: int) -> Constraints:
    return Constraints(locations=(SourceLocation(DOCKERFILE, (Range(Position(n, 0), Position(n, 0)),)),))


def frontend_definition() -> Definition:
    base = State(image("docker.io/library/busybox:latest", constraints=line(1)).output())
    step = Constraints(description={"llb.customname": "[2/2] RUN echo built > /built"}, locations=line(2).locations)
    return (
        base.run(["/bin/sh", "-c", "echo built > /built"], RunOptions(constraints=step))
        .root()
        .marshal(Platform("linux", "amd64"))
    )


class FakeFrontends:
    """Answers every frontend with frontend_definition() and CONFIG; records what it was asked."""

    def __init__(self, definition: Definition | None = None, config: bytes | None = None, fail: str = "") -> None:
        self.calls: list[tuple[str, dict[str, str], dict[str, Definition], Platform]] = []
        self.definition = frontend_definition() if definition is None else definition
        self.config = json.dumps(CONFIG).encode() if config is None else config
        self.fail = fail

    def resolve(self, ref: str, platform: Platform) -> ResolvedImage:
        raise ResolveError(f"this fake resolves no images ({ref})")

    def frontend(
        self, source: str, opts: Mapping[str, str], inputs: Mapping[str, Definition], platform: Platform
    ) -> FrontendResult:
        self.calls.append((source, dict(opts), dict(inputs), platform))
        if self.fail:
            raise ResolveError(self.fail)
        serialized = None if self.definition.empty else self.definition.serialize()
        return FrontendResult(serialized, self.config or None)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeFrontends:
    runner = FakeFrontends()
    monkeypatch.setattr(compiler_module._Compiler, "frontends", runner)
    return runner


@pytest.mark.parametrize("path", sorted((CASES / "frontend").glob("*.hlb")), ids=lambda p: p.stem)
def test_llb_snapshot(
    path: Path, snapshot: SnapshotAssertion, llb_json: Callable[[Path], str], fake: FakeFrontends
) -> None:
    assert llb_json(path) == snapshot
    ((source, opts, inputs, _),) = fake.calls
    assert (source, opts, sorted(inputs)) == ("dockerfile.v0", {"target": "release"}, ["context", "dockerfile"])
