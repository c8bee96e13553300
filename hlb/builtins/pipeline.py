"""``pipeline`` builtins: the order in which targets are built.

Declared and type-checked here; compiled from issue #4 on. ``parallel``, the
deprecated spelling of ``stage``, is not a builtin: openllb/hlb's
``builtin.hlb`` does not declare it (only its code generator knows it), and
our checker and linter treat it as a deprecated form of ``stage``.
"""

from __future__ import annotations

from hlb.builtins.registry import declare

declare(
    "pipeline stage(variadic pipeline pipelines)",
    """Build all the arguments in parallel, after what the pipeline did before.

    Consecutive stages run in sequence: `stage a; stage b c` builds `a`, then
    `b` and `c` together. An `fs` argument is one solve; with no arguments
    the stage does nothing.

    Example: `stage fs { image "alpine:3.20"; } fs { image "busybox:1.36"; }`
    """,
)
