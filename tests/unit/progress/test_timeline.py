"""`hlb run --debug`: a timestamped line per phase, nothing when it is off."""

from __future__ import annotations

import io
import re
import threading

from hlb.progress.timeline import Timeline

LINE = re.compile(r"^hlb: debug: +(\d+\.\d{3})s +\+(\d+\.\d{3})s  (\S+) +(.*)$")


def test_off_prints_and_keeps_nothing() -> None:
    out = io.StringIO()
    t = Timeline(out=out)
    t.mark("connect")
    assert out.getvalue() == ""
    assert t.marks == []


def test_marks_are_time_since_start_and_since_the_last_mark() -> None:
    out = io.StringIO()
    t = Timeline(enabled=True, out=out)
    t.mark("connect")
    worker = threading.Thread(target=t.mark, args=("first status",), name="hlb-status")
    worker.start()
    worker.join()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    (a, b) = [m.groups() for m in parsed if m]
    assert (a[2], a[3]) == ("main", "connect")
    assert (b[2], b[3]) == ("hlb-status", "first status")
    assert float(b[0]) >= float(a[0]) >= 0.0
    assert abs(float(b[0]) - float(a[0]) - float(b[1])) < 0.002
    assert [what for _, what in t.marks] == ["connect", "first status"]


def test_the_start_is_the_process_start() -> None:
    """The first mark includes the interpreter's start-up: the process began before this test did."""
    t = Timeline(enabled=True, out=io.StringIO())
    t.mark("now")
    assert t.marks[0][0] > 0.01
