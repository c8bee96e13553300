"""Marshal an LLB graph into a ``pb.Definition`` exactly as Go's ``State.Marshal`` does.

* ops are emitted dependencies first (post-order DFS), de-duplicated by digest;
* each op is serialised with :func:`hlb.llb.wire.marshal` (protobuf-go's byte
  order) and its digest is ``sha256:`` + hex of those bytes;
* a terminal op ``Op{inputs: [head]}`` ends the list; its metadata carries the
  graph caps (``constraints``, ``platform`` and any ``meta.*`` feature used);
* ``Source`` holds one ``Locations`` per op digest (empty when the op has no
  source location) and one ``SourceInfo`` per source file.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from hlb._proto import ops_pb2 as pb
from hlb.llb import wire
from hlb.llb.core import Constraints, Output, SourceLocation, SourceMap, Vertex
from hlb.llb.platform import Platform


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Definition:
    """A marshalled graph. ``ops`` holds the exact bytes; the last one is the terminal op."""

    ops: list[bytes] = field(default_factory=list)
    metadata: dict[str, pb.OpMetadata] = field(default_factory=dict)
    sources: Sources | None = None  # what ``source`` is made of
    head: str | None = None  # digest of the result vertex; None for scratch
    op_kinds: dict[str, str] = field(default_factory=dict)  # digest -> source, exec, file, merge, diff

    @property
    def source(self) -> pb.Source | None:
        """The ``pb.Source``: the source files and each op's locations in them (built when first read)."""
        return None if self.sources is None else self.sources.message

    @property
    def empty(self) -> bool:
        return not self.ops

    def digests(self) -> list[str]:
        return [digest_of(op) for op in self.ops]

    def to_pb(self) -> pb.Definition:
        d = pb.Definition()
        getattr(d, "def").extend(self.ops)  # `def` is a Python keyword
        for dgst, md in self.metadata.items():
            d.metadata[dgst].CopyFrom(md)
        if self.source is not None:
            d.Source.CopyFrom(self.source)
        return d

    def serialize(self) -> bytes:
        """Deterministic bytes, identical to Go's ``proto.MarshalOptions{Deterministic: true}``.

        The bytes ``wire.marshal(self.to_pb())`` gives, written from the fields directly: ``to_pb`` copies
        every op and the source files into a message first (for a 10 MB mkfile, two more copies of it). The
        op bytes and the source files' bytes are joined once, into the result.
        """
        out = wire.Writer()
        for op in self.ops:  # Definition.def = 1: the op bytes themselves, by reference
            out.bytes_field(1, op)
        for dgst in sorted(self.metadata, key=lambda k: k.encode("utf-8")):  # metadata = 2, a map by key
            value = wire.Writer()
            value.message(self.metadata[dgst])
            entry = wire.Writer()
            entry.bytes_field(1, dgst.encode("utf-8"))
            entry.message_field(2, value)
            out.message_field(2, entry)
        if self.sources is not None:  # Source = 3
            out.message_field(3, self.sources.write())
        return out.getvalue()


@dataclass
class Sources:
    """The source files ops point into (``maps``, in the order first pointed into) and each op's locations.

    ``message`` (the ``pb.Source``) is built from them only when read: ``Definition.serialize`` writes the
    files' bytes from ``maps`` directly (a message would hold another copy of each file, and reading it back
    out a third).
    """

    maps: tuple[SourceMap, ...] = ()
    locations: dict[str, list[SourceLocation]] = field(default_factory=dict)  # by op digest, in marshal order

    @functools.cached_property
    def locations_pb(self) -> pb.Source:
        """A ``pb.Source`` with the locations only."""
        src = pb.Source()
        for dgst, locs in self.locations.items():
            entry = src.locations[dgst]
            entry.SetInParent()
            for loc in locs:
                index = next(i for i, s in enumerate(self.maps) if s is loc.source)
                pl = entry.locations.add(sourceIndex=index)
                for r in loc.ranges:
                    pl.ranges.add(
                        start=pb.Position(line=r.start.line, character=r.start.character),
                        end=pb.Position(line=r.end.line, character=r.end.character),
                    )
        return src

    @functools.cached_property
    def message(self) -> pb.Source:
        src = pb.Source()
        src.CopyFrom(self.locations_pb)
        for sm in self.maps:
            src.infos.append(pb.SourceInfo(filename=sm.filename, data=sm.data, language=sm.language))
        return src

    def write(self) -> wire.Writer:
        """The bytes of ``message``, each file's bytes by reference."""
        out = wire.Writer()
        out.message(self.locations_pb)  # locations = 1
        for sm in self.maps:  # infos = 2; proto3 leaves out empty fields
            info = wire.Writer()
            if sm.filename:
                info.bytes_field(1, sm.filename.encode("utf-8"))
            if sm.data:
                info.bytes_field(2, sm.data)
            if sm.language:
                info.bytes_field(4, sm.language.encode("utf-8"))
            out.message_field(2, info)
        return out


@runtime_checkable
class RawVertex(Protocol):
    """A vertex whose op bytes were marshalled elsewhere (:mod:`hlb.llb.definition_op`)."""

    @property
    def raw_op(self) -> bytes: ...

    @property
    def raw_metadata(self) -> pb.OpMetadata | None: ...


class Marshaller:
    """One marshal pass; vertices are memoised by identity."""

    def __init__(self, platform: Platform, *, ignore_cache: bool = False, pull: bool = False) -> None:
        self.platform = platform
        self.ignore_cache = ignore_cache  # Go's Marshal(llb.IgnoreCache): every op ignores the cache
        self.pull = pull  # every image source as Go's llb.Image(ref, llb.ResolveModeForcePull)
        self._done: dict[int, str] = {}  # id(vertex) -> digest
        self._keep: list[Vertex] = []  # keep vertices alive while ids are in use
        self.defs: list[bytes] = []
        self.kinds: dict[str, str] = {}  # digest -> op kind, in the order ops were emitted
        self.metadata: dict[str, _Meta] = {}
        self.locations: dict[str, list[SourceLocation]] = {}
        self.maps: list[SourceMap] = []

    def platform_pb(self, c: Constraints) -> pb.Platform:
        p = c.platform or self.platform
        return pb.Platform(OS=p.os, Architecture=p.architecture, Variant=p.variant)

    def input_pb(self, out: Output) -> pb.Input:
        return pb.Input(digest=self._done[id(out.vertex)], index=out.index)

    def add(self, v: Vertex) -> str:
        """Emit ``v`` after its inputs, depth first in input order; iterative, so a graph may be
        any number of ops deep (a function of 100,000 steps is a chain 100,000 ops long)."""
        if id(v) in self._done:
            return self._done[id(v)]
        stack: list[tuple[Vertex, Iterator[Output]]] = [(v, iter(v.inputs()))]
        while stack:
            top, pending = stack[-1]
            for inp in pending:
                if id(inp.vertex) not in self._done:
                    stack.append((inp.vertex, iter(inp.vertex.inputs())))
                    break
            else:
                stack.pop()
                if id(top) not in self._done:  # a vertex reached twice on the stack is emitted once
                    self._emit(top)
        return self._done[id(v)]

    def _emit(self, v: Vertex) -> str:
        key = id(v)
        op, caps = v.to_pb(self)
        raw = v if isinstance(v, RawVertex) else None
        if raw is not None:
            # An op of a Definition made elsewhere (a frontend's result) is written as it came:
            # re-encoding it could change its bytes, hence its digest, which the daemon's cache,
            # the op's metadata and its source locations are keyed by. Its inputs, added above,
            # are verbatim ops too, so the digests its bytes name are the ones emitted.
            data = raw.raw_op
        else:
            op.constraints.SetInParent()  # Go always sets (possibly empty) worker constraints
            data = wire.marshal(op)
        dgst = digest_of(data)
        self._done[key] = dgst
        self._keep.append(v)
        meta = self.metadata.setdefault(dgst, _Meta())
        meta.merge(v.constraints, caps)
        meta.ignore_cache = meta.ignore_cache or self.ignore_cache
        if raw is not None and raw.raw_metadata is not None:
            meta.raw = raw.raw_metadata
        self.locations.setdefault(dgst, []).extend(v.constraints.locations)
        for loc in v.constraints.locations:
            if not any(loc.source is m for m in self.maps):
                self.maps.append(loc.source)
        if dgst not in self.kinds:
            self.kinds[dgst] = op.WhichOneof("op") or ""
            self.defs.append(data)
        return dgst


@dataclass
class _Meta:
    description: dict[str, str] = field(default_factory=dict)
    ignore_cache: bool = False
    caps: set[str] = field(default_factory=set)
    progress_group: tuple[str, str, bool] | None = None
    raw: pb.OpMetadata | None = None  # the metadata a verbatim op came with; the fields above add to it

    def merge(self, c: Constraints, caps: set[str]) -> None:
        self.description.update(c.description)
        self.ignore_cache = self.ignore_cache or c.ignore_cache
        self.caps |= caps
        if c.progress_group is not None:
            self.progress_group = c.progress_group

    def graph_caps(self) -> set[str]:
        """The caps the terminal op must declare for this op's metadata (as Go's ``Marshal``)."""
        md = self.to_pb()
        caps = {"meta.ignorecache"} if md.ignore_cache else set()
        if md.description:
            caps.add("meta.description")
        if md.HasField("export_cache"):
            caps.add("meta.exportcache")
        return caps

    def to_pb(self) -> pb.OpMetadata:
        md = pb.OpMetadata(ignore_cache=self.ignore_cache)
        if self.raw is not None:
            md.MergeFrom(self.raw)
            md.ignore_cache = md.ignore_cache or self.ignore_cache
        for k, v in self.description.items():
            md.description[k] = v
        for cap in self.caps:
            md.caps[cap] = True
        if self.progress_group:
            pid, name, weak = self.progress_group
            md.progress_group.CopyFrom(pb.ProgressGroup(id=pid, name=name, weak=weak))
        return md


def marshal(out: Output | None, platform: Platform, *, ignore_cache: bool = False, pull: bool = False) -> Definition:
    """Marshal the graph ending at ``out`` (None = scratch, an empty Definition); ``ignore_cache`` marks every
    op to ignore the cache (``hlb run --no-cache``), ``pull`` resolves every image again (``--pull``)."""
    if out is None:
        return Definition()
    m = Marshaller(platform, ignore_cache=ignore_cache, pull=pull)
    m.add(out.vertex)
    head = m.input_pb(out)
    terminal = pb.Op()
    terminal.inputs.append(head)
    term_bytes = wire.marshal(terminal)
    term_digest = digest_of(term_bytes)
    graph_caps = {"constraints", "platform"}
    for meta in m.metadata.values():
        graph_caps |= meta.graph_caps()
    metadata = {d: meta.to_pb() for d, meta in m.metadata.items()}
    term_md = metadata.get(term_digest) or pb.OpMetadata()
    for cap in graph_caps:
        term_md.caps[cap] = True
    metadata[term_digest] = term_md
    return Definition([*m.defs, term_bytes], metadata, Sources(tuple(m.maps), m.locations), head.digest, m.kinds)
