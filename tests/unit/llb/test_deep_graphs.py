"""Marshalling is iterative: a graph as deep as a long function (one op per step) marshals at any depth.

The order of the ops is Go's (inputs first, depth first, in input order, each op once); the
golden tests pin the bytes, these pin the order on shapes the goldens are too small to reach.
"""

from __future__ import annotations

import sys
import time

from hlb._proto import ops_pb2 as pb
from hlb.llb import Copy, Mkdir, Platform, State, digest_of, image, marshal, merge

AMD64 = Platform("linux", "amd64")


def _chain(n: int) -> State:
    s = State()
    for i in range(n):
        s = s.file(Mkdir(f"/d{i}", 0o755))
    return s


def test_a_chain_far_deeper_than_the_recursion_limit_marshals() -> None:
    n = 100_000
    assert n > 50 * sys.getrecursionlimit()
    start = time.monotonic()
    d = _chain(n).marshal(AMD64)
    elapsed = time.monotonic() - start
    assert len(d.ops) == n + 1  # one op per step and the terminal op
    first = pb.Op.FromString(d.ops[0])
    assert first.file.actions[0].mkdir.path == "/d0" and first.file.actions[0].input == -1
    last = pb.Op.FromString(d.ops[-2])
    assert last.file.actions[0].mkdir.path == f"/d{n - 1}"
    assert last.inputs[0].digest == digest_of(d.ops[-3])
    assert d.head == digest_of(d.ops[-2])
    assert elapsed < 60, elapsed


def test_a_deep_chain_marshals_as_a_shallow_one_does() -> None:
    """The same ops, digests and order as the graph built step by step at a depth recursion also reaches."""
    small = _chain(50).marshal(AMD64)
    big = _chain(5_000).marshal(AMD64)
    assert big.ops[:50] == small.ops[:50]


def test_inputs_first_in_input_order_each_op_once() -> None:
    base = State(image("docker.io/library/alpine:latest").output())
    left = base.file(Mkdir("/l", 0o755))
    right = base.file(Mkdir("/r", 0o755))
    copied = left.file(Copy.from_state(right, "/r", "/r"))
    top = merge([copied, right, base])
    d = top.marshal(AMD64)
    ops = [pb.Op.FromString(b) for b in d.ops[:-1]]
    kinds = [op.WhichOneof("op") for op in ops]
    # base, left (its first input path), right (copy's second input), the copy, then the merge
    assert kinds == ["source", "file", "file", "file", "merge"]
    assert ops[1].file.actions[0].mkdir.path == "/l"
    assert ops[2].file.actions[0].mkdir.path == "/r"
    assert [i.digest for i in ops[3].inputs] == [digest_of(d.ops[1]), digest_of(d.ops[2])]
    assert [i.digest for i in ops[4].inputs] == [digest_of(d.ops[3]), digest_of(d.ops[2]), digest_of(d.ops[0])]


def test_marshal_of_an_output_already_marshalled_in_the_pass() -> None:
    s = _chain(3)
    d = marshal(s.output, AMD64)
    assert len(d.ops) == 4


def test_a_function_of_20000_steps_compiles() -> None:
    """The whole pipeline (parse, check, compile, marshal) on a long flat function; 100,000 steps
    also compile (about two minutes, too slow for the unit suite)."""
    from hlb.api import compile_source
    from hlb.source import SourceFile

    n = 20_000
    text = "fs default() {\n\tscratch\n" + "".join(f'\tmkdir "/d{i}" 0o755\n' for i in range(n)) + "}\n"
    d = compile_source(SourceFile("t.hlb", text), ["default"], AMD64).targets[0].definition
    assert len(d.ops) == n + 1
    assert pb.Op.FromString(d.ops[-2]).file.actions[0].mkdir.path == f"/d{n - 1}"
