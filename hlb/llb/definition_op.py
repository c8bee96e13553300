"""Ops of a Definition marshalled elsewhere (a frontend's result), re-emitted verbatim.

A :class:`DefinitionOp` is one op of a ``pb.Definition`` that hlb did not build
(the LLB a frontend such as ``dockerfile.v0`` produced). Its bytes are kept as
they arrived and :class:`hlb.llb.definition.Marshaller` writes them unchanged:
re-encoding them could reorder fields or maps, which would change their
digests, and with them the daemon's cache hits and the keys its metadata and
source maps are found under. Its inputs are the other ops of the same
definition, also verbatim, and each op keeps its ``OpMetadata`` and source
locations. (The ``definition`` field of a ``SourceInfo``, the LLB that produced
a source file, is not carried.)

This is Go's ``llb.NewDefinitionOp``, with the vertices built once up front.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from hlb._proto import ops_pb2 as pb
from hlb.llb.core import Constraints, Output, Position, Range, SourceLocation, SourceMap
from hlb.llb.definition import Definition, Marshaller, digest_of


@dataclass(frozen=True, eq=False, slots=True)
class DefinitionOp:
    """One op of a foreign Definition: its exact bytes, its inputs and its metadata."""

    raw_op: bytes  # the op as it was in the Definition's ``def`` list
    op: pb.Op  # ``raw_op`` parsed: the op kind and caps come from here, never the bytes
    deps: tuple[Output, ...] = ()  # the ops ``raw_op``'s inputs name, in its input order
    raw_metadata: pb.OpMetadata | None = None  # the Definition's metadata entry for this op
    constraints: Constraints = field(default_factory=Constraints)  # only the source locations

    def inputs(self) -> tuple[Output, ...]:
        return self.deps

    def to_pb(self, m: Marshaller) -> tuple[pb.Op, set[str]]:
        caps = {cap for cap, on in self.raw_metadata.caps.items() if on} if self.raw_metadata else set()
        return self.op, caps


class DefinitionError(ValueError):
    """A Definition that cannot be used as a graph (unparsable, an unknown input, no terminal op)."""


def from_definition(definition: bytes | pb.Definition) -> Output | None:
    """The head of ``definition`` (its terminal op's input) as an Output over :class:`DefinitionOp` s.

    None for an empty Definition (scratch). Raises :class:`DefinitionError`.
    """
    if isinstance(definition, bytes):
        try:
            definition = pb.Definition.FromString(definition)
        except DecodeError as e:
            raise DefinitionError(f"the definition does not parse: {e}") from None
    ops: dict[str, tuple[bytes, pb.Op]] = {}
    raw_ops = list(getattr(definition, "def"))  # `def` is a Python keyword
    for data in raw_ops:
        try:
            ops[digest_of(data)] = (data, pb.Op.FromString(data))
        except DecodeError as e:
            raise DefinitionError(f"an op of the definition does not parse: {e}") from None
    if not raw_ops:
        return None
    terminal = ops[digest_of(raw_ops[-1])][1]
    if len(terminal.inputs) != 1 or terminal.WhichOneof("op") is not None:
        raise DefinitionError("the definition does not end with a terminal op (one input, no body)")
    maps = [SourceMap(i.filename, bytes(i.data), i.language) for i in definition.Source.infos]
    built: dict[str, DefinitionOp] = {}

    def vertex(dgst: str) -> DefinitionOp:
        if dgst in built:
            return built[dgst]
        if dgst not in ops:
            raise DefinitionError(f"the definition refers to op {dgst}, which it does not contain")
        data, op = ops[dgst]
        deps = tuple(Output(vertex(i.digest), i.index) for i in op.inputs)
        meta = definition.metadata.get(dgst)
        locations = _locations(definition.Source, dgst, maps)
        built[dgst] = DefinitionOp(data, op, deps, meta, Constraints(locations=locations))
        return built[dgst]

    head = terminal.inputs[0]
    return Output(vertex(head.digest), head.index)


def source_identifiers(definition: Definition) -> list[str]:
    """The identifiers of the source ops of a marshalled Definition (``local://ctx``, ``docker-image://...``)."""
    found = []
    for data in definition.ops:
        op = pb.Op.FromString(data)
        if op.WhichOneof("op") == "source":
            found.append(op.source.identifier)
    return found


def _locations(source: pb.Source, dgst: str, maps: list[SourceMap]) -> tuple[SourceLocation, ...]:
    if dgst not in source.locations:
        return ()
    found = []
    for loc in source.locations[dgst].locations:
        if not 0 <= loc.sourceIndex < len(maps):
            raise DefinitionError(f"op {dgst} has a source location in file #{loc.sourceIndex}, which is not listed")
        ranges = tuple(
            Range(Position(r.start.line, r.start.character), Position(r.end.line, r.end.character)) for r in loc.ranges
        )
        found.append(SourceLocation(maps[loc.sourceIndex], ranges))
    return tuple(found)
