"""Talking to BuildKit: the client, solves, and the daemon-backed image resolver.

Names are loaded on first use: ``hlb.session`` imports ``hlb.solver.transport``
and ``hlb.solver.client`` imports ``hlb.session``, so importing the client here
eagerly would make ``import hlb.session`` circular.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hlb.solver.address import Address, resolve
    from hlb.solver.client import BuildkitClient, CacheEntry, SolveOptions, SolveResult
    from hlb.solver.errors import SolveError, SolveFailure
    from hlb.solver.gateway import GatewayResolver, ResolveMode, default_resolve_mode
    from hlb.solver.transport import TransportError

_EXPORTS = {
    "Address": "hlb.solver.address",
    "resolve": "hlb.solver.address",
    "BuildkitClient": "hlb.solver.client",
    "CacheEntry": "hlb.solver.client",
    "SolveOptions": "hlb.solver.client",
    "SolveResult": "hlb.solver.client",
    "SolveError": "hlb.solver.errors",
    "SolveFailure": "hlb.solver.errors",
    "GatewayResolver": "hlb.solver.gateway",
    "ResolveMode": "hlb.solver.gateway",
    "default_resolve_mode": "hlb.solver.gateway",
    "TransportError": "hlb.solver.transport",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hlb.solver' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Address",
    "BuildkitClient",
    "CacheEntry",
    "GatewayResolver",
    "ResolveMode",
    "SolveError",
    "SolveFailure",
    "SolveOptions",
    "SolveResult",
    "TransportError",
    "default_resolve_mode",
    "resolve",
]
