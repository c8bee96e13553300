"""Snapshots of what each case in tests/cases/compile compiles to, and the check that every
builtin overload's lowering is exercised by one of them.

A case is an .hlb file whose `default` target is compiled for linux/amd64 from
tests/cases/compile (module-relative paths resolve there). Its directory is its
area, and AREAS says what the client stands in for there (a fake registry, a
frontend runner, a machine's facts) and what is snapshotted: the LLB as dump-llb
JSON, and for some areas the image config or the plan with its solves. A case's
test id is its path under tests/cases/compile without `.hlb`.

Update with `pytest tests/unit/compiler/test_snapshots.py --snapshot-update` and
review the diff like code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from compile_fakes import FakeFrontends, FakeManifests, FakeResolver
from syrupy.assertion import SnapshotAssertion

from hlb.api import check, compile_source, parse
from hlb.builtins import strings
from hlb.builtins.registry import all_builtins
from hlb.builtins.spec import Builtin
from hlb.compiler import compile_targets
from hlb.compiler import compiler as compiler_module
from hlb.compiler.plan import render
from hlb.llb import Platform
from hlb.llb.dump import to_json, to_json_obj
from hlb.oci_config import oci_config
from hlb.source import SourceFile

CASES = Path(__file__).parents[2] / "cases" / "compile"
AMD64 = Platform("linux", "amd64")

Snapshots = dict[str, str]  # what a case snapshots, by name; the first is the case's main snapshot


def _source(path: Path) -> SourceFile:
    return SourceFile(str(path.relative_to(CASES)), path.read_text())


def llb(path: Path) -> Snapshots:
    return {"llb": to_json(compile_source(_source(path), ["default"], AMD64).targets[0].definition)}


def llb_and_image_config(path: Path) -> Snapshots:
    """The image config builtins change no LLB: the input's LLB, and the config an export of it writes."""
    compiled = compile_source(_source(path), ["default"], AMD64)
    fs = compiled.targets[0].fs
    assert fs is not None
    config = json.loads(oci_config(fs, AMD64))
    return {"llb": to_json(compiled.targets[0].definition), "image_config": json.dumps(config, indent=2)}


def resolved_llb(path: Path) -> Snapshots:
    """`image ... with resolve`, the configs coming from a FakeResolver."""
    result = compile_targets(check(parse(_source(path))).checked, ["default"], AMD64, resolver=FakeResolver())
    assert [d.message for d in result.diagnostics] == []
    return {"llb": to_json(result.targets[0].definition)}


def plan_and_solves(path: Path) -> Snapshots:
    """Exporters leave the LLB as it is and add solves: the plan tree, then each solve's
    exporters, caches, image config and Definition."""
    plan = compile_source(_source(path), ["default"], AMD64).plan(AMD64)
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
    return {"plan": text.replace(str(CASES), "<cases>")}  # no path of this checkout in the snapshot


def llb_of_a_dockerfile_frontend(path: Path) -> Snapshots:
    """`frontend` with a fake runner: its Definition's ops appear verbatim under the program's own."""
    fake = compiler_module._Compiler.frontends
    assert isinstance(fake, FakeFrontends)
    snapshots = llb(path)
    ((source, opts, inputs, _),) = fake.calls
    assert (source, opts, sorted(inputs)) == ("dockerfile.v0", {"target": "release"}, ["context", "dockerfile"])
    return snapshots


def no_client(monkeypatch: pytest.MonkeyPatch) -> None:
    pass


def machine_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed environment, machine and working directory for the string builtins that read them."""
    monkeypatch.setenv("HLB_TEST_VERSION", "1.2.3")
    monkeypatch.delenv("HLB_TEST_UNSET", raising=False)
    monkeypatch.setattr(strings, "_machine", lambda: "aarch64")
    monkeypatch.setattr(strings, "_system", lambda: "darwin")
    monkeypatch.setattr(strings, "_cwd", lambda: "/home/dev/project")


def frontend_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiler_module._Compiler, "frontends", FakeFrontends())


def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    # The lowering looks for a registry client as the compiler's `manifests` attribute.
    monkeypatch.setattr(compiler_module._Compiler, "manifests", FakeManifests(), raising=False)


@dataclass(frozen=True)
class Area:
    directory: str  # under tests/cases/compile; its .hlb files, not those of its subdirectories
    snapshots: Callable[[Path], Snapshots] = llb
    client: Callable[[pytest.MonkeyPatch], None] = no_client  # what stands in for the client's machine


AREAS = (
    Area(""),  # the first cases: one builtin or option each
    Area("effects", plan_and_solves),  # exporters, cacheContext, stage
    Area("fileops"),  # copy, mkdir, mkfile, rm, merge, diff and their options
    Area("frontend", llb_of_a_dockerfile_frontend, frontend_runner),
    Area("image_config", llb_and_image_config),
    Area("run"),  # run and its options: mounts, secrets, ssh, forward, network, security
    Area("sources"),  # image, http, git, local and their options
    Area("sources/resolve", resolved_llb),
    Area("strings", client=machine_facts),  # string builtins feeding other builtins
    Area("strings_registry", client=registry),  # manifest
)


@dataclass(frozen=True)
class Case:
    area: Area
    path: Path

    def __str__(self) -> str:
        return str(self.path.relative_to(CASES).with_suffix(""))

    @contextmanager
    def client(self) -> Iterator[None]:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.chdir(CASES)  # module-relative paths (secrets, local dirs) resolve beside the case
            self.area.client(monkeypatch)
            yield

    def snapshots(self) -> Snapshots:
        with self.client():
            return self.area.snapshots(self.path)


ALL = [Case(area, path) for area in AREAS for path in sorted((CASES / area.directory).glob("*.hlb"))]


@pytest.mark.parametrize("case", ALL, ids=str)
def test_snapshot(case: Case, snapshot: SnapshotAssertion) -> None:
    for i, (name, value) in enumerate(case.snapshots().items()):
        assert value == (snapshot if i == 0 else snapshot(name=name))


def test_every_case_file_is_in_an_area() -> None:
    assert sorted(p for p in CASES.rglob("*.hlb")) == sorted(c.path for c in ALL)


@contextmanager
def recording_lowerings() -> Iterator[set[str]]:
    """Record the overload (its signature) of every builtin lowering run inside the block."""
    lowered: set[str] = set()

    def recording(b: Builtin) -> Callable[..., object]:
        lower = b.lower
        assert lower is not None

        def record(*args: object) -> object:
            lowered.add(b.signature())
            return lower(*args)

        return record

    builtins = [b for b in all_builtins() if b.lower is not None]
    originals = [b.lower for b in builtins]
    try:
        for b in builtins:
            object.__setattr__(b, "lower", recording(b))  # Builtin is frozen; restored below
        yield lowered
    finally:
        for b, original in zip(builtins, originals, strict=True):
            object.__setattr__(b, "lower", original)


def test_every_builtin_overload_has_a_snapshot_case() -> None:
    """Each overload (`option::copy chown`, `option::mkdir chown`, ...) counts on its own: it has a
    case when its own lowering ran while compiling the cases."""
    signatures = [b.signature() for b in all_builtins()]
    assert len(set(signatures)) == len(signatures)  # a signature names one overload
    with recording_lowerings() as lowered:
        for case in ALL:
            case.snapshots()
    # Builtins without a lowering are only declared.
    missing = [b.signature() for b in all_builtins() if b.lower is not None and b.signature() not in lowered]
    assert missing == []
