"""The HLB abstract syntax tree: small frozen dataclasses, each with a span.

Class names follow the grammar's rule names (``FuncDecl`` for ``func_decl``).
Literal nodes keep their decoded value; the original text is ``node.span.text``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from hlb.source import SourceFile, Span


@dataclass(frozen=True, slots=True)
class Ident:
    span: Span
    name: str


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A type as written: ``fs``, ``string``, ``option::run``..."""

    span: Span
    name: str


# -- expressions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StringLit:
    span: Span
    parts: tuple[str | Interpolation, ...]  # decoded text and interpolations
    raw: bool = False

    @property
    def is_constant(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    @property
    def value(self) -> str:
        """The text of a constant string (interpolations render as ``${...}``)."""
        return "".join(p if isinstance(p, str) else p.span.text for p in self.parts)


@dataclass(frozen=True, slots=True)
class Interpolation:
    span: Span
    expr: Expr | None


@dataclass(frozen=True, slots=True)
class IntLit:
    span: Span
    value: int
    base: int  # 10, 2, 8 or 16


@dataclass(frozen=True, slots=True)
class BoolLit:
    span: Span
    value: bool


@dataclass(frozen=True, slots=True)
class IdentExpr:
    """``name`` or ``module.name``."""

    span: Span
    name: Ident
    selector: Ident | None = None

    @property
    def text(self) -> str:
        return f"{self.name.name}.{self.selector.name}" if self.selector else self.name.name


@dataclass(frozen=True, slots=True)
class CallExpr:
    """``f`` (no arguments) or ``f(a, b)``."""

    span: Span
    func: IdentExpr
    args: tuple[Expr, ...] = ()
    parens: bool = False


@dataclass(frozen=True, slots=True)
class FuncLit:
    """A block literal introduced by its type: ``fs { ... }``, ``option { ... }``."""

    span: Span
    type: TypeRef
    body: Block


Literal: TypeAlias = StringLit | IntLit | BoolLit
Expr: TypeAlias = StringLit | IntLit | BoolLit | CallExpr | FuncLit


# -- statements ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BindPair:
    span: Span
    effect: Ident
    target: Ident


@dataclass(frozen=True, slots=True)
class BindClause:
    """``as name``, ``as (effect name, ...)`` or a bare ``as`` (an error)."""

    span: Span
    target: Ident | None = None
    pairs: tuple[BindPair, ...] | None = None


@dataclass(frozen=True, slots=True)
class CallStmt:
    span: Span
    func: IdentExpr
    args: tuple[Expr, ...]
    with_: Expr | None = None
    bind: BindClause | None = None


@dataclass(frozen=True, slots=True)
class ExprStmt:
    span: Span
    expr: Literal


Stmt: TypeAlias = CallStmt | ExprStmt


@dataclass(frozen=True, slots=True)
class Block:
    span: Span
    stmts: tuple[Stmt, ...]


# -- declarations --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    span: Span
    type: TypeRef
    name: Ident
    variadic: bool = False


@dataclass(frozen=True, slots=True)
class FuncDecl:
    span: Span
    type: TypeRef
    name: Ident
    params: tuple[Field, ...]
    effects: tuple[Field, ...] | None = None
    body: Block | None = None
    doc: str | None = None


@dataclass(frozen=True, slots=True)
class ImportDecl:
    span: Span
    name: Ident
    expr: Expr
    deprecated: bool = False  # `import name "path"` without `from`


@dataclass(frozen=True, slots=True)
class ExportDecl:
    span: Span
    name: Ident


Decl: TypeAlias = FuncDecl | ImportDecl | ExportDecl


@dataclass(frozen=True, slots=True)
class Comment:
    span: Span
    text: str


@dataclass(frozen=True, slots=True)
class Module:
    span: Span
    file: SourceFile
    decls: tuple[Decl, ...]
    comments: tuple[Comment, ...] = ()

    def funcs(self) -> dict[str, FuncDecl]:
        return {d.name.name: d for d in self.decls if isinstance(d, FuncDecl)}
