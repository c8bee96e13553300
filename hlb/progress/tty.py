"""The tty display, in the manner of ``docker buildx build --progress=tty``::

    [+] Building 3.2s (5/7)
     => [1] docker-image://docker.io/library/busybox:latest          0.0s
     => CACHED [2] /bin/sh -c 'echo hello > /greeting'                0.0s
     => [3] /bin/sh -c make                                          1.2s
     => => # compiling foo.c

One display serves every solve of a run (their status threads call
:meth:`TtySolve.handle` concurrently); with several solves each vertex is
labelled with its solve (``[2 #3]``: solve 2, its vertex #3, the numbers the
plain output uses). A rich ``Live`` region redraws at ``refresh_per_second``;
while it is live, rows that do not fit the terminal are dropped from the top,
completed ones first, and running vertices show their last log lines dimmed.
:meth:`TtyDisplay.close` replaces the live region by the whole final frame and
then prints what was handed to :meth:`TtyDisplay.print` meanwhile (summaries,
diagnostics), so the frame comes first as with buildx.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.live import Live
from rich.text import Text

from hlb.progress.events import StatusBatch, StatusEvent, VertexState, WarningEvent
from hlb.progress.plain import format_bytes
from hlb.progress.tracker import Tracker

LOG_LINES = 6  # buildx's default terminal height for a running step's logs
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]")

STYLE_DONE = "blue"
STYLE_ERROR = "red"
STYLE_CANCELED = "yellow"
STYLE_WARNING = "yellow"
STYLE_LOG = "dim"


def printable(line: str) -> str:
    """A log line as a terminal would leave it: after its last carriage return, without control codes."""
    return _CONTROL.sub("", line.rsplit("\r", 1)[-1].expandtabs(4))


def format_timer(seconds: float) -> str:
    return f"{0.0 if seconds < 0.05 else seconds:.1f}s"


@dataclass
class _Row:
    left: str
    status: str
    timer: str
    style: str
    done: bool


@dataclass
class _Block:
    rows: list[_Row]
    logs: list[str]  # the last lines of a running vertex
    done: bool


class TtySolve:
    """The handle one solve's status thread feeds."""

    def __init__(self, display: TtyDisplay, prefix: str) -> None:
        self.display = display
        self.prefix = prefix
        self.tracker = Tracker()
        self.statuses: dict[str, dict[str, StatusEvent]] = {}  # vertex -> status id -> latest
        self.warnings: dict[str, list[WarningEvent]] = {}

    def handle(self, batch: StatusBatch) -> None:
        with self.display.lock:
            self.display.apply(self, batch)

    def close(self) -> None:
        with self.display.lock:
            for v in self.tracker.vertices.values():
                self.tracker.flush_partial(v)


class TtyDisplay:
    def __init__(
        self,
        console: Console,
        *,
        clock: Callable[[], float] = time.time,
        refresh_per_second: float = 10.0,
        live: bool = True,
        log_lines: int = LOG_LINES,
        phase: str = "Building",
    ) -> None:
        self.console = console
        self.clock = clock
        self.refresh_per_second = refresh_per_second
        self.live = live
        self.log_lines = log_lines
        self.phase = phase
        self.lock = threading.RLock()
        self._start_lock = threading.Lock()
        self.solves: list[TtySolve] = []
        self.order: list[tuple[TtySolve, str]] = []  # vertices in order of first start, over all solves
        self.started_at = clock()
        self.ended_at: float | None = None
        self.skew: float | None = None  # local clock minus daemon clock, from the starts seen
        self._live: Live | None = None
        self._pending: list[str] = []
        self._closed = False

    # -- feeding ---------------------------------------------------------------------------

    def solve(self, prefix: str = "") -> TtySolve:
        with self.lock:
            s = TtySolve(self, prefix)
            self.solves.append(s)
        if self.live:
            self._start_live()
        return s

    def _start_live(self) -> None:
        # Not under self.lock: the refresh thread holds Live's lock while it takes ours.
        with self._start_lock:
            if self._live is not None or self._closed:
                return
            live = Live(
                console=self.console,
                get_renderable=self._live_frame,
                refresh_per_second=self.refresh_per_second,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            live.start()
            self._live = live

    def apply(self, s: TtySolve, batch: StatusBatch) -> None:
        t = s.tracker
        for ev in batch.vertexes:
            v, started, done = t.apply_vertex(ev)
            if v.index == 0 and (done or v.cached):
                t.order.append(v.digest)
                v.index = len(t.order)
                started = True
            if started:
                self.order.append((s, v.digest))
                if v.started is not None:
                    # A vertex is seen after it started, so the least (local now - start) seen is
                    # closest to the skew; a replayed old start (a cached vertex) must not count.
                    seen = self.clock() - v.started
                    self.skew = seen if self.skew is None else min(self.skew, seen)
        for st in batch.statuses:
            s.statuses.setdefault(st.vertex, {})[st.id] = st
        for lg in batch.logs:
            t.apply_log(lg)
        for w in batch.warnings:
            s.warnings.setdefault(w.vertex, []).append(w)

    def print(self, text: str) -> None:
        """Print ``text`` (which may hold its own colour codes) below the display, once it is final."""
        with self.lock:
            if self._live is not None and not self._closed:
                self._pending.append(text)
                return
        self._write(text)

    def _write(self, text: str) -> None:
        self.console.file.write(text + "\n")
        self.console.file.flush()

    def close(self) -> None:
        """Stop the live region, print the final frame, then what :meth:`print` held back."""
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            live, self._live = self._live, None
        with self.lock:
            self.ended_at = self.clock()
        if live is not None:
            live.stop()  # transient: the live region is erased...
        with self.lock:
            self.console.print(self.render(final=True))  # ...and the whole final frame printed
            pending, self._pending = self._pending, []
        if pending:
            self._write("")
        for text in pending:
            self._write(text)

    def __enter__(self) -> TtyDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- rendering -------------------------------------------------------------------------

    def _live_frame(self) -> Text:
        with self.lock:
            return self.render(final=False)

    def _daemon_now(self) -> float:
        return (self.ended_at or self.clock()) - (self.skew or 0.0)

    def _elapsed(self, v: VertexState, now: float) -> float:
        total = v.duration()
        if not v.done and v.started is not None:
            total += max(0.0, now - v.started)
        return total

    def header(self, final: bool) -> str:
        total = completed = 0
        for s in self.solves:
            for v in s.tracker.vertices.values():
                total += 1
                completed += v.done
        took = (self.ended_at or self.clock()) - self.started_at
        text = f"[+] {self.phase} {took:.1f}s ({completed}/{total})"
        if final and total and completed == total:
            text += " FINISHED"
        return text

    def _blocks(self) -> list[_Block]:
        now = self._daemon_now()
        blocks = []
        for s, digest in self.order:
            v = s.tracker.vertices[digest]
            mark, style = "", STYLE_DONE if v.done else ""
            if v.error.endswith("context canceled"):
                mark, style = "CANCELED ", STYLE_CANCELED
            elif v.error:
                mark, style = "ERROR ", STYLE_ERROR
            elif v.cached:
                mark = "CACHED "
            ident = f"[{s.prefix} #{v.index}]" if s.prefix else f"[{v.index}]"
            name = printable(v.name)
            rows = [_Row(f" => {mark}{ident} {name}", "", format_timer(self._elapsed(v, now)), style, v.done)]
            for st in s.statuses.get(digest, {}).values():
                status = ""
                if st.total:
                    status = f"{format_bytes(st.current)} / {format_bytes(st.total)}"
                elif st.current:
                    status = format_bytes(st.current)
                took = ((st.completed or now) - st.started) if st.started is not None else 0.0
                done = st.completed is not None
                rows.append(
                    _Row(f" => => {printable(st.id)}", status, format_timer(took), STYLE_DONE if done else "", done)
                )
            for w in s.warnings.get(digest, []):
                rows.append(_Row(f" => WARN: {printable(w.short)}", "", "", STYLE_WARNING, True))
            logs: list[str] = []
            if not v.done:
                tail = v.lines[-self.log_lines :] + [p for p in v.partial.values() if p]
                logs = [printable(line) for line in tail[-self.log_lines :]]
            blocks.append(_Block(rows, logs, v.done))
        return blocks

    def render(self, final: bool = False) -> Text:
        """The frame: everything when ``final``, else what fits the terminal's height."""
        width, height = self.console.width, self.console.height
        blocks = self._blocks()
        lines: list[Text] = [self._text(self.header(final), "", "", "", width)]
        if final:
            for b in blocks:
                lines += [self._text(r.left, r.status, r.timer, r.style, width) for r in b.rows]
            return Text("\n").join(lines)
        budget = max(1, height - 2)
        # Too many rows: drop completed vertices from the top first, then whatever is oldest.
        used = sum(len(b.rows) for b in blocks)
        kept = list(blocks)
        i = 0
        while used > budget and i < len(kept):
            if kept[i].done:
                used -= len(kept[i].rows)
                del kept[i]
            else:
                i += 1
        rows_and_logs: list[Text] = []
        free = budget - used
        show_logs = set()
        for b in reversed(kept):  # the latest running steps get their logs first
            if b.logs and free >= len(b.logs) + 3:
                show_logs.add(id(b))
                free -= len(b.logs)
        for b in kept:
            rows_and_logs += [self._text(r.left, r.status, r.timer, r.style, width) for r in b.rows]
            if id(b) in show_logs:
                rows_and_logs += [self._log_text(line, width) for line in b.logs]
        lines += rows_and_logs[-budget:]
        return Text("\n").join(lines)

    @staticmethod
    def _text(left: str, status: str, timer: str, style: str, width: int) -> Text:
        right = f" {timer}" if timer else ""
        room = width - cell_len(right) - 1
        if status and room - cell_len(status) - 1 >= 20:
            room -= cell_len(status) + 1
            body = set_cell_size(left, max(0, room)) + " " + status
        else:
            body = set_cell_size(left, max(0, room))
        return Text(body + right, style=style, no_wrap=True, overflow="crop")

    @staticmethod
    def _log_text(line: str, width: int) -> Text:
        return Text(set_cell_size(f" => => # {line}", max(0, width - 1)).rstrip(), style=STYLE_LOG, no_wrap=True)
