"""The pieces every op shares: outputs, constraints, metadata and source locations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from hlb.llb.platform import Platform

if TYPE_CHECKING:
    from hlb._proto import ops_pb2 as pb
    from hlb.llb.definition import Marshaller


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    character: int  # 1-based


@dataclass(frozen=True, slots=True)
class Range:
    start: Position
    end: Position


@dataclass(frozen=True, eq=False, slots=True)
class SourceMap:
    """A source file ops can point into (``pb.SourceInfo``)."""

    filename: str
    data: bytes
    language: str = "HLB"


@dataclass(frozen=True, slots=True)
class SourceLocation:
    source: SourceMap
    ranges: tuple[Range, ...]


@dataclass(frozen=True, slots=True)
class Constraints:
    """Per-op settings that do not change the op body (Go's ``llb.Constraints``)."""

    platform: Platform | None = None
    description: Mapping[str, str] = field(default_factory=dict)
    ignore_cache: bool = False
    progress_group: tuple[str, str, bool] | None = None  # (id, name, weak)
    locations: tuple[SourceLocation, ...] = ()

    def with_name(self, name: str) -> Constraints:
        return replace(self, description={**self.description, "llb.customname": name})


class Vertex(Protocol):
    """An LLB op. Implementations are immutable and compared by identity."""

    @property
    def constraints(self) -> Constraints: ...

    def inputs(self) -> tuple[Output, ...]: ...

    def to_pb(self, m: Marshaller) -> tuple[pb.Op, set[str]]:
        """The op (inputs, body, platform) and the caps it needs."""
        ...


@dataclass(frozen=True, slots=True)
class Output:
    """Output ``index`` of ``vertex``; a State with no Output is scratch."""

    vertex: Vertex
    index: int = 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Output) and other.vertex is self.vertex and other.index == self.index

    def __hash__(self) -> int:
        return hash((id(self.vertex), self.index))
