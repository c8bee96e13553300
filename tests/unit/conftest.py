"""Every unit test leaves nothing running that the interpreter would wait for at exit.

At exit Python joins each non-daemon thread and each concurrent.futures worker still
running a call. A test that leaves one behind (a fake server's handler blocked on an
event, say) adds that wait after pytest has printed its time, so the suite's wall time
outgrows its reported time and nothing names the test. Here the test that started the
thread fails in its teardown instead, with where the thread is stuck.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import thread as futures_thread

import pytest

GRACE = 2.0  # seconds a thread may take to finish after its test
_WORKER_FILE = futures_thread.__file__


def exit_waits_for() -> dict[threading.Thread, str]:
    """The threads the interpreter would join at exit, each with the place it is running."""
    frames = sys._current_frames()
    waits = {}
    for t in threading.enumerate():
        frame = frames.get(t.ident or -1)
        if t is threading.main_thread() or frame is None:
            continue
        stack = traceback.extract_stack(frame)
        busy_worker = any(f.filename == _WORKER_FILE and f.name == "run" for f in stack)
        if not t.daemon or busy_worker:
            where = stack[-1]
            waits[t] = f"{t.name} at {where.filename}:{where.lineno} in {where.name}"
    return waits


@pytest.fixture(autouse=True)
def _nothing_left_for_the_exit() -> Iterator[None]:
    before = set(exit_waits_for())
    yield
    deadline = time.monotonic() + GRACE
    while True:
        left = {t: where for t, where in exit_waits_for().items() if t not in before}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    if left:
        pytest.fail(
            f"the test left {len(left)} thread(s) running that the interpreter would wait for at exit: "
            + "; ".join(left.values()),
            pytrace=False,
        )
