"""The HLB abstract syntax tree: small frozen dataclasses, each with a span.

Class names follow the grammar's rule names (``FuncDecl`` for ``func_decl``).
Literal nodes keep their decoded value; the original text is ``node.span.text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

from hlb.source import SourceFile, Span


@dataclass(frozen=True, slots=True)
class Node:
    """A syntax node: every node has a span. Its other fields that hold nodes (alone, optional, or
    in a tuple) are its children, in field order (see :mod:`hlb.syntax.visitor`)."""

    span: Span


@dataclass(frozen=True, slots=True)
class Ident(Node):
    name: str


@dataclass(frozen=True, slots=True)
class TypeRef(Ident):
    """A type as written: ``fs``, ``string``, ``option::run``... (a name, in the place of a type)."""


# -- expressions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StringLit(Node):
    """A double-quoted string, a raw string, or a heredoc.

    ``parts`` hold decoded text and interpolations. For heredocs, ``heredoc``
    is the opener's mode (``""`` for ``<<``, ``"-"`` for ``<<-``, ``"~"`` for
    ``<<~``) and :meth:`finish` turns the joined parts into the value.
    """

    parts: tuple[str | Interpolation, ...]  # decoded text and interpolations
    raw: bool = False
    heredoc: str | None = None

    @property
    def is_constant(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    @property
    def value(self) -> str:
        """The text of a constant string (interpolations render as ``${...}``)."""
        return self.finish("".join(p if isinstance(p, str) else p.span.text for p in self.parts))

    def finish(self, text: str) -> str:
        """The value of the literal once its interpolations are ``text``."""
        return text if self.heredoc is None else heredoc_value(text, self.heredoc)


_WS_ONLY = re.compile(r"(?m)^[ \t]+$")
_INDENT = re.compile(r"(?m)(^[ \t]*)[^ \t\n]")
_GO_SPACE = " \t\n\v\f\r\x85\xa0"


def heredoc_value(text: str, mode: str) -> str:
    """openllb/hlb's heredoc rules: trim leading newlines and trailing newlines
    and tabs, then dedent (``-``: the longest common margin of exactly equal
    whitespace) or fold (``~``: trimmed lines joined by one space)."""
    text = text.lstrip("\n").rstrip("\n\t")
    if mode == "-":
        return _dedent(text)
    if mode == "~":
        return " ".join(line.rstrip("\r").strip(_GO_SPACE) for line in text.strip(_GO_SPACE).split("\n"))
    return text


def _dedent(text: str) -> str:
    text = _WS_ONLY.sub("", text)
    margin: str | None = None
    for indent in _INDENT.findall(text):
        if margin is None or indent.startswith(margin):
            margin = indent if margin is None else margin
        elif margin.startswith(indent):
            margin = indent
        else:
            margin = ""
            break
    if margin:
        text = re.sub("(?m)^" + re.escape(margin), "", text)
    return text


@dataclass(frozen=True, slots=True)
class Interpolation(Node):
    expr: Expr | None


@dataclass(frozen=True, slots=True)
class IntLit(Node):
    value: int
    base: int  # 10, 2, 8 or 16


@dataclass(frozen=True, slots=True)
class BoolLit(Node):
    value: bool


@dataclass(frozen=True, slots=True)
class IdentExpr(Node):
    """``name`` or ``module.name``."""

    name: Ident
    selector: Ident | None = None

    @property
    def text(self) -> str:
        return f"{self.name.name}.{self.selector.name}" if self.selector else self.name.name


@dataclass(frozen=True, slots=True)
class CallExpr(Node):
    """``f`` (no arguments) or ``f(a, b)``."""

    func: IdentExpr
    args: tuple[Expr, ...] = ()
    parens: bool = False


@dataclass(frozen=True, slots=True)
class FuncLit(Node):
    """A block literal introduced by its type: ``fs { ... }``, ``option { ... }``."""

    type: TypeRef
    body: Block


Literal: TypeAlias = StringLit | IntLit | BoolLit
Expr: TypeAlias = StringLit | IntLit | BoolLit | CallExpr | FuncLit


# -- statements ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BindPair(Node):
    effect: Ident
    target: Ident


@dataclass(frozen=True, slots=True)
class BindClause(Node):
    """``as name``, ``as (effect name, ...)`` or a bare ``as`` (an error)."""

    target: Ident | None = None
    pairs: tuple[BindPair, ...] | None = None


@dataclass(frozen=True, slots=True)
class CallStmt(Node):
    func: IdentExpr
    args: tuple[Expr, ...]
    with_: Expr | None = None
    bind: BindClause | None = None


@dataclass(frozen=True, slots=True)
class ExprStmt(Node):
    expr: Literal


Stmt: TypeAlias = CallStmt | ExprStmt


@dataclass(frozen=True, slots=True)
class Block(Node):
    stmts: tuple[Stmt, ...]


# -- declarations --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field(Node):
    type: TypeRef
    name: Ident
    variadic: bool = False


@dataclass(frozen=True, slots=True)
class FuncDecl(Node):
    type: TypeRef
    name: Ident
    params: tuple[Field, ...]
    effects: tuple[Field, ...] | None = None
    body: Block | None = None
    doc: str | None = None


@dataclass(frozen=True, slots=True)
class ImportDecl(Node):
    name: Ident
    expr: Expr
    deprecated: bool = False  # `import name "path"` without `from`


@dataclass(frozen=True, slots=True)
class ExportDecl(Node):
    name: Ident


Decl: TypeAlias = FuncDecl | ImportDecl | ExportDecl


@dataclass(frozen=True, slots=True)
class Comment(Node):
    text: str


@dataclass(frozen=True, slots=True)
class Module(Node):
    file: SourceFile
    decls: tuple[Decl, ...]
    comments: tuple[Comment, ...] = ()

    def funcs(self) -> dict[str, FuncDecl]:
        return {d.name.name: d for d in self.decls if isinstance(d, FuncDecl)}
