"""``hlb lint``: findings beyond type errors, each with a span and, where mechanical, a fix.

* deprecated forms (``import x "p"``, type ``group``, statement ``parallel``),
  reported by the checker and fixed here by small text edits;
* unused imports (fixed by deleting the declaration) and unused functions that
  cannot be targets (``string``, ``int``, ``bool`` and option functions that
  nothing calls or exports; ``fs`` and ``pipeline`` functions are targets);
* cache ids used with conflicting sharing modes, across ``cacheMount`` and
  ``mount ... with cache(...)`` in the module: BuildKit keeps one cache per id,
  so mixing ``locked`` and ``shared`` on one id silently weakens the lock.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hlb.checker.check import CheckedModule, declared_or_none
from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.source import Span
from hlb.syntax import ast
from hlb.types import Kind

DEFAULT_SHARING = "shared"


@dataclass(frozen=True, slots=True)
class Edit:
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Finding:
    diagnostic: Diagnostic
    fix: tuple[Edit, ...] = ()


def lint(checked: CheckedModule, check_diagnostics: Sequence[Diagnostic]) -> list[Finding]:
    """Findings for ``checked``; ``check_diagnostics`` are the checker's (for its deprecations)."""
    file = checked.module.file
    findings = [
        Finding(d, _deprecation_fix(checked.module, d))
        for d in check_diagnostics
        if d.code is cat.DEPRECATED and d.primary.span.file is file
    ]
    findings += _unused(checked)
    findings += _sharing_conflicts(checked.module)
    return sorted(findings, key=lambda f: f.diagnostic.primary.span.start)


def apply(text: str, findings: Sequence[Finding]) -> str:
    """``text`` with every fix applied (fixes never overlap; later edits first)."""
    edits = sorted((e for f in findings for e in f.fix), key=lambda e: e.start, reverse=True)
    last = len(text) + 1
    for e in edits:
        if e.end > last:
            continue  # overlapping edits: keep the later one, the next lint run reports the rest
        text = text[: e.start] + e.text + text[e.end :]
        last = e.start
    return text


# -- deprecated forms --------------------------------------------------------------


def _deprecation_fix(module: ast.Module, d: Diagnostic) -> tuple[Edit, ...]:
    span = d.primary.span
    for decl in module.decls:
        if isinstance(decl, ast.ImportDecl) and decl.deprecated and decl.span == span:
            return (Edit(decl.expr.span.start, decl.expr.span.start, "from "),)
    if span.text == "group":
        return (Edit(span.start, span.end, "pipeline"),)
    if span.text == "parallel":
        return (Edit(span.start, span.end, "stage"),)
    return ()


# -- unused ------------------------------------------------------------------------


def _unused(checked: CheckedModule) -> Iterator[Finding]:
    text = checked.module.file.text
    for name, imp in checked.imports.items():
        if name not in checked.used:
            decl = imp.decl
            yield Finding(
                cat.unused(decl.name.span, "import", name, hint="remove it; `hlb lint --fix` does"),
                (_delete_line(text, decl.span),),
            )
    for name, func in checked.funcs.items():
        t = declared_or_none(func.type)
        if t is None or t.kind in (Kind.FS, Kind.PIPELINE) or name in checked.used:
            continue
        yield Finding(cat.unused(func.name.span, "function", name, hint=f"call it, `export {name}`, or remove it"))


def _delete_line(text: str, span: Span) -> Edit:
    """Delete ``span``, and its whole line when nothing else is on it."""
    start = text.rfind("\n", 0, span.start) + 1
    end = text.find("\n", span.end)
    end = len(text) if end < 0 else end + 1
    if text[start : span.start].strip() or text[span.end : end].strip():
        return Edit(span.start, span.end, "")
    return Edit(start, end, "")


# -- cache sharing ---------------------------------------------------------------


def _sharing_conflicts(module: ast.Module) -> Iterator[Finding]:
    uses: dict[str, list[tuple[Span, str]]] = {}
    for stmt in _calls(module):
        use = _cache_use(stmt)
        if use is not None:
            cache_id, span, mode = use
            uses.setdefault(cache_id, []).append((span, mode))
    for cache_id, found in uses.items():
        first_span, first_mode = found[0]
        reported: set[str] = {first_mode}
        for span, mode in found[1:]:
            if mode not in reported:
                reported.add(mode)
                yield Finding(cat.cache_sharing_conflict(span, cache_id, mode, first_span, first_mode))


def _cache_use(stmt: ast.CallStmt) -> tuple[str, Span, str] | None:
    """(id, span, sharing) of a cache mount whose id and mode are constants, else None."""
    name = stmt.func.text
    opts = list(_options(stmt.with_))
    if name == "cacheMount" and len(stmt.args) == 1:
        cache_id = _const(stmt.args[0])
        mode: str | None = DEFAULT_SHARING
        for opt_name, args in opts:
            if opt_name == "id" and len(args) == 1:
                cache_id = _const(args[0])
            elif opt_name == "sharing" and len(args) == 1:
                mode = _const(args[0])
        if cache_id is not None and mode is not None:
            return cache_id, stmt.span, mode
    if name == "mount":
        for opt_name, args in opts:
            if opt_name == "cache" and len(args) == 2:
                cache_id, mode = _const(args[0]), _const(args[1])
                if cache_id is not None and mode is not None:
                    return cache_id, stmt.span, mode
    return None


def _options(with_: ast.Expr | None) -> Iterator[tuple[str, tuple[ast.Expr, ...]]]:
    if isinstance(with_, ast.CallExpr):
        yield with_.func.text, with_.args
    elif isinstance(with_, ast.FuncLit):
        for stmt in with_.body.stmts:
            if isinstance(stmt, ast.CallStmt):
                yield stmt.func.text, stmt.args


def _const(expr: ast.Expr) -> str | None:
    return expr.value if isinstance(expr, ast.StringLit) and expr.is_constant else None


def _calls(module: ast.Module) -> Iterator[ast.CallStmt]:
    """Every call statement in the module, nested blocks included, in source order."""

    def block(b: ast.Block) -> Iterator[ast.CallStmt]:
        for stmt in b.stmts:
            if isinstance(stmt, ast.CallStmt):
                yield stmt
                for e in (*stmt.args, *((stmt.with_,) if stmt.with_ is not None else ())):
                    yield from expr(e)

    def expr(e: ast.Expr) -> Iterator[ast.CallStmt]:
        if isinstance(e, ast.FuncLit):
            yield from block(e.body)
        elif isinstance(e, ast.CallExpr):
            for a in e.args:
                yield from expr(a)

    for decl in module.decls:
        if isinstance(decl, ast.FuncDecl) and decl.body is not None:
            yield from block(decl.body)
