"""Type-check a module and the local modules it imports.

Pass 1 (:meth:`_Checker.declare`) fills the module scope: functions, imports
and every name bound with ``as`` anywhere in the module (binds are
module-level functions). Redefinitions are reported at the first definition,
as openllb/hlb does. Pass 2 (:meth:`_Checker.check`) checks exports, import
expressions (loading local modules through a :class:`ModuleLoader`, which
reports missing files and cycles) and every function body: each call is
resolved against the expected type (builtins are overloaded by type, e.g.
``env`` is an ``fs`` and an ``option::run``), argument counts and types are
checked, ``with`` blocks are checked as ``option::<callee>`` and binds against
the callee's effects. Every resolution is recorded in :class:`CheckedModule`
so the compiler never resolves a name differently from the checker. Errors in
one statement do not stop the others.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hlb._gc import paused
from hlb.builtins.signatures import SIGNATURES, TABLE
from hlb.builtins.spec import Signature, lookup
from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.diagnostics.suggest import closest
from hlb.source import SourceFile, Span, client_path, module_dir, source_digest
from hlb.syntax import ast
from hlb.syntax.cache import parse_cached
from hlb.syntax.visitor import NodeVisitor, find_all
from hlb.types import BOOL, FS, INT, PIPELINE, STRING, Kind, Type, accepts, same_kind

if TYPE_CHECKING:
    from hlb.syntax.result import ParseResult

SCALARS = (STRING, INT, BOOL)
NOOP_BUILTINS = ("breakpoint",)  # accepted anywhere with any arguments; does nothing outside a debugger
LOCAL_SCHEMES = ("", "file")
REMOTE_SCHEMES = ("git", "git+https", "git+ssh")
# How many modules an import chain may hold (the root module included): each is checked
# while the module importing it is, so the chain is bounded as the nesting of blocks is.
MAX_IMPORT_DEPTH = 32

_LEADING_ZERO = re.compile(r"0[0-9]+")  # `0755`: the lexer reads it as a name, as openllb/hlb's does
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True, eq=False)
class Bind:
    """A name bound with ``as``: a module-level function returning a call's side output.

    Its parameters are those of the enclosing function ``func``. ``type`` is
    None when the bound call itself is in error (reported there).
    """

    name: ast.Ident
    effect: str
    call: ast.CallStmt
    func: ast.FuncDecl
    type: Type | None


@dataclass(eq=False)
class Import:
    decl: ast.ImportDecl
    module: CheckedModule | None = None  # a local module, once loaded
    path: Path | None = None

    @property
    def resolved(self) -> bool:
        return self.module is not None


Symbol = ast.FuncDecl | Bind | Import


@dataclass(frozen=True, slots=True)
class Callee:
    """What a call refers to: a builtin, a function, a bind or a parameter.

    ``module`` is the imported module that defines ``func``/``bind`` when the
    call is ``mod.name``; ``unresolved`` marks calls into modules that are
    only fetched at build time (fs and git imports).
    """

    builtin: Signature | None = None
    func: ast.FuncDecl | None = None
    param: ast.Field | None = None
    bind: Bind | None = None
    module: CheckedModule | None = None
    noop: bool = False
    unresolved: ast.IdentExpr | None = None

    @property
    def type(self) -> Type:
        if self.builtin is not None:
            return self.builtin.type
        if self.bind is not None:
            assert self.bind.type is not None
            return self.bind.type
        decl = self.func or self.param
        assert decl is not None
        return declared(decl.type)


def declared(ref: ast.TypeRef) -> Type:
    """The type a checked declaration names (``group`` is the old name of ``pipeline``)."""
    t = PIPELINE if ref.name == "group" else _parse_type(ref.name)
    assert t is not None, ref
    return t


@dataclass
class CheckedModule:
    module: ast.Module
    funcs: dict[str, ast.FuncDecl]
    binds: dict[str, Bind] = field(default_factory=dict)
    imports: dict[str, Import] = field(default_factory=dict)
    exports: dict[str, ast.ExportDecl] = field(default_factory=dict)
    callees: dict[Span, Callee] = field(default_factory=dict)  # a call (by its span: no two calls share one) -> callee
    literal_types: dict[Span, Type] = field(default_factory=dict)  # a FuncLit (by its span) -> its type
    used: set[str] = field(default_factory=set)  # module-scope names referenced somewhere

    def callee(self, node: ast.CallStmt | ast.CallExpr) -> Callee:
        return self.callees[node.span]

    def literal_type(self, node: ast.FuncLit) -> Type:
        return self.literal_types[node.span]

    def lookup(self, name: str) -> Symbol | None:
        return self.funcs.get(name) or self.binds.get(name) or self.imports.get(name)

    def symbols(self) -> list[str]:
        return [*self.funcs, *self.binds, *self.imports]


@dataclass
class CheckResult:
    checked: CheckedModule
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


class ModuleLoader:
    """Loads local modules once each, checks them, and reports import cycles.

    ``read`` turns a path into a source file (tests pass an in-memory one).
    Errors in imported modules are reported with their own file names;
    their warnings are dropped, as openllb/hlb does.
    """

    def __init__(self, read: Callable[[Path, str], SourceFile] | None = None) -> None:
        self.read = read or (lambda path, name: SourceFile.read(path, name))
        self.done: dict[Path, CheckedModule | None] = {}
        self.active: list[tuple[Path, str]] = []
        self.diagnostics: list[Diagnostic] = []
        # What each path consulted for an import was when it was read (see hlb/checker/cache.py): the
        # sha256 of its bytes, or the errno that refused it. A cached result holds while they all still are.
        self.seen: dict[str, str] = {}

    def load(self, path: Path, span: Span, shown: str, written: str | None = None) -> CheckedModule | None:
        """The checked module at ``path`` (None after an error); ``written`` is the import's path as the
        program spells it, for diagnostics at ``span``."""
        key = Path(os.path.normpath(path.absolute()))
        chain = [k for k, _ in self.active]
        if key in chain:
            cycle = chain[chain.index(key) :] + [key]
            names = [os.path.relpath(k, cycle[0].parent) for k in cycle]
            self.diagnostics.append(cat.import_cycle(span, names))
            return None
        if key in self.done:
            return self.done[key]
        if len(self.active) >= MAX_IMPORT_DEPTH:
            hint = "import the deepest modules from a module higher up the chain"
            self.diagnostics.append(cat.too_deep(span, "imports", MAX_IMPORT_DEPTH, hint=hint))
            return None
        try:
            source = self.read(key, shown)
        except OSError as e:
            self.seen[str(key)] = f"errno:{e.errno}"
            self.diagnostics.append(cat.import_not_found(span, written or str(path), e))
            self.done[key] = None
            return None
        except UnicodeError:
            self.seen[str(key)] = "unicode"
            self.diagnostics.append(cat.import_not_found(span, str(path)))
            self.done[key] = None
            return None
        self.seen[str(key)] = source_digest(source)
        parsed = self.parse(source)
        self.diagnostics.extend(d for d in parsed.diagnostics if d.is_error)
        if parsed.module is None:
            self.done[key] = None
            return None
        self.active.append((key, shown))
        try:
            result = _check(parsed.module, self)
        finally:
            self.active.pop()
        self.diagnostics.extend(d for d in result.diagnostics if d.is_error)
        self.done[key] = result.checked
        return result.checked

    def parse(self, source: SourceFile) -> ParseResult:
        """An imported module's parse: through the per-user cache (:func:`parse_cached`)."""
        return parse_cached(source)

    def stat(self, path: Path) -> None:
        """Raise the OSError that says ``path`` is not there (a loader reading other sources than the disk,
        such as the language server's open documents, overrides it)."""
        path.stat()

    def enter(self, module: ast.Module) -> None:
        """Mark the root module as being checked, so a module importing it is a cycle."""
        name = module.file.name
        if name not in ("-", "<stdin>"):
            self.active.append((Path(os.path.normpath(Path(name).absolute())), name))


def check_module(module: ast.Module, loader: ModuleLoader | None = None) -> CheckResult:
    """Check ``module`` and, through ``loader``, the local modules it imports."""
    loader = loader or ModuleLoader()
    loader.enter(module)
    try:
        with paused():
            result = _check(module, loader)
    finally:
        loader.active.clear()
    result.diagnostics.extend(loader.diagnostics)
    return result


def _check(module: ast.Module, loader: ModuleLoader) -> CheckResult:
    checker = _Checker(module, loader)
    if checker.declare():
        checker.check()
    ordered = sorted(checker.diagnostics, key=lambda d: d.primary.span.start)  # stable: one span keeps its order
    return CheckResult(checker.checked, ordered)


_Node = tuple[int, int]  # a call-graph node: (id(function or import), leading statements evaluated; -1: all)


@dataclass
class _Frame:
    """The function being checked: its parameters (and declared effects) are in scope."""

    func: ast.FuncDecl | None
    params: dict[str, ast.Field]
    closure: bool = False  # `with` blocks in this function may bind (not in option functions)


class _Checker(NodeVisitor[None]):
    def __init__(self, module: ast.Module, loader: ModuleLoader) -> None:
        self.module = module
        self.loader = loader
        self.builtins: Mapping[str, tuple[Signature, ...]] = TABLE
        self._suggestions: dict[tuple[object, ...], str | None] = {}  # _undefined: a misspelling -> its hint
        self.diagnostics: list[Diagnostic] = []
        self.checked = CheckedModule(module, {})
        self.broken: set[str] = set()  # declarations with errors: calls to them are not checked
        self._params_in_scope: set[str] = set()
        self._interpolating = 0  # > 0 while checking the expression of a string's `${...}`

    def error(self, d: Diagnostic) -> None:
        self.diagnostics.append(d)

    # -- pass 1: the module scope ------------------------------------------------

    def declare(self) -> bool:
        """Fill the module scope; False when redefinitions make checking pointless."""
        seen: dict[str, list[tuple[Span, Symbol]]] = {}
        for decl in self.module.decls:
            if isinstance(decl, ast.ImportDecl):
                seen.setdefault(decl.name.name, []).append((decl.name.span, Import(decl)))
            elif isinstance(decl, ast.FuncDecl):
                seen.setdefault(decl.name.name, []).append((decl.name.span, decl))
                for bind in self._binds_in(decl):
                    seen.setdefault(bind.name.name, []).append((bind.name.span, bind))
        ok = True
        for name, defs in sorted(seen.items(), key=lambda kv: kv[1][0][0].start):
            if name in self.builtins and name not in NOOP_BUILTINS:
                for span, _ in defs:
                    self.error(cat.redefined_builtin(span, name))
                ok = False
                continue
            if len(defs) > 1:
                self.error(cat.redefined(defs[0][0], name, [s for s, _ in defs[1:]]))
                ok = False
            sym = defs[0][1]
            if isinstance(sym, Import):
                self.checked.imports[name] = sym
            elif isinstance(sym, Bind):
                self.checked.binds[name] = sym
            else:
                self.checked.funcs[name] = sym
        return ok

    def _binds_in(self, decl: ast.FuncDecl) -> list[Bind]:
        """The binds with a closure: in a non-option function body or its calls' `with` blocks."""
        if decl.body is None or declared_or_none(decl.type) is None or decl.type.name.startswith("option"):
            return []
        t = declared_or_none(decl.type)
        assert t is not None
        binds = _Binds(self.builtins, decl)
        binds.visit(decl.body, t, True)
        return binds.found

    # -- pass 2 -------------------------------------------------------------------

    def check(self) -> None:
        funcs = [
            d for d in self.module.decls if isinstance(d, ast.FuncDecl) and self.checked.funcs.get(d.name.name) is d
        ]
        for func in funcs:  # first: an import expression may call a function whose signature is broken
            self._signature(func)
        for decl in self.module.decls:
            if isinstance(decl, ast.ExportDecl):
                self._export(decl)
            elif isinstance(decl, ast.ImportDecl):
                self._import(decl)
        for func in funcs:
            self._func(func)
        self._recursion()

    def _recursion(self) -> None:
        """Report each call cycle among this module's functions (and the fs imports they call through).

        Calls into other modules cannot close a cycle (import cycles are errors). Calling a bind
        evaluates its function again, up to the bound call when that call ends the evaluation
        (a `dockerPush` bound as a `string`), else whole. The search is iterative, so a call chain
        of any length is checked without deep recursion.
        """
        decls: dict[int, ast.FuncDecl | ast.ImportDecl] = {}
        edges: dict[_Node, list[tuple[ast.CallStmt | ast.CallExpr, _Node]]] = {}

        def node(decl: ast.FuncDecl | ast.ImportDecl, upto: int = -1) -> _Node:
            decls[id(decl)] = decl
            return (id(decl), upto)

        def edges_of(n: _Node) -> list[tuple[ast.CallStmt | ast.CallExpr, _Node]]:
            if n in edges:
                return edges[n]
            decl = decls[n[0]]
            roots: Sequence[ast.Block | ast.Stmt | ast.Expr]
            if isinstance(decl, ast.ImportDecl):
                roots = [decl.expr]
            else:
                stmts = decl.body.stmts if decl.body is not None else ()
                roots = stmts if n[1] < 0 else stmts[: n[1]]
            out: list[tuple[ast.CallStmt | ast.CallExpr, _Node]] = []
            edges[n] = out
            for root in roots:
                for call in _calls_in(root):
                    target = self._evaluates(call)
                    if target is not None:
                        out.append((call, node(*target)))
            return out

        starts = [
            node(d)
            for d in self.module.decls
            if isinstance(d, ast.ImportDecl)
            or (isinstance(d, ast.FuncDecl) and self.checked.funcs.get(d.name.name) is d)
        ]
        state: dict[_Node, int] = {}  # 1 while on the search path, 2 once done
        reported: set[tuple[_Node, _Node]] = set()
        for start in starts:
            if start in state:
                continue
            path = [start]
            via: list[ast.CallStmt | ast.CallExpr] = []  # via[i]: the call from path[i] to path[i + 1]
            pending = [iter(edges_of(start))]
            state[start] = 1
            while pending:
                for call, target in pending[-1]:
                    seen = state.get(target)
                    if seen is None:
                        state[target] = 1
                        path.append(target)
                        via.append(call)
                        pending.append(iter(edges_of(target)))
                        break
                    if seen == 1 and (path[-1], target) not in reported:
                        reported.add((path[-1], target))
                        first = path.index(target)
                        self._cycle([decls[n[0]] for n in path[first:]], [*via[first:], call])
                else:
                    pending.pop()
                    state[path.pop()] = 2
                    if via:
                        via.pop()

    def _evaluates(self, call: ast.CallStmt | ast.CallExpr) -> tuple[ast.FuncDecl | ast.ImportDecl, int] | None:
        """What of this module evaluating ``call`` evaluates: a function or an fs import, and how many
        of its leading statements (-1: all); None for builtins, parameters and other modules."""
        callee = self.checked.callees.get(call.span)
        if callee is None or callee.module is not None:
            return None
        if callee.func is not None:
            return callee.func, -1
        if callee.bind is not None:
            bind = callee.bind
            bound = self.checked.callees.get(bind.call.span)
            b = bound.builtin if bound is not None else None
            # The compiler ends the evaluation at a bound call of another type than the bind's (a
            # pushed digest out of an fs block); such a call is a statement of the function's body.
            if b is not None and not b.type.is_option and bind.type is not None and bind.type != b.type:
                stmts = bind.func.body.stmts if bind.func.body is not None else ()
                k = next((i for i, st in enumerate(stmts) if st is bind.call), None)
                if k is not None:
                    return bind.func, k + 1
            return bind.func, -1
        if callee.unresolved is not None:
            imp = self.checked.imports.get(callee.unresolved.name.name)
            return (imp.decl, -1) if imp is not None else None
        return None

    def _cycle(
        self, nodes: Sequence[ast.FuncDecl | ast.ImportDecl], calls: Sequence[ast.CallStmt | ast.CallExpr]
    ) -> None:
        def name(n: ast.FuncDecl | ast.ImportDecl) -> str:
            return f"`{n.name.name}`" if isinstance(n, ast.FuncDecl) else f"import `{n.name.name}`"

        def called(call: ast.CallStmt | ast.CallExpr, target: ast.FuncDecl | ast.ImportDecl) -> str:
            text = call.func.text
            if isinstance(target, ast.FuncDecl) and text == target.name.name:
                return f"`{text}`"
            return f"`{text}` (which evaluates {name(target)})"

        targets = [*nodes[1:], nodes[0]]
        if len(calls) == 1 and calls[0].func.text == name(nodes[0]).strip("`"):
            chain = [name(nodes[0])]
        else:
            chain = [name(nodes[0]), *(called(c, t) for c, t in zip(calls, targets, strict=True))]
        along = [
            (c.func.span, f"{name(n)} calls {called(c, t)}")
            for n, c, t in zip(nodes[:-1], calls[:-1], targets[:-1], strict=True)
        ]
        self.error(cat.recursion(calls[-1].func.span, chain, along))

    def _export(self, decl: ast.ExportDecl) -> None:
        name = decl.name.name
        if self.checked.lookup(name) is None:
            self._undefined(decl.name.span, name, [], None)
            return
        self.checked.exports[name] = decl
        self.checked.used.add(name)

    def _import(self, decl: ast.ImportDecl) -> None:
        imp = self.checked.imports.get(decl.name.name)
        if decl.deprecated:
            self.error(
                cat.deprecated(
                    decl.span,
                    'import path without keyword "from" is deprecated',
                    f"`import {decl.name.name} from {decl.expr.span.text}`",
                )
            )
        frame = _Frame(None, {})
        self.visit(decl.expr, [STRING, FS], frame, False, False)
        expr = decl.expr
        if imp is None or not isinstance(expr, ast.StringLit) or not expr.is_constant:
            return  # fs imports and computed paths are fetched when the build runs
        uri = expr.value
        scheme = uri.split("://", 1)[0] if "://" in uri else ""
        if scheme in REMOTE_SCHEMES:
            return
        if scheme not in LOCAL_SCHEMES:
            self.error(cat.invalid_module_uri(expr.span, uri, scheme))
            return
        path_text = uri.split("://", 1)[1] if scheme else uri
        path = Path(client_path(path_text, module_dir(self.module.file)))
        try:
            self.loader.stat(path)  # a missing file; what else cannot be read (a directory, a FIFO...) the loader says
        except OSError as e:
            self.loader.seen.setdefault(os.path.normpath(path.absolute()), f"errno:{e.errno}")
            self.error(cat.import_not_found(expr.span, path_text, e))
            return
        imp.path = path
        imp.module = self.loader.load(path, expr.span, _shown(path), path_text)

    def _signature(self, decl: ast.FuncDecl) -> None:
        """Report unknown types and repeated parameters; calls to a broken signature are not checked."""
        ok = self._type_of(decl.type) is not None
        seen: dict[str, list[Span]] = {}
        for p in (*decl.params, *(decl.effects or ())):
            ok = self._type_of(p.type) is not None and ok
            seen.setdefault(p.name.name, []).append(p.name.span)
        for name, spans in seen.items():
            if len(spans) > 1:  # one diagnostic per name, at its first definition, as for declarations
                self.error(cat.redefined(spans[0], name, spans[1:]))
        if not ok:
            self.broken.add(decl.name.name)

    def _func(self, decl: ast.FuncDecl) -> None:
        t = declared_or_none(decl.type)
        if t is None or decl.body is None:
            return
        params = {p.name.name: p for p in (*decl.params, *(decl.effects or ())) if declared_or_none(p.type)}
        closure = not t.is_option  # binds need a closure: never in option functions
        self._params_in_scope = {p.name.name for p in (*decl.params, *(decl.effects or ()))}
        try:
            self.visit(decl.body, t, _Frame(decl, params, closure), closure)
        finally:
            self._params_in_scope = set()

    def _type_of(self, ref: ast.TypeRef) -> Type | None:
        if ref.name == "group":
            self.error(cat.deprecated(ref.span, "type `group` is deprecated, use `pipeline` instead", "`pipeline`"))
            return PIPELINE
        t = _parse_type(ref.name)
        if t is None:
            self.error(cat.unknown_type(ref.span, ref.name))
        return t

    # A block and its statements are visited with the block's type, the frame and whether
    # binds have a closure.

    def visit_Block(self, block: ast.Block, t: Type, frame: _Frame, closure: bool) -> None:
        for stmt in block.stmts:  # what generic_visit does, without its cost on every block checked
            self.visit(stmt, t, frame, closure)

    def visit_ExprStmt(self, stmt: ast.ExprStmt, t: Type, frame: _Frame, closure: bool) -> None:
        self.visit(stmt.expr, [t], frame, False, False)

    def visit_CallStmt(self, stmt: ast.CallStmt, t: Type, frame: _Frame, closure: bool) -> None:
        expected = [t]
        func = stmt.func
        if func.selector is None and func.name.name == "parallel" and self.checked.lookup("parallel") is None:
            self.error(cat.deprecated(func.span, "function `parallel` is deprecated, use `stage` instead", "`stage`"))
            func = replace(func, name=replace(func.name, name="stage"))
        callee = self._resolve(func, expected, frame, stmt, stmt.args, statement=True)
        if callee is None:
            for arg in stmt.args:
                self._expr_loose(arg, frame)
            return
        if not callee.noop and callee.unresolved is None:
            self._args(stmt, stmt.args, callee, frame)
        if stmt.with_ is not None:
            self._with(stmt, callee, frame, closure)
        if stmt.bind is not None:
            self._bind(stmt, callee, closure)

    def _with(self, stmt: ast.CallStmt, callee: Callee, frame: _Frame, closure: bool) -> None:
        assert stmt.with_ is not None
        if callee.noop or callee.unresolved is not None:
            self._expr_loose(stmt.with_, frame)
            return
        if isinstance(stmt.with_, ast.FuncLit) and not stmt.with_.body.stmts:
            return  # an empty `with option {}` is accepted on any call (the formatter drops it)
        if callee.builtin is None or not _options_of(callee.builtin.option_type):
            self.error(cat.invalid_value(stmt.with_.span, f"`{stmt.func.text}` takes no options"))
            return
        # Every `with` block in a function body has the function as closure, even inside argument literals.
        self.visit(stmt.with_, [callee.builtin.option_type], frame, frame.closure, True)

    def _bind(self, stmt: ast.CallStmt, callee: Callee, closure: bool) -> None:
        bind = stmt.bind
        assert bind is not None
        if bind.target is None and bind.pairs is None:
            self.error(cat.no_bind_target(bind.span))
            return
        if not closure:
            self.error(cat.no_bind_closure(bind.span))
            return
        b = callee.builtin
        if b is None or not b.effects:
            self.error(cat.no_bind_effects(bind.span, stmt.func.text))
            return
        names = [e.name for e in b.effects]
        for pair in bind.pairs or ():
            if pair.effect.name not in names:
                self.error(cat.undefined_bind_effect(pair.effect.span, pair.effect.name, b.name, names))

    # -- calls and arguments ---------------------------------------------------

    def _resolve(
        self,
        ident: ast.IdentExpr,
        expected: Sequence[Type],
        frame: _Frame,
        node: ast.CallStmt | ast.CallExpr,
        args: Sequence[ast.Expr],
        statement: bool = False,
    ) -> Callee | None:
        name = ident.name.name
        if ident.selector is not None:
            callee = self._resolve_selector(ident)
        elif frame.func is not None and any(p.name.name == name for p in frame.func.params):
            if name not in frame.params:
                return None  # a parameter of unknown type, reported with the signature
            callee = Callee(param=frame.params[name])
        elif name in self.broken:
            return None
        else:
            sym = self.checked.lookup(name)
            callee = self._callee_of(sym, ident) if sym is not None else self._builtin(ident, expected, frame, args)
            if sym is not None:
                self.checked.used.add(name)
        if callee is None:
            return None
        ok = _statement_kind_ok if statement else _kind_ok
        if not callee.noop and callee.unresolved is None and not any(ok(e, callee.type) for e in expected):
            where = ident.selector.span if ident.selector else ident.span
            hint = self._options_hint(expected)
            targets = self._option_targets(name, callee) if ident.selector is None else []
            if targets and not any(e.is_option for e in expected):
                # An option written as a statement of a block (`createDestPath` under its `copy`).
                written = node.span.text.strip()
                hint = cat.option_as_statement_hint(
                    written if "\n" not in written and len(written) <= 40 else name, name, targets
                )
            elif targets and hint:
                hint = f"`{name}` is an option of {cat.all_of_code(targets)}; {hint}"
            self.error(cat.type_mismatch(where, str(callee.type), _names(expected), hint))
            return None
        self.checked.callees[node.span] = callee
        return callee

    def _option_targets(self, name: str, callee: Callee) -> list[str]:
        """The calls ``name`` is an option of, when it is an option (a builtin's or an option function)."""
        if callee.builtin is not None:
            found = [b.type.target for b in self.builtins.get(name, ()) if b.type.is_option and b.type.target]
            return list(dict.fromkeys(t for t in found if t))
        t = callee.type
        return [t.target] if t.is_option and t.target else []

    def _callee_of(self, sym: Symbol, ident: ast.IdentExpr, module: CheckedModule | None = None) -> Callee | None:
        if isinstance(sym, Import):
            self.error(cat.call_import(ident.span, sym.decl.name.name, sym.decl.name.span))
            return None
        if isinstance(sym, Bind):
            return Callee(bind=sym, module=module) if sym.type is not None else None
        if module is None and sym.name.name in self.broken:
            return None
        return Callee(func=sym, module=module)

    def _builtin(
        self, ident: ast.IdentExpr, expected: Sequence[Type], frame: _Frame, args: Sequence[ast.Expr]
    ) -> Callee | None:
        name = ident.name.name
        if name in NOOP_BUILTINS:
            return Callee(noop=True)
        first = (lambda t: self._could_be(args[0], t, frame)) if args else None
        b = lookup(self.builtins, name, expected, first_arg=first)
        if b is None:
            self._undefined(ident.span, name, expected, frame)
            return None
        return Callee(builtin=b)

    def _resolve_selector(self, ident: ast.IdentExpr) -> Callee | None:
        assert ident.selector is not None
        name, member = ident.name.name, ident.selector.name
        imp = self.checked.imports.get(name)
        known = self.checked.lookup(name) is not None or name in self._params_in_scope or name in self.builtins
        if imp is None and not known:
            self._undefined(ident.name.span, name, [], None)
            return None
        if imp is None:
            dot = Span(ident.span.file, ident.selector.span.start - 1, ident.selector.span.end)
            self.error(cat.dot_on_non_import(dot, name))
            return None
        self.checked.used.add(name)
        other = imp.module
        if other is None:
            # A module fetched at build time (fs or git import): checked when it is compiled.
            return Callee(unresolved=ident) if not imp.resolved else None
        sym = other.lookup(member)
        if sym is None:
            guess = closest(member, [n for n in other.symbols() if n in other.exports])
            self.error(cat.undefined_in_module(ident.selector.span, member, imp.decl.name.span, guess))
            return None
        if member not in other.exports:
            decl_span = sym.decl.name.span if isinstance(sym, Import) else sym.name.span
            self.error(cat.call_unexported(ident.selector.span, member, other.module.file.name, decl_span))
            return None
        return self._callee_of(sym, ident, other)

    def _could_be(self, expr: ast.Expr, t: Type, frame: _Frame) -> bool:
        """Whether ``expr`` can produce a ``t`` (chooses between same-type builtin overloads)."""
        match expr:
            case ast.StringLit():
                return t == STRING
            case ast.IntLit():
                return t == INT
            case ast.BoolLit():
                return t == BOOL
            case ast.FuncLit():
                lit = _parse_type(expr.type.name)
                return lit is not None and same_kind(t, lit)
            case ast.CallExpr():
                name = expr.func.name.name
                if expr.func.selector is None and name in frame.params:
                    return same_kind(t, declared(frame.params[name].type))
                sym = self.checked.lookup(name) if expr.func.selector is None else None
                if isinstance(sym, ast.FuncDecl):
                    d = declared_or_none(sym.type)
                    return d is not None and same_kind(t, d)
                if isinstance(sym, Bind):
                    return sym.type is not None and same_kind(t, sym.type)
                return any(same_kind(t, b.type) for b in self.builtins.get(name, ()))
        return False

    def _undefined(self, span: Span, name: str, expected: Sequence[Type], frame: _Frame | None) -> None:
        candidates = self.checked.symbols()
        if frame is not None:
            candidates += list(frame.params)
        candidates += [b.name for b in SIGNATURES if not expected or any(same_kind(e, b.type) for e in expected)]
        if _LEADING_ZERO.fullmatch(name):
            self.error(cat.leading_zero(span, name))  # lexed as a name: hlb has no `0755` octal
            return
        key = (name, tuple(expected), tuple(candidates))  # the same misspelling in many places is looked up once
        if key not in self._suggestions:
            self._suggestions[key] = closest(name, candidates)
        hint_target = self._suggestions[key]
        d = cat.undefined_name(span, name, hint_target)
        options = self._options_hint(expected)
        if hint_target is None and options:
            d = replace(d, hint=options)
        if self._interpolating and _SHELL_NAME.fullmatch(name):
            d = replace(d, hint=cat.shell_variable_hint(name, hint_target))
        self.error(d)

    def _options_hint(self, expected: Sequence[Type]) -> str | None:
        """``the options of `run` are ...`` when options are expected."""
        opt = next((e for e in expected if e.is_option and e.target), None)
        if opt is None:
            return None
        names = _options_of(opt)
        return f"the options of `{opt.target}` are " + ", ".join(f"`{n}`" for n in names) if names else None

    def _args(self, node: ast.CallStmt | ast.CallExpr, args: Sequence[ast.Expr], callee: Callee, frame: _Frame) -> None:
        params, name, signature = self._params_of(callee)
        variadic = bool(params) and params[-1][2]
        fixed = len(params) - (1 if variadic else 0)
        if (variadic and len(args) < fixed) or (not variadic and len(args) != len(params)):
            expected = fixed if variadic else len(params)
            self.error(cat.wrong_arg_count(node.span, name, expected, len(args), signature(), variadic))
            for arg in args:
                self._expr_loose(arg, frame)
            return
        choices = [p.choice for p in callee.builtin.params] if callee.builtin is not None else []
        for i, arg in enumerate(args):
            j = min(i, len(params) - 1)
            self.visit(arg, [params[j][1]], frame, False, False)
            choice = choices[j] if j < len(choices) else None
            if choice is None or not isinstance(arg, ast.StringLit) or not arg.is_constant:
                continue
            value = arg.value
            if value not in choice.names:
                self.error(cat.invalid_choice(arg.span, choice.label, value, choice.names))

    def _params_of(self, callee: Callee) -> tuple[Sequence[tuple[str, Type, bool]], str, Callable[[], str]]:
        """The callee's parameters (name, type, variadic), its name, and its signature for a diagnostic
        (made only then: most calls are right)."""
        if callee.builtin is not None:
            b = callee.builtin
            return _builtin_params(b), b.name, b.signature
        if callee.param is not None:
            p = callee.param
            return [], p.name.name, lambda: f"{p.type.name} {p.name.name}"
        f = callee.func or (callee.bind.func if callee.bind else None)
        assert f is not None
        params = [(p.name.name, declared_or_none(p.type) or FS, p.variadic) for p in f.params]
        ret = callee.type
        name = callee.bind.name.name if callee.bind else f.name.name

        def sig() -> str:
            return (
                f"{ret} {name}("
                + ", ".join(("variadic " if p.variadic else "") + f"{p.type.name} {p.name.name}" for p in f.params)
                + ")"
            )

        return params, name, sig

    # An expression is visited with the types it may have, the frame, whether its `with` blocks
    # may bind (closure) and whether it is a `with` block.

    def visit_StringLit(
        self, expr: ast.StringLit, expected: Sequence[Type], frame: _Frame, closure: bool, in_with: bool
    ) -> None:
        self._literal(expr, STRING, expected)
        for part in expr.parts:  # its interpolations (a loop, not generic_visit: check runs this for every string)
            if isinstance(part, ast.Interpolation):
                self.visit(part, expected, frame, closure, in_with)

    def visit_IntLit(self, expr: ast.IntLit, expected: Sequence[Type], *_: object) -> None:
        self._literal(expr, INT, expected)

    def visit_BoolLit(self, expr: ast.BoolLit, expected: Sequence[Type], *_: object) -> None:
        self._literal(expr, BOOL, expected)

    def visit_FuncLit(
        self, expr: ast.FuncLit, expected: Sequence[Type], frame: _Frame, closure: bool, in_with: bool
    ) -> None:
        self._func_lit(expr, expected, frame, closure, in_with)

    def visit_CallExpr(self, expr: ast.CallExpr, expected: Sequence[Type], frame: _Frame, *_: object) -> None:
        callee = self._resolve(expr.func, expected, frame, expr, expr.args)
        if callee is None:
            for arg in expr.args:
                self._expr_loose(arg, frame)
        elif not callee.noop and callee.unresolved is None:
            self._args(expr, expr.args, callee, frame)

    def _expr_loose(self, expr: ast.Expr, frame: _Frame) -> None:
        """Check an expression whose expected type is unknown (its call is in error or unresolved)."""
        if isinstance(expr, ast.FuncLit):
            t = _parse_type(expr.type.name)
            if t is not None and not (t.is_option and t.target is None):
                self._func_lit(expr, [t], frame, closure=False)
        elif isinstance(expr, ast.StringLit):
            self.visit(expr, [STRING], frame, False, False)

    def _literal(self, expr: ast.Literal, t: Type, expected: Sequence[Type]) -> None:
        if not any(accepts(e, t) for e in expected):
            self.error(cat.type_mismatch(expr.span, str(t), _names(expected)))

    def visit_Interpolation(self, part: ast.Interpolation, _expected: object, frame: _Frame, *_: object) -> None:
        """An interpolation takes a scalar, whatever its string is expected to be."""
        if part.expr is None:
            self.error(cat.invalid_value(part.span, "empty interpolation", hint="write `${name}`"))
            return
        self._interpolating += 1
        try:
            self.visit(part.expr, SCALARS, frame, False, False)
        finally:
            self._interpolating -= 1

    def _func_lit(
        self, lit: ast.FuncLit, expected: Sequence[Type], frame: _Frame, closure: bool, in_with: bool = False
    ) -> None:
        t = self._type_of(lit.type)
        if t is None:
            return
        if t.is_option and t.target is None and in_with:
            # `with option { ... }` takes the options of its call (`run ... with option` -> option::run).
            t = next((e for e in expected if e.is_option), t)
        # Elsewhere a block literal must have exactly the expected type, as in openllb/hlb.
        if not any(e == t or (e.kind is Kind.PIPELINE and accepts(e, t)) for e in expected):
            self.error(cat.type_mismatch(lit.type.span, str(t), _names(expected)))
            return
        if t.is_option and t.target is None:
            self.error(cat.invalid_value(lit.type.span, "an `option` block needs a call to apply to"))
            return
        self.checked.literal_types[lit.span] = t
        self.visit(lit.body, t, frame, closure and t.is_option)


def _calls_in(root: ast.Block | ast.Stmt | ast.Expr) -> list[ast.CallStmt | ast.CallExpr]:
    """Every call in ``root`` (statements, arguments, `with` blocks, interpolations), in source order."""
    return list(find_all(root, ast.CallStmt, ast.CallExpr))


class _Binds(NodeVisitor[None]):
    """The binds with a closure in a function body: in its statements and their calls' `with` blocks.

    A block is visited with its type and whether its binds have a closure (argument literals have
    none; their `with` blocks do, the function's)."""

    def __init__(self, builtins: Mapping[str, tuple[Signature, ...]], decl: ast.FuncDecl) -> None:
        self.builtins = builtins
        self.decl = decl
        self.found: list[Bind] = []

    def visit_Block(self, block: ast.Block, expected: Type, closure: bool) -> None:
        for stmt in block.stmts:
            if isinstance(stmt, ast.CallStmt):  # a literal statement binds nothing
                self.visit_CallStmt(stmt, expected, closure)

    def visit_CallStmt(self, stmt: ast.CallStmt, expected: Type, closure: bool) -> None:
        if stmt.bind is not None and closure:
            b = None if stmt.func.selector else lookup(self.builtins, stmt.func.name.name, [expected])
            self.found += self._names(stmt, b)
        if isinstance(stmt.with_, ast.FuncLit) and stmt.with_.type.name.startswith("option"):
            self.visit(stmt.with_.body, Type.option(stmt.func.name.name), True)
        for arg in stmt.args:
            if isinstance(arg, ast.FuncLit) and (lit := declared_or_none(arg.type)) is not None:
                self.visit(arg.body, lit, False)

    def _names(self, stmt: ast.CallStmt, b: Signature | None) -> list[Bind]:
        bind, decl = stmt.bind, self.decl
        assert bind is not None
        effects = {e.name: e.type for e in b.effects} if b is not None else {}
        if bind.target is not None:
            first = b.effects[0] if b is not None and b.effects else None
            return [Bind(bind.target, first.name if first else "", stmt, decl, first.type if first else None)]
        return [Bind(p.target, p.effect.name, stmt, decl, effects.get(p.effect.name)) for p in bind.pairs or ()]


def declared_or_none(ref: ast.TypeRef) -> Type | None:
    return PIPELINE if ref.name == "group" else _parse_type(ref.name)


def _shown(path: Path) -> str:
    """How diagnostics name an imported file: relative to the working directory when inside it."""
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else str(path)


# Type.parse, once per distinct name (a module names the same few types on every line); a Type is immutable.
_parse_type = functools.lru_cache(maxsize=1024)(Type.parse)

_PARAMS: dict[int, tuple[Signature, tuple[tuple[str, Type, bool], ...]]] = {}


def _builtin_params(b: Signature) -> tuple[tuple[str, Type, bool], ...]:
    """(name, type, variadic) of each of a builtin's parameters, by the builtin's identity (hashing one
    would hash all its fields); the entry keeps the builtin, so its id is never another's."""
    entry = _PARAMS.get(id(b))
    if entry is None or entry[0] is not b:
        entry = _PARAMS[id(b)] = (b, tuple((p.name, p.type, p.variadic) for p in b.params))
    return entry[1]


@functools.cache
def _options_of(opt: Type) -> tuple[str, ...]:
    """The names of the builtins of type ``opt`` (the options a call accepts), sorted; the table never changes."""
    return tuple(sorted({b.name for b in SIGNATURES if b.type == opt}))


def _names(types: Sequence[Type]) -> list[str]:
    names = [str(t) for t in types]
    if any(t.is_option and t.target for t in types):
        names = [str(t) for t in types if not (t.is_option and t.target is None)]
    return names


def _statement_kind_ok(expected: Type, actual: Type) -> bool:
    """A statement's call must produce the block's type exactly (no pipeline widening, as in
    openllb/hlb); an `option::X` block also takes plain `option` values, a plain `option` block nothing else."""
    return expected == actual or (expected.is_option and expected.target is not None and actual == Type.option())


def _kind_ok(expected: Type, actual: Type) -> bool:
    """Statement and call kinds match exactly; only `pipeline` widens."""
    return accepts(expected, actual) if expected.kind is Kind.PIPELINE else same_kind(expected, actual)
