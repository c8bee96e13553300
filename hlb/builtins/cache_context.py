"""``cacheContext``: a section of the build whose BuildKit cache lives at a ref.

Our extension (docs section 12). Declared and type-checked here; the
compiler (issue #4) makes each section its own solve and the solver
(issue #5) imports and exports that solve's cache.
"""

from __future__ import annotations

from hlb.builtins.registry import declare

MODES = ("min", "max")
BACKENDS = ("registry", "local", "inline")

declare(
    "fs cacheContext(fs cache, fs section)",
    """Build `section` as its own solve whose cache is imported from and exported to `cache`'s image ref.

    The form of HLB's design discussion: `cache` is an `fs` whose source is an
    `image`, and that reference is the registry cache ref. Sections nest, each
    its own solve with its own cache; `hlb run --tree` shows every solve's
    cache imports and exports. Options: `mode`, `ignoreError`, `backend`.

    Example: `cacheContext fs { image "127.0.0.1:5000/cache/app:deps"; } fs { image "golang:1.22"; run "go version"; }`
    """,
)

declare(
    "fs cacheContext(string ref, fs section)",
    """Build `section` as its own solve whose cache is imported from and exported to `ref`.

    `ref` is a registry ref unless `backend` selects `local` (a directory of
    the module) or `inline`. Sections nest, each its own solve with its own
    cache; `hlb run --tree` shows every solve's cache imports and exports.
    Options: `mode`, `ignoreError`, `backend`.

    Example: `cacheContext "127.0.0.1:5000/cache/app:deps" fs { image "golang:1.22"; run "go mod download"; }`
    """,
)

declare(
    "option::cacheContext mode(string mode)",
    """Which cache the section exports: `min` or `max`.

    `min` (default) exports the cache of the layers of the section's result
    only; `max` exports every intermediate step too, so more is reused at the
    cost of a larger cache.

    Example: `cacheContext "127.0.0.1:5000/cache/app:deps" fs { image "busybox"; } with mode("max")`
    """,
    choices={"mode": MODES},
)

declare(
    "option::cacheContext ignoreError()",
    """Do not fail the build when importing or exporting the section's cache fails.

    A missing or unreachable cache only costs time; the section itself must
    still build.

    Example: `cacheContext "127.0.0.1:5000/cache/app:deps" fs { image "busybox"; } with ignoreError`
    """,
)

declare(
    "option::cacheContext backend(string backend)",
    """Where the section's cache is kept: `registry`, `local` or `inline`.

    `registry` (default): `ref` is an image reference of a cache manifest.
    `local`: `ref` is a directory, relative to the module's directory.
    `inline`: the cache metadata is embedded in the image the section pushes
    and imported from the image `ref`.

    Example: `cacheContext "./.cache/deps" fs { image "busybox"; } with backend("local")`
    """,
    choices={"backend": BACKENDS},
)
