"""Talking to BuildKit: the client, solves, and the daemon-backed image resolver."""

from __future__ import annotations

from hlb.address import Address, resolve
from hlb.solver.client import BuildkitClient, CacheEntry, SolveOptions, SolveResult
from hlb.solver.errors import SolveError, SolveFailure
from hlb.solver.gateway import GatewayResolver, ResolveMode, default_resolve_mode
from hlb.transport import TransportError

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
