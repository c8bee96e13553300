"""An image's history grows by one entry per step without copying the entries before it (issue 10, item 16)."""

from __future__ import annotations

import tracemalloc

import pytest

from hlb.api import compile_source
from hlb.llb import Platform
from hlb.source import SourceFile
from hlb.values import FsValue, History, HistoryLog


def test_each_step_adds_one_entry_without_copying_the_history_so_far() -> None:
    # Every value a function's steps produce stays reachable while it compiles (binds, the trace, the
    # values of the steps). A tuple copied per step made that n²/2 pointers: 36 MB for 3,000 steps.
    n = 3_000
    fs = FsValue.scratch().history("FROM scratch")
    values = [fs]
    tracemalloc.start()
    try:
        for i in range(n):
            fs = fs.history(f"COPY / /d{i}")
            values.append(fs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak / n < 1_000, f"{peak / n:.0f} bytes per step"
    assert len(fs.image.history) == n + 1
    assert [h.created_by for h in values[2].image.history] == ["FROM scratch", "COPY / /d0", "COPY / /d1"]


def test_a_value_continued_two_ways_keeps_each_history_apart() -> None:
    base = FsValue.scratch().history("A").history("B")
    left = base.history("L1").history("L2")
    right = base.history("R", True)  # base's list already holds L1: this one copies A, B
    again = base.history("S")
    assert [h.created_by for h in base.image.history] == ["A", "B"]
    assert [h.created_by for h in left.image.history] == ["A", "B", "L1", "L2"]
    assert list(right.image.history) == [History("A"), History("B"), History("R", True)]
    assert [h.created_by for h in again.image.history] == ["A", "B", "S"]
    assert [h.created_by for h in right.history("R2").image.history] == ["A", "B", "R", "R2"]


def test_a_history_reads_as_the_tuple_of_its_entries() -> None:
    log = HistoryLog.of((History("A"), History("B"))).appended(History("C", True))
    entries = (History("A"), History("B"), History("C", True))
    assert log == entries and entries == log and hash(log) == hash(entries)
    assert log != entries[:2] and log != list(entries)
    assert len(log) == 3 and log[-1] == History("C", True) and log[0] == History("A")
    assert log[:-1] == entries[:2] and log[1:] == entries[1:]
    assert repr(log) == repr(entries)
    with pytest.raises(IndexError):
        log[3]
    with pytest.raises(IndexError):
        log[-4]
    assert FsValue.scratch().with_image(FsValue.scratch().image).image.history == ()


def test_a_function_of_many_copies_compiles_with_every_history_entry() -> None:
    n = 2_000
    body = "".join(f'\tcopy scratch "/" "/d{i}"\n' for i in range(n))
    source = SourceFile("b.hlb", "fs default() {\n\tscratch\n" + body + "}\n")
    compiled = compile_source(source, ["default"], Platform("linux", "amd64"))
    fs = compiled.targets[0].value
    assert isinstance(fs, FsValue)
    assert len(fs.image.history) == n
    assert fs.image.history[-1].created_by == f"COPY / /d{n - 1}"
