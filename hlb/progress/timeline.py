"""``hlb run --debug`` (or ``HLB_DEBUG=1``): a timestamped line on stderr for each phase of a run.

Each line is the time since the process started (so the interpreter's start-up and the imports
show as the first gap), the time since the previous mark, the thread, and the phase::

    hlb: debug:   0.412s  +0.004s  main         solve sent
    hlb: debug:   0.455s  +0.043s  hlb-status   first status

Marks cost one attribute test when debugging is off.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from typing import TextIO

ENV = "HLB_DEBUG"


def _process_start() -> float:
    """The process's start on the ``time.monotonic()`` clock (Linux: /proc/self/stat); else now."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime, in clock ticks since boot
        started = ticks / os.sysconf("SC_CLK_TCK")
        return time.monotonic() - (time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()


class Timeline:
    """Prints marks as they happen when enabled; thread-safe."""

    def __init__(self, enabled: bool = False, out: TextIO | None = None) -> None:
        self.enabled = enabled
        self.out = out
        self.start = _process_start()
        self.last = self.start
        self.lock = threading.Lock()
        self.marks: list[tuple[float, str]] = []  # (seconds since start, phase), kept for tests and summaries

    def enable(self, out: TextIO | None = None) -> None:
        if not self.enabled:
            atexit.register(self.mark, "exit (interpreter shutdown follows)")
        self.enabled = True
        if out is not None:
            self.out = out

    def mark(self, what: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        with self.lock:
            since, self.last = now - self.last, now
            self.marks.append((now - self.start, what))
            thread = threading.current_thread().name
            if thread == "MainThread":
                thread = "main"
            out = self.out or sys.stderr
            try:
                out.write(f"hlb: debug: {now - self.start:8.3f}s {since:+8.3f}s  {thread[:16]:16s} {what}\n")
                out.flush()
            except (OSError, ValueError):
                pass  # a closed stderr must not fail the build


TIMELINE = Timeline()
if os.environ.get(ENV):
    TIMELINE.enable()


def mark(what: str) -> None:
    """Note that ``what`` happened now (a no-op unless ``--debug`` or ``HLB_DEBUG`` is set)."""
    if TIMELINE.enabled:
        TIMELINE.mark(what)
