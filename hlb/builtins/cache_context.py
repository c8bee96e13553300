"""``cacheContext``: a section of the build whose BuildKit cache lives at a ref.

Our extension (docs section 12). Each section is an
:class:`~hlb.values.Effect`: a solve of the section's filesystem that imports
its cache from the ref and exports it back there. The plan solves a section
before every solve whose graph contains it, so those find the section's steps
in the daemon's cache; the section's result is the call's value.
"""

from __future__ import annotations

from dataclasses import dataclass

from hlb import cache_options
from hlb.builtins.call import Call, image_ref
from hlb.builtins.registry import builtin, flag
from hlb.builtins.spec import Enumerated
from hlb.diagnostics import catalog as cat
from hlb.llb.source import SourceOp
from hlb.source import client_path
from hlb.values import CacheEntry, Effect, Exporter, FsValue

MODES = Enumerated("cache export mode", {"min": "min", "max": "max"})
BACKENDS = Enumerated("cache backend", {"registry": "registry", "local": "local", "inline": "inline"})
IMAGE_SCHEME = "docker-image://"


@dataclass(frozen=True, slots=True)
class Mode:
    mode: str


@dataclass(frozen=True, slots=True)
class Backend:
    backend: str


def _section(call: Call, ref: str, section: FsValue, *, ref_arg: int) -> FsValue:
    opts = call.options
    mode = opts.last(Mode)
    backend = opts.last(Backend)
    kind = backend.backend if backend else "registry"
    export: dict[str, str] = {"mode": mode.mode if mode else "min"}
    if IGNORE_ERROR.given(opts):
        export["ignore-error"] = "true"
    exporters: tuple[Exporter, ...] = ()
    if kind == "local":
        if not ref.strip():
            # os.path.join(dir, "") is the module's directory itself: the cache would land among its files.
            call.fail(
                cat.invalid_value(
                    call.arg_span(ref_arg),
                    "the cache directory is empty",
                    hint='name a directory of the module, for example "./.hlb-cache"',
                )
            )
        path = client_path(call.host_text(ref, ref_arg), call.module_dir)
        imports = (CacheEntry("local", {"src": path}),)
        exports = (CacheEntry("local", {"dest": path, **export}),)
        title = f"cacheContext {ref} (local)"
    else:
        name = str(image_ref(call, ref, ref_arg))
        imports = (CacheEntry("registry", {"ref": name}),)
        if kind == "inline":
            # The cache travels in the image the section pushes to the ref.
            exports = (CacheEntry("inline", {}),)
            exporters = (Exporter("image", {"name": name, "push": "true"}),)
        else:
            exports = (CacheEntry("registry", {"ref": name, **export}),)
        title = f"cacheContext {name}"
    for direction, entries in ((cache_options.IMPORT, imports), (cache_options.EXPORT, exports)):
        for entry in entries:
            try:
                cache_options.check(entry, direction, what=title)
            except cache_options.CacheFlagError as e:
                call.fail(cat.invalid_value(call.arg_span(ref_arg), str(e)))
    effect = Effect("cacheContext", title, section, call.span, exporters, imports, exports)
    return section.with_effects(effect)


def _image_ref(call: Call, cache: FsValue) -> str:
    """The reference of an `fs { image "ref" }` cache location."""
    out = cache.state.output
    vertex = out.vertex if out is not None else None
    if isinstance(vertex, SourceOp) and vertex.identifier.startswith(IMAGE_SCHEME):
        return vertex.identifier[len(IMAGE_SCHEME) :].split("@", 1)[0]
    call.fail(
        cat.invalid_value(
            call.arg_span(0),
            "the cache location must be an image reference",
            hint='write `cacheContext fs { image "registry/cache:tag"; } fs { ... }` or pass the ref as a string',
        )
    )


@builtin("fs cacheContext(fs cache, fs section)")
def cache_context_fs(call: Call, cache: FsValue, section: FsValue) -> FsValue:
    """Build `section` as its own solve whose cache is imported from and exported to `cache`'s image ref.

    The form of HLB's design discussion: `cache` is an `fs` whose source is an
    `image`, and that reference is the registry cache ref. Sections nest, each
    its own solve with its own cache; `hlb run --tree` shows every solve's
    cache imports and exports.

    Example: `cacheContext fs { image "127.0.0.1:5000/cache/app:deps"; } fs { image "golang:1.22"; run "go version"; }`
    """
    return _section(call, _image_ref(call, cache), section, ref_arg=0)


@builtin("fs cacheContext(string ref, fs section)")
def cache_context(call: Call, ref: str, section: FsValue) -> FsValue:
    """Build `section` as its own solve whose cache is imported from and exported to `ref`.

    `ref` is a registry ref unless `backend` selects `local` (a directory of
    the module) or `inline`. Sections nest, each its own solve with its own
    cache; `hlb run --tree` shows every solve's cache imports and exports.

    Example: `cacheContext "127.0.0.1:5000/cache/app:deps" fs { image "golang:1.22"; run "go mod download"; }`
    """
    return _section(call, ref, section, ref_arg=0)


@builtin("option::cacheContext mode(string mode)", choices={"mode": MODES})
def mode(call: Call, mode: str) -> Mode:
    """Which cache the section exports: `min` or `max`.

    `min` (default) exports the cache of the layers of the section's result
    only; `max` exports every intermediate step too, so more is reused at the
    cost of a larger cache.

    Example: `cacheContext "127.0.0.1:5000/cache/app:deps" fs { image "busybox"; } with mode("max")`
    """
    return Mode(mode)


IGNORE_ERROR = flag(
    "option::cacheContext ignoreError()",
    """Do not fail the build when importing or exporting the section's cache fails.

    A missing or unreachable cache only costs time; the section itself must
    still build.

    Example: `cacheContext "127.0.0.1:5000/cache/app:deps" fs { image "busybox"; } with ignoreError`
    """,
)


@builtin("option::cacheContext backend(string backend)", choices={"backend": BACKENDS})
def backend(call: Call, backend: str) -> Backend:
    """Where the section's cache is kept: `registry`, `local` or `inline`.

    `registry` (default): `ref` is an image reference of a cache manifest.
    `local`: `ref` is a directory, relative to the module's directory.
    `inline`: the cache metadata is embedded in the image the section pushes
    and imported from the image `ref`.

    Example: `cacheContext "./.cache/deps" fs { image "busybox"; } with backend("local")`
    """
    return Backend(backend)
