"""hlb/_gc.py `paused`: the collector is off in the block, and what the block made is not scanned again by the
first young collection after it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hlb import _gc
from hlb._gc import paused


@pytest.fixture
def promoting() -> Iterator[None]:
    _gc.promote_after_pauses()
    try:
        yield
    finally:
        _gc.promote_after_pauses(False)


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_what_the_block_made_leaves_it_as_old_objects(promoting: None) -> None:
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
        made = [[i] for i in range(5000)]
    assert gc.isenabled()
    # Left young, these would be 5,000 objects for the next young collection to scan.
    assert gc.get_count()[0] < 100
    assert _in_generation(made, 2) and not _in_generation(made, 0)
    assert gc.get_freeze_count() == 0


def test_objects_frozen_by_someone_else_stay_frozen(promoting: None) -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with paused():
            made = [[i] for i in range(100)]
        assert gc.get_freeze_count() == frozen
        assert made
    finally:
        gc.unfreeze()


def test_nested_pauses_restore_the_collector_once() -> None:
    with paused():
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_by_default_young_garbage_stays_young() -> None:
    """A long-lived process (the language server, a library user) does not promote: a garbage cycle made
    before a pause is still found by the next young collection."""
    gc.collect()
    cycle: list[object] = []
    cycle.append(cycle)
    with paused():
        pass
    assert _in_generation(cycle, 0)
    del cycle
    assert gc.collect(0) >= 1
