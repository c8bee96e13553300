"""Lark's LALR reductions -> :mod:`hlb.syntax.ast`, with no parse tree in between.

:class:`ToAst`'s methods are the parser's callbacks: the parser calls the method named after each rule
as it reduces it, with the rule's values (tokens, AST nodes, the small position-carrying parts below),
so no Lark ``Tree`` is built and each token can be freed once its rule is reduced. A rule's span runs
from the start of its first value to the end of its last.

The transformer is total: literal problems (bad escapes, digits outside a base)
are recorded as diagnostics and a placeholder value is used, so one mistake
does not hide the rest of the file. Lark's Tree and Token never leave this package.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.source import SourceFile, Span
from hlb.syntax import ast
from hlb.syntax.lexer import Tok

_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "$": "$",
}
_BASES = {"b": (2, "binary"), "o": (8, "octal"), "x": (16, "hexadecimal")}
INT64_MAX = 2**63 - 1


class _Part:
    """A rule's value that is not an AST node (a with clause, an effects or parameter list), with its extent."""

    __slots__ = ("value", "start_pos", "end_pos")

    def __init__(self, value: Any, start_pos: int, end_pos: int) -> None:
        self.value = value
        self.start_pos = start_pos
        self.end_pos = end_pos


# A token is the fast driver's (type, start, end) (hlb/syntax/lexer.py `Tok`); Lark's driver passes its Tokens
# through hlb/syntax/lark_driver.py `LarkCallbacks`, which turns them into the same. Nodes and _Parts are never tuples.


def _start(x: Any) -> int:
    c = x.__class__
    start: int = x[1] if c is tuple else x.start_pos if c is _Part else x.span.start
    return start


def _end(x: Any) -> int:
    c = x.__class__
    end: int = x[2] if c is tuple else x.end_pos if c is _Part else x.span.end
    return end


def _setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """The store of one slot of a frozen slotted dataclass, past the ``__setattr__`` that refuses it (as the
    dataclass's own ``__init__`` does with ``object.__setattr__``)."""
    for c in cls.__mro__:
        slot = c.__dict__.get(name)
        if slot is not None:
            return cast(Callable[[Any, Any], None], slot.__set__)
    raise AttributeError(f"{cls.__name__}.{name}")


# The AST nodes made most often are built as ``_new(cls)`` plus a store per slot, every slot set: a frozen
# dataclass's ``__init__`` is a Python call plus an ``object.__setattr__`` call per field, ~1.7x the time. Only
# these constructors' results are seen, and they are the same objects (tests/unit/syntax compares them with the
# classes' own constructors over every .hlb file of the repository).
_new = object.__new__
_SPAN_FILE, _SPAN_START, _SPAN_END = (_setter(Span, n) for n in ("file", "start", "end"))
_NODE_SPAN = _setter(ast.Node, "span")
_IDENT_NAME = _setter(ast.Ident, "name")
_Named = TypeVar("_Named", bound=ast.Ident)  # an Ident, or a TypeRef (an Ident in the place of a type)
_IDENT_EXPR_NAME, _IDENT_EXPR_SELECTOR = _setter(ast.IdentExpr, "name"), _setter(ast.IdentExpr, "selector")
_STRING_PARTS, _STRING_RAW, _STRING_HEREDOC = (_setter(ast.StringLit, n) for n in ("parts", "raw", "heredoc"))
_CALL_FUNC, _CALL_ARGS, _CALL_WITH, _CALL_BIND = (_setter(ast.CallStmt, n) for n in ("func", "args", "with_", "bind"))
_CALL_EXPR_FUNC, _CALL_EXPR_ARGS, _CALL_EXPR_PARENS = (_setter(ast.CallExpr, n) for n in ("func", "args", "parens"))


# In a string's text: an escape (the lexer leaves no other backslash in it).
_STR_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
# In a heredoc's text, the fragments that start with a backslash or with a character that is not a blank or `$`
# (see hlb/syntax/lexer.py): `\$` at the start of one is the escape for `$` (group 1); any other backslash pair
# there, and every backslash inside a fragment of text, stays as written (group 2).
_HD_FRAGMENTS = re.compile(r"\\(\$)|(\\[^\n]|[^\t\n\f\r $\\][^\t\n\f\r $]*)")
# Where a long text may be cut for decoding: after a character that starts no escape (strings), after a blank or
# a `$`, which end a heredoc fragment.
_STR_CUT = re.compile(r"[^\\]")
_HD_CUT = re.compile(r"[\t\n\f\r $]")
_CHUNK = 1 << 16


def _decode(text: str, pattern: re.Pattern[str], repl: Callable[[int], Any], cut: re.Pattern[str]) -> str:
    """``pattern.sub(repl(offset), piece)`` over pieces of about 64 KiB of ``text``, cut where ``cut`` matches.

    ``re.sub`` keeps every piece of its result until it joins them: on a whole text, one or two objects per
    match, 50-100 bytes per character of a text made of escapes. ``repl`` is given each piece's offset.
    """
    if len(text) <= _CHUNK:
        return pattern.sub(repl(0), text)
    out: list[str] = []
    start, n = 0, len(text)
    while start < n:
        m = cut.search(text, start + _CHUNK) if start + _CHUNK < n else None
        end = m.end() if m else n
        out.append(pattern.sub(repl(start), text[start:end]))
        start = end
    return "".join(out)


_SHORT = 64  # texts up to this length are shared between equal literals


def _parts(
    children: list[Any], text: Callable[[Tok], str], share: Callable[[Any], Any]
) -> tuple[str | ast.Interpolation, ...]:
    """A string's parts: interpolations, and the text between them decoded by ``text`` and joined
    (a short text shared with ``share``)."""
    parts: list[str | ast.Interpolation] = []
    run: list[str] = []
    for child in children:
        if isinstance(child, ast.Interpolation):
            if run:
                parts.append(_joined(run, share))
                run = []
            parts.append(child)
        else:
            run.append(text(child))
    if run:
        parts.append(_joined(run, share))
    if len(parts) == 1 and isinstance(parts[0], str) and len(parts[0]) <= _SHORT:
        return cast(tuple[str], share((parts[0],)))
    return tuple(parts)


def _joined(run: list[str], share: Callable[[Any], Any]) -> str:
    s = run[0] if len(run) == 1 else "".join(run)
    return cast(str, share(s)) if len(s) <= _SHORT else s


def _mode(opener: str) -> str:
    """``<<EOM`` -> "", ``<<-EOM`` -> "-", ``<<~`EOM` `` -> "~"."""
    c = opener[2:3]
    return c if c in "-~" and c else ""


class ToAst:
    """The parser's callbacks: the method named after each rule, called with the rule's values as it is reduced.

    Not Lark's ``Transformer`` over a tree: the parser calls these directly (see hlb/syntax/parser.py).
    """

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.text = source.text
        self.diagnostics: list[Diagnostic] = []
        # One object for each distinct identifier, short text and integer value of the module: the same
        # names, paths and modes recur on every line, and each copy costs 30-60 bytes.
        self._shared: dict[Any, Any] = {}

    def _share(self, value: Any) -> Any:
        return self._shared.setdefault(value, value)

    def _span(self, children: list[Any]) -> Span:
        return self._new_span(_start(children[0]), _end(children[-1]))

    def _new_span(self, start: int, end: int) -> Span:
        span = _new(Span)
        _SPAN_FILE(span, self.source)
        _SPAN_START(span, start)
        _SPAN_END(span, end)
        return span

    def _text(self, tok: Tok) -> str:
        return self.text[tok[1] : tok[2]]

    # -- names ---------------------------------------------------------------

    def _named(self, cls: type[_Named], tok: Tok) -> _Named:
        """An :class:`ast.Ident` or :class:`ast.TypeRef` (the same slots) of the token's text."""
        _, start, end = tok
        span = _new(Span)
        _SPAN_FILE(span, self.source)
        _SPAN_START(span, start)
        _SPAN_END(span, end)
        text = self.text[start:end]
        node = _new(cls)
        _NODE_SPAN(node, span)
        _IDENT_NAME(node, self._shared.setdefault(text, text))
        return node

    def name(self, children: list[Tok]) -> ast.Ident:
        return self._named(ast.Ident, children[0])

    def type_name(self, children: list[Tok]) -> ast.TypeRef:
        return self._named(ast.TypeRef, children[0])

    def ident_expr(self, children: list[Tok]) -> ast.IdentExpr:
        """An identifier that is an expression: the name and the expression share one span."""
        _, start, end = children[0]
        span = _new(Span)
        _SPAN_FILE(span, self.source)
        _SPAN_START(span, start)
        _SPAN_END(span, end)
        text = self.text[start:end]
        name = _new(ast.Ident)
        _NODE_SPAN(name, span)
        _IDENT_NAME(name, self._shared.setdefault(text, text))
        node = _new(ast.IdentExpr)
        _NODE_SPAN(node, span)
        _IDENT_EXPR_NAME(node, name)
        _IDENT_EXPR_SELECTOR(node, None)
        return node

    def selector(self, children: list[Any]) -> ast.IdentExpr:
        return ast.IdentExpr(self._span(children), children[0], children[2])

    # -- literals ------------------------------------------------------------

    def string(self, children: list[Any]) -> ast.StringLit:
        if len(children) == 3 and children[1].__class__ is tuple:  # one run of text
            return self._string(children[0][1], children[2][2], children[1][1], children[1][2])
        span = self._new_span(children[0][1], children[-1][2])
        return ast.StringLit(span, _parts(children[1:-1], self._str_text, self._share))

    def whole_string(self, children: list[Tok]) -> ast.StringLit:
        """A string without interpolation, one token from its opening quote to its closing one."""
        _, start, end = children[0]
        if end - start == 2:
            return ast.StringLit(self._new_span(start, end), ())
        return self._string(start, end, start + 1, end - 1)

    def _string(self, start: int, end: int, text_start: int, text_end: int) -> ast.StringLit:
        """The string from ``start`` to ``end`` whose text, one run of it, is from ``text_start`` to ``text_end``."""
        span = _new(Span)
        _SPAN_FILE(span, self.source)
        _SPAN_START(span, start)
        _SPAN_END(span, end)
        text = self.text[text_start:text_end]
        if "\\" in text:
            text = self._str_text(("STR_CHARS", text_start, text_end))
        parts: tuple[str | ast.Interpolation, ...]
        if len(text) <= _SHORT:
            shared = self._shared
            text = shared.setdefault(text, text)
            parts = (text,)
            parts = shared.setdefault(parts, parts)
        else:
            parts = (text,)
        node = _new(ast.StringLit)
        _NODE_SPAN(node, span)
        _STRING_PARTS(node, parts)
        _STRING_RAW(node, False)
        _STRING_HEREDOC(node, None)
        return node

    def _str_text(self, tok: Tok) -> str:
        """A string's text with its escapes decoded; an invalid one is kept as written and reported."""
        _, start, end = tok
        text = self.text[start:end]
        if "\\" not in text:
            return text

        def escapes(offset: int) -> Callable[[re.Match[str]], str]:
            def escape(m: re.Match[str]) -> str:
                decoded = _ESCAPES.get(m[1])
                if decoded is not None:
                    return decoded
                s = start + offset + m.start()
                self.diagnostics.append(cat.invalid_escape(Span(self.source, s, s + 2), m[0]))
                return m[0]

            return escape

        return _decode(text, _STR_ESCAPE, escapes, _STR_CUT)

    def interpolation(self, children: list[Any]) -> ast.Interpolation:
        expr = children[1] if len(children) == 3 else None
        return ast.Interpolation(self._new_span(children[0][1], children[-1][2]), expr)

    def heredoc(self, children: list[Any]) -> ast.StringLit:
        def text(tok: Tok) -> str:
            # In heredocs only `\$` is an escape; other backslash pairs stay as written.
            s = self._text(tok)
            return _decode(s, _HD_FRAGMENTS, lambda _: r"\1\2", _HD_CUT) if "\\$" in s else s

        parts = _parts(children[1:-1], text, self._share)
        return ast.StringLit(self._span(children), parts, heredoc=_mode(self._text(children[0])))

    def raw_heredoc(self, children: list[Tok]) -> ast.StringLit:
        text = "".join(self._text(c) for c in children[1:-1])
        return ast.StringLit(self._span(children), (text,), raw=True, heredoc=_mode(self._text(children[0])))

    def raw_string(self, children: list[Tok]) -> ast.StringLit:
        return ast.StringLit(self._span(children), (self._text(children[0])[1:-1],), raw=True)

    def decimal(self, children: list[Tok]) -> ast.IntLit:
        text = self._text(children[0])
        return self._int(children, text, 10, text, "decimal")

    def numeric(self, children: list[Tok]) -> ast.IntLit:
        text = self._text(children[0])
        base, base_name = _BASES[text[1].lower()]
        return self._int(children, text, base, text[2:], base_name)

    def _int(self, children: list[Tok], text: str, base: int, digits: str, base_name: str) -> ast.IntLit:
        span = self._span(children)
        try:
            value = int(digits, base)
        except ValueError:
            self.diagnostics.append(cat.invalid_number(span, text, base_name))
            value = 0
        if value > INT64_MAX:
            self.diagnostics.append(cat.invalid_number(span, text, "64-bit integer"))
            value = 0
        return ast.IntLit(span, self._share(value), base)

    def bool_lit(self, children: list[Tok]) -> ast.BoolLit:
        return ast.BoolLit(self._span(children), self._text(children[0]) == "true")

    # -- expressions ---------------------------------------------------------

    def call_expr(self, children: list[Any]) -> ast.CallExpr:
        func = children[0]
        node = _new(ast.CallExpr)
        _NODE_SPAN(node, func.span)
        _CALL_EXPR_FUNC(node, func)
        _CALL_EXPR_ARGS(node, ())
        _CALL_EXPR_PARENS(node, False)
        return node

    def call_paren(self, children: list[Any]) -> ast.CallExpr:
        args = tuple([c for c in children[1:] if c.__class__ is not tuple])
        return ast.CallExpr(self._span(children), children[0], args, parens=True)

    def func_lit(self, children: list[Any]) -> ast.FuncLit:
        return ast.FuncLit(self._new_span(children[0].span.start, children[1].span.end), children[0], children[1])

    # -- statements ----------------------------------------------------------

    def block(self, children: list[Any]) -> ast.Block:
        stmts = tuple([c for c in children if c.__class__ is not tuple])
        return ast.Block(self._new_span(children[0][1], children[-1][2]), stmts)

    def call_stmt(self, children: list[Any]) -> ast.CallStmt:
        func = children[0]
        with_: ast.Expr | None = None
        bind: ast.BindClause | None = None
        if len(children) == 1:
            span = func.span
            args: tuple[ast.Expr, ...] = ()
        else:
            span = self._new_span(func.span.start, _end(children[-1]))
            exprs: list[ast.Expr] = []
            for c in children[1:]:
                if c.__class__ is _Part:
                    with_ = c.value
                elif c.__class__ is ast.BindClause:
                    bind = c
                else:
                    exprs.append(c)
            args = tuple(exprs)
        node = _new(ast.CallStmt)
        _NODE_SPAN(node, span)
        _CALL_FUNC(node, func)
        _CALL_ARGS(node, args)
        _CALL_WITH(node, with_)
        _CALL_BIND(node, bind)
        return node

    def expr_stmt(self, children: list[Any]) -> ast.ExprStmt:
        return ast.ExprStmt(children[0].span, children[0])

    def with_clause(self, children: list[Any]) -> _Part:
        return _Part(children[1], children[0][1], children[1].span.end)

    def bind_clause(self, children: list[Any]) -> ast.BindClause:
        return ast.BindClause(self._span(children))

    def bind_name(self, children: list[Any]) -> ast.BindClause:
        return ast.BindClause(self._span(children), target=children[1])

    def bind_list(self, children: list[Any]) -> ast.BindClause:
        pairs = tuple(c for c in children if isinstance(c, ast.BindPair))
        return ast.BindClause(self._span(children), pairs=pairs)

    def bind_pair(self, children: list[ast.Ident]) -> ast.BindPair:
        return ast.BindPair(self._span(children), children[0], children[1])

    # -- declarations --------------------------------------------------------

    def field(self, children: list[Any]) -> ast.Field:
        variadic = children[0].__class__ is tuple  # the VARIADIC token: the rule's only one
        type_, name = children[-2], children[-1]
        return ast.Field(self._span(children), type_, name, variadic)

    def params(self, children: list[Any]) -> _Part:
        fields = tuple([c for c in children if c.__class__ is ast.Field])
        return _Part(fields, children[0][1], children[-1][2])

    def effects(self, children: list[Any]) -> _Part:
        return _Part(children[1].value, children[0][1], children[1].end_pos)

    def func_decl(self, children: list[Any]) -> ast.FuncDecl:
        type_, name, params, *rest = children
        effects: tuple[ast.Field, ...] | None = None
        body: ast.Block | None = None
        for c in rest:
            if isinstance(c, ast.Block):
                body = c
            else:
                effects = c.value
        return ast.FuncDecl(self._span(children), type_, name, params.value, effects, body)

    def import_decl(self, children: list[Any]) -> ast.ImportDecl:
        return ast.ImportDecl(self._span(children), children[1], children[3])

    def import_deprecated(self, children: list[Any]) -> ast.ImportDecl:
        return ast.ImportDecl(self._span(children), children[1], children[2], deprecated=True)

    def export_decl(self, children: list[Any]) -> ast.ExportDecl:
        return ast.ExportDecl(self._span(children), children[1])

    def start(self, children: list[Any]) -> list[ast.Decl]:
        return [c for c in children if c.__class__ is not tuple]
