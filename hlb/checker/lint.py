"""``hlb lint``: findings beyond type errors, each with a span and, where mechanical, a fix.

* deprecated forms (``import x "p"``, type ``group``, statement ``parallel``),
  reported by the checker and fixed here by small text edits;
* unused imports (fixed by deleting the declaration) and unused functions that
  cannot be targets (``string``, ``int``, ``bool`` and option functions that
  nothing calls or exports; ``fs`` and ``pipeline`` functions are targets);
* a line of a `local` directory's ``.hlbignore``/``.dockerignore`` that the pattern matcher refuses (``[abc``),
  for each `local` whose path is a literal: the checker evaluates nothing, but these files are known;
* cache mounts that do not mean what they look like. These are judged on the
  compiled mounts (:class:`CacheUse`, which :mod:`hlb.compiler.cache_mounts`
  collects from every ``fs`` function without parameters of the module and of
  the local modules it imports), not on the syntax: ``cacheMount "/root/.npm/"``
  and ``cacheMount "/root/.npm"`` are one cache because they compile to one id.
  In BuildKit a cache is its id plus the mount's base (the input, which is how
  ``uid``/``gid``/``mode`` are implemented); sharing is not part of it. So:
  one cache used with different sharing modes; one id used with different
  bases (two caches, probably not meant); a default id (the mount point) of
  one module that another module also uses (they silently share data).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from hlb import ignorefile
from hlb.checker.check import CheckedModule, declared_or_none
from hlb.diagnostics import Diagnostic, Label
from hlb.diagnostics import catalog as cat
from hlb.source import SourceFile, Span, client_path, module_dir, shown_path
from hlb.syntax import ast
from hlb.syntax.visitor import walk
from hlb.types import Kind


@dataclass(frozen=True, slots=True)
class Finding:
    diagnostic: Diagnostic
    fix: tuple[Edit, ...] = ()


@dataclass(frozen=True, slots=True)
class CacheUse:
    """One compiled cache mount: where it was written and what BuildKit gets.

    ``id`` is the cache id as compiled (a default id is the normalised mount
    point); ``default`` says the id is the mount point; ``base`` identifies the
    mount's input ("" when it has none) and ``base_text`` describes it
    ("uid 1000, gid 0, mode 0o755", "the input built at lib.hlb:3:9"...);
    ``module`` names the module the mount is written in ("" for the linted one).
    """

    span: Span
    target: str
    id: str
    sharing: str
    default: bool
    base: str = ""
    base_text: str = "no uid, gid or mode"
    module: str = ""


def lint(
    checked: CheckedModule, check_diagnostics: Sequence[Diagnostic], cache_uses: Sequence[CacheUse] = ()
) -> list[Finding]:
    """Findings for ``checked``; ``check_diagnostics`` are the checker's (for its deprecations).

    ``cache_uses`` are the module's compiled cache mounts (those of the modules
    it imports included); without them no cache findings are made.
    """
    file = checked.module.file
    findings = [
        Finding(d, _deprecation_fix(checked.module, d))
        for d in check_diagnostics
        if d.code is cat.DEPRECATED and d.primary.span.file is file
    ]
    findings += _unused(checked)
    findings += ignore_file_findings(checked)
    findings += cache_findings(cache_uses)
    return sorted(findings, key=lambda f: (f.diagnostic.primary.span.file is not file, _where(f)))


def _where(f: Finding) -> tuple[str, int]:
    span = f.diagnostic.primary.span
    return span.file.name, span.start


@dataclass(frozen=True, slots=True)
class Edit:
    """A fix's change to the module's text: ``text`` replaces the characters from ``start`` to ``end``."""

    start: int
    end: int
    text: str


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


# -- ignore files ------------------------------------------------------------------


def ignore_file_findings(checked: CheckedModule) -> list[Finding]:
    """The lines of a `local` directory's `.hlbignore`/`.dockerignore` that `hlb run` would refuse, for each
    `local` whose path is a literal (the checker evaluates nothing; these paths are known without it). Each is
    reported at the path's string, once per directory, with the line in the ignore file as a secondary label."""
    findings: list[Finding] = []
    base = module_dir(checked.module.file)
    done: set[str] = set()
    for node in walk(checked.module):
        if not isinstance(node, (ast.CallStmt, ast.CallExpr)) or not node.args:
            continue
        callee = checked.callees.get(node.span)
        written = _literal(node.args[0])
        if callee is None or callee.builtin is None or callee.builtin.name != "local" or written is None:
            continue
        directory = client_path(written or ".", base)
        if directory in done or not os.path.isdir(directory):
            continue
        done.add(directory)
        try:
            found = ignorefile.read(directory)
        except OSError:
            continue  # `hlb run` says why it cannot be read
        if found is None:
            continue
        source = SourceFile(shown_path(found.path), found.text)
        for line, text, why in ignorefile.problems(found):
            start = source.offset(line, 1)
            where = Label(Span(source, start, start + max(1, len(text))), "this line")
            hint = "`hlb run` refuses it: fix or remove the line"
            d = cat.invalid_value(node.args[0].span, f"`{text.strip()}` in {source.name}: {why}", hint)
            findings.append(Finding(replace(d, secondary=(where,))))
    return findings


def _literal(expr: ast.Expr) -> str | None:
    """The text of a string without interpolations, else None."""
    if isinstance(expr, ast.StringLit) and expr.heredoc is None and all(isinstance(p, str) for p in expr.parts):
        return "".join(str(p) for p in expr.parts)
    return None


# -- cache mounts ------------------------------------------------------------------


def cache_findings(uses: Sequence[CacheUse]) -> list[Finding]:
    """The cache-mount findings of ``uses`` (any order; repeated uses of one call count once)."""
    modules: dict[str, int] = {}
    for u in uses:
        modules.setdefault(u.module, len(modules))
    unique = sorted(
        {(u.span.file.name, u.span.start, u.span.end, u.id, u.sharing, u.base): u for u in uses}.values(),
        key=lambda u: (u.module != "", modules[u.module], u.span.file.name, u.span.start),
    )
    by_id: dict[str, list[CacheUse]] = {}
    for u in unique:
        by_id.setdefault(u.id, []).append(u)
    out: list[Finding] = []
    for group in by_id.values():
        out += _cache_group(group)
    return out


def _cache_group(group: list[CacheUse]) -> Iterator[Finding]:
    """Findings among the uses of one id, earliest first; a use gets at most one finding."""
    reported: set[int] = set()
    # A default id shared across modules: the modules' builds read and write each other's cache.
    for i, u in enumerate(group):
        for v in group[:i]:
            if u.module != v.module and u.base == v.base and (u.default or v.default):
                reported.add(i)
                yield Finding(
                    cat.cache_id_collision(u.span, u.id, u.module, v.span, v.module, _namespaced(u), u.default)
                )
                break
    # One id, several bases: several caches.
    first_of: dict[str, CacheUse] = {}
    for i, u in enumerate(group):
        if u.base in first_of:
            continue
        first_of[u.base] = u
        if len(first_of) > 1 and i not in reported:
            reported.add(i)
            v = group[0]
            yield Finding(cat.cache_base_conflict(u.span, u.id, u.base_text, _other(u, v), v.base_text))
    # One cache, several sharing modes.
    for base in first_of:
        same = [(i, u) for i, u in enumerate(group) if u.base == base]
        first = same[0][1]
        seen = {first.sharing}
        for i, u in same[1:]:
            if u.sharing not in seen and i not in reported:
                seen.add(u.sharing)
                reported.add(i)
                yield Finding(cat.cache_sharing_conflict(u.span, u.id, u.sharing, _other(u, first), first.sharing))


def _other(u: CacheUse, v: CacheUse) -> Span | None:
    """``v``'s span as a secondary label of ``u``'s finding (None when it is the same call)."""
    return None if (u.span.file.name, u.span.start) == (v.span.file.name, v.span.start) else v.span


def _namespaced(u: CacheUse) -> str:
    name = u.module or "app"
    return f"{name}{u.id}" if u.id.startswith("/") else f"{name}/{u.id}"
