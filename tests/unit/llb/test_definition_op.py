"""A Definition made elsewhere, wrapped as DefinitionOps and marshalled again under more ops.

Its ops must come out with the bytes they went in with (so the digests the
daemon caches by, and its metadata and source maps are keyed by, stay the
same), each with its own metadata and source locations.
"""

from __future__ import annotations

import pytest

from hlb._proto import ops_pb2 as pb
from hlb.llb import (
    Constraints,
    Mkfile,
    Mount,
    Platform,
    Position,
    Range,
    RunOptions,
    SourceLocation,
    SourceMap,
    State,
    image,
)
from hlb.llb.definition import Definition, digest_of
from hlb.llb.definition_op import DefinitionError, DefinitionOp, from_definition, source_identifiers
from hlb.llb.source import local

AMD64 = Platform("linux", "amd64")
DOCKERFILE = SourceMap("Dockerfile", b"FROM busybox\nRUN echo hi > /hi\n", "Dockerfile")


def at(line: int) -> tuple[SourceLocation, ...]:
    return (SourceLocation(DOCKERFILE, (Range(Position(line, 0), Position(line, 0)),)),)


def foreign() -> Definition:
    """A graph as a frontend would hand it back: names, ignore_cache and source locations on its ops."""
    base = State(image("docker.io/library/busybox:latest", constraints=Constraints(locations=at(1))).output())
    named = Constraints(description={"llb.customname": "[2/2] RUN echo hi"}, ignore_cache=True, locations=at(2))
    return base.run(["/bin/sh", "-c", "echo hi > /hi"], RunOptions(constraints=named)).root().marshal(AMD64)


def rebuilt(d: Definition) -> Definition:
    out = from_definition(d.serialize())
    assert out is not None
    on_top = State(out).file(Mkfile("/extra", 0o644, b"more"), Constraints(description={"llb.customname": "mine"}))
    return on_top.run(["cat", "/hi", "/extra"]).root().marshal(AMD64)


def test_every_original_op_keeps_its_bytes_and_digest() -> None:
    original = foreign()
    again = rebuilt(original)
    body = original.ops[:-1]  # the terminal op is replaced by the new graph's own
    assert again.ops[: len(body)] == body
    assert again.digests()[: len(body)] == original.digests()[: len(body)]
    assert len(again.ops) == len(body) + 3  # the mkfile, the run and a new terminal op
    # The ops on top name the head by its original digest.
    mkfile = pb.Op.FromString(again.ops[len(body)])
    assert [(i.digest, i.index) for i in mkfile.inputs] == [(original.head, 0)]


def test_metadata_and_source_locations_are_carried() -> None:
    original = foreign()
    again = rebuilt(original)
    for dgst in original.digests()[:-1]:
        assert again.metadata[dgst] == original.metadata[dgst], dgst
    run_digest = original.head
    assert run_digest is not None
    assert again.metadata[run_digest].description["llb.customname"] == "[2/2] RUN echo hi"
    assert again.metadata[run_digest].ignore_cache
    # Graph caps follow the carried metadata, as if the ops had been built here.
    terminal = again.metadata[again.digests()[-1]]
    assert {"meta.ignorecache", "meta.description", "constraints", "platform"} <= set(terminal.caps)
    assert again.source is not None and original.source is not None
    (info,) = [i for i in again.source.infos if i.filename == "Dockerfile"]
    assert (info.data, info.language) == (DOCKERFILE.data, "Dockerfile")
    index = list(again.source.infos).index(info)
    for dgst in original.digests()[:-1]:
        want = [(loc.ranges[0].start.line, loc.sourceIndex) for loc in original.source.locations[dgst].locations]
        got = [(loc.ranges[0].start.line, loc.sourceIndex) for loc in again.source.locations[dgst].locations]
        assert got == [(line, index) for line, _ in want]


def test_bytes_are_never_re_encoded() -> None:
    # Python's own protobuf order (oneof before platform), which hlb's encoder would never write.
    op = pb.Op(source=pb.SourceOp(identifier="docker-image://docker.io/library/alpine:latest"))
    op.platform.CopyFrom(pb.Platform(OS="linux", Architecture="amd64"))
    op.constraints.SetInParent()
    data = op.SerializeToString(deterministic=True)
    terminal = pb.Op(inputs=[pb.Input(digest=digest_of(data))]).SerializeToString()
    d = pb.Definition()
    getattr(d, "def").extend([data, terminal])
    out = from_definition(d)
    assert out is not None and isinstance(out.vertex, DefinitionOp)
    again = State(out).marshal(AMD64)
    assert again.ops[0] == data
    assert again.head == digest_of(data)
    assert again.op_kinds[digest_of(data)] == "source"


def test_the_head_keeps_its_output_index() -> None:
    base = State(image("docker.io/library/busybox:latest").output())
    ran = base.run(["true"], RunOptions(mounts=(Mount("/out", None),)))
    d = State(ran.op.output("/out")).marshal(AMD64)
    out = from_definition(d.serialize())
    assert out is not None and out.index == 1
    assert State(out).marshal(AMD64).ops == d.ops  # same graph, same terminal op


def test_an_empty_definition_is_scratch() -> None:
    assert from_definition(b"") is None
    assert from_definition(Definition().serialize()) is None


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([pb.Op(source=pb.SourceOp(identifier="docker-image://x"))], "does not end with a terminal op"),
        ([pb.Op(inputs=[pb.Input(digest="sha256:" + "0" * 64)])], "does not contain"),
    ],
)
def test_unusable_definitions_are_refused(ops: list[pb.Op], message: str) -> None:
    d = pb.Definition()
    getattr(d, "def").extend(op.SerializeToString() for op in ops)
    with pytest.raises(DefinitionError, match=message):
        from_definition(d)


def test_source_identifiers() -> None:
    ctx = State(local("ctx", unique="u").output()).file(Mkfile("/a", 0o644, b"a"))
    d = ctx.marshal(AMD64)
    assert source_identifiers(d) == ["local://ctx"]
    assert source_identifiers(foreign()) == ["docker-image://docker.io/library/busybox:latest"]
