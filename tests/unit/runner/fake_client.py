"""An in-process stand-in for :class:`hlb.solver.client.BuildkitClient`, for testing how a plan is run.

It is the client object the runner talks to, not a daemon: ``open_session`` and
``solve`` record what they were given and answer with what the test scripts
(an exporter response, progress, or an error), so the orchestration can be
checked without gRPC.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hlb.address import Address
from hlb.compiler.plan import Plan, Solve
from hlb.llb import Definition
from hlb.progress.events import StatusBatch
from hlb.session import Attachable
from hlb.solver.client import Cancelled, SolveOptions, SolveResult

ADDRESS = Address("buildkit", "unix:///run/fake-buildkitd.sock", "test")
NO_OPTIONS = SolveOptions()


class FakeSession:
    def __init__(self, number: int, attachables: Sequence[Attachable]) -> None:
        self.id = f"fake-session-{number}"
        self.attachables = list(attachables)
        self.closed = False

    def close(self) -> None:
        self.closed = True


@dataclass
class SolveCall:
    """One ``solve`` the runner asked for: which plan solve it is, and what came with it."""

    solve: Solve
    definition: Definition | None  # None: a gateway-mode build, the definition is the frontend's
    session: FakeSession | None
    options: SolveOptions
    frontend: Any  # the gateway frontend (hlb.solver.export) when the image config must reach the exporter
    on_status: Callable[[StatusBatch], None] | None

    @property
    def title(self) -> str:
        return self.solve.title


Script = Callable[[SolveCall, "FakeClient"], dict[str, str]]  # -> the exporter response, or raises


class _NoChannel:
    """What the gateway frontend builds its stub on; the fake never runs the frontend."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


@dataclass
class FakeClient:
    plan: Plan
    script: Script = lambda call, client: {}
    address: Address = ADDRESS
    channel: Any = field(default_factory=_NoChannel)
    sessions: list[FakeSession] = field(default_factory=list)
    calls: list[SolveCall] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)  # ("start" | "end", solve title), in order
    cancelled: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    def open_session(self, attachables: Sequence[Attachable] = ()) -> FakeSession:
        with self.lock:
            session = FakeSession(len(self.sessions) + 1, attachables)
            self.sessions.append(session)
        return session

    def solve(
        self,
        definition: Definition | None,
        *,
        session: FakeSession | None = None,
        on_status: Callable[[StatusBatch], None] | None = None,
        options: SolveOptions = NO_OPTIONS,
        frontend: Any = None,
    ) -> SolveResult:
        if self.cancelled.is_set():
            raise Cancelled("cancelled before it started")
        graph = definition if definition is not None else frontend.definition
        call = SolveCall(self._solve_of(graph, options), definition, session, options, frontend, on_status)
        with self.lock:
            self.calls.append(call)
            self.events.append(("start", call.title))
        try:
            response = self.script(call, self)
        finally:
            with self.lock:
                self.events.append(("end", call.title))
        return SolveResult(f"ref-{call.solve.index}", response, 0.0)

    def cancel(self) -> None:
        self.cancelled.set()

    def _solve_of(self, graph: Definition, options: SolveOptions) -> Solve:
        """The plan's solve of this graph with as many exporters and cache exports as were sent."""
        found = [
            s
            for s in self.plan.solves
            if s.definition.serialize() == graph.serialize()
            and len(s.exporters) == len(options.exporters)
            and len(s.cache_exports) == len(options.cache_exports)
        ]
        assert len(found) == 1, f"no single plan solve matches {[s.title for s in found]}"
        return found[0]
