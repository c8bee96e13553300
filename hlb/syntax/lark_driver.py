"""Everything of the parser that needs Lark: its ``Lark`` object (tables cached per user), the LALR table read off
it for the fast driver, and its own driver, which parses a module again to report a syntax error.

:mod:`hlb.syntax.parser` imports this module only when it needs Lark: to build the table on a first run (the
table is then kept in the front cache, :mod:`hlb.syntax.store`) or to report a syntax error. A module that
parses imports no Lark at all (``import lark`` and building the ``Lark`` object cost ~20 ms).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree
from lark import __version__ as lark_version
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer as LarkLexer
from lark.lexer import LexerThread
from lark.parse_tree_builder import ChildFilterLALR_NoPlaceholders, ExpandSingleChild
from lark.parsers.lalr_analysis import Shift
from lark.parsers.lalr_parser import _Parser

from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.source import SourceFile, Span
from hlb.syntax import ast
from hlb.syntax.lexer import Scanner, grammar
from hlb.syntax.store import user_cache_dir
from hlb.syntax.transformer import ToAst

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

# Lark's Token constructor without its deprecated-keyword shim (a call and a dict per token).
_new_token: Callable[..., Token] = Token._future_new


def lark_tokens(scanner: Scanner) -> Iterator[Token]:
    """The scanner's tokens (:meth:`Scanner.scan`) as Lark Tokens (the final newline's text is ``"\\n"``).

    A STRING, a whole string without interpolation, is given as the three tokens that string mode makes
    of it (DQUOTE, STR_CHARS unless it is empty, DQUOTE_END): Lark's driver reports syntax errors, and
    reports them at the tokens it always has."""
    text = scanner.text
    for kind, start, end in scanner.scan():
        if kind == "STRING":
            yield _new_token("DQUOTE", '"', start, None, None, None, None, start + 1)
            if end - start > 2:
                yield _new_token("STR_CHARS", text[start + 1 : end - 1], start + 1, None, None, None, None, end - 1)
            yield _new_token("DQUOTE_END", '"', end - 1, None, None, None, None, end)
            continue
        yield _new_token(kind, "\n" if kind == "_NL" else text[start:end], start, None, None, None, None, end)


class LarkAdapter(LarkLexer):
    """Lets Lark drive a :class:`Scanner`. The parser passes the scanner as the text."""

    def __init__(self, lexer_conf: object) -> None:
        pass

    def lex(self, scanner: Scanner) -> Iterator[Token]:  # type: ignore[override]
        yield from lark_tokens(scanner)


class LarkCallbacks:
    """A :class:`ToAst`'s methods for Lark's driver, whose tokens are Lark Tokens: each method is given them as
    the fast driver's (type, start, end), so both drivers build with the same methods."""

    def __init__(self, to_ast: ToAst) -> None:
        self._to_ast = to_ast

    def __getattr__(self, name: str) -> Callable[[list[Any]], Any]:
        method = getattr(self._to_ast, name)  # an AttributeError for a rule without one: Lark's default

        def call(children: list[Any]) -> Any:
            return method([(c.type, c.start_pos, c.end_pos) if isinstance(c, Token) else c for c in children])

        return call


@functools.cache
def _parser() -> Lark:
    text = grammar()
    options = {"parser": "lalr", "lexer": LarkAdapter}
    cache = _cache_file(text)
    if cache is not None:
        try:
            built = not cache.exists()
            # Lark pickles the LALR tables and checks a hash of grammar and options on load.
            parser = Lark(text, cache=str(cache), **options)
            if built:
                _prune_tables(cache)
            return parser
        except OSError:
            pass
    return Lark(text, **options)


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
    """A per-user, private place for Lark's table cache: a file per Lark version, grammar, lexer class and
    Python version (what Lark's own check of the file hashes), so two installs of hlb that differ in any of
    them do not rebuild the tables (~30 ms) each time the other one ran."""
    d = user_cache_dir()
    lexer = f"{LarkAdapter.__module__}.{LarkAdapter.__qualname__}"
    digest = hashlib.sha256(f"{grammar}\0{lexer}\0{sys.version_info[:2]}".encode()).hexdigest()[:16]
    return d / f"grammar-lark{lark_version}-{digest}.cache" if d is not None else None


def parse(scanner: Scanner, to_ast: ToAst) -> list[ast.Decl]:
    """Run Lark's LALR parser over the scanner's tokens with ``to_ast``'s methods as its reduce callbacks.

    Lark would build a parse tree (a Tree per rule, every token kept) and then the AST from it; its
    parse tree builder makes the callbacks from ``to_ast`` instead (the same child filtering and inlining
    of ``_rules``; :class:`LarkCallbacks` gives the methods its Tokens as the fast driver's tuples, and
    :func:`lark_tokens` gives it a whole ``STRING`` as its three tokens), so each rule becomes AST as it
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


def parse_or_report(scanner: Scanner, to_ast: ToAst) -> list[ast.Decl] | Diagnostic:
    """:func:`parse`, with a syntax error as its diagnostic (a lexical error still raises ``LexError``)."""
    source = scanner.source
    try:
        return parse(scanner, to_ast)
    except UnexpectedToken as e:
        return _syntax_error(source, e)
    except UnexpectedInput as e:  # pragma: no cover - the scanner reports characters itself
        span = Span(source, e.pos_in_stream or 0, (e.pos_in_stream or 0) + 1)
        return cat.syntax_error(span, "input", [])


def build_table() -> tuple[dict[int, dict[str, Any]], int, int]:
    """Lark's LALR table as plain dicts: a shift (or a goto) is the next state, a reduce a
    ``(size, origin, include, method)`` (see hlb/syntax/parser.py ``_Reduce``), or the rule's name when it only
    passes its one child on (``?expr: literal``, ``?literal: string``...). Only ints, strs, tuples and
    :class:`ToAst`'s functions, so it pickles without Lark.

    The reductions are read off Lark's own callbacks for a :class:`ToAst` (its parse tree builder: which
    children a rule keeps, which `_rules` and repetitions it inlines, `?rules` that pass a single child
    on), so both drivers build the same AST; Lark's `Tree`s for the inlined rules become lists.
    """
    lark = _parser()
    probe = ToAst(SourceFile("", ""))
    callbacks = lark._parse_tree_builder.create_callback(probe)  # type: ignore[no-untyped-call]
    reductions: dict[object, Any] = {}
    for rule, cb in callbacks.items():
        include: tuple[tuple[int, bool], ...] | None = None
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
            # grammar has none, and the driver does not make them.
            assert not single, f"{rule}: a ?rule alternative of several values"
            reductions[rule] = (size, str(rule.origin.name), include, method)
    table = lark.parser.parser._parse_table
    states: dict[int, dict[str, Any]] = {}
    for state, actions in table.states.items():
        states[int(state)] = {
            str(t): int(arg) if action is Shift else reductions[arg] for t, (action, arg) in actions.items()
        }
    return states, int(table.start_states["start"]), int(table.end_states["start"])


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
