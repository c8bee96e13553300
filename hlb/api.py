"""The front end as one call per stage: load, parse, check, compile.

Each stage returns its result or raises :class:`HlbError` carrying every
diagnostic it found (warnings included), so callers render them in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from hlb.address import Address
from hlb.address import resolve as resolve_address
from hlb.checker.check import CheckedModule, CheckResult, ModuleLoader, check_module
from hlb.compiler import CompiledTarget, compile_targets
from hlb.compiler.plan import Plan, build_plan
from hlb.compiler.target_args import ArgValue, Requested
from hlb.diagnostics import Diagnostic, HlbError
from hlb.llb import Platform
from hlb.output_options import Output
from hlb.resolver import ImageResolver, ManifestResolver, Pusher, Services
from hlb.source import SourceFile, Span
from hlb.syntax import ast
from hlb.syntax.cache import parse_cached
from hlb.values import Attachment, CacheEntry, Notice

if TYPE_CHECKING:
    from hlb.build import Outcome
    from hlb.cache_admin import CacheAdmin, Declared
    from hlb.explain import Explanation


def load(path: str | Path) -> SourceFile:
    """Read a module (a regular file or a pipe); OSError propagates (the CLI reports it)."""
    return SourceFile.read(path, pipe=True)


def parse(source: SourceFile) -> ast.Module:
    result = parse_cached(source)
    if not result.ok or result.module is None:
        raise HlbError(result.diagnostics)
    return result.module


def check(module: ast.Module, loader: ModuleLoader | None = None) -> CheckResult:
    """Check a module and the local modules it imports; raises on errors, returns warnings too."""
    result = check_module(module, loader)
    if not result.ok:
        raise HlbError(result.diagnostics)
    return result


@dataclass
class Compiled:
    source: SourceFile
    checked: CheckedModule
    targets: list[CompiledTarget]
    warnings: list[Diagnostic]
    attachments: dict[str, Attachment] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)  # shown on the solves that build their step

    def plan(
        self,
        platform: Platform,
        *,
        persist_caches: bool = False,
        persist_stamp: str = "",
        outputs: Sequence[Output] = (),
        ignore_cache: bool = False,
        pull: bool = False,
        **caches: Sequence[CacheEntry],
    ) -> Plan:
        """The solves that building the targets takes (see :mod:`hlb.compiler.plan`); ``persist_caches`` pushes
        the persisted cache mounts after the build (``hlb run --persist-caches``); ``outputs`` are ``-o`` values
        (:mod:`hlb.output_options`), ``ignore_cache`` is ``--no-cache``, ``pull`` is ``--pull``."""
        return build_plan(
            self.targets,
            self.attachments,
            platform,
            notices=self.notices,
            persist_caches=persist_caches,
            persist_stamp=persist_stamp,
            outputs=outputs,
            ignore_cache=ignore_cache,
            pull=pull,
            **caches,
        )


def build(compiled: Compiled, plan: Plan, address: Address | None = None, *, out: TextIO | None = None) -> Outcome:
    """Run ``plan`` (from ``compiled.plan(...)``) on a daemon: ``address``, else ``BUILDKIT_HOST``, else the
    Docker engine; progress goes to ``out`` (stderr) as ``--progress plain`` prints it. Returns the exit code
    and each finished solve's exporter response. Raises :class:`hlb.address.AddressError` or
    :class:`hlb.transport.TransportError` when the daemon cannot be reached.
    """
    from hlb import build as running  # the solver, sessions and grpc load only when a build runs

    return running.build(plan, compiled.source, address or resolve_address(), out=out)


def cache_admin(address: Address | None = None) -> CacheAdmin:
    """The cache mounts and build cache of a daemon (``hlb cache``): ``address``, else ``BUILDKIT_HOST``, else
    the Docker engine. Use it in a ``with``; see :mod:`hlb.cache_admin`. Raises
    :class:`hlb.address.AddressError` or :class:`hlb.transport.TransportError`.
    """
    from hlb import cache_admin as admin  # grpc loads only for a command that talks to the daemon

    return admin.connect(address or resolve_address())


def declared_cache_mounts(source: SourceFile, platform: Platform | None = None) -> dict[str, list[Declared]]:
    """Cache id -> where ``source`` and its local imports declare mounts of it; no daemon is asked.
    Raises :class:`HlbError` when the module has errors."""
    from hlb import cache_admin as admin

    return admin.declared_mounts(source, platform)


def explain(path: str | Path, targets: Sequence[str] = ("default",)) -> Explanation | None:
    """Why the first step of the last recorded ``hlb run`` of ``path`` (with ``targets`` as ``-t`` gave them) ran
    again, compared with the run before it (:mod:`hlb.explain`); None when fewer than two runs are recorded or
    either of the last two built several platforms (recorded without graphs). A record that cannot be read
    counts as none (``hlb explain`` prints its warning)."""
    from hlb.build import record  # run records import the solver (grpc): only when asked for
    from hlb.explain import explain as compare

    runs, _ = record.load(record.project_of(str(path)), record.key_of(targets))
    if len(runs) < 2 or any(r.several_platforms for r in runs[-2:]):
        return None
    return compare(runs[-2], runs[-1])


def compile_source(
    source: SourceFile,
    targets: Sequence[str],
    platform: Platform,
    target_spans: Mapping[str, Span] | None = None,
    resolver: ImageResolver | None = None,
    manifests: ManifestResolver | None = None,
    push: Pusher | None = None,
    *,
    args: Mapping[str, ArgValue] | None = None,
    arg_spans: Mapping[str, Span] | None = None,
    local_run: bool = True,
    services: Services | None = None,
) -> Compiled:
    """Parse, check and compile ``targets`` of ``source``; raises :class:`HlbError` with every diagnostic.

    ``args`` give the targets' parameters: ``{"tag": "1.4"}`` binds ``tag`` of
    every requested target that declares it, ``{"release.tag": "1.4"}`` of
    ``release`` only. Values are text as on the command line (``int`` and
    ``bool`` parameters parse it), or an ``int``/``bool``. ``target_spans`` and
    ``arg_spans`` locate the names and each ``NAME=VALUE`` on a command line,
    so errors point there. With ``local_run`` false, a `localRun` is a
    diagnostic instead of a command run on this machine.

    ``services`` name what compiling may ask of a daemon and the registries
    (:class:`hlb.resolver.Services`); ``resolver`` (a daemon), ``manifests`` (a
    registry client) and ``push`` instead give each object for every service its
    methods provide. Giving both ways is a ValueError.
    """
    if services is None:
        services = Services.of(resolver, manifests, push)
    elif resolver is not None or manifests is not None or push is not None:
        raise ValueError("compile_source: give `services`, or `resolver`, `manifests` and `push`, not both")
    module = parse(source)
    checked = check(module)
    requested = Requested(args or {}, target_spans or {}, arg_spans or {})
    result = compile_targets(
        checked.checked, targets, platform, services=services, requested=requested, local_run=local_run
    )
    warnings = checked.diagnostics + [d for d in result.diagnostics if not d.is_error]
    if not result.ok:
        raise HlbError(warnings + result.diagnostics)
    return Compiled(source, checked.checked, result.targets, warnings, result.attachments, result.notices)
