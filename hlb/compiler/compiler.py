"""Evaluate checked HLB into values: LLB states, strings, options and pipelines.

A block starts from the caller's current value and applies each statement in
turn: sources replace the value, transforms change it, option builtins append
to it, and a user function call continues from it (its body starts with the
caller's value). Every op records where it came from: the call that created it,
then each enclosing call up to the target (innermost first), so a daemon error
points at the line that wrote the failing step.

Side solves (``dockerPush``, ``download*``, ``cacheContext``) are carried on
the ``fs`` values as effects; a value built from others (a source replacing the
current value, a ``copy`` of another fs, a mount) keeps the effects of all of
them. :mod:`hlb.compiler.plan` turns a target's value into the solves to run.

Binds (``as name``) are evaluated as openllb/hlb does: calling ``name``
re-evaluates the function that contains the bound call with that binding
active, and the bound builtin returns its side output (a mount's filesystem
after the run, a pushed digest) instead of its usual result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hlb.builtins.call import Call, CompileError
from hlb.builtins.registry import declaration
from hlb.builtins.spec import Builtin
from hlb.checker.check import Bind, Callee, CheckedModule, declared
from hlb.compiler.attachments import record
from hlb.compiler.modules import FetchedModules
from hlb.compiler.target_args import Bound, Requested, TargetDecl, bind_arguments, display_name
from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.diagnostics.suggest import closest
from hlb.llb import Definition, Platform, Position, Range, SourceLocation, SourceMap
from hlb.resolver import FrontendRunner, ImageResolver, LocalRuns, ManifestResolver, Presence, Services, presence
from hlb.source import SourceFile, Span, module_dir
from hlb.syntax import ast
from hlb.syntax.visitor import NodeVisitor
from hlb.types import FS, STRING, Kind, Type
from hlb.values import (
    Attachment,
    Effect,
    FsValue,
    Notice,
    Options,
    Pipeline,
    Request,
    Single,
    Value,
)

# How many calls may be evaluated one inside another (a function calling a function, a call in
# the arguments, options or block literal of another): each takes a few Python frames.
MAX_CALL_DEPTH = 100


@dataclass
class CompiledTarget:
    name: str
    span: Span  # the target function's name
    value: Value  # an FsValue, a Pipeline, or a scalar evaluated for its side solves
    request: Request | None  # what building the target solves (None: nothing)
    platform: Platform
    args: dict[str, Bound] = field(default_factory=dict)  # its parameters' values, from the command line

    @property
    def fs(self) -> FsValue | None:
        return self.value if isinstance(self.value, FsValue) else None

    @property
    def definition(self) -> Definition:
        """The LLB of an ``fs`` target's result (empty for other targets)."""
        fs = self.fs
        return fs.state.marshal(self.platform) if fs is not None else Definition()


@dataclass
class CompileResult:
    targets: list[CompiledTarget] = field(default_factory=list)
    attachments: dict[str, Attachment] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)  # about steps of the targets (see Notice)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def compile_targets(
    checked: CheckedModule,
    names: Sequence[str],
    platform: Platform,
    *,
    services: Services | None = None,
    resolver: ImageResolver | None = None,
    requested: Requested | None = None,
    observe: Callable[[Span, object], None] | None = None,
    local_run: bool = True,
) -> CompileResult:
    """Compile each named target.

    ``services`` are what compiling may ask of a daemon and the registries (none: a diagnostic where a
    program needs one); ``resolver`` alone stands for ``Services.of(resolver, None)``. ``requested``
    gives the targets' parameters and where the command line wrote them
    (:class:`~hlb.compiler.target_args.Requested`). A push run while compiling (for
    `dockerPush ... as digest`) gets its effect and the attachments known so far; without
    ``services.push`` such binds are diagnostics. ``observe`` is called with the span and the value of
    every option item a builtin option call lowers to (``hlb lint`` locates cache mounts with it).
    With ``local_run`` false a `localRun` is a diagnostic instead of a command run here.
    """
    if services is None:
        services = Services.of(resolver, None)
    requested = requested or Requested()
    result = CompileResult()
    compiler = _Compiler(checked, platform, services, observe, local_run)
    found: list[TargetDecl] = []
    for name in names:
        try:
            found.append(compiler.find_target(name, requested.target_spans.get(name)))
        except CompileError as e:
            result.diagnostics.extend(e.diagnostics)
    bound, errors = bind_arguments(found, requested.args, requested.arg_spans, requested=names)
    result.diagnostics.extend(errors)
    for t in found:
        if t.name not in bound:
            continue
        try:
            result.targets.append(compiler.target(t, bound[t.name]))
        except CompileError as e:
            result.diagnostics.extend(e.diagnostics)
    result.attachments = compiler.attachments
    result.notices = list(compiler.notices)
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
        case Kind.PIPELINE:
            return Pipeline()


@dataclass(frozen=True, slots=True)
class _Variadic:
    """The arguments passed to a ``variadic`` parameter, spread where the parameter is used."""

    items: tuple[Value, ...]


_FrameValue = Value | _Variadic


@dataclass
class _Frame:
    module: CheckedModule  # the module whose function is being evaluated
    values: dict[str, _FrameValue]


class _BindResult(Exception):
    """Unwinds a bind's enclosing function once a bound call of another type produced its side output."""

    def __init__(self, value: Value) -> None:
        self.value = value


class _Compiler(NodeVisitor[Value]):
    def __init__(
        self,
        checked: CheckedModule,
        platform: Platform,
        services: Services,
        observe: Callable[[Span, object], None] | None = None,
        local_run: bool = True,
    ) -> None:
        self.checked = checked
        self._local_run = local_run
        self._observe = observe
        self.platform = platform
        self.services = services
        self.modules = FetchedModules(services.modules, platform)
        self.attachments: dict[str, Attachment] = {}  # by kind and id (local name, secret id, ssh id)
        self._maps: dict[str, SourceMap] = {}
        self.stack: list[Span] = []  # call sites of the user functions being evaluated
        self.subject: list[Value] = [FsValue.scratch()]  # what the options being evaluated apply to
        # Calls are told apart by their spans: no two calls of one file share an extent (the parser may share one
        # Span between a call and the expression or statement that is only that call, never between two calls).
        self.active: dict[Span, frozenset[str]] = {}  # a bound call (by its span) -> the effects bound there
        self.bound_type: Type | None = None  # the type of the bind being evaluated
        self.calling: Span | None = None  # the builtin call being lowered
        self.notices: dict[Notice, None] = {}  # in the order given, each once
        self._presence: dict[tuple[str, Platform], Presence] = {}
        self._declared: dict[Span, frozenset[str]] = {}  # a call (by its span) -> the effects bound there
        self._declared_in: set[SourceFile] = set()  # the modules whose binds _declared has
        self.depth = 0  # calls being evaluated, each inside the one before

    # -- CompileContext ----------------------------------------------------------------

    @property
    def resolver(self) -> ImageResolver | None:
        return self.services.images

    @property
    def manifests(self) -> ManifestResolver | None:
        return self.services.manifests

    @property
    def frontends(self) -> FrontendRunner | None:
        return self.services.frontends

    @property
    def local_run(self) -> bool:
        return self._local_run

    @property
    def local_runs(self) -> LocalRuns | None:
        return self.services.local_runs

    def attach(self, item: Attachment) -> None:
        record(self.attachments, item, self.calling or Span(self.checked.module.file, 0, 0))

    def notice(self, notice: Notice) -> None:
        self.notices.setdefault(notice)

    def image_presence(self, ref: str, platform: Platform) -> Presence:
        key = (ref, platform)
        if key not in self._presence:
            svc = self.services
            self._presence[key] = presence(ref, platform, svc.tags, svc.images, svc.probe)
        return self._presence[key]

    def declared_binds(self, module: CheckedModule, node: ast.CallStmt | ast.CallExpr) -> frozenset[str]:
        """The effects ``node`` binds with ``as`` in its module's source."""
        if module.module.file not in self._declared_in:
            self._declared_in.add(module.module.file)
            for b in module.binds.values():
                self._declared[b.call.span] = self._declared.get(b.call.span, frozenset()) | {b.effect}
        return self._declared.get(node.span, frozenset())

    def push_now(self, effect: Effect) -> str:
        where = self.calling or effect.span
        if self.services.push is None:
            raise CompileError(
                cat.unsupported(
                    where,
                    "binding the digest of a push (`as digest`) without a daemon",
                    "`hlb run` pushes while it compiles to learn the digest; `hlb run --tree` and `hlb compile` "
                    "do not build",
                )
            )
        return self.services.push(effect, dict(self.attachments))

    def module_dir(self, span: Span) -> str:
        return module_dir(span.file)

    def locations(self, span: Span) -> tuple[SourceLocation, ...]:
        spans = [span, *reversed(self.stack)]
        return tuple(SourceLocation(self._map(s.file), (_range(s),)) for s in spans)

    def _map(self, file: SourceFile) -> SourceMap:
        sm = self._maps.get(file.name)
        if sm is None:
            sm = self._maps[file.name] = SourceMap(file.name, file.data, "HLB")
        return sm

    # -- targets -------------------------------------------------------------------------

    def find_target(self, name: str, cli_span: Span | None) -> TargetDecl:
        """The function or bind ``name`` of the module, if it can be a target."""
        module = self.checked
        file = module.module.file
        where = cli_span or Span(file, 0, 0)
        decl = module.funcs.get(name)
        bind = module.binds.get(name) if decl is None else None
        if decl is None and bind is None:
            raise CompileError(cat.target_not_found(where, name, file.name, closest(name, module.symbols())))
        func = decl if decl is not None else bind.func  # type: ignore[union-attr]
        t = declared(decl.type) if decl is not None else bind.type  # type: ignore[union-attr]
        assert t is not None
        anchor = decl.name.span if decl is not None else bind.name.span  # type: ignore[union-attr]
        if t.kind not in (Kind.FS, Kind.PIPELINE):
            raise CompileError(cat.invalid_target(anchor, f"target `{name}` is a {t}, not an fs or a pipeline"))
        return TargetDecl(name, cli_span or anchor, anchor, func, t, bind)

    def target(self, target: TargetDecl, values: Mapping[str, Bound]) -> CompiledTarget:
        """Evaluate a found target with its parameters bound to ``values``."""
        module, t, anchor = self.checked, target.type, target.anchor
        args: list[_FrameValue] = [values[p.name.name] for p in target.params]
        if target.bind is not None:
            value = self.call_bind(target.bind, module, args, zero_value(t), anchor)
        else:
            value = self.call_func(target.func, module, args, zero_value(t), anchor)
        shown = display_name(target.name, target.func, values)
        return CompiledTarget(target.name, anchor, value, _request(value, shown, anchor), self.platform, dict(values))

    # -- evaluation ----------------------------------------------------------------------

    def call_func(
        self, decl: ast.FuncDecl, module: CheckedModule, args: list[_FrameValue], current: Value, site: Span
    ) -> Value:
        if decl.body is None:
            return current
        frame = _Frame(module, {p.name.name: v for p, v in zip(decl.params, args, strict=True)})
        self.stack.append(site)
        try:
            return self.block(decl.body, declared(decl.type), current, frame)
        finally:
            self.stack.pop()

    def call_bind(
        self, bind: Bind, module: CheckedModule, args: list[_FrameValue], current: Value, site: Span
    ) -> Value:
        """Re-evaluate the bind's function with the binding active; its bound call gives the value."""
        key = bind.call.span
        saved = self.active.get(key), self.bound_type
        self.active[key] = self.active.get(key, frozenset()) | {bind.effect}
        self.bound_type = bind.type
        try:
            return self.call_func(bind.func, module, args, current, site)
        except _BindResult as r:
            return r.value
        finally:
            if saved[0] is None:
                self.active.pop(key, None)
            else:
                self.active[key] = saved[0]
            self.bound_type = saved[1]

    def block(self, block: ast.Block, t: Type, current: Value, frame: _Frame) -> Value:
        for stmt in block.stmts:
            current = self.visit(stmt, t, current, frame)
        return current

    def visit_ExprStmt(self, stmt: ast.ExprStmt, t: Type, current: Value, frame: _Frame) -> Value:
        return self.expr(stmt.expr, t, frame)

    def visit_CallStmt(self, stmt: ast.CallStmt, t: Type, current: Value, frame: _Frame) -> Value:
        return self.call(stmt, stmt.args, stmt.with_, current, frame)

    def call(
        self,
        node: ast.CallStmt | ast.CallExpr,
        args: Sequence[ast.Expr],
        with_: ast.Expr | None,
        current: Value,
        frame: _Frame,
    ) -> Value:
        if self.depth >= MAX_CALL_DEPTH:
            raise CompileError(
                cat.too_deep(
                    node.func.span,
                    "calls",
                    MAX_CALL_DEPTH,
                    hint="a call inside the arguments, options or body of another nests; "
                    "build the inner parts in functions called one after another",
                )
            )
        self.depth += 1
        try:
            callee = frame.module.callee(node)
            if callee.noop:
                return current
            if callee.unresolved is not None:
                callee = self.fetched_callee(callee.unresolved, frame)
            if callee.param is not None:
                value = frame.values[callee.param.name.name]
                if isinstance(value, _Variadic):
                    if isinstance(current, Options):
                        return current + _concat_options(value.items)
                    return value.items[-1] if value.items else current
                if isinstance(current, Options) and isinstance(value, Options):
                    return current + value
                return _carry(current, value)
            module = callee.module or frame.module
            if callee.func is not None or callee.bind is not None:
                func = callee.func if callee.func is not None else callee.bind.func  # type: ignore[union-attr]
                values: list[_FrameValue] = self.user_args(func, args, frame)
                if callee.bind is not None:
                    return _carry(current, self.call_bind(callee.bind, module, values, current, node.span))
                return self.call_func(func, module, values, current, node.span)
            assert callee.builtin is not None
            b = declaration(callee.builtin)  # the checker resolved the call to a signature
            bargs = self.builtin_args(b, args, frame)
            binds = self.active.get(node.span, frozenset())
            declared = self.declared_binds(frame.module, node)
            if b.type.is_option:
                # An option's lowering sees the value its call applies to (the fs a `run` starts from).
                options = self.options(b, with_, self.subject[-1], frame)
                call = Call(
                    b.name, node.span, tuple(a.span for a in args), self.subject[-1], options, self, binds, declared
                )
                self.calling = node.span
                base = current if isinstance(current, Options) else Options()
                item = b.lower(call, *bargs)
                if self._observe is not None:
                    self._observe(node.span, item)
                return base.append(item)
            options = self.options(b, with_, current, frame)
            call = Call(b.name, node.span, tuple(a.span for a in args), current, options, self, binds, declared)
            self.calling = node.span
            result: Value = b.lower(call, *bargs)
            result = _carry(current, result, *bargs, *_option_values(options))
            if binds and self.bound_type is not None and self.bound_type != b.type:
                raise _BindResult(result)  # e.g. a pushed digest out of an fs block
            return result
        except RecursionError:
            # Within the limits above Python's stack suffices; this is for what they cannot
            # foresee (a module fetched while compiling, checked deep in the evaluation).
            raise CompileError(cat.too_deep(node.func.span, "calls and blocks", None)) from None
        finally:
            self.depth -= 1

    # -- modules imported from an fs or a computed path ------------------------------------

    def fetched_callee(self, ident: ast.IdentExpr, frame: _Frame) -> Callee:
        """``mod.name`` where ``mod`` is fetched while compiling (see :mod:`hlb.compiler.modules`)."""
        imp = frame.module.imports[ident.name.name]
        expr = imp.decl.expr

        def value() -> Value:
            return self.expr(expr, FS if isinstance(expr, ast.FuncLit) else STRING, _Frame(frame.module, {}))

        return self.modules.callee(imp, ident, frame.module, value, self.locations)

    def user_args(self, func: ast.FuncDecl, args: Sequence[ast.Expr], frame: _Frame) -> list[_FrameValue]:
        values: list[_FrameValue] = []
        for i, p in enumerate(func.params):
            t = declared(p.type)
            if p.variadic:
                values.append(_Variadic(tuple(self.spread(args[i:], t, frame))))
                break
            values.append(self.expr(args[i], t, frame))
        return values

    def builtin_args(self, b: Builtin, args: Sequence[ast.Expr], frame: _Frame) -> list[Value]:
        values: list[Value] = []
        for i, a in enumerate(args):
            p = b.params[min(i, len(b.params) - 1)]
            if p.variadic:
                values.extend(self.spread([a], p.type, frame))
            else:
                values.append(self.expr(a, p.type, frame))
        return values

    def spread(self, args: Sequence[ast.Expr], t: Type, frame: _Frame) -> list[Value]:
        """Values for a variadic parameter: a variadic parameter passed on is spread into them."""
        out: list[Value] = []
        for a in args:
            if isinstance(a, ast.CallExpr) and not a.args:
                callee = frame.module.callee(a)
                if callee.param is not None:
                    v = frame.values[callee.param.name.name]
                    if isinstance(v, _Variadic):
                        out.extend(v.items)
                        continue
            out.append(self.expr(a, t, frame))
        return out

    def options(self, b: Builtin, with_: ast.Expr | None, subject: Value, frame: _Frame) -> Options:
        if with_ is None or (isinstance(with_, ast.FuncLit) and not with_.body.stmts):
            return Options()  # `with option {}` is accepted on any call, even one without options
        self.subject.append(subject)
        try:
            opt = self.expr(with_, b.option_type, frame)
        finally:
            self.subject.pop()
        assert isinstance(opt, Options)
        return opt

    def expr(self, expr: ast.Expr, t: Type, frame: _Frame) -> Value:
        return self.visit(expr, t, frame)

    def visit_IntLit(self, expr: ast.IntLit | ast.BoolLit, t: Type, frame: _Frame) -> Value:
        return expr.value

    visit_BoolLit = visit_IntLit

    def visit_FuncLit(self, expr: ast.FuncLit, t: Type, frame: _Frame) -> Value:
        lit_type = frame.module.literal_type(expr)
        return self.block(expr.body, lit_type, zero_value(lit_type), frame)

    def visit_CallExpr(self, expr: ast.CallExpr, t: Type, frame: _Frame) -> Value:
        # A call starts from the zero value of what it returns (an fs function passed
        # as a `pipeline` argument still starts from scratch).
        callee = frame.module.callee(expr)
        start = t if callee.noop or callee.unresolved is not None else callee.type
        return self.call(expr, expr.args, None, zero_value(start), frame)

    def visit_StringLit(self, lit: ast.StringLit, t: Type, frame: _Frame) -> str:
        out: list[str] = []
        for part in lit.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            assert part.expr is not None
            v = self.expr(part.expr, STRING, frame)
            out.append(("true" if v else "false") if isinstance(v, bool) else str(v))
        return lit.finish("".join(out))


def _carry(current: Value, result: Value, *inputs: object) -> Value:
    """``result`` keeping the side solves of the value it replaces and of the fs values it was built from."""
    if not isinstance(result, FsValue):
        return result
    effects: list[Effect] = []
    for v in (current, *inputs):
        if isinstance(v, FsValue):
            effects.extend(v.effects)
    if not effects:
        return result
    own = result.effects
    return FsValue(result.state, result.image).with_effects(*effects, *own)


def _option_values(options: Options) -> list[object]:
    """The fs values an option block carried along (mount inputs keep their side solves)."""
    out: list[object] = []
    for item in options.items:
        fs = getattr(item, "fs", None)
        if isinstance(fs, FsValue):
            out.append(fs)
    return out


def _concat_options(items: Sequence[Value]) -> Options:
    out = Options()
    for v in items:
        if isinstance(v, Options):
            out = out + v
    return out


def _request(value: Value, name: str, span: Span) -> Request | None:
    if isinstance(value, FsValue):
        return Single(value, name, span)
    if isinstance(value, Pipeline):
        return value.request
    return None


def _range(span: Span) -> Range:
    b, f = span.begin, span.finish
    return Range(Position(b.line, b.column), Position(f.line, f.column))
