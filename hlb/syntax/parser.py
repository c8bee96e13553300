"""``parse_module``: source text -> :class:`~hlb.syntax.ast.Module` plus diagnostics."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree
from lark import __version__ as lark_version
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.lexer import LexerThread
from lark.parse_tree_builder import ChildFilterLALR_NoPlaceholders, ExpandSingleChild
from lark.parsers.lalr_analysis import Shift
from lark.parsers.lalr_parser import _Parser

from hlb._gc import paused
from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.source import SourceFile, Span
from hlb.syntax import ast
from hlb.syntax.lexer import LarkAdapter, LexError, Scanner
from hlb.syntax.result import ParseResult
from hlb.syntax.store import user_cache_dir
from hlb.syntax.transformer import LarkCallbacks, ToAst

# Human names for terminals, used in "expected ..." hints.
_TOKEN_NAMES = {
    "NAME": "identifier",
    "FROM": "identifier",
    "BINDS": "identifier",
    "VARIADIC": "identifier",
    "IMPORT": "`import`",
    "EXPORT": "`export`",
    "WITH": "`with`",
    "AS": "`as`",
    "DOT": "`.`",
    "DECIMAL": "integer",
    "NUMERIC": "integer",
    "BOOL": "boolean",
    "RAW_STRING": "string",
    "DQUOTE": "string",
    "STRING": "string",
    "HEREDOC_START": "string",
    "RAW_HEREDOC_START": "string",
    "HD_CHARS": "heredoc text",
    "HEREDOC_END": "heredoc terminator",
    "DQUOTE_END": 'closing `"`',
    "STR_CHARS": "string text",
    "INTERP_START": "`${`",
    "INTERP_END": "`}`",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "COMMA": "`,`",
    "_SEMI": "`;`",
    "_NL": "newline",
    "$END": "end of file",
    "STRAY_DOT": "`.`",
}
_ORDER = list(dict.fromkeys(_TOKEN_NAMES.values()))


@functools.cache
def _parser() -> Lark:
    # Beside this file (importlib.resources would import zipfile, ~2 ms, for a package that is never zipped)
    grammar = Path(__file__).with_name("hlb.lark").read_text(encoding="utf-8")
    options = {"parser": "lalr", "lexer": LarkAdapter}
    cache = _cache_file(grammar)
    if cache is not None:
        try:
            built = not cache.exists()
            # Lark pickles the LALR tables and checks a hash of grammar and options on load.
            parser = Lark(grammar, cache=str(cache), **options)
            if built:
                _prune_tables(cache)
            return parser
        except OSError:
            pass
    return Lark(grammar, **options)


def _prune_tables(kept: Path, most: int = 4) -> None:
    """Remove all but the ``most`` newest table caches beside ``kept`` (other grammars and Lark versions)."""
    others = []
    for p in kept.parent.glob("grammar-lark*.cache"):
        with contextlib.suppress(OSError):
            others.append((p.stat().st_mtime_ns, p))
    for _, p in sorted(others, reverse=True)[most:]:
        if p != kept:
            with contextlib.suppress(OSError):
                p.unlink()


def _cache_file(grammar: str) -> Path | None:
    """A per-user, private place for Lark's table cache: a file per Lark version and grammar, so two installs
    of hlb with different grammars do not rebuild the tables (~30 ms) each time the other one ran."""
    d = user_cache_dir()
    digest = hashlib.sha256(grammar.encode()).hexdigest()[:16]
    return d / f"grammar-lark{lark_version}-{digest}.cache" if d is not None else None


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
            # same callbacks; its UnexpectedToken and interactive parser name what was expected).
            scanner = Scanner(source)
            to_ast = ToAst(source)
            decls = _parse(scanner, to_ast)
    except LexError as e:
        return ParseResult(None, [e.diagnostic])
    except UnexpectedToken as e:
        return ParseResult(None, [_syntax_error(source, e)])
    except UnexpectedInput as e:  # pragma: no cover - the scanner reports characters itself
        span = Span(source, e.pos_in_stream or 0, (e.pos_in_stream or 0) + 1)
        return ParseResult(None, [cat.syntax_error(span, "input", [])])
    comments = tuple(scanner.comments)
    own_line = {c.span.begin.line: c for c in comments if _own_line(c)}
    decls = [_with_doc(d, own_line) for d in decls]
    module = ast.Module(Span(source, 0, len(source.text)), source, tuple(decls), comments)
    return ParseResult(module, to_ast.diagnostics)


def _parse(scanner: Scanner, to_ast: ToAst) -> list[ast.Decl]:
    """Run Lark's LALR parser over the scanner's tokens with ``to_ast``'s methods as its reduce callbacks.

    Lark would build a parse tree (a Tree per rule, every token kept) and then the AST from it; its
    parse tree builder makes the callbacks from ``to_ast`` instead (the same child filtering and inlining
    of ``_rules``; :class:`LarkCallbacks` gives the methods its Tokens as the fast driver's tuples, and
    :meth:`Scanner.tokens` gives it a whole ``STRING`` as its three tokens), so each rule becomes AST as it
    is reduced and each token is freed after its rule: the peak is the AST and the parser's stack, not the
    AST plus the tree. Errors are Lark's own (the same ``UnexpectedToken`` and interactive parser for the
    expected tokens). The parser is made per parse (the callbacks belong to this module's ``ToAst``) from
    Lark 1.x's parts: ``_parse_tree_builder``, the LALR table and driver ``_Parser``, and the frontend's
    lexer thread; every parse test goes through them.
    """
    lark = _parser()
    frontend = lark.parser
    callbacks = lark._parse_tree_builder.create_callback(LarkCallbacks(to_ast))  # type: ignore[no-untyped-call]
    lalr = _Parser(frontend.parser._parse_table, callbacks)
    tokens = frontend._make_lexer_thread(scanner)
    assert isinstance(tokens, LexerThread)
    decls: list[ast.Decl] = lalr.parse(tokens, "start")
    return decls


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


@functools.cache
def _table() -> tuple[dict[int, dict[str, int | str | _Reduce]], int, int]:
    """Lark's LALR table as plain dicts: a shift (or a goto) is the next state, a reduce a ``_Reduce``, or
    the rule's name when it only passes its one child on (``?expr: literal``, ``?literal: string``...).

    The reductions are read off Lark's own callbacks for a :class:`ToAst` (its parse tree builder: which
    children a rule keeps, which `_rules` and repetitions it inlines, `?rules` that pass a single child
    on), so both drivers build the same AST; Lark's `Tree`s for the inlined rules become lists.
    """
    lark = _parser()
    probe = ToAst(SourceFile("", ""))
    callbacks = lark._parse_tree_builder.create_callback(probe)  # type: ignore[no-untyped-call]
    reductions: dict[object, _Reduce | str] = {}
    for rule, cb in callbacks.items():
        include: _Include = None
        if isinstance(cb, ChildFilterLALR_NoPlaceholders):
            include = tuple((i, bool(x)) for i, x in cb.to_include)
            cb = cb.node_builder
        elif type(cb).__name__.startswith("ChildFilter"):
            raise AssertionError(f"unexpected child filter for {rule}")  # placeholders: not in this grammar
        single = isinstance(cb, ExpandSingleChild)
        if single:
            cb = cb.node_builder
        method: Callable[[ToAst, list[Any]], Any] | None
        if getattr(cb, "__self__", None) is probe:
            method = getattr(ToAst, cb.__name__)
        else:
            # Lark's default: a Tree named after the rule, which only `_rules` (inlined by their parent) and
            # `?rules` with a single child (passed on) may produce here.
            assert isinstance(cb, functools.partial) and cb.func is Tree, (rule, cb)
            assert rule.origin.name.startswith("_") or single, rule
            method = None
        size = len(rule.expansion)
        # Exact types, as the loop tests them by class: a grammar Lark has just compiled (no table cache yet)
        # names rules with its Token (a str subclass), one loaded from its cache with str.
        if size == 1 and (
            (single and include in (None, ((0, False),)))  # `?expr: literal`
            or (method is None and not single and include == ((0, True),))  # `_seps: _NL+`: the list goes on
        ):
            reductions[rule] = str(rule.origin.name)  # the child is the value: a goto, nothing to build
        else:
            # A `?rule` alternative that keeps several values (Lark makes it a Tree unless it keeps one): the
            # grammar has none, and the driver below does not make them.
            assert not single, f"{rule}: a ?rule alternative of several values"
            if include == _APPEND:
                include = _APPEND
            elif include == _EXTEND:
                include = _EXTEND
            reductions[rule] = (size, str(rule.origin.name), include, method)
    table = lark.parser.parser._parse_table
    states: dict[int, dict[str, int | str | _Reduce]] = {}
    for state, actions in table.states.items():
        states[state] = {t: int(arg) if action is Shift else reductions[arg] for t, (action, arg) in actions.items()}
    return states, table.start_states["start"], table.end_states["start"]


def _parse_fast(scanner: Scanner, to_ast: ToAst) -> list[ast.Decl]:
    """What :func:`_parse` computes, with the LALR loop and Lark's child filtering inlined (Lark's
    ``feed_token`` is a method call, a ``try`` and an attribute walk per token, and each reduction goes
    through filter objects and builds a ``Tree`` for each inlined rule). The same table, the same ``ToAst``
    methods on the same children, the same order of lexing and reducing (a token is pulled once the
    previous one is shifted), so a lexical error surfaces at the same token; a syntax error raises
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


def _syntax_error(source: SourceFile, e: UnexpectedToken) -> Diagnostic:
    tok: Token = e.token
    if tok.type == "$END":
        end = len(source.text)
        span = Span(source, end, end)
    else:
        assert tok.start_pos is not None and tok.end_pos is not None
        span = Span(source, tok.start_pos, max(tok.end_pos, tok.start_pos + 1))
    # LALR lookahead sets merge follow sets from unrelated contexts; ask the
    # parser which tokens it would really accept here.
    accepted: set[str] = e.interactive_parser.accepts() if e.interactive_parser is not None else e.expected  # type: ignore[no-untyped-call,unused-ignore]
    expected = {_TOKEN_NAMES.get(t, t) for t in accepted}
    ordered = sorted(expected, key=lambda n: _ORDER.index(n) if n in _ORDER else len(_ORDER))
    return cat.syntax_error(span, _describe(tok), ordered)


def _describe(tok: Token) -> str:
    kind = tok.type
    if kind in ("NAME", "FROM", "BINDS", "VARIADIC"):
        return f"identifier `{tok}`"
    if kind in ("IMPORT", "EXPORT", "WITH", "AS"):
        return f"keyword `{tok}`"
    if kind in ("DECIMAL", "NUMERIC"):
        return f"integer `{tok}`"
    if kind == "BOOL":
        return f"boolean `{tok}`"
    if kind in ("STRING", "DQUOTE", "RAW_STRING", "HEREDOC_START", "RAW_HEREDOC_START"):
        return "string"
    return _TOKEN_NAMES.get(kind, f"`{tok}`")


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
