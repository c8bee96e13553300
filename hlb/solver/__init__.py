"""Talking to BuildKit: the client, solves, and the daemon-backed image resolver."""

from __future__ import annotations

from hlb.address import Address, resolve
from hlb.resolver import LocalRuns, Pusher, Services
from hlb.solver.client import BuildkitClient, CacheEntry, SolveOptions, SolveResult
from hlb.solver.errors import SolveError, SolveFailure
from hlb.solver.gateway import GatewayResolver, ResolveMode, default_resolve_mode
from hlb.solver.registry import RegistryClient
from hlb.transport import TransportError


def compile_services(
    daemon: GatewayResolver | None,
    registry: RegistryClient,
    push: Pusher | None = None,
    local_runs: LocalRuns | None = None,
) -> Services:
    """What compiling asks of the world: the daemon's gateway build serves every daemon service (none
    without a daemon: ``hlb run --tree``), the registry client the registries' ones; ``local_runs`` shares the
    ``localRun`` outputs of one build's compiles (one per platform)."""
    return Services(
        images=daemon,
        probe=daemon,
        frontends=daemon,
        modules=daemon,
        manifests=registry,
        tags=registry,
        push=push,
        local_runs=local_runs,
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
