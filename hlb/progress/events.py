"""Typed progress events, converted from BuildKit's ``StatusResponse`` at the solver edge."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class VertexEvent:
    digest: str
    name: str
    inputs: tuple[str, ...] = ()
    cached: bool = False
    started: float | None = None  # unix seconds
    completed: float | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class StatusEvent:
    id: str
    vertex: str
    name: str = ""
    current: int = 0
    total: int = 0
    timestamp: float | None = None
    started: float | None = None
    completed: float | None = None


@dataclass(frozen=True, slots=True)
class LogEvent:
    vertex: str
    stream: int  # 1 stdout, 2 stderr
    data: bytes
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class WarningEvent:
    vertex: str
    level: int
    short: str
    detail: tuple[str, ...] = ()
    url: str = ""


@dataclass(frozen=True, slots=True)
class StatusBatch:
    vertexes: tuple[VertexEvent, ...] = ()
    statuses: tuple[StatusEvent, ...] = ()
    logs: tuple[LogEvent, ...] = ()
    warnings: tuple[WarningEvent, ...] = ()


@dataclass
class VertexState:
    """Everything known about one vertex, merged over the status stream."""

    digest: str
    name: str = ""
    index: int = 0  # #N, in order of first start
    cached: bool = False
    started: float | None = None
    completed: float | None = None
    error: str = ""
    restarts: int = 0
    intervals: list[tuple[float, float]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # complete log lines (last few kept)
    partial: dict[int, str] = field(default_factory=dict)  # per stream, an unfinished line

    @property
    def done(self) -> bool:
        return self.completed is not None

    def duration(self) -> float:
        return sum(end - start for start, end in self.intervals)
