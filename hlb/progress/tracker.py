"""Merge status batches into per-vertex state; count steps and cache hits."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from hlb.progress.events import LogEvent, VertexEvent, VertexState

KEEP_LINES = 200


@dataclass
class Tracker:
    vertices: dict[str, VertexState] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # digests in order of first start

    def vertex(self, digest: str) -> VertexState:
        v = self.vertices.get(digest)
        if v is None:
            v = self.vertices[digest] = VertexState(digest)
        return v

    def apply_vertex(self, ev: VertexEvent) -> tuple[VertexState, bool, bool]:
        """Merge ``ev``; returns (state, newly started, newly completed).

        A vertex can complete, restart and complete again (an image source is
        resolved, then found cached); ``v.restarts`` counts the restarts.
        """
        v = self.vertex(ev.digest)
        v.name = ev.name or v.name
        was_started, was_done = v.started is not None, v.done
        if ev.started is not None and (v.started is None or ev.completed is None):
            v.started = ev.started
        if ev.cached:
            v.cached = True
        if ev.error:
            v.error = ev.error
        started_now = v.started is not None and not was_started
        if started_now:
            self.order.append(ev.digest)
            v.index = len(self.order)
        done_now = False
        if ev.completed is not None and not was_done:
            v.completed = ev.completed
            if v.started is not None:
                v.intervals.append((v.started, ev.completed))
            done_now = True
        elif ev.completed is None and was_done and ev.started is not None:
            v.completed = None
            v.restarts += 1
        return v, started_now, done_now

    def apply_log(self, ev: LogEvent) -> tuple[VertexState, list[str]]:
        """Merge ``ev``; returns the complete lines it finished."""
        v = self.vertex(ev.vertex)
        text = v.partial.pop(ev.stream, "") + ev.data.decode("utf-8", "replace")
        *lines, rest = text.split("\n")
        if rest:
            v.partial[ev.stream] = rest
        v.lines.extend(lines)
        del v.lines[:-KEEP_LINES]
        return v, lines

    def flush_partial(self, v: VertexState) -> list[str]:
        lines = [p for p in v.partial.values() if p]
        v.partial.clear()
        v.lines.extend(lines)
        return lines

    def summary(self, steps: Collection[str] | None = None) -> tuple[int, int]:
        """(steps, cached steps) over vertices that ran or were cached.

        ``steps`` limits the count to those digests (the build's exec and file
        ops: sources are resolved, never reported cached, and exporters are
        not steps).
        """
        done = [v for v in self.vertices.values() if (v.done or v.cached) and (steps is None or v.digest in steps)]
        return len(done), sum(1 for v in done if v.cached)

    def failed(self) -> list[VertexState]:
        return [v for v in self.vertices.values() if v.error and not v.error.endswith("context canceled")]
