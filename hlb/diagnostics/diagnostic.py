"""Diagnostics as data: a code, a severity, a message, labelled spans, a hint."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hlb.source import Span


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Code:
    """A diagnostic kind, declared once in :mod:`hlb.diagnostics.catalog`."""

    id: str  # "E0201"
    slug: str  # "undefined-name"
    description: str

    def __str__(self) -> str:
        return self.slug


@dataclass(frozen=True, slots=True)
class Label:
    span: Span
    message: str = ""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: Code
    severity: Severity
    message: str
    primary: Label
    secondary: tuple[Label, ...] = ()
    hint: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def span(self) -> Span:
        return self.primary.span

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def location(self) -> str:
        return str(self.primary.span)

    def __str__(self) -> str:
        return f"{self.location()}: {self.severity.value}: {self.message}"


class HlbError(Exception):
    """Raised at the API boundary when a stage produced error diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
        self.diagnostics = tuple(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        super().__init__(str(first) if first else "hlb error")

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)
