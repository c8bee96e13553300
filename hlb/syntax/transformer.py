"""Lark parse tree -> :mod:`hlb.syntax.ast`.

The transformer is total: literal problems (bad escapes, digits outside a base)
are recorded as diagnostics and a placeholder value is used, so one mistake
does not hide the rest of the file. Lark's Tree and Token never leave this package.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lark import Token, Tree

from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.source import SourceFile, Span
from hlb.syntax import ast

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


class _Meta:
    """The positions a rule method needs (Lark's ``propagate_positions`` computes more, slower)."""

    __slots__ = ("start_pos", "end_pos")

    def __init__(self, start_pos: int, end_pos: int) -> None:
        self.start_pos = start_pos
        self.end_pos = end_pos


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


def _parts(children: list[Any], text: Callable[[Token], str]) -> tuple[str | ast.Interpolation, ...]:
    """A string's parts: interpolations, and the text between them decoded by ``text`` and joined."""
    parts: list[str | ast.Interpolation] = []
    run: list[str] = []
    for child in children:
        if isinstance(child, ast.Interpolation):
            if run:
                parts.append("".join(run))
                run = []
            parts.append(child)
        else:
            run.append(text(child))
    if run:
        parts.append("".join(run))
    return tuple(parts)


def _mode(opener: Token) -> str:
    """``<<EOM`` -> "", ``<<-EOM`` -> "-", ``<<~`EOM` `` -> "~"."""
    c = str(opener)[2:3]
    return c if c in "-~" and c else ""


def _is_tok(x: object, type_: str) -> bool:
    return isinstance(x, Token) and x.type == type_


class ToAst:
    """Calls the method named after each rule with (meta, transformed children), bottom-up.

    A direct walk rather than Lark's ``Transformer``: its per-node dispatch
    wrappers cost more than the whole AST construction on large modules.
    """

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.diagnostics: list[Diagnostic] = []

    def transform(self, tree: Tree[Token]) -> Any:
        return self._node(tree)[0]

    def _node(self, tree: Tree[Token]) -> tuple[Any, int | None, int | None]:
        """(value, start, end): a rule's extent runs from its first token to its last."""
        values: list[Any] = []
        start = end = None
        for c in tree.children:
            if isinstance(c, Tree):
                v, s, e = self._node(c)
            else:
                v, s, e = c, c.start_pos, c.end_pos
            values.append(v)
            if s is not None:
                if start is None:
                    start = s
                end = e
        # The tree is walked once: letting go of its tokens and subtrees as soon as they are turned into AST
        # keeps the peak near the larger of the two instead of their sum.
        tree.children = []
        return getattr(self, tree.data)(_Meta(start or 0, end or 0), values), start, end

    def _span(self, meta: Any) -> Span:
        return Span(self.source, meta.start_pos, meta.end_pos)

    def _tspan(self, tok: Token) -> Span:
        assert tok.start_pos is not None and tok.end_pos is not None
        return Span(self.source, tok.start_pos, tok.end_pos)

    # -- names ---------------------------------------------------------------

    def name(self, meta: Any, children: list[Token]) -> ast.Ident:
        return ast.Ident(self._span(meta), str(children[0]))

    def type_name(self, meta: Any, children: list[Token]) -> ast.TypeRef:
        return ast.TypeRef(self._span(meta), str(children[0]))

    def ident_expr(self, meta: Any, children: list[ast.Ident]) -> ast.IdentExpr:
        return ast.IdentExpr(self._span(meta), children[0])

    def selector(self, meta: Any, children: list[Any]) -> ast.IdentExpr:
        return ast.IdentExpr(self._span(meta), children[0], children[2])

    # -- literals ------------------------------------------------------------

    def string(self, meta: Any, children: list[Any]) -> ast.StringLit:
        return ast.StringLit(self._span(meta), _parts(children[1:-1], self._str_text))

    def _str_text(self, tok: Token) -> str:
        """A string's text with its escapes decoded; an invalid one is kept as written and reported."""
        text: str = tok.value  # the lexer's slice of the source (a Token is a second copy)
        if "\\" not in text:
            return text
        start = tok.start_pos
        assert start is not None

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

    def interpolation(self, meta: Any, children: list[Any]) -> ast.Interpolation:
        expr = children[1] if len(children) == 3 else None
        return ast.Interpolation(self._span(meta), expr)

    def heredoc(self, meta: Any, children: list[Any]) -> ast.StringLit:
        def text(tok: Token) -> str:
            # In heredocs only `\$` is an escape; other backslash pairs stay as written.
            s: str = tok.value
            return _decode(s, _HD_FRAGMENTS, lambda _: r"\1\2", _HD_CUT) if "\\$" in s else s

        return ast.StringLit(self._span(meta), _parts(children[1:-1], text), heredoc=_mode(children[0]))

    def raw_heredoc(self, meta: Any, children: list[Token]) -> ast.StringLit:
        text = "".join(c.value for c in children[1:-1])
        return ast.StringLit(self._span(meta), (text,), raw=True, heredoc=_mode(children[0]))

    def raw_string(self, meta: Any, children: list[Token]) -> ast.StringLit:
        return ast.StringLit(self._span(meta), (children[0].value[1:-1],), raw=True)

    def decimal(self, meta: Any, children: list[Token]) -> ast.IntLit:
        return self._int(meta, str(children[0]), 10, str(children[0]), "decimal")

    def numeric(self, meta: Any, children: list[Token]) -> ast.IntLit:
        text = str(children[0])
        base, base_name = _BASES[text[1].lower()]
        return self._int(meta, text, base, text[2:], base_name)

    def _int(self, meta: Any, text: str, base: int, digits: str, base_name: str) -> ast.IntLit:
        try:
            value = int(digits, base)
        except ValueError:
            self.diagnostics.append(cat.invalid_number(self._span(meta), text, base_name))
            value = 0
        if value > INT64_MAX:
            self.diagnostics.append(cat.invalid_number(self._span(meta), text, "64-bit integer"))
            value = 0
        return ast.IntLit(self._span(meta), value, base)

    def bool_lit(self, meta: Any, children: list[Token]) -> ast.BoolLit:
        return ast.BoolLit(self._span(meta), str(children[0]) == "true")

    # -- expressions ---------------------------------------------------------

    def call_expr(self, meta: Any, children: list[Any]) -> ast.CallExpr:
        return ast.CallExpr(self._span(meta), children[0])

    def call_paren(self, meta: Any, children: list[Any]) -> ast.CallExpr:
        args = tuple(c for c in children[1:] if not isinstance(c, Token))
        return ast.CallExpr(self._span(meta), children[0], args, parens=True)

    def func_lit(self, meta: Any, children: list[Any]) -> ast.FuncLit:
        return ast.FuncLit(self._span(meta), children[0], children[1])

    # -- statements ----------------------------------------------------------

    def block(self, meta: Any, children: list[Any]) -> ast.Block:
        stmts = tuple(c for c in children if not isinstance(c, Token))
        return ast.Block(self._span(meta), stmts)

    def call_stmt(self, meta: Any, children: list[Any]) -> ast.CallStmt:
        func, *rest = children
        with_: ast.Expr | None = None
        bind: ast.BindClause | None = None
        args: list[ast.Expr] = []
        for c in rest:
            if isinstance(c, tuple) and c[0] == "with":
                with_ = c[1]
            elif isinstance(c, ast.BindClause):
                bind = c
            else:
                args.append(c)
        return ast.CallStmt(self._span(meta), func, tuple(args), with_, bind)

    def expr_stmt(self, meta: Any, children: list[Any]) -> ast.ExprStmt:
        return ast.ExprStmt(self._span(meta), children[0])

    def with_clause(self, meta: Any, children: list[Any]) -> tuple[str, ast.Expr]:
        return ("with", children[1])

    def bind_clause(self, meta: Any, children: list[Any]) -> ast.BindClause:
        return ast.BindClause(self._span(meta))

    def bind_name(self, meta: Any, children: list[Any]) -> ast.BindClause:
        return ast.BindClause(self._span(meta), target=children[1])

    def bind_list(self, meta: Any, children: list[Any]) -> ast.BindClause:
        pairs = tuple(c for c in children if isinstance(c, ast.BindPair))
        return ast.BindClause(self._span(meta), pairs=pairs)

    def bind_pair(self, meta: Any, children: list[ast.Ident]) -> ast.BindPair:
        return ast.BindPair(self._span(meta), children[0], children[1])

    # -- declarations --------------------------------------------------------

    def field(self, meta: Any, children: list[Any]) -> ast.Field:
        variadic = _is_tok(children[0], "VARIADIC")
        type_, name = children[-2], children[-1]
        return ast.Field(self._span(meta), type_, name, variadic)

    def params(self, meta: Any, children: list[Any]) -> tuple[ast.Field, ...]:
        return tuple(c for c in children if isinstance(c, ast.Field))

    def effects(self, meta: Any, children: list[Any]) -> tuple[str, tuple[ast.Field, ...]]:
        return ("effects", children[1])

    def func_decl(self, meta: Any, children: list[Any]) -> ast.FuncDecl:
        type_, name, params, *rest = children
        effects: tuple[ast.Field, ...] | None = None
        body: ast.Block | None = None
        for c in rest:
            if isinstance(c, ast.Block):
                body = c
            else:
                effects = c[1]
        return ast.FuncDecl(self._span(meta), type_, name, params, effects, body)

    def import_decl(self, meta: Any, children: list[Any]) -> ast.ImportDecl:
        return ast.ImportDecl(self._span(meta), children[1], children[3])

    def import_deprecated(self, meta: Any, children: list[Any]) -> ast.ImportDecl:
        return ast.ImportDecl(self._span(meta), children[1], children[2], deprecated=True)

    def export_decl(self, meta: Any, children: list[Any]) -> ast.ExportDecl:
        return ast.ExportDecl(self._span(meta), children[1])

    def start(self, meta: Any, children: list[Any]) -> list[ast.Decl]:
        return [c for c in children if not isinstance(c, (Token, Tree))]
