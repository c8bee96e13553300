"""``pipeline`` builtins: the order in which targets are built.

A pipeline value is a request tree (:mod:`hlb.values`); ``parallel``, the
deprecated spelling of ``stage``, is not a builtin: openllb/hlb's
``builtin.hlb`` does not declare it (only its code generator knows it), and
our checker and linter treat it as a deprecated form of ``stage``.
"""

from __future__ import annotations

from hlb.builtins.call import Call
from hlb.builtins.registry import builtin
from hlb.values import FsValue, Pipeline, Request, Single, Value, parallel, sequential


@builtin("pipeline stage(variadic pipeline pipelines)")
def stage(call: Call, *pipelines: Value) -> Pipeline:
    """Build all the arguments in parallel, after what the pipeline did before.

    Consecutive stages run in sequence: `stage a; stage b c` builds `a`, then
    `b` and `c` together. An `fs` argument is one solve; with no arguments
    the stage does nothing.

    Example: `stage fs { image "alpine:3.20"; } fs { image "busybox:1.36"; }`
    """
    members: list[Request | None] = []
    for i, p in enumerate(pipelines):
        if isinstance(p, Pipeline):
            members.append(p.request)
        elif isinstance(p, FsValue):
            span = call.arg_span(i)
            members.append(Single(p, _name(span.text), span))
    before = call.current.request if isinstance(call.current, Pipeline) else None
    return Pipeline(sequential(before, parallel(*members)))


def _name(text: str) -> str:
    """How the plan names an fs stage: the function called, or `fs {...}` for a block."""
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."
