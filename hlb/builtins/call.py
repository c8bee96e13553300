"""What a builtin's lowering receives: the call site, the current value and its options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn, Protocol, TypeVar

from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.llb import Constraints, Platform, SourceLocation
from hlb.llb.reference import Reference
from hlb.llb.reference import parse as parse_ref
from hlb.resolver import FrontendRunner, ImageResolver, LocalRuns, ManifestResolver, Presence
from hlb.source import Span
from hlb.values import Attachment, Effect, FsValue, Notice, Options, Value


@dataclass(frozen=True, slots=True)
class Flag:
    """The value of an option without arguments (`readonly`, `unpack`...): it is given or not."""

    option: str  # its type and name: "option::copy unpack"

    def given(self, options: Options) -> bool:
        return self in options.items


@dataclass(frozen=True, slots=True)
class Patterns:
    """An `includePatterns` (``include``) or `excludePatterns` (``exclude``) option."""

    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None


def patterns_of(options: Options, *, last: bool = False) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The (include, exclude) patterns of ``options``: every option's in order, or (``last``) the last option's."""
    given = options.of(Patterns)
    include = [o.include for o in given if o.include is not None]
    exclude = [o.exclude for o in given if o.exclude is not None]
    if last:
        return (include[-1] if include else ()), (exclude[-1] if exclude else ())
    return tuple(p for ps in include for p in ps), tuple(p for ps in exclude for p in ps)


S = TypeVar("S")


class CompileError(Exception):
    """A user mistake found while lowering (bad image ref, bad mode...); ``more`` are further ones."""

    def __init__(self, diagnostic: Diagnostic, *more: Diagnostic) -> None:
        super().__init__(str(diagnostic))
        self.diagnostic = diagnostic
        self.diagnostics = [diagnostic, *more]


class CompileContext(Protocol):
    """The compiler services a lowering may use."""

    @property
    def platform(self) -> Platform: ...

    @property
    def resolver(self) -> ImageResolver | None:
        """Resolves image configs through the daemon; None when compiling without one."""
        ...

    @property
    def manifests(self) -> ManifestResolver | None:
        """Fetches image manifests from registries; None when compiling without registry access."""
        ...

    @property
    def frontends(self) -> FrontendRunner | None:
        """Runs frontends on the daemon while compiling; None when compiling without one."""
        ...

    @property
    def local_run(self) -> bool:
        """Whether `localRun` may run commands (false with `--no-local-run`, and for `hlb lint`)."""
        ...

    @property
    def local_runs(self) -> LocalRuns | None:
        """The `localRun` outputs shared with the other compiles of this build (its other platforms), or None."""
        ...

    def locations(self, span: Span) -> tuple[SourceLocation, ...]:
        """Source locations for an op created at ``span`` (plus the calls that led there)."""
        ...

    def attach(self, item: Attachment) -> None:
        """Record something the daemon will ask the client for (a local dir, a secret, an SSH agent).

        The solve plan gives each solve the attachments its own graph refers to.
        """
        ...

    def module_dir(self, span: Span) -> str:
        """The absolute directory of the module containing ``span`` (relative local paths join it)."""
        ...

    def notice(self, notice: Notice) -> None:
        """Tell the user something about one step (``hlb run --tree`` and the run summary show it)."""
        ...

    def image_presence(self, ref: str, platform: Platform) -> Presence:
        """Whether the image ``ref`` (normalised, with a tag) exists (:func:`hlb.resolver.presence`), asked once."""
        ...

    def push_now(self, effect: Effect) -> str:
        """Run the push ``effect`` while compiling and return the pushed digest (for `as digest`).

        Raises :class:`CompileError` when compiling without a daemon, and
        :class:`hlb.resolver.EffectFailed` when the push failed (already reported).
        """
        ...


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    span: Span  # the whole call
    arg_spans: tuple[Span, ...]
    current: Value
    options: Options
    ctx: CompileContext
    binds: frozenset[str] = frozenset()  # the effects whose bind is being evaluated (`target`, `digest`...)
    declared: frozenset[str] = frozenset()  # the effects this call binds with `as` in the source, bound now or not

    @property
    def fs(self) -> FsValue:
        """The current value as an fs (the zero value when the block has none yet)."""
        return self.current if isinstance(self.current, FsValue) else FsValue.scratch()

    @property
    def module_dir(self) -> str:
        """The absolute directory of the module that wrote this call."""
        return self.ctx.module_dir(self.span)

    def arg_span(self, i: int) -> Span:
        return self.arg_spans[i] if i < len(self.arg_spans) else self.span

    def fail(self, diagnostic: Diagnostic) -> NoReturn:
        raise CompileError(diagnostic)

    def host_text(self, value: str, arg: int, what: str = "a path of this machine") -> str:
        """``value`` for the machine running hlb (a path, a command): a string may hold a NUL
        character, the operating system takes none, so one is a diagnostic at the argument."""
        if "\0" in value:
            self.fail(
                cat.invalid_value(
                    self.arg_span(arg),
                    f"{what} cannot contain a NUL character",
                    hint="hlb strings may hold NUL characters; paths and commands of this machine cannot",
                )
            )
        return value

    def needs(self, service: S | None, span: Span, message: str, hint: str) -> S:
        """``service`` (the daemon's image resolver, a registry client...), or a diagnostic at ``span``
        when compiling without it."""
        if service is None:
            self.fail(cat.invalid_value(span, message, hint=hint))
        return service

    def constraints(self, name: str | None = None) -> Constraints:
        c = Constraints(locations=self.ctx.locations(self.span))
        return c.with_name(name) if name else c


def image_ref(call: Call, ref: str, arg: int = 0) -> Reference:
    """``ref`` normalised as Docker does; a malformed one is a diagnostic at argument ``arg``."""
    try:
        return parse_ref(ref)
    except ValueError as e:
        call.fail(cat.invalid_image_ref(call.arg_span(arg), ref, str(e)))


def platform_args(call: Call, os_: str, arch: str) -> Platform:
    """The platform of a `platform("linux", "arm64")` option; a malformed part is a diagnostic at it."""
    for i, part in enumerate((os_, arch)):
        if not part.strip() or "/" in part:  # blank: Platform.parse strips it to nothing
            what = "an operating system" if i == 0 else "an architecture"
            call.fail(
                cat.invalid_value(
                    call.arg_span(i), f"`{part}` is not {what}", hint='for example: platform("linux", "arm64")'
                )
            )
    return Platform.parse(f"{os_}/{arch}")


MAX_ID = 2**32 - 1  # uid and gid of mounts are uint32 in the LLB
MAX_PERMISSIONS = 0o7777


def owner_id(call: Call, id: int) -> int:
    """The `uid`/`gid` option's id; one the LLB cannot carry is a diagnostic at it."""
    if not 0 <= id <= MAX_ID:
        call.fail(cat.invalid_value(call.arg_span(0), f"the id {id} is out of range", hint=f"ids are 0 to {MAX_ID}"))
    return id


def permissions(call: Call, filemode: int, example: str = "0o600") -> int:
    """The `mode` option's permission bits; more than 0o7777 is a diagnostic at it."""
    if not 0 <= filemode <= MAX_PERMISSIONS:
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                f"file mode {filemode:#o} is out of range",
                hint=f"permission bits are between 0o0 and 0o7777, for example {example}",
            )
        )
    return filemode
