"""Pausing Python's cyclic garbage collector around allocation-heavy front-end passes."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_promote = False  # see promote_after_pauses


def promote_after_pauses(enabled: bool = True) -> None:
    """Make :func:`paused` move to the oldest generation what its block made (off by default).

    Only for a short-lived process: the ``hlb`` command turns it on for every command but the language server.
    ``gc.freeze()`` moves every tracked object, so young garbage cycles made before the block become old too
    and wait for a full collection; in a process that runs for hours (the language server pauses at every
    edit, a library user at every parse) they would pile up.
    """
    global _promote
    _promote = enabled


@contextmanager
def paused() -> Iterator[None]:
    """Run the block with the cyclic collector off, then restore it.

    Parsing and checking allocate hundreds of thousands of small objects
    (tokens, tree nodes, AST dataclasses) that form no garbage cycles; the
    collector's allocation-triggered passes only re-scan them and cost about
    a third of the time on a 10,000-line module (bench/parse_check.py).
    Reference counting still frees everything as usual. Nesting is safe.

    On the way out, when :func:`promote_after_pauses` is on, what the block made is moved to the oldest
    generation unscanned (``gc.freeze()`` then ``gc.unfreeze()``, two list splices): left young, the first
    allocation after ``gc.enable()`` would start a young collection that scans all of it once (~25 ms for a
    10,000-line module's syntax tree) to find no garbage; as old objects they are scanned only by a full
    collection, like any long-lived data. Skipped when something has frozen objects itself, as
    ``gc.unfreeze()`` would thaw those too.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if _promote and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()
