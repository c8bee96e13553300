"""Runtime values of HLB expressions, shared by the compiler and the builtins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from hlb.llb import State

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FsValue:
    """An ``fs``: an LLB state (with its env, working dir, user and platform)."""

    state: State

    @classmethod
    def scratch(cls) -> FsValue:
        return cls(State())


@dataclass(frozen=True, slots=True)
class Options:
    """An ``option::X`` value: the ordered option items of one call."""

    items: tuple[object, ...] = ()

    def __add__(self, other: Options) -> Options:
        return Options(self.items + other.items)

    def append(self, item: object) -> Options:
        return Options(self.items + (item,))

    def of(self, cls: type[T]) -> list[T]:
        return [i for i in self.items if isinstance(i, cls)]

    def last(self, cls: type[T]) -> T | None:
        found = self.of(cls)
        return found[-1] if found else None

    def has(self, cls: type) -> bool:
        return any(isinstance(i, cls) for i in self.items)


Value: TypeAlias = FsValue | str | int | bool | Options
