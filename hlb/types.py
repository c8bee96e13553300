"""HLB's types: ``fs``, ``string``, ``int``, ``bool``, ``pipeline`` and ``option::X``."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    FS = "fs"
    STRING = "string"
    INT = "int"
    BOOL = "bool"
    PIPELINE = "pipeline"
    OPTION = "option"


@dataclass(frozen=True, slots=True)
class Type:
    kind: Kind
    target: str | None = None  # for options: the builtin the options are for

    def __str__(self) -> str:
        if self.kind is Kind.OPTION and self.target:
            return f"option::{self.target}"
        return self.kind.value

    @property
    def is_option(self) -> bool:
        return self.kind is Kind.OPTION

    @staticmethod
    def option(target: str | None = None) -> Type:
        return Type(Kind.OPTION, target)

    @staticmethod
    def parse(name: str) -> Type | None:
        """The type named by ``name`` as written in source, or None."""
        if name.startswith("option::"):
            target = name[len("option::") :]
            return Type(Kind.OPTION, target) if target and ":" not in target else None
        try:
            return Type(Kind(name))
        except ValueError:
            return None


FS = Type(Kind.FS)
STRING = Type(Kind.STRING)
INT = Type(Kind.INT)
BOOL = Type(Kind.BOOL)
PIPELINE = Type(Kind.PIPELINE)
OPTION = Type(Kind.OPTION)

TYPE_NAMES = ("fs", "string", "int", "bool", "pipeline", "option")


def accepts(expected: Type, actual: Type) -> bool:
    """Whether a value of ``actual`` type may be used where ``expected`` is wanted."""
    if expected == actual:
        return True
    if expected.kind is Kind.PIPELINE:
        # pipeline widens: fs becomes one solve, scalars become no request.
        return actual.kind in (Kind.FS, Kind.STRING, Kind.INT, Kind.BOOL, Kind.PIPELINE)
    if expected.kind is Kind.OPTION and actual.kind is Kind.OPTION:
        # An `option::X` block also accepts plain `option` values and vice versa.
        return expected.target is None or actual.target is None or expected.target == actual.target
    return False


def same_kind(expected: Type, actual: Type) -> bool:
    """Exact match, except that plain `option` matches any `option::X` (no widening)."""
    if expected == actual:
        return True
    if expected.kind is Kind.OPTION and actual.kind is Kind.OPTION:
        return expected.target is None or actual.target is None
    return False
