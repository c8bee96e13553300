"""The `frontend` lowering with a fake runner: what it asks the daemon, and what it makes of the answer."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from hlb._proto import ops_pb2 as pb
from hlb.api import compile_source
from hlb.diagnostics import HlbError
from hlb.llb import Definition, Platform, State, image
from hlb.llb.dump import to_json_obj
from hlb.resolver import FrontendError, FrontendResult, ResolvedImage, ResolveError
from hlb.source import SourceFile
from hlb.values import FsValue

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
CONFIG = {"os": "linux", "architecture": "amd64", "config": {"Env": ["A=1"], "WorkingDir": "/w", "User": "app"}}


def result_definition() -> Definition:
    return State(image("docker.io/library/alpine:3.20").output()).run(["true"]).root().marshal(AMD64)


class Runner:
    def __init__(self, result: FrontendResult | None = None, fail: str = "") -> None:
        self.result = result or FrontendResult(result_definition().serialize(), json.dumps(CONFIG).encode())
        self.fail = fail
        self.calls: list[tuple[str, dict[str, str], dict[str, Definition], Platform]] = []

    def resolve(self, ref: str, platform: Platform) -> ResolvedImage:
        raise ResolveError(f"no images here ({ref})")

    def frontend(
        self, source: str, opts: Mapping[str, str], inputs: Mapping[str, Definition], platform: Platform
    ) -> FrontendResult:
        self.calls.append((source, dict(opts), dict(inputs), platform))
        if self.fail:
            raise FrontendError(self.fail)
        return self.result


class ImagesOnly:
    def resolve(self, ref: str, platform: Platform) -> ResolvedImage:
        raise ResolveError(f"no images here ({ref})")


def compile_fs(text: str, resolver: object, platform: Platform = AMD64) -> tuple[FsValue, Definition]:
    compiled = compile_source(SourceFile("test.hlb", text), ["default"], platform, resolver=resolver)  # type: ignore[arg-type]
    target = compiled.targets[0]
    assert target.fs is not None
    return target.fs, target.definition


def diagnostics(text: str, resolver: object) -> list[tuple[str, str, str]]:
    with pytest.raises(HlbError) as e:
        compile_fs(text, resolver)
    return [(d.code.slug, d.message, text[d.primary.span.start : d.primary.span.end]) for d in e.value.diagnostics]


def mkfiles(d: Definition) -> dict[str, str]:
    found = {}
    for entry in to_json_obj(d)["ops"]:
        for action in entry["op"].get("file", {}).get("actions", []):
            if "mkfile" in action:
                found[action["mkfile"]["path"]] = action["mkfile"]["data"]
    return found


PROGRAM = """fs default() {
	frontend "dockerfile.v0" with option {
		input "context" fs { scratch; mkfile "/a.txt" 0o644 "hi"; }
		input "dockerfile" fs { scratch; mkfile "/Dockerfile" 0o644 "FROM alpine"; }
		opt "target" "release"
		opt "build-arg:X" "1"
	}
	run "env"
}
"""


def test_the_runner_gets_source_options_inputs_and_platform() -> None:
    runner = Runner()
    compile_fs(PROGRAM, runner, ARM64)
    ((source, opts, inputs, platform),) = runner.calls
    assert source == "dockerfile.v0"
    assert opts == {"target": "release", "build-arg:X": "1"}
    assert platform == ARM64
    assert sorted(inputs) == ["context", "dockerfile"]
    assert list(mkfiles(inputs["context"])) == ["/a.txt"]
    assert list(mkfiles(inputs["dockerfile"])) == ["/Dockerfile"]


def test_an_image_source_is_normalised() -> None:
    runner = Runner()
    compile_fs('fs default() { frontend "docker/dockerfile:1"; }', runner)
    assert runner.calls[0][0] == "docker.io/docker/dockerfile:1"


def test_the_result_ops_are_kept_and_its_config_applies() -> None:
    fs, d = compile_fs(PROGRAM, Runner())
    theirs = result_definition()
    assert d.ops[: len(theirs.ops) - 1] == theirs.ops[:-1]
    run = pb.Op.FromString(d.ops[len(theirs.ops) - 1])
    assert run.inputs[0].digest == theirs.head
    assert (list(run.exec.meta.env), run.exec.meta.cwd, run.exec.meta.user) == (["A=1"], "/w", "app")
    assert json.loads(fs.image.base) == CONFIG  # exports inherit the frontend's config


def test_a_result_without_a_ref_is_scratch() -> None:
    fs, d = compile_fs(
        'fs default() { frontend "dockerfile.v0"; mkfile "/x" 0o644 "x"; }', Runner(FrontendResult(None, None))
    )
    mkfile = pb.Op.FromString(d.ops[0])
    assert list(mkfile.inputs) == [] and mkfile.file.actions[0].input == -1
    assert fs.image.base == ""


def test_without_a_frontend_runner_it_is_a_diagnostic_at_the_call() -> None:
    text = 'fs default() { frontend "dockerfile.v0"; }'
    message = "`frontend` runs `dockerfile.v0` on the BuildKit daemon while compiling, and there is none"
    for resolver in (None, ImagesOnly()):
        assert diagnostics(text, resolver) == [("invalid-value", message, 'frontend "dockerfile.v0"')]


def test_a_failing_frontend_is_one_line_at_the_call() -> None:
    fail = 'frontend `dockerfile.v0` failed: process "/bin/sh -c exit 1" did not complete successfully: exit code: 1'
    text = 'fs default() { frontend "dockerfile.v0"; }'
    assert diagnostics(text, Runner(fail=fail)) == [("build-failed", fail, 'frontend "dockerfile.v0"')]


def test_an_unusable_result_is_a_diagnostic() -> None:
    text = 'fs default() { frontend "dockerfile.v0"; }'
    ((slug, message, _),) = diagnostics(text, Runner(FrontendResult(b"\x0a\x02\x1a\x00", None)))
    assert slug == "build-failed"
    assert message.startswith("cannot use the result of frontend `dockerfile.v0`: the definition does not end")
    ((_, message, _),) = diagnostics(text, Runner(FrontendResult(None, b"[1]")))
    assert message == "cannot use the result of frontend `dockerfile.v0`: the image config is not a JSON object"


def test_an_invalid_image_source_is_reported_before_running_anything() -> None:
    runner = Runner()
    ((slug, _, span),) = diagnostics('fs default() { frontend "Not/Valid"; }', runner)
    assert (slug, span, runner.calls) == ("invalid-image-ref", '"Not/Valid"', [])


def test_an_input_reading_a_local_directory_is_refused() -> None:
    runner = Runner()
    text = 'fs default() { frontend "dockerfile.v0" with option { input "context" fs { local "."; }; }; }'
    ((slug, message, _),) = diagnostics(text, runner)
    assert slug == "unsupported" and "`context` reads a local directory" in message
    assert runner.calls == []
