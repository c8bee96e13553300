"""hlb: a build language compiled to BuildKit LLB.

Public names are loaded lazily so that ``import hlb.syntax`` (or the CLI's
``--version``) does not import the compiler, gRPC and the generated protobufs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "load": "hlb.api",
    "parse": "hlb.api",
    "check": "hlb.api",
    "compile_source": "hlb.api",
    "Diagnostic": "hlb.diagnostics",
    "HlbError": "hlb.diagnostics",
}

__all__ = ["Diagnostic", "HlbError", "__version__", "check", "compile_source", "load", "parse"]

if TYPE_CHECKING:  # pragma: no cover
    from hlb.api import check, compile_source, load, parse
    from hlb.diagnostics import Diagnostic, HlbError


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hlb' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
