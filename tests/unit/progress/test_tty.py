"""The tty display driven by synthetic status batches, rendered through a recording rich Console."""

from __future__ import annotations

import io
import re
import threading
from typing import Any

import pytest
from rich.console import Console

from hlb.progress.display import PlainProgress, RawJSONProgress, choose_mode, open_progress
from hlb.progress.events import LogEvent, StatusBatch, StatusEvent, VertexEvent, WarningEvent
from hlb.progress.tty import TtyDisplay, printable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def console(width: int = 80, height: int = 40) -> Console:
    return Console(file=io.StringIO(), record=True, force_terminal=True, width=width, height=height, color_system=None)


def display(**kw: Any) -> tuple[TtyDisplay, Console, Clock]:
    c, clock = console(**kw), Clock()
    return TtyDisplay(c, clock=clock, live=False), c, clock


def frame(d: TtyDisplay, final: bool = False) -> str:
    c = console(d.console.width, d.console.height)
    c.print(d.render(final=final))
    return "\n".join(line.rstrip() for line in c.export_text().splitlines())


def v(digest: str, name: str, **kw: Any) -> StatusBatch:
    return StatusBatch(vertexes=(VertexEvent(digest, name, **kw),))


def test_running_step_has_a_live_timer_and_cached_steps_are_marked() -> None:
    d, _, clock = display()
    s = d.solve()
    s.handle(v("img", "docker-image://busybox", started=500.0, completed=500.0, cached=True))
    s.handle(v("run", "/bin/sh -c make", started=500.0))
    clock.now += 1.25
    text = frame(d)
    lines = text.splitlines()
    assert lines[0] == "[+] Building 1.2s (1/2)"
    assert re.fullmatch(r" => CACHED \[1\] docker-image://busybox +0\.0s", lines[1]), lines[1]
    assert re.fullmatch(r" => \[2\] /bin/sh -c make +1\.2s", lines[2]), lines[2]
    assert len(lines[2]) == 79  # timers aligned at the right edge
    clock.now += 2.0
    assert re.search(r"\[2\] /bin/sh -c make +3\.2s", frame(d))


def test_timer_uses_daemon_time_corrected_for_clock_skew() -> None:
    d, _, clock = display()
    s = d.solve()
    began = clock.now - 3600.0
    s.handle(v("run", "step", started=began))  # daemon clock an hour behind ours
    clock.now += 0.5
    assert re.search(r"\[1\] step +0\.5s", frame(d))
    s.handle(v("run", "step", started=began, completed=began + 2.0))
    assert re.search(r"\[1\] step +2\.0s", frame(d))


def test_an_old_start_replayed_for_a_cached_step_does_not_stop_the_timers() -> None:
    d, _, clock = display()
    s = d.solve()
    s.handle(v("img", "docker-image://busybox", started=clock.now - 600.0, completed=clock.now - 599.0, cached=True))
    s.handle(v("run", "step", started=clock.now))
    clock.now += 1.5
    assert re.search(r"\[2\] step +1\.5s", frame(d))


def test_last_log_lines_of_a_running_step_and_none_once_done() -> None:
    d, _, _ = display()
    s = d.solve()
    s.handle(v("run", "/bin/sh -c build", started=1.0))
    data = "".join(f"line {i}\n" for i in range(1, 10)).encode() + b"partial"
    s.handle(StatusBatch(logs=(LogEvent("run", 1, data, 2.0),)))
    text = frame(d)
    logs = [line for line in text.splitlines() if line.startswith(" => => # ")]
    assert logs == [f" => => # {x}" for x in ("line 5", "line 6", "line 7", "line 8", "line 9", "partial")]
    s.handle(v("run", "/bin/sh -c build", started=1.0, completed=3.0))
    assert "=> => #" not in frame(d)


def test_log_lines_are_dimmed_and_rows_of_finished_steps_blue() -> None:
    d, _, _ = display()
    s = d.solve()
    s.handle(v("a", "done step", started=1.0, completed=2.0))
    s.handle(v("b", "running step", started=1.0))
    s.handle(StatusBatch(logs=(LogEvent("b", 1, b"hello\n", 2.0),)))
    c = Console(file=io.StringIO(), record=True, force_terminal=True, width=60, height=20, color_system="standard")
    c.print(d.render())
    out = c.export_text(styles=True)
    assert "\x1b[34m => [1] done step" in out
    assert "\x1b[2m => => # hello" in out


def test_error_and_canceled_states() -> None:
    d, _, _ = display()
    s = d.solve()
    s.handle(v("a", "/bin/sh -c false", started=1.0, completed=1.5, error="exit code: 1"))
    s.handle(v("b", "/bin/sh -c sleep 9", started=1.0, completed=1.5, error="context canceled"))
    text = frame(d, final=True)
    assert re.search(r"^ => ERROR \[1\] /bin/sh -c false +0\.5s$", text, re.M), text
    assert re.search(r"^ => CANCELED \[2\] /bin/sh -c sleep 9 +0\.5s$", text, re.M), text
    assert "FINISHED" in text.splitlines()[0]


def test_status_rows_show_transfer_sizes_and_warnings() -> None:
    d, _, clock = display()
    s = d.solve()
    s.handle(v("img", "docker-image://alpine", started=clock.now))
    st = StatusEvent("sha256:abc", "img", current=12_300_000, total=45_600_000, started=clock.now)
    s.handle(StatusBatch(statuses=(st,), warnings=(WarningEvent("img", 1, "platform mismatch"),)))
    clock.now += 0.7
    text = frame(d)
    assert re.search(r"^ => => sha256:abc +12\.30MB / 45\.60MB +0\.7s$", text, re.M), text
    assert re.search(r"^ => WARN: platform mismatch$", text, re.M), text


def test_several_solves_are_labelled_and_share_one_header() -> None:
    d, _, _ = display()
    a, b = d.solve("1"), d.solve("2")
    a.handle(v("x", "docker-image://busybox", started=1.0, completed=1.0, cached=True))
    b.handle(v("x", "docker-image://busybox", started=1.0))  # the same digest in another solve
    b.handle(v("y", "/bin/sh -c b", started=1.0))
    text = frame(d)
    assert "(1/3)" in text.splitlines()[0]
    assert re.search(r"^ => CACHED \[1 #1\] docker-image://busybox", text, re.M), text
    assert re.search(r"^ => \[2 #1\] docker-image://busybox", text, re.M), text
    assert re.search(r"^ => \[2 #2\] /bin/sh -c b", text, re.M), text


def test_long_names_are_cut_to_the_width_keeping_the_timer() -> None:
    d, _, _ = display(width=40)
    s = d.solve()
    s.handle(v("a", "/bin/sh -c " + "x" * 100, started=1.0, completed=2.0))
    line = frame(d).splitlines()[1]
    assert len(line) == 39 and line.endswith(" 1.0s") and "xxx" in line


def test_control_codes_in_logs_are_not_passed_to_the_terminal() -> None:
    assert printable("\x1b[31mred\x1b[0m") == "red"
    assert printable("10%\r50%\r100%") == "100%"
    assert printable("a\tb\x07") == "a   b"


def test_a_live_frame_keeps_running_steps_when_the_terminal_is_short() -> None:
    d, _, _ = display(height=6)
    s = d.solve()
    for i in range(10):
        s.handle(v(f"d{i}", f"done {i}", started=1.0, completed=2.0))
    s.handle(v("r", "still running", started=1.0))
    live = frame(d).splitlines()
    assert len(live) <= 5
    assert "still running" in live[-1] and "done 0" not in "\n".join(live)
    final = frame(d, final=True)
    assert all(f"done {i}" in final for i in range(10))  # the final frame has every step


def test_close_prints_the_final_frame_then_held_back_text() -> None:
    c, clock = console(), Clock()
    d = TtyDisplay(c, clock=clock, refresh_per_second=20)
    s = d.solve()
    s.handle(v("a", "/bin/sh -c true", started=clock.now, completed=clock.now + 0.3))
    d.print("hlb: default: 0 of 1 steps cached in 0.30s")
    assert "hlb: default" not in c.file.getvalue()  # type: ignore[attr-defined]
    d.close()
    out = c.file.getvalue()  # type: ignore[attr-defined]
    final = out.rindex("[+] Building")
    assert "FINISHED" in out[final:]
    assert out.index("hlb: default: 0 of 1 steps cached") > final
    d.close()  # idempotent
    d.print("after")
    assert c.file.getvalue().endswith("after\n")  # type: ignore[attr-defined]


def test_concurrent_status_threads() -> None:
    c, clock = console(), Clock()
    d = TtyDisplay(c, clock=clock, refresh_per_second=50)
    solves = [d.solve(str(n)) for n in range(4)]

    def feed(n: int) -> None:
        s = solves[n]
        for i in range(200):
            s.handle(v(f"v{i}", f"step {n}.{i}", started=1.0))
            s.handle(StatusBatch(logs=(LogEvent(f"v{i}", 1, b"x\n", 1.0),)))
            s.handle(v(f"v{i}", f"step {n}.{i}", started=1.0, completed=1.1))

    threads = [threading.Thread(target=feed, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    d.close()
    final = frame(d, final=True)
    assert "(800/800) FINISHED" in final
    assert "[3 #200] step 3.199" in final


@pytest.mark.parametrize(
    ("flag", "tty", "env", "mode"),
    [
        ("auto", True, {"TERM": "xterm"}, "tty"),
        ("auto", True, {"TERM": "dumb"}, "plain"),
        ("auto", False, {}, "plain"),
        ("auto", True, {"BUILDKIT_PROGRESS": "rawjson"}, "rawjson"),
        ("plain", True, {"BUILDKIT_PROGRESS": "rawjson"}, "plain"),  # the flag wins, as with buildx
        ("tty", True, {"TERM": "dumb"}, "tty"),
    ],
)
def test_choose_mode(flag: str, tty: bool, env: dict[str, str], mode: str) -> None:
    stream = io.StringIO()
    stream.isatty = lambda: tty  # type: ignore[method-assign]
    assert choose_mode(flag, stream, env) == mode


def test_choose_mode_errors() -> None:
    with pytest.raises(ValueError, match="--progress=tty: stderr is not a terminal"):
        choose_mode("tty", io.StringIO(), {})
    with pytest.raises(ValueError, match="BUILDKIT_PROGRESS=fancy: invalid progress mode"):
        choose_mode("auto", io.StringIO(), {"BUILDKIT_PROGRESS": "fancy"})


def test_open_progress_kinds_and_no_color() -> None:
    assert isinstance(open_progress("plain", io.StringIO()), PlainProgress)
    assert isinstance(open_progress("rawjson", io.StringIO()), RawJSONProgress)
    tty = open_progress("tty", io.StringIO(), {"NO_COLOR": "1"})
    assert isinstance(tty, TtyDisplay) and tty.console.no_color
    with pytest.raises(ValueError):
        open_progress("fancy", io.StringIO())


def test_plain_progress_prefixes_every_solve() -> None:
    out = io.StringIO()
    p = PlainProgress(out)
    a = p.solve("1")
    a.handle(v("x", "step", started=1.0, completed=1.0, cached=True))
    p.close()
    p.print("hlb: a: 1 of 1 steps cached in 0.01s")
    assert out.getvalue() == "[1] #1 step\n[1] #1 CACHED\n\nhlb: a: 1 of 1 steps cached in 0.01s\n"
