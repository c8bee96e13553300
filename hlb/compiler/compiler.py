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

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hlb.builtins.call import Call, CompileError
from hlb.builtins.spec import Builtin
from hlb.checker import CheckedModule, ModuleLoader, check_module
from hlb.checker.check import LOCAL_SCHEMES, Bind, Callee, Import, declared
from hlb.compiler.target_args import ArgValue, Bound, TargetDecl, bind_arguments, display_name
from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.diagnostics.suggest import closest
from hlb.llb import Constraints, Definition, Platform, Position, Range, SourceLocation, SourceMap, State
from hlb.llb.source import git as git_source
from hlb.resolver import ImageResolver, ManifestResolver, ModuleReader, Presence, ResolveError, presence
from hlb.source import SourceFile, Span
from hlb.syntax import ast, parse_module
from hlb.types import FS, STRING, Kind, Type
from hlb.values import (
    Attachment,
    Effect,
    FsValue,
    LocalDir,
    Notice,
    Options,
    Pipeline,
    Request,
    SecretFile,
    Single,
    SSHSocket,
    Value,
)

# How many calls may be evaluated one inside another (a function calling a function, a call in
# the arguments, options or block literal of another): each takes a few Python frames.
MAX_CALL_DEPTH = 100

# Runs a push while compiling (`dockerPush ... as digest`): its effect and the attachments known so far -> its digest.
Pusher = Callable[[Effect, Mapping[str, Attachment]], str]


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
    target_spans: Mapping[str, Span] | None = None,
    resolver: ImageResolver | None = None,
    manifests: ManifestResolver | None = None,
    push: Pusher | None = None,
    args: Mapping[str, ArgValue] | None = None,
    arg_spans: Mapping[str, Span] | None = None,
    observe: Callable[[Span, object], None] | None = None,
    local_run: bool = True,
) -> CompileResult:
    """Compile each named target; ``target_spans`` locate the names on the command line.

    ``args`` give the targets' parameters (``NAME`` or ``TARGET.NAME`` -> value,
    see :mod:`hlb.compiler.target_args`); ``arg_spans`` locate each ``NAME=VALUE``.
    ``push`` runs a push while compiling and returns its digest (for
    `dockerPush ... as digest`): it gets the push's effect and the attachments
    known so far, and the caller builds the solve; without it such binds are
    diagnostics.
    ``observe`` is called with the span and the value of every option item a
    builtin option call lowers to (``hlb lint`` locates cache mounts with it).
    With ``local_run`` false a `localRun` is a diagnostic instead of a command run here.
    """
    result = CompileResult()
    compiler = _Compiler(checked, platform, resolver, manifests, push, observe, local_run)
    found: list[TargetDecl] = []
    for name in names:
        try:
            found.append(compiler.find_target(name, (target_spans or {}).get(name)))
        except CompileError as e:
            result.diagnostics.extend(e.diagnostics)
    bound, errors = bind_arguments(found, args or {}, arg_spans, requested=names)
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


class _Compiler:
    def __init__(
        self,
        checked: CheckedModule,
        platform: Platform,
        resolver: ImageResolver | None = None,
        manifests: ManifestResolver | None = None,
        push: Pusher | None = None,
        observe: Callable[[Span, object], None] | None = None,
        local_run: bool = True,
    ) -> None:
        self.checked = checked
        self._local_run = local_run
        self._observe = observe
        self.platform = platform
        self._resolver = resolver
        self._manifests = manifests
        self._push = push
        self.attachments: dict[str, Attachment] = {}  # by kind and id (local name, secret id, ssh id)
        self._maps: dict[str, SourceMap] = {}
        self.stack: list[Span] = []  # call sites of the user functions being evaluated
        self.subject: list[Value] = [FsValue.scratch()]  # what the options being evaluated apply to
        self.active: dict[int, frozenset[str]] = {}  # id(bound call) -> the effects bound there
        self.bound_type: Type | None = None  # the type of the bind being evaluated
        self.calling: Span | None = None  # the builtin call being lowered
        self.fetched: dict[int, CheckedModule] = {}  # id(import) -> the module fetched for it
        self.notices: dict[Notice, None] = {}  # in the order given, each once
        self._presence: dict[tuple[str, Platform], Presence] = {}
        self._declared: dict[int, dict[int, frozenset[str]]] = {}  # id(module) -> id(call) -> effects bound there
        self.depth = 0  # calls being evaluated, each inside the one before

    # -- CompileContext ----------------------------------------------------------------

    @property
    def resolver(self) -> ImageResolver | None:
        return self._resolver

    @property
    def manifests(self) -> ManifestResolver | None:
        return self._manifests

    @property
    def local_run(self) -> bool:
        return self._local_run

    def attach(self, item: Attachment) -> None:
        key = f"{type(item).__name__}:{item.name if isinstance(item, LocalDir) else item.id}"
        known = self.attachments.setdefault(key, item)
        if known != item:
            # One id naming two different things would serve one of them for both.
            raise CompileError(
                cat.invalid_value(
                    self.calling or Span(self.checked.module.file, 0, 0),
                    f"{_describe(item)} gets the same id as {_describe(known)}",
                    hint="ids come from the path as written in each module; "
                    "write one of the two paths differently (e.g. `./sub/token` instead of `./token`)",
                )
            )

    def notice(self, notice: Notice) -> None:
        self.notices.setdefault(notice)

    def image_presence(self, ref: str, platform: Platform) -> Presence:
        key = (ref, platform)
        if key not in self._presence:
            self._presence[key] = presence(ref, platform, self._manifests, self._resolver)
        return self._presence[key]

    def declared_binds(self, module: CheckedModule, node: ast.CallStmt | ast.CallExpr) -> frozenset[str]:
        """The effects ``node`` binds with ``as`` in its module's source."""
        calls = self._declared.get(id(module))
        if calls is None:
            calls = self._declared[id(module)] = {}
            for b in module.binds.values():
                calls[id(b.call)] = calls.get(id(b.call), frozenset()) | {b.effect}
        return calls.get(id(node), frozenset())

    def push_now(self, effect: Effect) -> str:
        where = self.calling or effect.span
        if self._push is None:
            raise CompileError(
                cat.unsupported(
                    where,
                    "binding the digest of a push (`as digest`) without a daemon",
                    "`hlb run` pushes while it compiles to learn the digest; `hlb run --tree` and `hlb compile` "
                    "do not build",
                )
            )
        return self._push(effect, dict(self.attachments))

    def module_dir(self, span: Span) -> str:
        name = span.file.name
        if name in ("-", "<stdin>"):
            return os.getcwd()
        return os.path.dirname(os.path.abspath(name))

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
        key = id(bind.call)
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
            b = callee.builtin
            assert b is not None
            bargs = self.builtin_args(b, args, frame)
            binds = self.active.get(id(node), frozenset())
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
        """``mod.name`` where ``mod`` is fetched while compiling: the function or bind it names, checked."""
        assert ident.selector is not None
        imp = frame.module.imports[ident.name.name]
        other = self.fetched.get(id(imp))
        if other is None:
            other = self.fetched[id(imp)] = self.fetch_module(imp, frame)
        member = ident.selector.name
        exported = member in other.exports or not other.exports
        func = other.funcs.get(member)
        bind = other.binds.get(member)
        if not exported or (func is None and bind is None):
            names = sorted(other.exports or other.funcs)
            raise CompileError(
                cat.undefined_in_module(ident.selector.span, member, imp.decl.name.span, closest(member, names))
            )
        return Callee(func=func, module=other) if func is not None else Callee(bind=bind, module=other)

    def fetch_module(self, imp: Import, frame: _Frame) -> CheckedModule:
        decl = imp.decl
        expr = decl.expr
        value = self.expr(expr, FS if isinstance(expr, ast.FuncLit) else STRING, _Frame(frame.module, {}))
        path = "module.hlb"
        if isinstance(value, str):
            remote = git_module(value)
            if remote is None:
                return self.load_path(decl, value, frame.module)
            url, ref, path = remote
            if url.startswith("ssh://"):
                raise CompileError(
                    cat.unsupported(
                        expr.span,
                        "importing a module over ssh",
                        "use a git:// or git+https:// URI, or `import lib from fs { git ...; }`",
                    )
                )
            op = git_source(url, ref, constraints=Constraints(locations=self.locations(expr.span)))
            value = FsValue(State(op.output()))
        assert isinstance(value, FsValue)
        reader = self._resolver
        if not isinstance(reader, ModuleReader):
            raise CompileError(
                cat.unsupported(
                    expr.span,
                    "importing a module from an fs without a daemon",
                    f"`hlb run` builds the fs and reads its {path} while compiling",
                )
            )
        definition = value.state.marshal(value.state.platform or self.platform)
        try:
            data = reader.read_file(definition, path)
        except ResolveError as e:
            raise CompileError(cat.import_fetch_failed(expr.span, decl.name.name, str(e), path)) from None
        source = SourceFile.from_bytes(f"<import {decl.name.name}>/{path}", data)
        return self.check_fetched(source)

    def load_path(self, decl: ast.ImportDecl, uri: str, importer: CheckedModule) -> CheckedModule:
        scheme = uri.split("://", 1)[0] if "://" in uri else ""
        if scheme not in LOCAL_SCHEMES:
            raise CompileError(
                cat.unsupported(decl.expr.span, f"importing a module from a `{scheme}://` URI", "import it from an fs")
            )
        path = uri.split("://", 1)[1] if scheme else uri
        full = os.path.join(self.module_dir(importer.module.span), os.path.expanduser(path))
        try:
            source = SourceFile.read(full, os.path.relpath(full))
        except OSError as e:
            raise CompileError(cat.import_not_found(decl.expr.span, path, e)) from None
        except UnicodeError:
            raise CompileError(cat.import_not_found(decl.expr.span, path)) from None
        return self.check_fetched(source)

    def check_fetched(self, source: SourceFile) -> CheckedModule:
        parsed = parse_module(source)
        errors = [d for d in parsed.diagnostics if d.is_error]
        if parsed.module is not None and not errors:
            result = check_module(parsed.module, ModuleLoader())
            errors = [d for d in result.diagnostics if d.is_error]
            if not errors:
                return result.checked
        raise CompileError(*errors)

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
        match expr:
            case ast.StringLit():
                return self.string(expr, frame)
            case ast.IntLit() | ast.BoolLit():
                return expr.value
            case ast.FuncLit():
                lit_type = frame.module.literal_type(expr)
                return self.block(expr.body, lit_type, zero_value(lit_type), frame)
            case ast.CallExpr():
                # A call starts from the zero value of what it returns (an fs function passed
                # as a `pipeline` argument still starts from scratch).
                callee = frame.module.callee(expr)
                start = t if callee.noop or callee.unresolved is not None else callee.type
                return self.call(expr, expr.args, None, zero_value(start), frame)

    def string(self, lit: ast.StringLit, frame: _Frame) -> str:
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


GIT_MODULE_SCHEMES = {"git": "git://", "git+https": "https://", "git+ssh": "ssh://"}


def git_module(uri: str) -> tuple[str, str, str] | None:
    """(remote, ref, file) of a `git://host/path[@ref][:file]` module URI (file defaults to build.hlb); else None.

    `git://` keeps the git protocol, `git+https://` fetches over https, `git+ssh://` over ssh.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in GIT_MODULE_SCHEMES:
        return None
    host, _, path = rest.partition("/")
    file = "build.hlb"
    if ":" in path:
        path, file = path.rsplit(":", 1)
    ref = ""
    if "@" in path:
        path, ref = path.rsplit("@", 1)
    return f"{GIT_MODULE_SCHEMES[scheme]}{host}/{path}", ref, file.lstrip("/") or "build.hlb"


def _describe(a: Attachment) -> str:
    match a:
        case LocalDir():
            return f"the local directory `{a.path}`"
        case SecretFile():
            return f"the secret `{a.path}`"
        case SSHSocket():
            return f"the socket `{', '.join(a.paths) or '$SSH_AUTH_SOCK'}`"


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
