"""Running a plan on a daemon: every solve with its session, progress, summary and failure report.

:func:`execute` runs a :class:`~hlb.compiler.plan.Plan` (sequential groups in order, parallel groups on
threads) and returns what happened; ``hlb run`` and :func:`hlb.api.build` both call it. The solves'
session services are chosen in :mod:`hlb.build.attachments`, the runner is :mod:`hlb.build.runner`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

from hlb.address import Address
from hlb.build.fleet import Fleet
from hlb.build.record import Recorder
from hlb.build.runner import Runner, SolveResult
from hlb.compiler.plan import Plan, Solve
from hlb.progress.display import PlainProgress, Progress
from hlb.solver.client import BuildkitClient
from hlb.source import SourceFile


@dataclass
class Outcome:
    """What running a plan gave: its exit code (0, 1 for a failed solve, 130 interrupted) and, per solve
    that finished, the daemon's exporter response (``containerimage.digest``, ``cache.manifest``...)."""

    code: int
    responses: dict[int, dict[str, str]] = field(default_factory=dict)  # solve index -> exporter response
    results: dict[int, SolveResult] = field(default_factory=dict)  # solve index -> what it did


def execute(
    plan: Plan,
    client: BuildkitClient | Fleet,
    source: SourceFile,
    *,
    progress: Progress | None = None,
    color: bool = False,
    recorder: Recorder | None = None,
) -> Outcome:
    """Run ``plan`` on ``client``'s daemon (a fleet's: each solve on its target's); Ctrl-C cancels every
    solve in flight before it propagates.
    ``recorder`` notes each finished solve for `hlb explain` (:mod:`hlb.build.record`)."""
    if plan.root is None:
        return Outcome(0)
    runner = Runner(client, source, color, many=len(plan.solves) > 1, progress=progress, recorder=recorder)
    try:
        code = runner.node(plan.root)
    except KeyboardInterrupt:
        client.cancel()  # solves still running on other threads: the daemon stops their builds
        raise
    results = {s.index: r for s, r in runner.results.items()}
    return Outcome(code, {s.index: response for s, response in runner.responses.items()}, results)


def build(plan: Plan, source: SourceFile, address: Address, *, out: TextIO | None = None) -> Outcome:
    """Run ``plan`` on the daemon at ``address`` with plain progress to ``out`` (stderr by default)."""
    with BuildkitClient(address) as client:
        progress = PlainProgress(out or sys.stderr)
        try:
            return execute(plan, client, source, progress=progress)
        finally:
            progress.close()


__all__ = ["Fleet", "Outcome", "Solve", "build", "execute"]
