"""Plain progress, in the format of ``docker buildx build --progress=plain``::

#2 [internal] load metadata for docker.io/library/busybox:latest
#2 DONE 0.0s

#3 /bin/sh -c 'echo hi'
#3 0.104 hi
#3 DONE 0.3s
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from hlb.progress.events import StatusBatch, VertexState
from hlb.progress.tracker import Tracker


def format_elapsed(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.3f}"
    if seconds < 100:
        return f"{seconds:.2f}"
    return f"{seconds:.1f}"


def format_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.2f}{unit}"
        size /= 1000
    return f"{n}B"  # pragma: no cover


class PlainPrinter:
    """Prints status batches as they arrive; safe to call from the status thread.

    A vertex's final line (DONE, CACHED, ERROR) waits ``settle`` seconds: the
    daemon sometimes completes a vertex and restarts it at once (an image is
    resolved, then found cached), and only the final state is worth a line.
    A background thread prints settled lines; :meth:`close` prints the rest.
    """

    def __init__(
        self,
        out: TextIO | None = None,
        prefix: str = "",
        settle: float = 0.15,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
    ) -> None:
        self.out = out or sys.stderr
        self.prefix = prefix
        self.settle = settle
        self.clock = clock
        self.background = background
        self.tracker = Tracker()
        self._current: str | None = None
        self._printed = False
        self._pending: dict[str, tuple[float, int]] = {}  # digest -> (completed at, restarts then)
        self._starting: dict[str, float] = {}  # digest -> started at; header not printed yet
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    def _line(self, text: str) -> None:
        self.out.write(f"{self.prefix}{text}\n")

    def _switch(self, v: VertexState) -> None:
        self._starting.pop(v.digest, None)
        if self._current == v.digest:
            return
        if self._printed:
            self.out.write("\n")
        self._line(f"#{v.index} {v.name}")
        self._current = v.digest
        self._printed = True

    def handle(self, batch: StatusBatch) -> None:
        with self._lock:
            self._handle(batch)
            self._flush(self.clock())
            self.out.flush()
        if self._flusher is None and self.background:
            self._flusher = threading.Thread(target=self._tick, daemon=True, name="hlb-progress")
            self._flusher.start()

    def close(self) -> None:
        """Print every pending line; call when the status stream has ended."""
        self._stop.set()
        with self._lock:
            self._flush(float("inf"))
            self.out.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self.settle / 2):
            with self._lock:
                if self._pending or self._starting:
                    self._flush(self.clock())
                    self.out.flush()

    def _flush(self, now: float) -> None:
        for digest, at in list(self._starting.items()):
            v = self.tracker.vertices[digest]
            if now - at >= self.settle and not v.done:
                self._switch(v)  # still running: show what runs
        for digest, (at, restarts) in list(self._pending.items()):
            v = self.tracker.vertices[digest]
            if v.restarts != restarts and not v.done:
                del self._pending[digest]  # restarted: wait for its next completion
            elif now - at >= self.settle:
                del self._pending[digest]
                self._finish(v)

    def tick(self) -> None:
        """Print what has settled by now (the background thread does this on its own)."""
        with self._lock:
            self._flush(self.clock())

    def _handle(self, batch: StatusBatch) -> None:
        t = self.tracker
        now = self.clock()
        for ev in batch.vertexes:
            v, started, done = t.apply_vertex(ev)
            if v.index == 0 and (done or v.cached):
                t.order.append(v.digest)
                v.index = len(t.order)
            if started and v.digest not in self._starting:
                self._starting[v.digest] = now
            if done:
                self._pending[v.digest] = (now, v.restarts)
        for st in batch.statuses:
            if st.completed is None:
                continue
            v = t.vertex(st.vertex)
            if v.index == 0:
                continue
            self._switch(v)
            progress = ""
            if st.total:
                progress = f" {format_bytes(st.current)} / {format_bytes(st.total)}"
            elif st.current:
                progress = f" {format_bytes(st.current)}"
            elapsed = (st.completed - st.started) if st.started else 0.0
            self._line(f"#{v.index} {st.id}{progress} {elapsed:.1f}s done")
        for lg in batch.logs:
            v, lines = t.apply_log(lg)
            if v.index == 0 or not lines:
                continue
            self._switch(v)
            base = v.started or time.time()
            at = format_elapsed(max(0.0, (lg.timestamp or time.time()) - base))
            for line in lines:
                self._line(f"#{v.index} {at} {line}")
        for w in batch.warnings:
            v = t.vertex(w.vertex)
            if v.index:
                self._switch(v)
                self._line(f"#{v.index} WARN: {w.short}")

    def _finish(self, v: VertexState) -> None:
        self._switch(v)
        for line in self.tracker.flush_partial(v):
            self._line(f"#{v.index} {line}")
        if v.error.endswith("context canceled"):
            self._line(f"#{v.index} CANCELED")
        elif v.error:
            self._line(f"#{v.index} ERROR: {v.error}")
        elif v.cached:
            self._line(f"#{v.index} CACHED")
        else:
            self._line(f"#{v.index} DONE {v.duration():.1f}s")
