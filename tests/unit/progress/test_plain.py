"""The plain printer: buildx's format, settled final states, lazy headers, cache summary."""

from __future__ import annotations

import io
from typing import Any

from hlb.progress.events import LogEvent, StatusBatch, StatusEvent, VertexEvent
from hlb.progress.plain import PlainPrinter, format_bytes, format_elapsed


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def printer() -> tuple[PlainPrinter, io.StringIO, Clock]:
    out, clock = io.StringIO(), Clock()
    return PlainPrinter(out, settle=0.15, clock=clock, background=False), out, clock


def v(digest: str, name: str, **kw: Any) -> StatusBatch:
    return StatusBatch(vertexes=(VertexEvent(digest, name, **kw),))


def test_a_quick_cached_step_prints_one_block() -> None:
    p, out, clock = printer()
    p.handle(v("a", "step a", started=1.0))
    p.handle(v("a", "step a", started=1.0, completed=1.0, cached=True))
    assert out.getvalue() == ""  # waits for the state to settle
    clock.now += 0.2
    p.tick()
    assert out.getvalue() == "#1 step a\n#1 CACHED\n"


def test_complete_then_restart_prints_only_the_final_state() -> None:
    p, out, clock = printer()
    p.handle(v("img", "docker-image://x", started=1.0))
    p.handle(v("img", "docker-image://x", started=1.0, completed=1.1))
    clock.now += 0.05
    p.handle(v("img", "docker-image://x", started=1.2))  # restarted before settling
    p.handle(v("img", "docker-image://x", started=1.2, completed=1.2, cached=True))
    p.close()
    assert out.getvalue() == "#1 docker-image://x\n#1 CACHED\n"


def test_a_long_step_shows_its_header_before_finishing_and_logs_as_they_come() -> None:
    p, out, clock = printer()
    p.handle(v("r", "/bin/sh -c make", started=10.0))
    clock.now += 0.2
    p.tick()
    assert out.getvalue() == "#1 /bin/sh -c make\n"
    p.handle(StatusBatch(logs=(LogEvent("r", 1, b"compil", 10.5), LogEvent("r", 1, b"ing\nlinking\npart", 11.0))))
    p.handle(v("r", "/bin/sh -c make", started=10.0, completed=12.25))
    p.close()
    assert out.getvalue() == ("#1 /bin/sh -c make\n#1 1.000 compiling\n#1 1.000 linking\n#1 part\n#1 DONE 2.2s\n")


def test_errors_and_cancellation() -> None:
    p, out, _ = printer()
    p.handle(v("x", "fails", started=1.0))
    p.handle(v("x", "fails", started=1.0, completed=2.0, error="exit code: 3"))
    p.handle(v("y", "stopped", started=1.0))
    p.handle(v("y", "stopped", started=1.0, completed=2.0, error="context canceled"))
    p.close()
    text = out.getvalue()
    assert "#1 ERROR: exit code: 3" in text and "#2 CANCELED" in text
    assert [s.digest for s in p.tracker.failed()] == ["x"]


def test_switching_vertices_repeats_the_header() -> None:
    p, out, clock = printer()
    p.handle(v("a", "A", started=1.0))
    p.handle(v("b", "B", started=1.0))
    p.handle(StatusBatch(logs=(LogEvent("a", 1, b"one\n", 1.5),)))
    p.handle(StatusBatch(logs=(LogEvent("b", 1, b"two\n", 1.5),)))
    p.handle(StatusBatch(logs=(LogEvent("a", 1, b"three\n", 1.5),)))
    assert out.getvalue() == "#1 A\n#1 0.500 one\n\n#2 B\n#2 0.500 two\n\n#1 A\n#1 0.500 three\n"


def test_status_lines() -> None:
    p, out, _ = printer()
    p.handle(v("s", "pull", started=1.0))
    p.handle(
        StatusBatch(statuses=(StatusEvent("sha256:ab", "s", current=1500, total=3000000, started=1.0, completed=2.5),))
    )
    assert out.getvalue() == "#1 pull\n#1 sha256:ab 1.50kB / 3.00MB 1.5s done\n"


def test_summary_counts_only_the_given_steps() -> None:
    p, _, _ = printer()
    p.handle(v("src", "image", started=1.0, completed=1.0))
    p.handle(v("a", "A", started=1.0, completed=1.0, cached=True))
    p.handle(v("b", "B", started=1.0, completed=2.0))
    p.close()
    assert p.tracker.summary({"a", "b"}) == (2, 1)
    assert p.tracker.summary() == (3, 1)


def test_formatting() -> None:
    assert [format_elapsed(x) for x in (0.1234, 12.345, 123.45)] == ["0.123", "12.35", "123.5"]
    assert [format_bytes(x) for x in (999, 1000, 2_500_000)] == ["999B", "1.00kB", "2.50MB"]
