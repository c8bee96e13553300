"""`manifest` compiled with a fake registry client: what the lowering asks for and the
diagnostics it gives (its LLB is snapshotted from tests/cases/compile/strings_registry/
by test_snapshots.py).

The real builtin fetches from a registry; here the compiler's context offers a
fake as its `manifests` attribute, which is where the lowering looks for a
registry client.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from compile_fakes import FakeManifests

from hlb.api import compile_source
from hlb.compiler import compiler as compiler_module
from hlb.diagnostics import HlbError
from hlb.llb import Platform
from hlb.llb.dump import to_json_obj
from hlb.source import SourceFile

CASES = Path(__file__).parents[2] / "cases" / "compile"
AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeManifests:
    client = FakeManifests()
    # Until the compiler offers a registry client itself, the fake is put where the lowering looks.
    monkeypatch.setattr(compiler_module._Compiler, "manifests", client, raising=False)
    return client


def compile_files(text: str) -> dict[str, str]:
    """The files a program's `default` target writes with mkfile: path -> content."""
    compiled = compile_source(SourceFile("test.hlb", text), ["default"], AMD64)
    files = {}
    for entry in to_json_obj(compiled.targets[0].definition)["ops"]:
        for action in entry["op"].get("file", {}).get("actions", []):
            if "mkfile" in action:
                mkfile = action["mkfile"]
                files[mkfile["path"]] = base64.b64decode(mkfile.get("data", "")).decode()
    return files


def test_manifest_and_its_binds_give_the_registry_answers(fake: FakeManifests) -> None:
    source = (CASES / "strings_registry" / "manifest.hlb").read_text()
    files = compile_files(source)
    ref = "docker.io/library/alpine:3.20"
    answer = FakeManifests().manifest(ref, AMD64)
    assert json.loads(files["/manifest.json"])["arch"] == "amd64"  # the build's platform
    assert json.loads(files["/manifest-arm64.json"])["arch"] == "arm64"  # option::manifest platform
    assert files["/digest"] == answer.digest
    assert files["/config.json"] == answer.config.decode()
    assert answer.index is not None and files["/index.json"] == answer.index.decode()
    assert set(fake.calls) == {(ref, AMD64), (ref, ARM64)}  # normalised, with the platforms asked for


def test_index_bind_of_a_single_manifest_is_a_diagnostic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiler_module._Compiler, "manifests", FakeManifests(single=True), raising=False)
    text = (
        'string m() { manifest "busybox" as (index idx, digest dg); }\n'
        'fs default() { mkfile "/d" 0o644 dg; mkfile "/i" 0o644 idx; }\n'
    )
    with pytest.raises(HlbError) as e:
        compile_files(text)
    messages = [d.message for d in e.value.diagnostics]
    assert messages == ["`docker.io/library/busybox:latest` has no manifest index"]
    # The digest bind alone still works for a single manifest.
    assert compile_files(text.replace('; mkfile "/i" 0o644 idx', ""))["/d"].startswith("sha256:")


def test_without_a_registry_client_manifest_is_a_diagnostic_at_the_call() -> None:
    text = 'fs default() { mkfile "/m" 0o644 manifest("alpine:3.20"); }\n'
    with pytest.raises(HlbError) as e:
        compile_files(text)
    (d,) = e.value.diagnostics
    assert d.message == "`manifest` needs registry access to fetch `docker.io/library/alpine:3.20`"
    assert text[d.primary.span.start : d.primary.span.end] == 'manifest("alpine:3.20")'


def test_a_registry_failure_is_a_diagnostic_at_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    failing = FakeManifests(fail="cannot fetch the manifest of `docker.io/library/nope:latest`: unknown tag")
    monkeypatch.setattr(compiler_module._Compiler, "manifests", failing, raising=False)
    text = 'fs default() { mkfile "/m" 0o644 manifest("nope"); }\n'
    with pytest.raises(HlbError) as e:
        compile_files(text)
    (d,) = e.value.diagnostics
    assert d.message == failing.fail
    assert text[d.primary.span.start : d.primary.span.end] == '"nope"'


def test_an_invalid_reference_is_reported_before_any_registry_request(fake: FakeManifests) -> None:
    with pytest.raises(HlbError) as e:
        compile_files('fs default() { mkfile "/m" 0o644 manifest("Not/Valid"); }\n')
    assert [d.code.slug for d in e.value.diagnostics] == ["invalid-image-ref"]
    assert fake.calls == []
