"""hlb/_gc.py `paused`: the collector is off in the block, and what the block made is not scanned again by the
first young collection after it."""

from __future__ import annotations

import gc

from hlb._gc import paused


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_what_the_block_made_leaves_it_as_old_objects() -> None:
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
        made = [[i] for i in range(5000)]
    assert gc.isenabled()
    # Left young, these would be 5,000 objects for the next young collection to scan.
    assert gc.get_count()[0] < 100
    assert _in_generation(made, 2) and not _in_generation(made, 0)
    assert gc.get_freeze_count() == 0


def test_objects_frozen_by_someone_else_stay_frozen() -> None:
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
