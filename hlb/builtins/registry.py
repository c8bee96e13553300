"""The one table of builtins, read by the checker, the compiler and the docs."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping

from hlb.builtins.spec import Builtin, Registry

_registry = Registry()
builtin = _registry.decorator
declare = _registry.declare

# Modules that declare builtins; importing them registers their declarations.
_MODULES = (
    "hlb.builtins.fs",
    "hlb.builtins.run",
    "hlb.builtins.file_options",
    "hlb.builtins.cache_context",
    "hlb.builtins.declared",
)


@functools.cache
def table() -> Mapping[str, tuple[Builtin, ...]]:
    """All builtins by name (each name maps to its overloads). Read-only."""
    for name in _MODULES:
        importlib.import_module(name)
    return _registry.freeze()


def all_builtins() -> list[Builtin]:
    return [b for overloads in table().values() for b in overloads]
