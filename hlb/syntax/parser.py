"""``parse_module``: source text -> :class:`~hlb.syntax.ast.Module` plus diagnostics."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import sys
from collections.abc import Callable
from typing import Any

from hlb._gc import paused
from hlb.diagnostics import Diagnostic
from hlb.source import SourceFile, Span
from hlb.syntax import ast, store
from hlb.syntax.lexer import LexError, Scanner, grammar
from hlb.syntax.result import ParseResult
from hlb.syntax.transformer import ToAst


def parse_module(source: SourceFile) -> ParseResult:
    with paused():
        return _parse_module(source)


def _parse_module(source: SourceFile) -> ParseResult:
    scanner = Scanner(source)
    to_ast = ToAst(source)
    try:
        try:
            decls = _parse_fast(scanner, to_ast)
        except _Rejected:
            # A syntax error: parse again with Lark's own driver, which reports it (the same tokens, the
            # same callbacks; its UnexpectedToken and interactive parser name what was expected). Lark is
            # imported here only: a module that parses never loads it.
            from hlb.syntax.lark_driver import parse_or_report

            scanner = Scanner(source)
            to_ast = ToAst(source)
            parsed = parse_or_report(scanner, to_ast)
            if isinstance(parsed, Diagnostic):
                return ParseResult(None, [parsed])
            decls = parsed
    except LexError as e:
        return ParseResult(None, [e.diagnostic])
    comments = tuple(scanner.comments)
    own_line = {c.span.begin.line: c for c in comments if _own_line(c)}
    decls = [_with_doc(d, own_line) for d in decls]
    module = ast.Module(Span(source, 0, len(source.text)), source, tuple(decls), comments)
    return ParseResult(module, to_ast.diagnostics)


class _Rejected(Exception):
    """The fast driver met a token its state has no action for."""


# A reduction: (values popped, the rule's name, which of them it keeps, the ToAst method that makes the result
# from the kept values, or None for a list that the parent rule inlines). What it keeps: None, all of them as they
# are; else (index, inline it) for each value kept, or _APPEND / _EXTEND for the two shapes of a repetition,
# ((0, True), (1, False)) and ((0, True), (1, True)), which the driver makes without a loop.
_APPEND = ((0, True), (1, False))
_EXTEND = ((0, True), (1, True))
_Include = tuple[tuple[int, bool], ...] | None
_Reduce = tuple[int, str, _Include, Callable[[ToAst, list[Any]], Any] | None]


_Table = tuple[dict[int, dict[str, int | str | _Reduce]], int, int]


@functools.cache
def _table() -> _Table:
    """Lark's LALR table as plain dicts: a shift (or a goto) is the next state, a reduce a ``_Reduce``, or
    the rule's name when it only passes its one child on (``?expr: literal``, ``?literal: string``...).

    It is read off Lark (hlb/syntax/lark_driver.py `build_table`) once and kept in the front cache
    (:mod:`hlb.syntax.store`) under the grammar's text and the code key (hlb's sources, Lark's version), so a
    module that parses imports no Lark: ``import lark`` and building the ``Lark`` object from its own table
    cache cost ~20 ms, loading this ~0.3 ms.
    """
    key = store.make_key("lalr-table", grammar())
    table = _canonical(store.load(key))
    if table is None:
        from hlb.syntax.lark_driver import build_table  # the first run (or HLB_NO_FRONT_CACHE): Lark computes it

        table = _canonical(build_table())
        assert table is not None, "Lark's table has an unexpected shape"
        store.store(key, table)
    return table


def _canonical(value: object) -> _Table | None:
    """``value`` as :func:`_table` returns it, or None when it is not a table of this driver's shape (a stored
    entry is then built again, never used). The driver tells the two shapes of a repetition by identity
    (``include is _APPEND``), which a pickle does not keep, and terminal and rule names are interned, so its
    dict lookups compare them by identity too."""
    try:
        return _checked(value)
    except (TypeError, ValueError):
        return None


def _checked(value: object) -> _Table | None:
    if not (isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], dict) and value[0]):
        return None
    states, start, end = value
    if not (type(start) is int and type(end) is int and start in states and end in states):
        return None
    intern = sys.intern
    seen: dict[int, int | str | _Reduce] = {}  # by id: the table shares each reduction among its states
    out: dict[int, dict[str, int | str | _Reduce]] = {}
    for state, actions in states.items():
        if not (type(state) is int and isinstance(actions, dict)):
            return None
        row: dict[str, int | str | _Reduce] = {}
        for t, action in actions.items():
            if type(t) is not str:
                return None
            cls = action.__class__
            if cls is tuple:
                made = seen.get(id(action))
                if made is None:
                    reduction = _reduction(action)
                    if reduction is None:
                        return None
                    made = seen[id(action)] = reduction
                action = made
            elif cls is str:
                action = intern(action)
            elif cls is not int or action not in states:
                return None
            row[intern(t)] = action
        out[state] = row
    return out, start, end


def _reduction(action: tuple[Any, ...]) -> _Reduce | None:
    """A stored reduction, checked: its size, its rule's name, which children it keeps, and the ``ToAst``
    function that builds its node (a function of that class, nothing else)."""
    size, origin, include, method = action
    if type(size) is not int or size < 0 or type(origin) is not str:
        return None
    if include is not None and not all(
        type(pair) is tuple and len(pair) == 2 and type(pair[0]) is int and type(pair[1]) is bool for pair in include
    ):
        return None
    if method is not None and getattr(ToAst, getattr(method, "__name__", ""), None) is not method:
        return None
    if include == _APPEND:
        include = _APPEND
    elif include == _EXTEND:
        include = _EXTEND
    return size, sys.intern(origin), include, method


def _parse_fast(scanner: Scanner, to_ast: ToAst) -> list[ast.Decl]:
    """What Lark's driver (hlb/syntax/lark_driver.py `parse`) computes, with the LALR loop and Lark's child
    filtering inlined (Lark's ``feed_token`` is a method call, a ``try`` and an attribute walk per token, and
    each reduction goes through filter objects and builds a ``Tree`` for each inlined rule). The same table,
    the same ``ToAst`` methods on the same children, the same order of lexing and reducing (a token is pulled
    once the previous one is shifted), so a lexical error surfaces at the same token; a syntax error raises
    :class:`_Rejected` and the caller lets Lark's driver report it."""
    table, start, end = _table()
    # States are numbered 0..n-1 (Lark's IntParseTable): a list is indexed faster than a dict is looked up.
    by_number: dict[int, dict[str, Any]] = table  # the loop tells the actions apart by class
    states: list[dict[str, Any]] | dict[int, dict[str, Any]] = by_number
    if by_number.keys() == set(range(len(by_number))):
        states = [by_number[i] for i in range(len(by_number))]
    stack = [start]
    values: list[Any] = []
    push_state, push_value = stack.append, values.append
    append, extend = _APPEND, _EXTEND

    end_of_input = ("$END", len(scanner.text), len(scanner.text))
    for tok in itertools.chain(scanner.scan(), (end_of_input,)):
        kind = tok[0]
        while True:
            action: Any = states[stack[-1]].get(kind)
            cls = action.__class__
            if cls is tuple:  # a reduction, inlined: it runs about twice per token
                size, origin, include, method = action  # a _Reduce
                if size == 1:  # the value is replaced in place, and the state by the goto from the one below
                    if include is None:
                        kept = [values[-1]]
                    elif not include:
                        kept = []
                    else:
                        kept = [values[-1]] if include[0][1] is False else values[-1]
                    values[-1] = kept if method is None else method(to_ast, kept)
                    stack[-1] = states[stack[-2]][origin]
                else:
                    if size:
                        children = values[-size:]
                        del stack[-size:], values[-size:]
                    else:
                        children = []
                    if include is None:
                        kept = children
                    elif include is append:
                        kept = children[0]
                        kept.append(children[1])
                    elif include is extend:
                        kept = children[0]
                        kept += children[1]
                    else:
                        kept = []
                        for i, inline in include:
                            if not inline:
                                kept.append(children[i])
                            elif kept:
                                kept += children[i]
                            else:
                                kept = children[i]
                    push_value(kept if method is None else method(to_ast, kept))
                    push_state(states[stack[-1]][origin])
            elif cls is int:
                push_state(action)
                push_value(tok)
                break
            elif cls is str:  # a rule that passes its one value on: only the state changes
                stack[-1] = states[stack[-2]][action]
            else:
                raise _Rejected
            if kind == "$END" and stack[-1] == end:
                result: list[ast.Decl] = values[-1]
                return result
    raise _Rejected  # the input ended and the start rule was never reduced


def _with_doc(decl: ast.Decl, by_line: dict[int, ast.Comment]) -> ast.Decl:
    """Attach the comment group that ends on the line above a function as its doc.

    ``by_line`` maps line numbers to the comments that are alone on their line.
    """
    if not isinstance(decl, ast.FuncDecl):
        return decl
    line = decl.span.begin.line
    lines: list[str] = []
    while (line - 1) in by_line:
        line -= 1
        lines.append(by_line[line].text)
    if not lines:
        return decl
    doc = "\n".join(t[1:] if t.startswith(" ") else t for t in reversed(lines))
    return dataclasses.replace(decl, doc=doc)


def _own_line(c: ast.Comment) -> bool:
    text = c.span.file.line_text(c.span.begin.line)
    return text[: c.span.begin.column - 1].strip() == ""


def parse_decls(
    source: SourceFile, start: int, end: int
) -> tuple[list[ast.Decl], list[ast.Comment], list[Diagnostic]] | None:
    """The declarations of ``source.text[start:end]``, a run of whole top-level declarations with the blank
    lines and comments around them, with spans in ``source``: for the language server, which parses again
    only the declarations an edit touched. None when the run does not parse on its own (the caller then
    parses the whole module, which reports why)."""
    scanner = Scanner(source)
    scanner.text = source.text[:end]
    scanner.pos = start
    to_ast = ToAst(source)
    try:
        with paused():
            decls = _parse_fast(scanner, to_ast)
    except (_Rejected, LexError):
        return None
    comments = scanner.comments
    own_line = {c.span.begin.line: c for c in comments if _own_line(c)}
    return [_with_doc(d, own_line) for d in decls], comments, to_ast.diagnostics
