"""The inlined LALR driver (hlb/syntax/parser.py `_parse_fast`) builds what Lark's driver with the same
callbacks builds, and leaves syntax errors to Lark's driver."""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

import pytest
from trees import HLB_FILES, ROOT, shape

from hlb.source import SourceFile
from hlb.syntax import lark_driver, parser, store
from hlb.syntax.lark_driver import lark_tokens
from hlb.syntax.lexer import LexError, Scanner, grammar
from hlb.syntax.parser import parse_module
from hlb.syntax.transformer import ToAst


def _both(text: str) -> tuple[object, object]:
    source = SourceFile("m.hlb", text)
    out = []
    for drive in (lark_driver.parse, parser._parse_fast):
        to_ast = ToAst(source)
        scanner = Scanner(source)
        try:
            decls = drive(scanner, to_ast)
        except LexError as e:
            out.append(("lex", str(e.diagnostic)))
            continue
        except (parser._Rejected, lark_driver.UnexpectedToken):
            out.append("syntax error")
            continue
        out.append((shape(tuple(decls)), [str(d) for d in to_ast.diagnostics], shape(tuple(scanner.comments))))
    return out[0], out[1]


@pytest.mark.parametrize("path", HLB_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_both_drivers_build_the_same_tree(path: Path) -> None:
    lark, fast = _both(path.read_text(encoding="utf-8", errors="surrogateescape"))
    assert fast == lark


def test_a_syntax_error_is_reported_by_lark() -> None:
    result = parse_module(SourceFile("m.hlb", 'fs default() {\n  image "a" with with\n}\n'))
    assert result.module is None
    assert [d.code.slug for d in result.diagnostics] == ["syntax"]
    assert "`with`" in result.diagnostics[0].message


def test_without_lark_table_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine's first run Lark computes its tables (states named by item sets, not numbers)."""
    text = 'import u from "./u.hlb"\nfs default() {\n  image "a" with option { platform "linux/amd64"; }\n  u.x\n}\n'
    cached = parse_module(SourceFile("m.hlb", text))
    monkeypatch.setattr(lark_driver, "_cache_file", lambda grammar: None)
    monkeypatch.setenv("HLB_NO_FRONT_CACHE", "1")  # nor the table kept in the front cache
    lark_driver._parser.cache_clear()
    parser._table.cache_clear()
    try:
        fresh = parse_module(SourceFile("m.hlb", text))
        assert fresh.module is not None and cached.module is not None
        assert shape(fresh.module.decls) == shape(cached.module.decls)
    finally:
        lark_driver._parser.cache_clear()
        parser._table.cache_clear()


def _nodes(node: object) -> list[object]:
    """Every AST node and Span under ``node``."""
    out: list[object] = []
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, tuple | list):
            todo.extend(n)
        elif dataclasses.is_dataclass(n) and not isinstance(n, SourceFile):
            out.append(n)
            todo.extend(getattr(n, f.name) for f in dataclasses.fields(n))
    return out


@pytest.mark.parametrize("path", HLB_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_nodes_are_what_their_classes_construct(path: Path) -> None:
    """The transformer builds its most common nodes and spans slot by slot (hlb/syntax/transformer.py `_new`):
    each must equal, hash and pickle as the class's own constructor's node from the same fields."""
    parsed = parse_module(SourceFile(str(path), path.read_text(encoding="utf-8", errors="surrogateescape")))
    if parsed.module is None:
        return
    for node in _nodes(parsed.module.decls):
        fields = {f.name: getattr(node, f.name) for f in dataclasses.fields(node)}  # type: ignore[arg-type]
        rebuilt = type(node)(**fields)
        assert rebuilt == node and hash(rebuilt) == hash(node)
        assert shape(pickle.loads(pickle.dumps(node))) == shape(rebuilt)


def test_a_string_without_interpolation_is_one_token_for_the_fast_driver_only() -> None:
    text = 'fs a() {\n  image "x\\ty"; mkdir "" 0o755; env "${"z"}"\n}\n'
    source = SourceFile("m.hlb", text)
    fast = [(kind, text[s:e]) for kind, s, e in Scanner(source).scan()]
    assert ("STRING", '"x\\ty"') in fast and ("STRING", '""') in fast and ("STRING", '"z"') in fast
    lark = [(t.type, str(t)) for t in lark_tokens(Scanner(source))]
    assert "STRING" not in {kind for kind, _ in lark}
    assert lark[7:10] == [("DQUOTE", '"'), ("STR_CHARS", "x\\ty"), ("DQUOTE_END", '"')]
    assert lark[12:14] == [("DQUOTE", '"'), ("DQUOTE_END", '"')]  # an empty string has no text token


def test_a_syntax_error_at_a_whole_string_is_reported_at_its_opening_quote() -> None:
    result = parse_module(SourceFile("m.hlb", 'fs a() {\n  "x" "yz"\n}\n'))
    assert result.module is None and [d.code.slug for d in result.diagnostics] == ["syntax"]
    span = result.diagnostics[0].span
    assert (span.start, span.end) == (15, 16)  # the quote of "yz", as string mode's DQUOTE token had it
    assert "string" in result.diagnostics[0].message


def test_old_table_caches_are_pruned_when_the_tables_are_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    d = tmp_path / "hlb"
    d.mkdir(mode=0o700)
    for i in range(6):  # other grammars' and Lark versions' tables, oldest first
        old = d / f"grammar-lark0.{i}.cache"
        old.write_bytes(b"x")
        os.utime(old, ns=(i * 10**9, i * 10**9))
    lark_driver._parser.cache_clear()
    try:
        lark_driver._parser()
    finally:
        lark_driver._parser.cache_clear()
    left = sorted(p.name for p in d.glob("grammar-lark*.cache"))
    assert len(left) == 4 and "grammar-lark0.5.cache" in left and "grammar-lark0.0.cache" not in left
    assert any(name.startswith(f"grammar-lark{lark_driver.lark_version}-") for name in left)


def test_the_table_kept_in_the_front_cache_is_the_one_lark_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module that parses is driven by the table stored on the first run, without Lark: it must be the table
    Lark's grammar gives, with the repetitions' shapes the driver tells apart by identity."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fresh = parser._canonical(_fresh_table())
    parser._table.cache_clear()
    try:
        built = parser._table()  # a miss: read off Lark and stored
        key = store.make_key("lalr-table", grammar())
        assert store.load(key) is not None
        parser._table.cache_clear()

        def no_lark() -> object:
            raise AssertionError("the stored table was not used")

        monkeypatch.setattr(lark_driver, "build_table", no_lark)
        loaded = parser._table()
    finally:
        parser._table.cache_clear()
    assert loaded == fresh == built
    reductions = [a for row in loaded[0].values() for a in row.values() if a.__class__ is tuple]
    shapes = [r[2] for r in reductions if r[2] in (parser._APPEND, parser._EXTEND)]
    assert shapes and all(s is parser._APPEND or s is parser._EXTEND for s in shapes)
    kinds = {a.__class__ for row in loaded[0].values() for a in row.values()}
    assert kinds == {int, str, tuple}  # exact classes: the driver dispatches on them
    assert parse_module(SourceFile("m.hlb", 'fs a() {\n  image "x"\n}\n')).ok


def _fresh_table() -> object:
    """The table read off a new ``Lark`` (from Lark's table cache in this XDG_CACHE_HOME, else computed: Lark
    numbers the states in a set's order, which differs between processes, so only tables read off the same
    Lark tables are equal)."""
    lark_driver._parser.cache_clear()
    try:
        return lark_driver.build_table()
    finally:
        lark_driver._parser.cache_clear()


def test_a_stored_table_that_is_not_a_table_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    key = store.make_key("lalr-table", grammar())
    junks = [
        "junk",
        ({0: {"NAME": 1.5}}, 0, 1),
        ({0: {1: 1}}, 0, 1),
        ({}, 0, 1),  # no states
        ({0: {}}, 0, 1),  # an end state that is not one
        ({0: {"NAME": 7}}, 0, 0),  # a shift to a state that is not one
        ({0: {"NAME": (1, "x", None)}}, 0, 0),  # a reduction of the wrong length
        ({0: {"NAME": (1, 2, None, None)}}, 0, 0),  # a rule name that is not a string
        ({0: {"NAME": (-1, "x", None, None)}}, 0, 0),
        ({0: {"NAME": (1, "x", ((0, 1),), None)}}, 0, 0),  # a kept child that is not (int, bool)
        ({0: {"NAME": (1, "x", None, print)}}, 0, 0),  # a function that is not ToAst's
    ]
    for junk in junks:
        store.store(key, junk)
        parser._table.cache_clear()
        lark_driver._parser.cache_clear()  # Lark's tables from this cache directory, as _fresh_table's
        try:
            table = parser._table()
        finally:
            parser._table.cache_clear()
            lark_driver._parser.cache_clear()
        assert table == parser._canonical(_fresh_table())
        assert store.load(key) == table  # and stored over the junk
