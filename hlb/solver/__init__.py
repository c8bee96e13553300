"""Talking to BuildKit: the client, solves, and the daemon-backed image resolver."""

from __future__ import annotations

from hlb.address import Address, resolve
from hlb.resolver import Pusher, Services
from hlb.solver.client import BuildkitClient, CacheEntry, SolveOptions, SolveResult
from hlb.solver.errors import SolveError, SolveFailure
from hlb.solver.gateway import GatewayResolver, ResolveMode, default_resolve_mode
from hlb.solver.registry import RegistryClient
from hlb.transport import TransportError


def compile_services(daemon: GatewayResolver | None, registry: RegistryClient, push: Pusher | None = None) -> Services:
    """What compiling asks of the world: the daemon's gateway build serves every daemon service (none
    without a daemon: ``hlb run --tree``), the registry client the registries' ones."""
    return Services(
        images=daemon,
        probe=daemon,
        frontends=daemon,
        modules=daemon,
        manifests=registry,
        tags=registry,
        push=push,
    )


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
    "compile_services",
    "default_resolve_mode",
    "resolve",
]
