"""Byte and digest equality with BuildKit's Go client (tests/data/llb-golden).

Each golden state is built twice: with the hlb.llb builder (compared as whole
deterministic Definitions, metadata included) and from an .hlb program
(compared op by op: the compiler adds names and source maps, which live in
metadata and Source, not in the digested op bytes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hlb.api import compile_source
from hlb.llb import CacheSharing, Mkfile, Mount, Output, Platform, RunOptions, State, image
from hlb.llb.definition import digest_of, marshal
from hlb.source import SourceFile

GOLDEN = Path(__file__).parents[2] / "data" / "llb-golden"
AMD64 = Platform("linux", "amd64")
BUSYBOX = "docker.io/library/busybox:latest"


def golden(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / f"{name}.json").read_text())
    return data


def busybox() -> State:
    return State().with_output(image(BUSYBOX).output())


BUILDERS = {
    "image": lambda: busybox().output,
    "run": lambda: busybox().run(["sh", "-c", "echo hi > /out"]).root().output,
    "run_cachemount": lambda: (
        busybox()
        .run(
            ["sh", "-c", "echo hi > /cache/x; echo hi > /out"],
            RunOptions(mounts=(Mount("/cache", None, cache_id="x", cache_sharing=CacheSharing.SHARED),)),
        )
        .root()
        .output
    ),
    "mkfile": lambda: State().file(Mkfile("/hello", 0o644, b"hello\n")).output,
}

PROGRAMS = {
    "image": 'fs default() {\n\timage "busybox:latest"\n}\n',
    "run": 'fs default() {\n\timage "busybox"\n\trun "sh" "-c" "echo hi > /out"\n}\n',
    "run_cachemount": (
        "fs default() {\n"
        '\timage "docker.io/library/busybox:latest"\n'
        '\trun "sh" "-c" "echo hi > /cache/x; echo hi > /out" with option {\n'
        '\t\tcacheMount "/cache" with option { id "x"; }\n'
        "\t}\n"
        "}\n"
    ),
    "run_cachemount_classic": (
        "fs default() {\n"
        '\timage "busybox:latest"\n'
        '\trun "sh" "-c" "echo hi > /cache/x; echo hi > /out" with option {\n'
        '\t\tmount scratch "/cache" with cache("x", "shared")\n'
        "\t}\n"
        "}\n"
    ),
    "mkfile": 'fs default() {\n\tscratch\n\tmkfile "/hello" 0o644 "hello\\n"\n}\n',
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builder_matches_go_bytes_and_definition(name: str) -> None:
    g = golden(name)
    out: Output | None = BUILDERS[name]()
    d = marshal(out, AMD64)
    assert [op.hex() for op in d.ops] == [o["hex"] for o in g["ops"]]
    assert d.digests() == [o["digest"] for o in g["ops"]]
    assert d.head == g["head"]
    assert digest_of(d.ops[-1]) == g["terminalDigest"]
    whole = d.serialize()
    assert len(whole) == g["deterministicDefinitionSize"]
    assert whole == (GOLDEN / f"{name}.det.pb").read_bytes()


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_hlb_program_matches_go_digests(program: str) -> None:
    name = program.removesuffix("_classic")
    g = golden(name)
    compiled = compile_source(SourceFile("golden.hlb", PROGRAMS[program]), ["default"], AMD64)
    d = compiled.targets[0].definition
    assert d.digests() == [o["digest"] for o in g["ops"]]
    assert d.head == g["head"]
    real_ops = g["ops"][:-1]
    kinds = ("source", "exec", "file", "merge", "diff")
    assert d.op_kinds == {o["digest"]: next(k for k in kinds if k in o["op"]) for o in real_ops}
    assert [set(d.metadata[o["digest"]].caps) for o in real_ops] == [set(o["metadata"]["caps"]) for o in real_ops]
    # The compiler names its steps (llb.customname), so the graph also needs meta.description.
    terminal_caps = set(d.metadata[g["terminalDigest"]].caps)
    named = any(d.metadata[o["digest"]].description for o in real_ops)
    assert terminal_caps == set(g["ops"][-1]["metadata"]["caps"]) | ({"meta.description"} if named else set())


def test_marshal_is_deterministic() -> None:
    text = PROGRAMS["run_cachemount"]
    a = compile_source(SourceFile("a.hlb", text), ["default"], AMD64).targets[0].definition
    b = compile_source(SourceFile("a.hlb", text), ["default"], AMD64).targets[0].definition
    assert a.serialize() == b.serialize()
