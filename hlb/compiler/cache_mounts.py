"""The cache mounts of a module as compiled, for ``hlb lint``.

Every ``fs`` function without parameters of the module, and of every local
module it imports, is compiled without a daemon (no image resolver, no
registry access). A function that cannot be compiled so (it resolves an image
config, imports a module from an fs, binds a pushed digest, or has an error)
is skipped. Each exec op in the results (side solves included) contributes the
mounts of type cache it really has, located at the ``cacheMount`` or
``mount ... with cache(...)`` call that wrote them: the id is the one BuildKit
gets (a default id is the normalised mount point) and the base is the mount's
input, which is how ``uid``/``gid``/``mode`` reach BuildKit.
"""

from __future__ import annotations

from collections.abc import Iterator

from hlb.builtins.run import RunMount
from hlb.checker.check import CheckedModule, declared_or_none
from hlb.checker.lint import CacheUse
from hlb.compiler.compiler import compile_targets
from hlb.llb import ExecOp, FileOp, Mkdir, Mount, Output, Platform, marshal
from hlb.llb.core import Vertex
from hlb.llb.file import Chown
from hlb.source import Span
from hlb.types import Kind
from hlb.values import FsValue


def cache_uses(checked: CheckedModule, platform: Platform) -> list[CacheUse]:
    """The cache mounts of ``checked`` and of its local imports, located at the calls that wrote them."""
    uses: list[CacheUse] = []
    for module, name in _modules(checked):
        for func in _fs_functions(module):
            uses += _function_uses(module, func, name, platform)
    return uses


def _modules(root: CheckedModule) -> Iterator[tuple[CheckedModule, str]]:
    """``root`` (named "") and every local module it imports, each once, named by its first import."""
    seen: set[int] = set()
    queue = [(root, "")]
    while queue:
        module, name = queue.pop(0)
        if id(module) in seen:
            continue
        seen.add(id(module))
        yield module, name
        queue += [(imp.module, n) for n, imp in module.imports.items() if imp.module is not None]


def _fs_functions(module: CheckedModule) -> list[str]:
    out = []
    for name, func in module.funcs.items():
        t = declared_or_none(func.type)
        if t is not None and t.kind is Kind.FS and not func.params and func.body is not None:
            out.append(name)
    return out


def _function_uses(module: CheckedModule, func: str, module_name: str, platform: Platform) -> list[CacheUse]:
    written: dict[int, tuple[Span, Mount]] = {}  # id(mount) -> the call that wrote it (the mount kept alive)

    def observe(span: Span, item: object) -> None:
        if isinstance(item, RunMount) and item.mount.cache_id:
            written[id(item.mount)] = (span, item.mount)

    try:
        result = compile_targets(module, [func], platform, observe=observe, local_run=False)  # lint runs nothing
        outputs = [o for t in result.targets for o in _outputs(t.value)]
        uses = []
        for op in _exec_ops(outputs):
            for m in op.mounts:
                found = written.get(id(m))
                if found is not None and found[1] is m:
                    uses.append(_use(found[0], m, module_name, platform))
        return uses
    except Exception:  # noqa: BLE001 - lint judges what compiles; `hlb run` reports the rest
        return []


def _outputs(value: object) -> Iterator[Output]:
    """The graph outputs of an fs value and of its side solves."""
    if not isinstance(value, FsValue):
        return
    if value.state.output is not None:
        yield value.state.output
    for effect in value.effects:
        yield from _outputs(effect.fs)


def _exec_ops(outputs: list[Output]) -> Iterator[ExecOp]:
    seen: set[int] = set()
    stack: list[Vertex] = [o.vertex for o in outputs]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if isinstance(v, ExecOp):
            yield v
        stack += [i.vertex for i in v.inputs()]


def _use(span: Span, m: Mount, module: str, platform: Platform) -> CacheUse:
    base, text = _base(m, platform)
    return CacheUse(
        span=span,
        target=m.target,
        id=m.cache_id,
        sharing=m.cache_sharing.name.lower(),
        default=m.cache_id == m.target,
        base=base,
        base_text=text,
        module=module,
    )


def _base(m: Mount, platform: Platform) -> tuple[str, str]:
    """(identity, description) of the mount's base: what BuildKit adds to the id to find the cache.

    The identity is the base's op digest: BuildKit appends the base's cache
    record, and one digest gives one record while the daemon keeps it.
    """
    if m.source is None:
        return "", "no uid, gid or mode"
    digest = marshal(m.source, platform).head or ""
    v = m.source.vertex
    if isinstance(v, FileOp) and v.base is None and isinstance(v.action, Mkdir) and v.action.path == m.selector:
        owner = v.action.owner or Chown(0, 0)
        gid = owner.group if owner.group is not None else 0
        return digest, f"uid {owner.user}, gid {gid}, mode 0o{v.action.mode:o}"
    where = next(
        (f"{loc.source.filename}:{loc.ranges[0].start.line}" for loc in v.constraints.locations if loc.ranges), ""
    )
    text = f"the input built at {where}" if where else f"the input {digest.removeprefix('sha256:')[:12]}"
    return digest, text
