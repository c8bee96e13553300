"""The front-end cache (hlb/syntax/store.py, syntax/cache.py, checker/cache.py): a hit is what a fresh parse
and check would give, and anything that could change the answer is a miss."""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from trees import HLB_FILES, ROOT, shape

import hlb
from hlb.checker import check as checker
from hlb.checker.cache import check_diagnostics
from hlb.checker.check import check_module
from hlb.diagnostics import render_all
from hlb.source import SourceFile
from hlb.syntax import parser, store
from hlb.syntax.cache import format_cached, parse_cached
from hlb.syntax.parser import parse_module
from hlb.syntax.printer import format_module


@pytest.fixture
def front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private cache directory; yields where the entries go."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("HLB_NO_FRONT_CACHE", raising=False)
    yield tmp_path / "xdg" / "hlb" / "front"


class Calls:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parses = 0
        self.checks = 0

        def counted_parse(source: SourceFile) -> object:
            self.parses += 1
            return parse_module(source)

        def counted_check(*args: object) -> object:
            self.checks += 1
            return check_module(*args)  # type: ignore[arg-type]

        # The caches import these on a miss, from their modules: patched there, every miss is counted.
        monkeypatch.setattr(parser, "parse_module", counted_parse)
        monkeypatch.setattr(checker, "check_module", counted_check)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    return Calls(monkeypatch)


def test_the_repository_has_modules_to_compare() -> None:
    assert len(HLB_FILES) > 100


@pytest.mark.parametrize("path", HLB_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_hit_is_a_fresh_parse(path: Path, front: Path, calls: Calls) -> None:
    fresh = parse_module(SourceFile.read(path, "m.hlb"))
    parse_cached(SourceFile.read(path, "m.hlb"))  # fills the cache
    source = SourceFile.read(path, "m.hlb")  # another process reading the same file
    hit = parse_cached(source)
    assert calls.parses == 1, "the second parse_cached did not come from the cache"
    assert render_all(hit.diagnostics, color=False) == render_all(fresh.diagnostics, color=False)
    assert [(d.code, d.span.start, d.span.end, d.message) for d in hit.diagnostics] == [
        (d.code, d.span.start, d.span.end, d.message) for d in fresh.diagnostics
    ]
    if fresh.module is None:
        assert hit.module is None
        return
    assert hit.module is not None and hit.module.file is source
    assert shape(hit.module) == shape(fresh.module)
    assert hit.module.comments and fresh.module.comments or not fresh.module.comments
    assert format_module(hit.module) == format_module(fresh.module)  # the formatter's comments are there


def _files(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path / "build.hlb"


UTIL = "export build\nfs build(string ref) { image ref; }\n"
MAIN = 'import u from "./util.hlb"\nfs default() { u.build "x"; }\n'


def _check(path: Path) -> list[str]:
    return [f"{d.code.slug} {d.span}" for d in check_diagnostics(SourceFile.read(path, str(path)))]


def test_an_unchanged_module_set_is_not_checked_again(tmp_path: Path, front: Path, calls: Calls) -> None:
    main = _files(tmp_path, **{"util.hlb": UTIL, "build.hlb": MAIN})
    assert _check(main) == []
    assert calls.checks == 1
    assert _check(main) == []
    assert calls.checks == 1


def test_an_edited_import_is_checked_again(tmp_path: Path, front: Path, calls: Calls) -> None:
    main = _files(tmp_path, **{"util.hlb": UTIL, "build.hlb": MAIN})
    assert _check(main) == []
    (tmp_path / "util.hlb").write_text(UTIL.replace("image ref", "imgae ref"))
    assert _check(main) == [f"undefined-name {tmp_path / 'util.hlb'}:2:24"]
    (tmp_path / "util.hlb").write_text(UTIL)
    assert _check(main) == []
    assert calls.checks == 3  # one entry per module: the edited one replaced the first


def test_an_edited_module_is_checked_again(tmp_path: Path, front: Path, calls: Calls) -> None:
    main = _files(tmp_path, **{"util.hlb": UTIL, "build.hlb": MAIN})
    assert _check(main) == []
    main.write_text(MAIN.replace('u.build "x"', "u.nope"))
    assert [d.split()[0] for d in _check(main)] == ["undefined-name"]
    assert calls.checks == 2


def test_a_created_or_deleted_import_is_checked_again(tmp_path: Path, front: Path, calls: Calls) -> None:
    main = _files(tmp_path, **{"build.hlb": MAIN})
    assert [d.split()[0] for d in _check(main)] == ["import-not-found"]
    (tmp_path / "util.hlb").write_text(UTIL)
    assert _check(main) == []
    (tmp_path / "util.hlb").unlink()
    assert [d.split()[0] for d in _check(main)] == ["import-not-found"]
    (tmp_path / "util.hlb").mkdir()  # unreadable in another way: another answer
    assert [d.split()[0] for d in _check(main)] == ["import-not-found"]
    assert calls.checks == 4


def test_an_import_of_an_import_is_a_dependency(tmp_path: Path, front: Path, calls: Calls) -> None:
    deep = "export base\nfs base() { scratch; }\n"
    util = 'import d from "./deep.hlb"\nexport build\nfs build() { d.base; }\n'
    main = _files(tmp_path, **{"deep.hlb": deep, "util.hlb": util, "build.hlb": MAIN.replace(' "x"', "")})
    assert _check(main) == []
    (tmp_path / "deep.hlb").write_text(deep.replace("export base\n", ""))
    assert [d.split()[0] for d in _check(main)] == ["call-unexported"]


def test_another_hlb_version_is_a_miss(front: Path, calls: Calls, monkeypatch: pytest.MonkeyPatch) -> None:
    parse_cached(SourceFile("m.hlb", UTIL))
    parse_cached(SourceFile("m.hlb", UTIL))
    assert calls.parses == 1
    monkeypatch.setattr(hlb, "__version__", "99.0.0")
    store.code_key.cache_clear()
    try:
        parse_cached(SourceFile("m.hlb", UTIL))
        assert calls.parses == 2
    finally:
        monkeypatch.undo()
        store.code_key.cache_clear()


def test_an_edited_hlb_source_file_is_a_miss(front: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key covers hlb's own code, not only its version number (a checkout between two versions)."""
    before = store.code_key()
    edited = Path(checker.__file__)
    st = edited.stat()
    try:
        os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        store.code_key.cache_clear()
        assert store.code_key() != before
    finally:
        os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns))
        store.code_key.cache_clear()
    assert store.code_key() == before


CORRUPTIONS = {
    "garbage": lambda data: b"\x00garbage" * 10,
    "empty": lambda data: b"",
    "torn": lambda data: data[: len(data) // 2],
    "flipped": lambda data: data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:],
    "foreign": lambda data: data[: len(store.MAGIC)] + b"\x01" * 32 + data[len(store.MAGIC) + 32 :],
}


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_a_corrupt_entry_is_a_fresh_parse(how: str, front: Path, calls: Calls) -> None:
    text = '# doc\nfs default() {\n  image "alpine"\n  imgae 1\n}\n'
    parse_cached(SourceFile("m.hlb", text))
    (entry,) = list(front.iterdir())
    entry.write_bytes(CORRUPTIONS[how](entry.read_bytes()))
    source = SourceFile("m.hlb", text)
    result = parse_cached(source)
    assert calls.parses == 2
    fresh = parse_module(source)
    assert result.module == fresh.module and result.diagnostics == fresh.diagnostics


def test_a_pickle_of_something_else_is_refused(front: Path, calls: Calls) -> None:
    """An entry whose payload names a class outside hlb is not loaded, even with a valid header."""
    source = SourceFile("m.hlb", UTIL)
    key = store.make_key("parse", source.name, source.original)
    payload = pickle.dumps(pytest.MonkeyPatch)  # a class from another package

    front.mkdir(parents=True, exist_ok=True)
    (front / key.hex()).write_bytes(store.MAGIC + key + hashlib.sha256(payload).digest() + payload)
    assert store.load(key, source) is None
    assert parse_cached(source).module is not None
    assert calls.parses == 1


@pytest.mark.parametrize(
    "module, name",
    [("hlb.syntax.store", "os.getcwd"), ("builtins", "eval"), ("builtins", "getattr"), ("hlb.syntax", "store.os")],
)
def test_a_name_that_walks_out_of_hlb_is_refused(module: str, name: str, front: Path) -> None:
    """A pickle may name `module` `a.b`: only a class of hlb's own and its attributes (the parser's table names
    `ToAst.name`), never a module hlb imported, nor a builtin function."""
    key = store.make_key("test", module, name)
    payload = b"\x80\x04" + pickle.dumps(module)[2:-1] + pickle.dumps(name)[2:-1] + b"\x93."  # STACK_GLOBAL
    assert pickle.loads(payload) is not None  # what an unrestricted unpickler would give
    front.mkdir(parents=True, exist_ok=True)
    (front / key.hex()).write_bytes(store.MAGIC + key + hashlib.sha256(payload).digest() + payload)
    assert store.load(key) is None


def test_concurrent_writers_never_leave_a_torn_entry(front: Path) -> None:
    key = store.make_key("test", "concurrent")
    values = [bytes([i]) * (1 << 20) for i in range(4)]
    store.store(key, values[0])
    stop = threading.Event()
    seen: list[object] = []

    def write(v: bytes) -> None:
        while not stop.is_set():
            store.store(key, v)

    writers = [threading.Thread(target=write, args=(v,)) for v in values]
    for t in writers:
        t.start()
    try:
        for _ in range(200):
            seen.append(store.load(key))
    finally:
        stop.set()
        for t in writers:
            t.join()
    assert all(v in values for v in seen), "a reader saw a missing or partial entry"
    assert not [p for p in front.iterdir() if p.name.startswith(".tmp-")]


def test_pruning_scans_the_directory_once_in_prune_every_stores(front: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scans = []
    monkeypatch.setattr(store, "prune", lambda d, limit: scans.append(d))
    monkeypatch.setattr(store, "_STORES", iter(range(10**6)))
    for i in range(3 * store.PRUNE_EVERY):
        store.store(store.make_key("test", str(i)), b"x")
    assert len(scans) == 3  # not one per store: a directory of many entries made every store slow


def test_the_cache_stays_bounded(front: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "MAX_BYTES", 300_000)
    monkeypatch.setattr(store, "PRUNE_EVERY", 1)
    for i in range(10):
        store.store(store.make_key("test", str(i)), bytes(100_000))
    total = sum(p.stat().st_size for p in front.iterdir())
    assert total <= 300_000
    assert store.load(store.make_key("test", "9")) == bytes(100_000)  # the newest are kept


def test_no_cache_directory_means_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: Calls) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # cannot be a directory
    parse_cached(SourceFile("m.hlb", UTIL))
    assert parse_cached(SourceFile("m.hlb", UTIL)).module is not None
    assert calls.parses == 2


def test_hlb_check_answers_from_the_cache_and_sees_an_edited_import(
    tmp_path: Path, front: Path, calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    from hlb.cli.main import main

    build = _files(tmp_path, **{"util.hlb": UTIL, "build.hlb": MAIN})
    assert main(["check", str(build)]) == 0
    assert main(["check", str(build)]) == 0
    assert calls.checks == 1
    (tmp_path / "util.hlb").write_text(UTIL.replace("image ref", "imgae ref"))
    capsys.readouterr()
    assert main(["check", str(build)]) == 1
    assert "`imgae` is undefined" in capsys.readouterr().err
    assert calls.checks == 2


@pytest.mark.parametrize("path", HLB_FILES[::7], ids=lambda p: str(p.relative_to(ROOT)))
def test_a_format_hit_is_a_fresh_format(path: Path, front: Path, calls: Calls) -> None:
    fresh = parse_module(SourceFile.read(path, "m.hlb"))
    want = format_module(fresh.module) if fresh.module is not None and fresh.ok else None
    first = format_cached(SourceFile.read(path, "m.hlb"))
    hit = format_cached(SourceFile.read(path, "m.hlb"))
    assert calls.parses == 1  # the first format_cached parsed; the second is a hit
    assert first[0] == hit[0] == want
    assert render_all(hit[1], color=False) == render_all(first[1], color=False)
