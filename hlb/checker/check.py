"""Type-check a module.

Pass 1 declares every function in the module scope (duplicates are reported,
as are names that shadow builtins). Pass 2 checks every function body: each
call is resolved against the expected type (builtins are overloaded by type,
e.g. ``env`` is an ``fs`` and an ``option::run``), argument counts and types
are checked, and ``with`` blocks are checked as ``option::<callee>``. Every
resolution is recorded in :class:`CheckedModule` so the compiler never
resolves a name differently from the checker. Errors in one statement do not
stop the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from hlb.builtins.registry import all_builtins, table
from hlb.builtins.spec import Builtin, lookup
from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.diagnostics.suggest import closest
from hlb.source import Span
from hlb.syntax import ast
from hlb.types import BOOL, FS, INT, STRING, Kind, Type, accepts, same_kind

SCALARS = (STRING, INT, BOOL)


@dataclass(frozen=True, slots=True)
class Callee:
    """What a call refers to: a builtin, a user function or a parameter."""

    builtin: Builtin | None = None
    func: ast.FuncDecl | None = None
    param: ast.Field | None = None

    @property
    def type(self) -> Type:
        if self.builtin is not None:
            return self.builtin.type
        decl = self.func or self.param
        assert decl is not None
        t = Type.parse(decl.type.name)
        assert t is not None
        return t


@dataclass
class CheckedModule:
    module: ast.Module
    funcs: dict[str, ast.FuncDecl]
    callees: dict[int, Callee] = field(default_factory=dict)  # id(call node) -> callee
    literal_types: dict[int, Type] = field(default_factory=dict)  # id(FuncLit) -> type

    def callee(self, node: ast.CallStmt | ast.CallExpr) -> Callee:
        return self.callees[id(node)]

    def literal_type(self, node: ast.FuncLit) -> Type:
        return self.literal_types[id(node)]


@dataclass
class CheckResult:
    checked: CheckedModule
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def check_module(module: ast.Module) -> CheckResult:
    checker = _Checker(module)
    checker.declare()
    checker.check()
    return CheckResult(checker.checked, checker.diagnostics)


@dataclass
class _Frame:
    """The function being checked: its parameters are in scope."""

    func: ast.FuncDecl
    params: dict[str, ast.Field]


class _Checker:
    def __init__(self, module: ast.Module) -> None:
        self.module = module
        self.builtins: Mapping[str, tuple[Builtin, ...]] = table()
        self.diagnostics: list[Diagnostic] = []
        self.checked = CheckedModule(module, {})
        self.broken: set[str] = set()  # functions whose declaration has errors

    def error(self, d: Diagnostic) -> None:
        self.diagnostics.append(d)

    # -- pass 1: declarations --------------------------------------------------

    def declare(self) -> None:
        funcs = self.checked.funcs
        for decl in self.module.decls:
            if isinstance(decl, ast.ImportDecl):
                self.error(cat.unsupported(decl.span, "`import`", "modules arrive with issue #3"))
                continue
            if isinstance(decl, ast.ExportDecl):
                continue
            name = decl.name.name
            if name in funcs:
                self.error(cat.duplicate_decl(decl.name.span, name, funcs[name].name.span))
                continue
            if name in self.builtins:
                self.error(
                    cat.invalid_value(
                        decl.name.span,
                        f"`{name}` is a builtin and cannot be redefined",
                        hint="choose another name",
                    )
                )
                continue
            if self._check_signature(decl):
                funcs[name] = decl
            else:
                self.broken.add(name)  # reported already; calls to it are not checked

    def _check_signature(self, decl: ast.FuncDecl) -> bool:
        """Report problems in a declaration's types; True when it can be called."""
        ok = self._type_of(decl.type) is not None
        seen: dict[str, ast.Field] = {}
        for p in decl.params:
            ok = self._type_of(p.type) is not None and ok
            if p.name.name in seen:
                self.error(cat.duplicate_decl(p.name.span, p.name.name, seen[p.name.name].name.span))
            seen[p.name.name] = p
            if p.variadic:
                self.error(cat.unsupported(p.span, "`variadic` parameters", "they arrive with issue #3"))
        if decl.effects is not None:
            self.error(cat.unsupported(decl.span, "`binds` on user functions"))
        return ok

    def _type_of(self, ref: ast.TypeRef) -> Type | None:
        t = Type.parse(ref.name)
        if t is None:
            self.error(cat.unknown_type(ref.span, ref.name))
        elif t.kind is Kind.PIPELINE:
            self.error(cat.unsupported(ref.span, "the `pipeline` type", "pipelines arrive with issue #4"))
            return None
        return t

    # -- pass 2: bodies --------------------------------------------------------

    def check(self) -> None:
        for name in self.module.decls:
            if isinstance(name, ast.ExportDecl) and name.name.name not in {*self.checked.funcs, *self.broken}:
                self._undefined(name.name.span, name.name.name, [], None)
        for decl in self.checked.funcs.values():
            t = Type.parse(decl.type.name)
            if t is None or decl.body is None:
                continue
            frame = _Frame(decl, {p.name.name: p for p in decl.params})
            self._block(decl.body, t, frame)

    def _block(self, block: ast.Block, t: Type, frame: _Frame) -> None:
        for stmt in block.stmts:
            if isinstance(stmt, ast.ExprStmt):
                self._expr(stmt.expr, [t], frame)
            else:
                self._call_stmt(stmt, t, frame)

    def _call_stmt(self, stmt: ast.CallStmt, t: Type, frame: _Frame) -> None:
        callee = self._resolve(stmt.func, [t], frame, stmt)
        if callee is None:
            return
        self._args(stmt, stmt.args, callee, frame)
        if stmt.with_ is not None:
            self._with(stmt, callee, frame)
        if stmt.bind is not None:
            self.error(cat.unsupported(stmt.bind.span, "binding with `as`", "bindings arrive with issue #4"))

    def _with(self, stmt: ast.CallStmt, callee: Callee, frame: _Frame) -> None:
        assert stmt.with_ is not None
        if callee.builtin is None or not _options_of(callee.builtin.option_type):
            self.error(cat.invalid_value(stmt.with_.span, f"`{stmt.func.text}` takes no options"))
            return
        self._expr(stmt.with_, [callee.builtin.option_type], frame)

    # -- calls and arguments ---------------------------------------------------

    def _resolve(
        self, ident: ast.IdentExpr, expected: Sequence[Type], frame: _Frame, node: ast.CallStmt | ast.CallExpr
    ) -> Callee | None:
        name = ident.name.name
        if ident.selector is not None:
            self.error(cat.unsupported(ident.span, "`module.name` references", "modules arrive with issue #3"))
            return None
        callee: Callee | None = None
        if name in self.broken:
            return None
        if name in frame.params:
            callee = Callee(param=frame.params[name])
        elif name in self.checked.funcs:
            callee = Callee(func=self.checked.funcs[name])
        else:
            b = lookup(self.builtins, name, expected)
            if b is not None:
                callee = Callee(builtin=b)
        if callee is None:
            self._undefined(ident.span, name, expected, frame)
            return None
        if not any(_kind_ok(e, callee.type) for e in expected):
            self.error(cat.type_mismatch(ident.span, str(callee.type), _names(expected), self._options_hint(expected)))
            return None
        self.checked.callees[id(node)] = callee
        return callee

    def _undefined(self, span: Span, name: str, expected: Sequence[Type], frame: _Frame | None) -> None:
        candidates = list(self.checked.funcs)
        if frame is not None:
            candidates += list(frame.params)
        candidates += [b.name for b in all_builtins() if not expected or any(same_kind(e, b.type) for e in expected)]
        hint_target = closest(name, candidates)
        d = cat.undefined_name(span, name, hint_target)
        options = self._options_hint(expected)
        if hint_target is None and options:
            d = _with_hint(d, options)
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
        fixed = len(params) - (1 if params and params[-1][2] else 0)
        variadic = bool(params) and params[-1][2]
        if (variadic and len(args) < fixed) or (not variadic and len(args) != len(params)):
            self.error(
                cat.wrong_arg_count(node.span, name, fixed if variadic else len(params), len(args), signature, variadic)
            )
            return
        for i, arg in enumerate(args):
            ptype = params[min(i, len(params) - 1)][1]
            self._expr(arg, [ptype], frame)

    def _params_of(self, callee: Callee) -> tuple[list[tuple[str, Type, bool]], str, str]:
        if callee.builtin is not None:
            b = callee.builtin
            return [(p.name, p.type, p.variadic) for p in b.params], b.name, b.signature()
        if callee.param is not None:
            p = callee.param
            return [], p.name.name, f"{p.type.name} {p.name.name}"
        f = callee.func
        assert f is not None
        params = [(p.name.name, Type.parse(p.type.name) or FS, p.variadic) for p in f.params]
        sig = (
            f"{f.type.name} {f.name.name}("
            + ", ".join(("variadic " if p.variadic else "") + f"{p.type.name} {p.name.name}" for p in f.params)
            + ")"
        )
        return params, f.name.name, sig

    def _expr(self, expr: ast.Expr, expected: Sequence[Type], frame: _Frame) -> None:
        match expr:
            case ast.StringLit():
                self._literal(expr, STRING, expected)
                for part in expr.parts:
                    if isinstance(part, ast.Interpolation):
                        self._interpolation(part, frame)
            case ast.IntLit():
                self._literal(expr, INT, expected)
            case ast.BoolLit():
                self._literal(expr, BOOL, expected)
            case ast.FuncLit():
                self._func_lit(expr, expected, frame)
            case ast.CallExpr():
                callee = self._resolve(expr.func, expected, frame, expr)
                if callee is not None:
                    self._args(expr, expr.args, callee, frame)

    def _literal(self, expr: ast.Literal, t: Type, expected: Sequence[Type]) -> None:
        if not any(accepts(e, t) for e in expected):
            self.error(cat.type_mismatch(expr.span, str(t), _names(expected)))

    def _interpolation(self, part: ast.Interpolation, frame: _Frame) -> None:
        if part.expr is None:
            self.error(cat.invalid_value(part.span, "empty interpolation", hint="write `${name}`"))
            return
        self._expr(part.expr, SCALARS, frame)

    def _func_lit(self, lit: ast.FuncLit, expected: Sequence[Type], frame: _Frame) -> None:
        t = Type.parse(lit.type.name)
        if t is None:
            self.error(cat.unknown_type(lit.type.span, lit.type.name))
            return
        if t.is_option and t.target is None:
            # `option { ... }` takes the option type expected here (`with option` on `run` -> option::run).
            t = next((e for e in expected if e.is_option), t)
        if not any(accepts(e, t) for e in expected):
            self.error(cat.type_mismatch(lit.type.span, str(t), _names(expected)))
            return
        if t.is_option and t.target is None:
            self.error(cat.invalid_value(lit.type.span, "an `option` block needs a call to apply to"))
            return
        self.checked.literal_types[id(lit)] = t
        self._block(lit.body, t, frame)


def _options_of(opt: Type) -> list[str]:
    """The names of the builtins of type ``opt`` (the options a call accepts), sorted."""
    return sorted({b.name for b in all_builtins() if b.type == opt})


def _names(types: Sequence[Type]) -> list[str]:
    names = [str(t) for t in types]
    if any(t.is_option and t.target for t in types):
        names = [str(t) for t in types if not (t.is_option and t.target is None)]
    return names


def _with_hint(d: Diagnostic, hint: str) -> Diagnostic:
    return replace(d, hint=hint)


def _kind_ok(expected: Type, actual: Type) -> bool:
    """Statement and call kinds match exactly; only `pipeline` widens."""
    return accepts(expected, actual) if expected.kind is Kind.PIPELINE else same_kind(expected, actual)
