"""Evaluate checked HLB into LLB.

A block starts from the caller's current value and applies each statement in
turn: sources replace the value, transforms change it, option builtins append
to it, and a user function call continues from it (its body starts with the
caller's value). Every op records where it came from: the call that created it,
then each enclosing call up to the target (innermost first), so a daemon error
points at the line that wrote the failing step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hlb.builtins.call import Call, CompileError
from hlb.builtins.spec import Builtin
from hlb.checker import CheckedModule
from hlb.checker.check import declared
from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.diagnostics.suggest import closest
from hlb.llb import Definition, Platform, Position, Range, SourceLocation, SourceMap
from hlb.resolver import ImageResolver
from hlb.source import Span
from hlb.syntax import ast
from hlb.types import STRING, Kind, Type
from hlb.values import Attachment, FsValue, LocalDir, Options, Value


@dataclass
class CompiledTarget:
    name: str
    span: Span  # the target function's name
    definition: Definition
    platform: Platform


@dataclass
class CompileResult:
    targets: list[CompiledTarget] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def compile_targets(
    checked: CheckedModule,
    names: Sequence[str],
    platform: Platform,
    *,
    target_spans: Mapping[str, Span] | None = None,
) -> CompileResult:
    """Compile each named target; ``target_spans`` locate the names on the command line."""
    result = CompileResult()
    compiler = _Compiler(checked, platform)
    for name in names:
        try:
            result.targets.append(compiler.target(name, (target_spans or {}).get(name)))
        except CompileError as e:
            result.diagnostics.append(e.diagnostic)
    return result


def zero_value(t: Type) -> Value:
    match t.kind:
        case Kind.FS:
            return FsValue.scratch()
        case Kind.STRING:
            return ""
        case Kind.INT:
            return 0
        case Kind.BOOL:
            return False
        case Kind.OPTION:
            return Options()
        case Kind.PIPELINE:  # pragma: no cover - calls taking pipelines are rejected before evaluation
            raise AssertionError("pipeline values are compiled from issue #4")


_LATER = "this version checks it; compiling it arrives with issue #4"


class _Compiler:
    def __init__(self, checked: CheckedModule, platform: Platform, resolver: ImageResolver | None = None) -> None:
        self.checked = checked
        self.platform = platform
        self._resolver = resolver
        self.attachments: dict[str, Attachment] = {}  # by id (local name, secret id, ssh id)
        module = checked.module
        self.source_map = SourceMap(module.file.name, module.file.data, "HLB")
        self.stack: list[Span] = []  # call sites of the user functions being evaluated
        self.subject: list[Value] = [FsValue.scratch()]  # what the options being evaluated apply to

    # CompileContext
    @property
    def resolver(self) -> ImageResolver | None:
        return self._resolver

    def attach(self, item: Attachment) -> None:
        key = f"{type(item).__name__}:{item.name if isinstance(item, LocalDir) else item.id}"
        self.attachments.setdefault(key, item)

    def module_dir(self, span: Span) -> str:
        return os.path.dirname(os.path.abspath(span.file.name))

    def locations(self, span: Span) -> tuple[SourceLocation, ...]:
        spans = [span, *reversed(self.stack)]
        return tuple(SourceLocation(self.source_map, (_range(s),)) for s in spans)

    def target(self, name: str, cli_span: Span | None) -> CompiledTarget:
        funcs = self.checked.funcs
        file = self.checked.module.file
        where = cli_span or Span(file, 0, 0)
        decl = funcs.get(name)
        if decl is None:
            if name in self.checked.binds:
                raise CompileError(cat.unsupported(where, f"building the bind `{name}`", _LATER))
            raise CompileError(cat.target_not_found(where, name, file.name, closest(name, self.checked.symbols())))
        t = declared(decl.type)
        if t.kind is Kind.PIPELINE:
            raise CompileError(cat.unsupported(decl.type.span, "building `pipeline` targets", _LATER))
        if t.kind is not Kind.FS:
            raise CompileError(cat.invalid_target(decl.name.span, f"target `{name}` is a {decl.type.name}, not an fs"))
        if decl.params:
            raise CompileError(
                cat.invalid_target(
                    decl.name.span,
                    f"target `{name}` takes parameters",
                    hint="targets are called without arguments; wrap it in an fs function that passes them",
                )
            )
        value = self.call_func(decl, [], FsValue.scratch(), decl.name.span)
        assert isinstance(value, FsValue)
        definition = value.state.marshal(self.platform)
        return CompiledTarget(name, decl.name.span, definition, self.platform)

    # -- evaluation --------------------------------------------------------------

    def call_func(self, decl: ast.FuncDecl, args: list[Value], current: Value, site: Span) -> Value:
        if decl.body is None:
            return current
        frame = {p.name.name: v for p, v in zip(decl.params, args, strict=True)}
        self.stack.append(site)
        try:
            return self.block(decl.body, declared(decl.type), current, frame)
        finally:
            self.stack.pop()

    def block(self, block: ast.Block, t: Type, current: Value, frame: dict[str, Value]) -> Value:
        for stmt in block.stmts:
            if isinstance(stmt, ast.ExprStmt):
                current = self.expr(stmt.expr, t, frame)
            else:
                current = self.call(stmt, stmt.args, stmt.with_, current, frame)
        return current

    def call(
        self,
        node: ast.CallStmt | ast.CallExpr,
        args: Sequence[ast.Expr],
        with_: ast.Expr | None,
        current: Value,
        frame: dict[str, Value],
    ) -> Value:
        callee = self.checked.callee(node)
        if callee.noop:
            return current
        if callee.bind is not None or callee.module is not None or callee.unresolved is not None:
            what = "calling a bind" if callee.bind is not None else "calling into an imported module"
            raise CompileError(cat.unsupported(node.func.span, what, _LATER))
        if callee.param is not None:
            value = frame[callee.param.name.name]
            if isinstance(current, Options) and isinstance(value, Options):
                return current + value
            return value
        if callee.func is not None:
            if any(p.variadic or declared(p.type).kind is Kind.PIPELINE for p in callee.func.params):
                raise CompileError(
                    cat.unsupported(
                        node.func.span, "calling functions with `variadic` or `pipeline` parameters", _LATER
                    )
                )
            types = [declared(p.type) for p in callee.func.params]
            values = [self.expr(a, t, frame) for a, t in zip(args, types, strict=True)]
            return self.call_func(callee.func, values, current, node.span)
        b = callee.builtin
        assert b is not None
        if b.lower is None:
            raise CompileError(
                cat.unsupported(
                    node.func.span,
                    f"compiling `{b.name}`",
                    "this version checks it; compiling it arrives with issue #4",
                )
            )
        values = [self.expr(a, b.params[min(i, len(b.params) - 1)].type, frame) for i, a in enumerate(args)]
        if b.type.is_option:
            # An option's lowering sees the value its call applies to (the fs a `run` starts from).
            options = self.options(b, with_, self.subject[-1], frame)
            call = Call(b.name, node.span, tuple(a.span for a in args), self.subject[-1], options, self)
            base = current if isinstance(current, Options) else Options()
            return base.append(b.lower(call, *values))
        options = self.options(b, with_, current, frame)
        call = Call(b.name, node.span, tuple(a.span for a in args), current, options, self)
        return b.lower(call, *values)  # type: ignore[no-any-return]

    def options(self, b: Builtin, with_: ast.Expr | None, subject: Value, frame: dict[str, Value]) -> Options:
        if with_ is None:
            return Options()
        self.subject.append(subject)
        try:
            opt = self.expr(with_, b.option_type, frame)
        finally:
            self.subject.pop()
        assert isinstance(opt, Options)
        return opt

    def expr(self, expr: ast.Expr, t: Type, frame: dict[str, Value]) -> Value:
        match expr:
            case ast.StringLit():
                return self.string(expr, frame)
            case ast.IntLit() | ast.BoolLit():
                return expr.value
            case ast.FuncLit():
                lit_type = self.checked.literal_type(expr)
                return self.block(expr.body, lit_type, zero_value(lit_type), frame)
            case ast.CallExpr():
                return self.call(expr, expr.args, None, zero_value(t), frame)

    def string(self, lit: ast.StringLit, frame: dict[str, Value]) -> str:
        out: list[str] = []
        for part in lit.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            assert part.expr is not None
            v = self.expr(part.expr, STRING, frame)
            out.append(("true" if v else "false") if isinstance(v, bool) else str(v))
        return lit.finish("".join(out))


def _range(span: Span) -> Range:
    b, f = span.begin, span.finish
    return Range(Position(b.line, b.column), Position(f.line, f.column))
