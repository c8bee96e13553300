"""``cacheContext``: a section of the build whose BuildKit cache lives at a ref.

Declared and type-checked here; the compiler (issue #4) splits each section
into its own solve and the solver (issue #5) imports and exports its cache.
"""

from __future__ import annotations

from hlb.builtins.registry import declare

MODES = ("min", "max")
BACKENDS = ("registry", "local", "inline")

_SEMANTICS = """
The section is solved as its own solve that imports its build cache from the
ref before building and exports it there afterwards, so the cache survives a
move to another daemon or CI machine. Sections nest and compose: an inner
section is its own solve, with its own cache. `hlb run --tree` shows every
solve with its cache imports and exports. Options: `mode` (`min`, the default,
exports the cache of the section's result; `max` of every step),
`ignoreError` (a failed import or export does not fail the build), and
`backend`.
"""

declare(
    "fs cacheContext(fs cache, fs section)",
    """Build `section` with its build cache imported from and exported to the image named by `cache`.

    The form of HLB's design discussion: the cache location is an fs whose
    source is an image reference, here a registry cache ref.
    """
    + _SEMANTICS
    + """
    Example: `cacheContext fs { image "127.0.0.1:5000/cache/app:deps"; } fs { run "make deps"; }`
    """,
)

declare(
    "fs cacheContext(string ref, fs section)",
    """Build `section` with its build cache imported from and exported to `ref`.

    `ref` is a registry reference by default (`127.0.0.1:5000/cache/app:deps`);
    with `backend "local"` it is a directory relative to the module; with
    `backend "inline"` the cache metadata travels inside the image that the
    section pushes.
    """
    + _SEMANTICS
    + """
    Example: `cacheContext "127.0.0.1:5000/cache/app:deps" fs { run "make deps"; } with option { mode "max"; }`
    """,
)

declare(
    "option::cacheContext mode(string mode)",
    """Which cache to export: `min` (default: the layers of the result) or `max` (every step's).

    Example: `cacheContext "127.0.0.1:5000/cache:x" fs { image "busybox"; } with mode("max")`
    """,
    choices={"mode": MODES},
)

declare(
    "option::cacheContext ignoreError()",
    """Do not fail the build when importing or exporting the cache fails (the build itself still must succeed).

    Example: `cacheContext "127.0.0.1:5000/cache:x" fs { image "busybox"; } with ignoreError`
    """,
)

declare(
    "option::cacheContext backend(string backend)",
    """Where the cache is kept: `registry` (default), `local` (a directory) or `inline` (inside the pushed image).

    Example: `cacheContext "./.cache/deps" fs { image "busybox"; } with backend("local")`
    """,
    choices={"backend": BACKENDS},
)
