"""Pausing Python's cyclic garbage collector around allocation-heavy front-end passes."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Run the block with the cyclic collector off, then restore it.

    Parsing and checking allocate hundreds of thousands of small objects
    (tokens, tree nodes, AST dataclasses) that form no garbage cycles; the
    collector's allocation-triggered passes only re-scan them and cost about
    a third of the time on a 10,000-line module (bench/parse_check.py).
    Reference counting still frees everything as usual. Nesting is safe.

    On the way out, what the block made is moved to the oldest generation unscanned (``gc.freeze()`` then
    ``gc.unfreeze()``, two list splices): left young, the first allocation after ``gc.enable()`` would
    start a young collection that scans all of it once (~25 ms for a 10,000-line module's syntax tree) to
    find no garbage; as old objects they are scanned only by a full collection, like any long-lived data.
    Skipped when something has frozen objects itself, as ``gc.unfreeze()`` would thaw those too.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()
