"""What a builtin's lowering receives: the call site, the current value and its options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn, Protocol

from hlb.diagnostics import Diagnostic
from hlb.llb import Constraints, Platform, SourceLocation
from hlb.source import Span
from hlb.values import FsValue, Options, Value


class CompileError(Exception):
    """A user mistake found while lowering (bad image ref, bad mode...)."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(str(diagnostic))
        self.diagnostic = diagnostic


class CompileContext(Protocol):
    """The compiler services a lowering may use."""

    @property
    def platform(self) -> Platform: ...

    def locations(self, span: Span) -> tuple[SourceLocation, ...]:
        """Source locations for an op created at ``span`` (plus the calls that led there)."""
        ...


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    span: Span  # the whole call
    arg_spans: tuple[Span, ...]
    current: Value
    options: Options
    ctx: CompileContext

    @property
    def fs(self) -> FsValue:
        """The current value as an fs (the zero value when the block has none yet)."""
        return self.current if isinstance(self.current, FsValue) else FsValue.scratch()

    def arg_span(self, i: int) -> Span:
        return self.arg_spans[i] if i < len(self.arg_spans) else self.span

    def fail(self, diagnostic: Diagnostic) -> NoReturn:
        raise CompileError(diagnostic)

    def constraints(self, name: str | None = None) -> Constraints:
        c = Constraints(locations=self.ctx.locations(self.span))
        return c.with_name(name) if name else c
