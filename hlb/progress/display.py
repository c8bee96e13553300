"""Choose and open the progress display of a run: ``auto``, ``tty``, ``plain`` or ``rawjson``.

As with buildx, ``auto`` (the default) takes ``BUILDKIT_PROGRESS`` when it is
set, else becomes ``tty`` on a terminal (TERM not ``dumb``) and ``plain``
elsewhere; ``tty`` on something that is not a terminal is an error; NO_COLOR
turns colours off. The tty display (and so rich) and the rawjson writer are imported only when used.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, TextIO

from hlb.progress.events import StatusBatch
from hlb.progress.plain import PlainPrinter
from hlb.progress.tracker import Tracker

if TYPE_CHECKING:
    from hlb.progress.rawjson import RawJSONWriter

MODES = ("auto", "tty", "plain", "rawjson", "quiet")


class SolveProgress(Protocol):
    """What one solve's status stream feeds; its tracker serves the summary and failure notes."""

    tracker: Tracker

    def handle(self, batch: StatusBatch) -> None: ...

    def close(self) -> None: ...


class Progress(Protocol):
    def solve(self, prefix: str = "") -> SolveProgress:
        """A handle for one solve; ``prefix`` (the solve's number) labels its lines when a run has several."""
        ...

    def print(self, text: str) -> None:
        """A line of the run's own (a summary, a diagnostic), placed where the display leaves room."""
        ...

    def close(self) -> None: ...


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def choose_mode(flag: str, stream: TextIO, env: Mapping[str, str] | None = None) -> str:
    """The display for ``--progress=flag`` on ``stream``: ``tty``, ``plain`` or ``rawjson``; ValueError if invalid."""
    env = os.environ if env is None else env
    mode, origin = flag, f"--progress={flag}"
    if mode == "auto" and env.get("BUILDKIT_PROGRESS"):
        mode = env["BUILDKIT_PROGRESS"]
        origin = f"BUILDKIT_PROGRESS={mode}"
    if mode not in MODES:
        raise ValueError(f"{origin}: invalid progress mode (use {', '.join(MODES)})")
    terminal = _isatty(stream)
    if mode == "auto":
        return "tty" if terminal and env.get("TERM", "") != "dumb" else "plain"
    if mode == "tty" and not terminal:
        raise ValueError(f"{origin}: stderr is not a terminal (use --progress=plain or rawjson)")
    return mode


class PlainProgress:
    """buildx's plain output, one printer per solve, lines prefixed ``[N] `` when there are several."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.printers: list[PlainPrinter] = []

    def solve(self, prefix: str = "") -> PlainPrinter:
        p = PlainPrinter(self.out, prefix=f"[{prefix}] " if prefix else "")
        self.printers.append(p)
        return p

    def print(self, text: str) -> None:
        with self.lock:
            self.out.write("\n" + text + "\n")
            self.out.flush()

    def close(self) -> None:
        for p in self.printers:
            p.close()


class RawJSONProgress:
    """buildx's rawjson: each status message of every solve as one JSON line on ``json_out``; everything else
    (summaries, errors) as text on ``out``, so the JSON stream stays pure."""

    def __init__(self, out: TextIO, json_out: TextIO | None = None) -> None:
        self.out = out
        self.json_out = json_out or out
        self.lock = threading.Lock()

    def solve(self, prefix: str = "") -> RawJSONWriter:
        from hlb.progress.rawjson import RawJSONWriter

        return RawJSONWriter(self.json_out, prefix, self.lock)

    def print(self, text: str) -> None:
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()

    def close(self) -> None:
        pass


def open_progress(
    mode: str, out: TextIO, env: Mapping[str, str] | None = None, json_out: TextIO | None = None
) -> Progress:
    """The display for a mode from :func:`choose_mode`, on ``out``; ``rawjson`` writes its JSON lines to
    ``json_out`` (standard output by default: a pure JSON stream for scripts) and its text to ``out``."""
    env = os.environ if env is None else env
    if mode == "tty":
        from rich.console import Console

        from hlb.progress.tty import TtyDisplay

        console = Console(file=out, no_color=bool(env.get("NO_COLOR")), highlight=False, soft_wrap=False)
        return TtyDisplay(console)
    if mode == "rawjson":
        return RawJSONProgress(out, json_out or sys.stdout)
    if mode == "plain":
        return PlainProgress(out)
    if mode == "quiet":
        return QuietProgress(out)
    raise ValueError(f"unknown progress mode {mode!r}")


class QuietPrinter:
    """One solve under ``--progress quiet``: nothing is printed, the tracker still serves failure reports."""

    def __init__(self) -> None:
        self.tracker = Tracker()

    def handle(self, batch: StatusBatch) -> None:
        for ev in batch.vertexes:
            self.tracker.apply_vertex(ev)
        for lg in batch.logs:
            self.tracker.apply_log(lg)

    def close(self) -> None:
        pass


class QuietProgress:
    """buildx's ``--progress quiet``: no progress and no summaries; what the run prints is held back, and
    shown (on ``out``) only by :meth:`show_held`, which ``hlb run`` calls when the build failed."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.held: list[str] = []

    def solve(self, prefix: str = "") -> QuietPrinter:
        return QuietPrinter()

    def print(self, text: str) -> None:
        with self.lock:
            self.held.append(text)

    def show_held(self) -> None:
        with self.lock:
            for text in self.held:
                self.out.write(text + "\n")
            self.held.clear()
            self.out.flush()

    def close(self) -> None:
        pass
