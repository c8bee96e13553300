"""A large field (an mkfile's data, the source map of a large file) is copied once when marshalled (issue 10, item 16).

``wire.marshal`` copied a bytes field into a new bytearray at every level of message nesting (an mkfile's data
sits four levels deep in a ``pb.Op``), and ``Definition.serialize`` copied the ops and the source files into a
``pb.Definition`` first. Memory is measured with tracemalloc (protobuf's own copies are not Python objects, so
they do not count: the bounds are on what hlb's code copies).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from hlb._proto import ops_pb2 as pb
from hlb.api import compile_source
from hlb.diagnostics import HlbError
from hlb.llb import Platform, wire
from hlb.source import SourceFile

MB = 1 << 20
AMD64 = Platform("linux", "amd64")
CASES_DIR = Path(__file__).parents[2] / "cases" / "compile"
CASES = sorted(CASES_DIR.glob("*/*.hlb"))


def _peak(fn: object) -> tuple[object, int]:
    assert callable(fn)
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_a_large_field_is_kept_by_reference_through_every_level_of_nesting() -> None:
    data = b"x" * (64 * 1024)
    inner = wire.Writer()
    inner.bytes_field(4, data)
    for number in (3, 2, 1):  # three more levels: FileActionMkFile in FileAction in FileOp in Op
        outer = wire.Writer()
        outer.bytes_field(9, b"small")
        outer.message_field(number, inner)
        inner = outer
    assert [p for p in inner.parts if p is data]  # the same object: not copied into a buffer per level
    expected = _field(4, data)
    for number in (3, 2, 1):
        expected = _field(9, b"small") + _field(number, expected)
    assert inner.getvalue() == expected and len(inner) == len(expected)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field, encoded by hand (field numbers below 16: a one-byte tag)."""
    n, length = len(payload), bytearray()
    while n > 0x7F:
        length.append(n & 0x7F | 0x80)
        n >>= 7
    length.append(n)
    return bytes([number << 3 | 2]) + bytes(length) + payload


def test_an_ops_large_field_is_copied_once_into_the_result() -> None:
    data = b"x" * (4 * MB)
    op = pb.Op(
        inputs=[pb.Input(digest="sha256:" + "0" * 64, index=0)],
        file=pb.FileOp(
            actions=[pb.FileAction(input=0, output=0, mkfile=pb.FileActionMkFile(path="/f", mode=0o644, data=data))]
        ),
    )
    out, peak = _peak(lambda: wire.marshal(op))
    assert isinstance(out, bytes) and out.endswith(data)
    assert out == op.SerializeToString(deterministic=True)  # no oneof or map here: the orders agree
    # Reading the field out of the message is one copy, joining the parts another.
    assert peak < 2.5 * len(data), f"{peak / len(data):.1f} x the field"


def test_serialize_writes_the_definition_without_copying_it_into_a_message() -> None:
    body = "y" * (2 * MB)
    source = SourceFile("big.hlb", f'fs default() {{\n\tscratch\n\tmkfile "/f" 0o644 "{body}"\n}}\n')
    definition = compile_source(source, ["default"], AMD64).targets[0].definition
    out, peak = _peak(definition.serialize)
    assert isinstance(out, bytes) and out == wire.marshal(definition.to_pb())
    # The result holds the data twice (the mkfile and the source map); nothing else is copied: the op bytes
    # and the source file's bytes are joined into it by reference. It was 2 x the result (the source map
    # copied into a message, read back out of it, and a bytearray per level of nesting).
    assert peak < 1.25 * len(out), f"{peak / len(out):.2f} x the result"


def test_serialize_gives_the_bytes_of_the_definition_message_for_every_compile_case() -> None:
    compared = 0
    for path in CASES:
        source = SourceFile(str(path.relative_to(CASES_DIR)), path.read_text())
        try:
            d = compile_source(source, ["default"], AMD64).targets[0].definition
        except HlbError:
            continue  # needs a daemon (a frontend) or is an error case
        assert d.serialize() == wire.marshal(d.to_pb()), path
        compared += 1
    assert compared > 30
