"""Several daemons (hlb.build.fleet): rendezvous placement of targets, and a plan run on a fleet.

The placement must be stable (the same target on the same daemon, whatever the order of --addr, on every
machine and every release: a change would move every target away from its warm cache), spread targets
evenly, and move few targets when a daemon is added or removed.
"""

from __future__ import annotations

import io
import itertools
import threading
from pathlib import Path

import pytest
from fake_client import FakeClient

from hlb.address import Address
from hlb.api import compile_source
from hlb.build import Fleet, execute
from hlb.build.fleet import Unreachable, choose
from hlb.compiler.plan import Plan
from hlb.llb import Platform
from hlb.progress.display import PlainProgress
from hlb.source import SourceFile
from hlb.transport import TransportError

AMD64 = Platform("linux", "amd64")
DAEMONS = ["tcp://buildkitd-0:1234", "tcp://buildkitd-1:1234", "tcp://buildkitd-2:1234"]
KEYS = [f"target-{i}" for i in range(3000)]
PINNED = {
    "default": "tcp://buildkitd-1:1234",
    "app": "tcp://buildkitd-1:1234",
    "test": "tcp://buildkitd-0:1234",
    "lint": "tcp://buildkitd-1:1234",
    "docs": "tcp://buildkitd-0:1234",
    "site": "tcp://buildkitd-1:1234",
    "e2e": "tcp://buildkitd-2:1234",
    "unit": "tcp://buildkitd-2:1234",
}


@pytest.fixture(autouse=True)
def _no_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))


# -- the hash ------------------------------------------------------------------------------------


def test_placement_is_pinned() -> None:
    # Computed once and written down: a change to the hash would move every target to a cold daemon.
    assert {k: DAEMONS[choose(k, DAEMONS)] for k in PINNED} == PINNED
    assert [choose(k, DAEMONS) for k in ("a", "b", "c", "d", "e", "f", "g", "h")] == [2, 1, 0, 0, 2, 2, 0, 1]


def test_placement_does_not_depend_on_the_order_of_the_daemons() -> None:
    for order in itertools.permutations(DAEMONS):
        assert all(order[choose(k, order)] == DAEMONS[choose(k, DAEMONS)] for k in KEYS[:300])


def test_targets_are_spread_evenly() -> None:
    counts = [0, 0, 0]
    for k in KEYS:
        counts[choose(k, DAEMONS)] += 1
    assert all(900 <= c <= 1100 for c in counts), counts  # a third each, give or take


def test_adding_a_daemon_moves_only_the_targets_it_takes() -> None:
    more = [*DAEMONS, "tcp://buildkitd-3:1234"]
    moved = [k for k in KEYS if DAEMONS[choose(k, DAEMONS)] != more[choose(k, more)]]
    assert all(more[choose(k, more)] == "tcp://buildkitd-3:1234" for k in moved)  # none moves between old ones
    assert 0.2 <= len(moved) / len(KEYS) <= 0.3, len(moved)  # about a quarter: its fair share


def test_removing_a_daemon_moves_only_its_targets() -> None:
    fewer = DAEMONS[:2]
    for k in KEYS:
        before = DAEMONS[choose(k, DAEMONS)]
        if before != DAEMONS[2]:
            assert fewer[choose(k, fewer)] == before


# -- a plan on a fleet ---------------------------------------------------------------------------

TARGETS = ["app", "test", "lint", "docs", "site", "e2e", "unit", "default"]
SOURCE = "".join(
    f'fs {name}() {{\n\timage "busybox"\n\trun "echo {name}"\n'
    + ('\tdockerPush "127.0.0.1:5000/app:1"\n' if name == "app" else "")
    + "}\n"
    for name in TARGETS
)


def plan_of(targets: list[str]) -> tuple[SourceFile, Plan]:
    source = SourceFile("build.hlb", SOURCE)
    return source, compile_source(source, targets, AMD64).plan(AMD64)


def addresses() -> list[Address]:
    return [Address("buildkit", url, "--addr") for url in DAEMONS]


def test_each_solve_runs_on_its_targets_daemon_and_its_summary_names_it() -> None:
    source, plan = plan_of(TARGETS)
    clients: dict[str, FakeClient] = {}
    connected: list[str] = []
    lock = threading.Lock()

    def connect(address: Address) -> FakeClient:
        with lock:
            connected.append(address.url)
            return clients.setdefault(address.url, FakeClient(plan, address=address))

    fleet = Fleet(addresses(), connect)  # type: ignore[arg-type]
    fleet.connect(plan.solves)
    out = io.StringIO()
    progress = PlainProgress(out)
    try:
        outcome = execute(plan, fleet, source, progress=progress)
    finally:
        progress.close()
    assert outcome.code == 0
    assert sorted(connected) == sorted(set(connected))  # one client per daemon
    ran = {call.solve.title: url for url, client in clients.items() for call in client.calls}
    # app's push builds app's graph, so it stands for app's own solve; it goes where app goes
    assert len(ran) == len(plan.solves) == len(TARGETS)
    assert ran["dockerPush 127.0.0.1:5000/app:1"] == PINNED["app"] != PINNED["e2e"]
    for name in TARGETS[1:]:
        assert ran[f"target {name}"] == PINNED[name]
    for label in ["dockerPush 127.0.0.1:5000/app:1", *TARGETS[1:]]:
        block = out.getvalue().split(f"hlb: {label}: ", 1)[1]
        assert block.splitlines()[1] == f"  daemon: {PINNED[label.split('/')[-1].removesuffix(':1')]}"


def test_an_unreachable_daemon_is_named_with_its_targets_and_nothing_moves() -> None:
    source, plan = plan_of(TARGETS)
    down = PINNED["app"]

    def connect(address: Address) -> FakeClient:
        if address.url == down:
            raise TransportError(f"cannot reach BuildKit at {down} (from --addr): connection refused")
        return FakeClient(plan, address=address)

    fleet = Fleet(addresses(), connect)  # type: ignore[arg-type]
    with pytest.raises(Unreachable) as e:
        fleet.connect(plan.solves)
    ((address, reason, targets),) = e.value.failures
    assert address.url == down and reason.startswith(f"cannot reach BuildKit at {down}")
    assert sorted(targets) == sorted(n for n in TARGETS if PINNED[n] == down)
    with pytest.raises(TransportError):  # asked again for a solve of its target: still that daemon
        fleet.client_for(next(s for s in plan.solves if s.target == "app"))


def test_a_fleet_cancels_the_solves_on_every_daemon() -> None:
    source, plan = plan_of(TARGETS)
    clients = [FakeClient(plan, address=a) for a in addresses()]
    fleet = Fleet(addresses(), lambda a: clients[DAEMONS.index(a.url)])  # type: ignore[arg-type,return-value]
    fleet.connect(plan.solves)
    fleet.cancel()
    used = {DAEMONS[choose(n, DAEMONS)] for n in TARGETS}
    assert {c.address.url for c in clients if c.cancelled.is_set()} == used


def test_a_persisted_cache_is_pushed_from_the_daemon_that_ran_its_step() -> None:
    text = (
        'fs app() {\n\timage "busybox"\n\trun "make" with option {\n'
        '\t\tcacheMount "/root/.npm" with option { id "npm"; persist "127.0.0.1:5000/c:1"; }\n'
        "\t}\n}\n"
        'fs docs() {\n\timage "busybox"\n\trun "true"\n}\n'
    )
    source = SourceFile("build.hlb", text)
    plan = compile_source(source, ["docs", "app"], AMD64).plan(AMD64, persist_caches=True, persist_stamp="x")
    push = next(s for s in plan.solves if s.kind == "persist")
    assert push.target == "app"
