"""The language server's model of the modules being edited: no protocol here, only hlb.

A :class:`Project` holds the open documents' text (what the editor shows, saved or not) and checks a
document as ``hlb lint`` does: parse, check (the modules it imports read from the open documents first,
then from disk), lint (the cache-mount findings included, compiled without a daemon). A module it imports
is checked once and kept while the text of every file that check read is unchanged, so an edit re-checks
the edited module and the open modules that import it (:meth:`Project.importers`), not the modules below.

Everything the server answers (hover, definition, references, rename, symbols) reads an
:class:`Analysis`: the document's last check. A document that does not parse keeps the last one that did
for those answers, while its syntax error is what is published.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hlb.builtins.registry import documentation, table
from hlb.builtins.spec import Signature
from hlb.checker.check import Bind, Callee, CheckedModule, CheckResult, Import, ModuleLoader, check_module
from hlb.checker.lint import Finding, lint
from hlb.compiler.cache_mounts import cache_uses
from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.llb import default_platform
from hlb.lsp.incremental import reparse
from hlb.source import SourceFile, Span, source_digest
from hlb.syntax import ast
from hlb.syntax.parser import parse_module
from hlb.syntax.printer import format_module
from hlb.syntax.result import ParseResult
from hlb.syntax.visitor import find_all

MAX_WORKSPACE_FILES = 2000
_SKIPPED_DIRS = frozenset({"node_modules", "venv", "__pycache__"})
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
KEYWORDS = frozenset({"import", "export", "from", "with", "as", "binds", "variadic", "true", "false"})


@dataclass
class _Cached:
    """An imported module's check, valid while every file it read (``seen``: path -> digest) is unchanged."""

    checked: CheckedModule | None
    errors: list[Diagnostic]
    seen: dict[str, str]


class _Loader(ModuleLoader):
    """A :class:`ModuleLoader` that reads the open documents first and reuses the project's checks of
    unchanged imported modules."""

    def __init__(self, project: Project) -> None:
        super().__init__(read=project.read)
        self.project = project

    def parse(self, source: SourceFile) -> ParseResult:
        if source.name not in self.project.docs:
            return super().parse(source)
        # The editor's text: kept out of the per-user cache (it would fill it with one entry per keystroke), and
        # parsed from its last parse as an import and the declarations the edit touched.
        prev = self.project.imported.pop(source.name, None)
        module = reparse(prev.module, source) if prev is not None and prev.module is not None else None
        parsed = ParseResult(module) if module is not None else parse_module(source)
        if parsed.module is not None and not parsed.diagnostics:
            self.project.imported[source.name] = parsed
        return parsed

    def stat(self, path: Path) -> None:
        if os.path.normpath(path.absolute()) not in self.project.docs:  # an open document need not be saved
            super().stat(path)

    def load(self, path: Path, span: Span, shown: str, written: str | None = None) -> CheckedModule | None:
        key = Path(os.path.normpath(path.absolute()))
        if key in self.done or any(k == key for k, _ in self.active):
            return super().load(path, span, shown, written)  # loaded in this check already, or a cycle
        hit = self.project.modules.get(key)
        if hit is not None and all(self.project.digest(p) == d for p, d in hit.seen.items()):
            self.done[key] = hit.checked
            self.diagnostics.extend(hit.errors)
            self.seen.update(hit.seen)
            return hit.checked
        n, before = len(self.diagnostics), set(self.seen)
        checked = super().load(path, span, shown, written)
        seen = {p: d for p, d in self.seen.items() if p not in before or p == str(key)}
        self.project.modules[key] = _Cached(checked, self.diagnostics[n:], seen)
        return checked


@dataclass
class Analysis:
    """One check of a document: its source, parse, check and lint findings, and what it read."""

    source: SourceFile
    parsed: ParseResult
    result: CheckResult | None
    findings: list[Finding]
    diagnostics: list[Diagnostic]  # what the editor shows for this document
    seen: dict[str, str] = field(default_factory=dict)  # every file the check read (imports): path -> digest
    complete: bool = True  # the cache-mount findings were looked for

    @property
    def checked(self) -> CheckedModule | None:
        return self.result.checked if self.result is not None else None


class Project:
    def __init__(self) -> None:
        self.docs: dict[str, str] = {}  # absolute path -> the editor's text
        self.analyses: dict[str, Analysis] = {}  # absolute path -> its last check
        self.good: dict[str, Analysis] = {}  # absolute path -> its last check that parsed
        self.modules: dict[Path, _Cached] = {}
        # An open document's last parse as an imported module (its nodes move to its next parse: the checks of
        # it are then replaced, as it changed).
        self.imported: dict[str, ParseResult] = {}
        self._disk: dict[str, tuple[int, int, str]] = {}  # path -> (mtime_ns, size, digest)
        self.roots: list[str] = []  # the workspace folders, searched by references and rename

    # -- documents -------------------------------------------------------------------

    def open(self, path: str, text: str) -> None:
        self.docs[path] = text

    def close(self, path: str) -> None:
        self.docs.pop(path, None)
        self.imported.pop(path, None)
        self.analyses.pop(path, None)
        self.good.pop(path, None)

    def forget(self, path: str) -> None:
        """Drop what is known of the file ``path`` on disk (it changed): its digest and its module's check."""
        self._disk.pop(path, None)
        self.modules.pop(Path(path), None)

    def read(self, path: Path, _shown: str) -> SourceFile:
        """An imported module's source: the open document's text, else the file on disk (OSError propagates)."""
        text = self.docs.get(str(path))
        if text is not None:
            return SourceFile(str(path), text)
        return SourceFile.read(path, str(path))

    def digest(self, path: str) -> str:
        """What :meth:`read` would give for ``path`` now, as :class:`ModuleLoader` records it in ``seen``."""
        text = self.docs.get(path)
        if text is not None:
            return source_digest(SourceFile(path, text))
        try:
            st = os.stat(path)
        except OSError as e:
            return f"errno:{e.errno}"
        known = self._disk.get(path)
        if known is not None and known[:2] == (st.st_mtime_ns, st.st_size):
            return known[2]
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            return f"errno:{e.errno}"
        value = "sha256:" + hashlib.sha256(data).hexdigest()
        self._disk[path] = (st.st_mtime_ns, st.st_size, value)
        return value

    def importers(self, path: str) -> list[str]:
        """The open documents (other than ``path``) whose last check read ``path``."""
        return [p for p, a in self.analyses.items() if p != path and path in a.seen]

    # -- checking --------------------------------------------------------------------

    def check(self, path: str, cache_mounts: bool = True) -> Analysis:
        """Check and lint the open document ``path`` (its imports from the open documents or disk).

        Without ``cache_mounts``, the cache-mount findings (which compile every ``fs`` function of the module
        and its imports, about a third of the time of a check) are left out: the server leaves them to a
        check once the typing pauses.
        """
        source = SourceFile(path, self.docs.get(path, ""))
        prev = self.good.get(path)
        module = None
        if prev is not None and prev.parsed.module is not None and not prev.parsed.diagnostics:
            module = reparse(prev.parsed.module, source)  # moves prev's nodes: prev is replaced below
        parsed = ParseResult(module) if module is not None else parse_module(source)
        result: CheckResult | None = None
        findings: list[Finding] = []
        seen: dict[str, str] = {}
        diags = list(parsed.diagnostics)
        if parsed.module is not None:
            loader = _Loader(self)
            result = check_module(parsed.module, loader)
            seen = dict(loader.seen)
            seen.pop(path, None)
            errors = [d for d in (*parsed.diagnostics, *result.diagnostics) if d.is_error]
            uses = [] if errors or not cache_mounts else cache_uses(result.checked, default_platform())
            findings = lint(result.checked, result.diagnostics, uses)
            diags += [d for d in result.diagnostics if d.code is not cat.DEPRECATED]  # lint reports those, with fixes
            diags += [f.diagnostic for f in findings]
        analysis = Analysis(source, parsed, result, findings, _unique(diags), seen, cache_mounts)
        self.analyses[path] = analysis
        if parsed.module is not None:
            self.good[path] = analysis
        return analysis

    def format(self, path: str) -> str | None:
        """``hlb format``'s text for the document, or None when it does not parse."""
        parsed = parse_module(SourceFile(path, self.docs.get(path, "")))
        if parsed.module is None or not parsed.ok:
            return None
        return format_module(parsed.module)

    # -- what is at an offset ----------------------------------------------------------

    def target(self, path: str, offset: int) -> Target | None:
        """What the name at ``offset`` of the document refers to (from its last check that parsed)."""
        a = self.good.get(path)
        if a is None or a.checked is None or offset > self.unchanged(path):
            return None
        return target_at(a.checked, offset)

    def unchanged(self, path: str) -> int:
        """How much of the document's text its last check that parsed still describes: all of it, or up to the
        first character that changed since (the text being typed does not parse yet)."""
        a = self.good.get(path)
        if a is None:
            return -1
        now = SourceFile(path, self.docs.get(path, "")).text
        if now == a.source.text:
            return len(now) + 1
        return len(os.path.commonprefix([now, a.source.text]))

    def modules_in_view(self) -> Iterator[CheckedModule]:
        """Every checked module the open documents reach (each file once: the open document's own check first)."""
        done: set[str] = set()
        stack = [a.checked for a in self.good.values() if a.checked is not None]
        while stack:
            m = stack.pop(0)
            name = m.module.file.name
            if name in done:
                continue
            done.add(name)
            yield m
            stack += [i.module for i in m.imports.values() if i.module is not None]

    def workspace_modules(self) -> Iterator[CheckedModule]:
        """The checked modules of the ``.hlb`` files under the workspace folders that are not open (hidden
        directories, ``node_modules`` and virtualenvs skipped; at most :data:`MAX_WORKSPACE_FILES`), each
        checked once and kept while the files its check read are unchanged."""
        loader = _Loader(self)
        count = 0
        for root in self.roots:
            for top, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
                for f in sorted(files):
                    if not f.endswith(".hlb"):
                        continue
                    count += 1
                    if count > MAX_WORKSPACE_FILES:
                        return
                    path = os.path.normpath(os.path.join(top, f))
                    if path in self.docs:
                        continue
                    at = Span(SourceFile(path, ""), 0, 0)
                    m = loader.load(Path(path), at, path)
                    if m is not None:
                        yield m

    def references(self, t: Target, include_declaration: bool = True) -> list[Span]:
        """Where ``t``'s declaration is named: in the open documents, the modules they import and the modules
        of the workspace folders."""
        key = t.key
        if key is None:
            return []
        out: list[Span] = []
        done: set[str] = set()
        for m in itertools.chain(self.modules_in_view(), self.workspace_modules()):
            if m.module.file.name not in done:
                done.add(m.module.file.name)
                out += _uses_in(m, key)
        if include_declaration and t.decl is not None:
            out.append(t.decl)
        unique = {(s.file.name, s.start, s.end): s for s in out}
        return sorted(unique.values(), key=lambda s: (s.file.name, s.start))


@dataclass(frozen=True)
class Target:
    """A name at the cursor: its span, and what it names."""

    span: Span
    builtin: Signature | None = None
    func: ast.FuncDecl | None = None
    param: ast.Field | None = None
    bind: Bind | None = None
    module: Import | None = None  # an import's name
    owner: ast.FuncDecl | None = None  # for a parameter: its function

    @property
    def decl(self) -> Span | None:
        """The span of the declared name (None for a builtin)."""
        if self.func is not None:
            return self.func.name.span
        if self.param is not None:
            return self.param.name.span
        if self.bind is not None:
            return self.bind.name.span
        if self.module is not None:
            return self.module.decl.name.span
        return None

    @property
    def key(self) -> tuple[str, int] | None:
        d = self.decl
        return (d.file.name, d.start) if d is not None else None

    def hover(self) -> str:
        """Markdown: the signature, then the documentation."""
        if self.builtin is not None:
            return f"```hlb\n{self.builtin.signature()}\n```\n\n{documentation(self.builtin)}"
        if self.func is not None:
            text = f"```hlb\n{signature(self.func)}\n```"
            where = self.func.name.span
            text += f"\n\nDefined in `{os.path.basename(where.file.name)}` line {where.begin.line}."
            return text + (f"\n\n{self.func.doc}" if self.func.doc else "")
        if self.param is not None:
            owner = f" of `{self.owner.name.name}`" if self.owner is not None else ""
            return f"```hlb\n{_field(self.param)}\n```\n\nParameter{owner}."
        if self.bind is not None:
            t = self.bind.type
            return f"```hlb\n{t or '?'} {self.bind.name.name}\n```\n\nBound with `as` to the `{self.bind.effect}` " + (
                f"of a call in `{self.bind.func.name.name}`."
            )
        if self.module is not None:
            imp = self.module
            shown = str(imp.path) if imp.path is not None else imp.decl.expr.span.text
            return f"```hlb\nimport {imp.decl.name.name} from {imp.decl.expr.span.text}\n```\n\nModule `{shown}`."
        return ""


def signature(f: ast.FuncDecl) -> str:
    s = f"{f.type.name} {f.name.name}({', '.join(_field(p) for p in f.params)})"
    if f.effects:
        s += f" binds ({', '.join(_field(p) for p in f.effects)})"
    return s


def _field(p: ast.Field) -> str:
    return ("variadic " if p.variadic else "") + f"{p.type.name} {p.name.name}"


def _inside(span: Span, offset: int) -> bool:
    return span.start <= offset <= span.end


def target_at(checked: CheckedModule, offset: int) -> Target | None:
    """The :class:`Target` named at ``offset`` in ``checked``'s module."""
    module = checked.module
    for decl in module.decls:
        if not _inside(decl.span, offset):
            continue
        if isinstance(decl, ast.ImportDecl):
            if _inside(decl.name.span, offset) and decl.name.name in checked.imports:
                return Target(decl.name.span, module=checked.imports[decl.name.name])
            return None
        if isinstance(decl, ast.ExportDecl):
            sym = checked.lookup(decl.name.name)
            return _of_symbol(decl.name.span, sym) if _inside(decl.name.span, offset) else None
        if _inside(decl.name.span, offset):
            return Target(decl.name.span, func=decl)
        for p in (*decl.params, *(decl.effects or ())):
            if _inside(p.name.span, offset):
                return Target(p.name.span, param=p, owner=decl)
        if decl.body is None:
            return None
        for call in _calls(decl.body):
            ident = call.func
            if not _inside(ident.span, offset):
                if isinstance(call, ast.CallStmt) and call.bind is not None:
                    for name in _bind_names(call.bind):
                        if _inside(name.span, offset) and name.name in checked.binds:
                            return Target(name.span, bind=checked.binds[name.name])
                continue
            callee = checked.callees.get(call.span)
            if ident.selector is not None and _inside(ident.name.span, offset):
                imp = checked.imports.get(ident.name.name)
                return Target(ident.name.span, module=imp) if imp is not None else None
            span = ident.selector.span if ident.selector is not None else ident.name.span
            return _of_callee(span, callee, decl) if callee is not None else None
    return None


def _calls(root: ast.Block | ast.Expr) -> list[ast.CallStmt | ast.CallExpr]:
    return list(find_all(root, ast.CallStmt, ast.CallExpr))


def _bind_names(b: ast.BindClause) -> list[ast.Ident]:
    if b.target is not None:
        return [b.target]
    return [p.target for p in b.pairs or ()]


def _of_symbol(span: Span, sym: object) -> Target | None:
    if isinstance(sym, ast.FuncDecl):
        return Target(span, func=sym)
    if isinstance(sym, Bind):
        return Target(span, bind=sym)
    if isinstance(sym, Import):
        return Target(span, module=sym)
    return None


def _of_callee(span: Span, c: Callee, owner: ast.FuncDecl) -> Target | None:
    if c.builtin is not None:
        return Target(span, builtin=c.builtin)
    if c.func is not None:
        return Target(span, func=c.func)
    if c.param is not None:
        return Target(span, param=c.param, owner=owner)
    if c.bind is not None:
        return Target(span, bind=c.bind)
    return None


def _uses_in(m: CheckedModule, key: tuple[str, int]) -> list[Span]:
    """The spans in ``m`` that name the declaration at ``key`` (file name, start of its name)."""

    def is_key(span: Span | None) -> bool:
        return span is not None and (span.file.name, span.start) == key

    out: list[Span] = []
    for decl in m.module.decls:
        if isinstance(decl, ast.ExportDecl):
            sym = m.lookup(decl.name.name)
            t = _of_symbol(decl.name.span, sym)
            if t is not None and is_key(t.decl):
                out.append(decl.name.span)
        elif isinstance(decl, ast.ImportDecl):
            for call in _calls(decl.expr):
                out += _call_use(m, call, None, is_key)
        elif decl.body is not None:
            for call in _calls(decl.body):
                out += _call_use(m, call, decl, is_key)
    return out


def _call_use(
    m: CheckedModule,
    call: ast.CallStmt | ast.CallExpr,
    owner: ast.FuncDecl | None,
    is_key: Callable[[Span | None], bool],
) -> list[Span]:
    ident = call.func
    out: list[Span] = []
    if ident.selector is not None:
        imp = m.imports.get(ident.name.name)
        if imp is not None and is_key(imp.decl.name.span):
            out.append(ident.name.span)
    callee = m.callees.get(call.span)
    if callee is not None and owner is not None:
        t = _of_callee(ident.selector.span if ident.selector else ident.name.span, callee, owner)
        if t is not None and is_key(t.decl):
            out.append(t.span)
    return out


def rename_edits(project: Project, t: Target, new: str) -> dict[str, list[Span]]:
    """The spans (per file) to replace with ``new`` to rename ``t``; ValueError says why it cannot be."""
    if t.builtin is not None:
        raise ValueError(f"`{t.span.text}` is a builtin")
    if not IDENT.match(new) or new in KEYWORDS:
        raise ValueError(f"`{new}` is not an identifier")
    if new in table():
        raise ValueError(f"`{new}` is the name of a builtin")
    d = t.decl
    assert d is not None
    checked = next((m for m in project.modules_in_view() if m.module.file.name == d.file.name), None)
    if t.param is not None and t.owner is not None:
        if any(p.name.name == new for p in _params(t.owner)):
            raise ValueError(f"`{t.owner.name.name}` already has a parameter `{new}`")
        if checked is not None and checked.lookup(new) is not None:
            # The parameter would hide it in the body: a use of it there would name the parameter.
            raise ValueError(
                f"`{new}` is already declared in {os.path.basename(d.file.name)}: "
                f"a parameter `{new}` would hide it in `{t.owner.name.name}`"
            )
    elif checked is not None and checked.lookup(new) is not None:
        raise ValueError(f"`{new}` is already declared in {os.path.basename(d.file.name)}")
    spans = project.references(t)
    if t.param is not None and t.owner is not None:
        spans = [s for s in spans if _inside(t.owner.span, s.start) and s.file.name == d.file.name]
    else:
        # A use inside a function with a parameter of the new name would name the parameter once renamed.
        modules = {
            m.module.file.name: m.module
            for m in itertools.chain(project.workspace_modules(), project.modules_in_view())
        }
        for s in spans:
            if s.file.text[s.start - 1 : s.start] == ".":
                continue  # `module.name`: no parameter hides it
            module = modules.get(s.file.name)
            owner = _enclosing(module, s.start) if module is not None else None
            if owner is not None and any(p.name.name == new for p in _params(owner)):
                raise ValueError(
                    f"`{owner.name.name}` has a parameter `{new}`: the use of `{t.span.text}` in it "
                    f"({os.path.basename(s.file.name)} line {s.begin.line}) would name the parameter"
                )
    out: dict[str, list[Span]] = {}
    for s in spans:
        out.setdefault(s.file.name, []).append(s)
    return out


def _params(f: ast.FuncDecl) -> tuple[ast.Field, ...]:
    return (*f.params, *(f.effects or ()))


def _enclosing(module: ast.Module, offset: int) -> ast.FuncDecl | None:
    for decl in module.decls:
        if isinstance(decl, ast.FuncDecl) and _inside(decl.span, offset):
            return decl
    return None


def symbols(module: ast.Module) -> list[tuple[str, str, Span, Span]]:
    """(name, detail, whole span, name span) of each declaration, in order; kinds are told by ``detail``."""
    out = []
    for decl in module.decls:
        if isinstance(decl, ast.FuncDecl):
            out.append((decl.name.name, signature(decl), decl.span, decl.name.span))
        elif isinstance(decl, ast.ImportDecl):
            out.append((decl.name.name, f"import {decl.expr.span.text}", decl.span, decl.name.span))
    return out


def _unique(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[str, str, int, int, str]] = set()
    out = []
    for d in diags:
        k = (d.code.slug, d.span.file.name, d.span.start, d.span.end, d.message)
        if k not in seen:
            seen.add(k)
            out.append(d)
    return out


TOKEN_TYPES = ("namespace", "type", "function", "parameter", "variable")
TOKEN_MODIFIERS = ("declaration", "defaultLibrary", "deprecated")


def semantic_tokens(checked: CheckedModule) -> list[tuple[Span, str, tuple[str, ...]]]:
    """The names of ``checked``'s module with what they name (for highlighting), in source order: modules,
    types, functions (builtins as the default library), parameters and binds. Strings, numbers, comments and
    keywords are left to the editor's grammar."""
    out: list[tuple[Span, str, tuple[str, ...]]] = []

    def type_ref(t: ast.TypeRef) -> None:
        out.append((t.span, "type", ("deprecated",) if t.name == "group" else ()))

    def calls(root: ast.Block | ast.Expr, owner: ast.FuncDecl | None) -> None:
        for node in find_all(root, ast.CallStmt, ast.CallExpr, ast.FuncLit):
            if isinstance(node, ast.FuncLit):
                type_ref(node.type)
                continue
            assert isinstance(node, ast.CallStmt | ast.CallExpr)
            ident = node.func
            callee = checked.callees.get(node.span)
            if ident.selector is not None:
                out.append((ident.name.span, "namespace", ()))
                out.append((ident.selector.span, "function", ()))
            elif callee is not None and callee.builtin is not None:
                deprecated = ident.name.name == "parallel"
                out.append((ident.name.span, "function", ("defaultLibrary",) + (("deprecated",) if deprecated else ())))
            elif callee is not None and callee.param is not None:
                out.append((ident.name.span, "parameter", ()))
            elif callee is not None and callee.bind is not None:
                out.append((ident.name.span, "variable", ()))
            elif callee is not None and callee.func is not None:
                out.append((ident.name.span, "function", ()))
            if isinstance(node, ast.CallStmt) and node.bind is not None:
                out.extend((n.span, "variable", ("declaration",)) for n in _bind_names(node.bind))

    for decl in checked.module.decls:
        if isinstance(decl, ast.ImportDecl):
            out.append((decl.name.span, "namespace", ("declaration",)))
            calls(decl.expr, None)
        elif isinstance(decl, ast.ExportDecl):
            out.append((decl.name.span, "function", ()))
        else:
            type_ref(decl.type)
            out.append((decl.name.span, "function", ("declaration",)))
            for p in (*decl.params, *(decl.effects or ())):
                type_ref(p.type)
                out.append((p.name.span, "parameter", ("declaration",)))
            if decl.body is not None:
                calls(decl.body, decl)
    return sorted(out, key=lambda t: t[0].start)
