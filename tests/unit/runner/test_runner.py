"""Running a plan (hlb.build.execute and hlb.build.runner) against an in-process fake client.

What the plan promises (hlb/compiler/plan.py) and the runner must keep: solves in
parallel unless a pipeline's stage orders them, one session per solve with exactly
its services, each solve's exporters, caches and entitlements sent as planned, the
first failure ending a sequence, failures and cache outcomes reported, and each
finished solve's exporter response in the outcome.

(The directory is not named after hlb.build: pytest does not collect below directories named `build`.)
"""

from __future__ import annotations

import _thread
import io
import json
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import pytest
from fake_client import FakeClient, SolveCall

from hlb import cache_options
from hlb.api import compile_source
from hlb.build import Outcome, execute
from hlb.compiler.plan import Plan
from hlb.llb import Platform
from hlb.progress.display import PlainProgress
from hlb.progress.events import StatusBatch, VertexEvent
from hlb.session.filesync import FileSync
from hlb.solver.client import Cancelled
from hlb.solver.errors import SolveError, SolveFailure
from hlb.source import SourceFile
from hlb.transport import TransportError
from hlb.values import CacheEntry

AMD64 = Platform("linux", "amd64")
REGISTRY_CACHE = CacheEntry("registry", {"ref": "127.0.0.1:5000/cache/app:ci"})
BUILD = 'fs build() {\n\timage "busybox"\n\trun "make"\n}\n'
GOLANG = 'target fs { image "golang:alpine"; }'
PIPELINE = (
    'pipeline default() {\n\tstage fs { image "golang:alpine"; }\n\tstage fs { image "alpine"; } build\n}\n' + BUILD
)


@pytest.fixture(autouse=True)
def _no_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))  # every session gets registry auth


def compiled(text: str, targets: Sequence[str] = ("default",)) -> tuple[SourceFile, Plan]:
    return compiled_with(text, targets)


def compiled_with(
    text: str, targets: Sequence[str] = ("default",), **caches: Sequence[CacheEntry]
) -> tuple[SourceFile, Plan]:
    source = SourceFile("build.hlb", text)
    return source, compile_source(source, list(targets), AMD64).plan(AMD64, **caches)


def run(client: FakeClient, source: SourceFile) -> tuple[Outcome, str]:
    out = io.StringIO()
    progress = PlainProgress(out)
    try:
        outcome = execute(client.plan, client, source, progress=progress)  # type: ignore[arg-type]
    finally:
        progress.close()
    return outcome, out.getvalue()


def exec_digest(call: SolveCall) -> str:
    (digest,) = [d for d, kind in call.solve.definition.op_kinds.items() if kind == "exec"]
    return digest


# -- order and concurrency -----------------------------------------------------------------


def test_stages_run_in_order_and_the_solves_of_a_stage_at_the_same_time() -> None:
    source, plan = compiled(PIPELINE)
    both_running = threading.Barrier(2, timeout=5)  # broken (a failure) unless the two solves overlap

    def script(call: SolveCall, client: FakeClient) -> dict[str, str]:
        if call.title != GOLANG:
            both_running.wait()
        return {}

    client = FakeClient(plan, script)
    outcome, out = run(client, source)
    assert outcome.code == 0
    assert client.events[:2] == [("start", GOLANG), ("end", GOLANG)]  # the first stage, alone
    # Both solves of the second stage started before either ended.
    assert [kind for kind, _ in client.events[2:]] == ["start", "start", "end", "end"]
    assert {title for _, title in client.events[2:]} == {'target fs { image "alpine"; }', "target build"}
    assert sorted(outcome.responses) == [1, 2, 3]
    assert out.count("steps cached") == 3


def test_a_failed_stage_ends_the_pipeline_and_is_reported_at_its_line() -> None:
    text = 'pipeline default() {\n\tstage build\n\tstage fs { image "alpine"; }\n}\n' + BUILD

    def script(call: SolveCall, client: FakeClient) -> dict[str, str]:
        message = 'process "/bin/sh -c make" did not complete successfully: exit code: 2'
        raise SolveError(SolveFailure(message, vertex=exec_digest(call)))

    source, plan = compiled(text)
    client = FakeClient(plan, script)
    outcome, out = run(client, source)
    assert outcome == Outcome(1, {})
    assert [title for kind, title in client.events if kind == "start"] == ["target build"]  # stage 2 never ran
    assert "exit code: 2" in out
    assert "build.hlb:7:2: error: " in out and 'run "make"' in out  # the step's line, not the stage's
    assert all(session.closed for session in client.sessions)


def test_parallel_solves_failing_at_one_shared_step_report_it_once() -> None:
    text = (
        'fs base() {\n\timage "busybox"\n\trun "make"\n}\n'
        'fs a() {\n\tbase\n\tmkfile "/a" 0o644 "a"\n}\n'
        'fs b() {\n\tbase\n\tmkfile "/b" 0o644 "b"\n}\n'
    )
    source, plan = compiled(text, ["a", "b"])
    both_running = threading.Barrier(2, timeout=5)

    def script(call: SolveCall, client: FakeClient) -> dict[str, str]:
        both_running.wait()
        kinds = call.solve.definition.op_kinds
        (run_make,) = [d for d, k in kinds.items() if k == "exec"]
        raise SolveError(SolveFailure("exit code: 2", vertex=run_make))

    client = FakeClient(plan, script)
    outcome, out = run(client, source)
    assert outcome.code == 1
    assert out.count("exit code: 2") == 1
    assert out.count("failed at the same step as solve") == 1


# -- what each solve is given --------------------------------------------------------------


def test_each_solve_gets_one_session_with_exactly_its_services(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    text = (
        f'fs withlocal() {{\n\tlocal "{tmp_path / "src"}"\n}}\n'
        'fs plain() {\n\timage "busybox"\n}\n'
        "pipeline default() {\n\tstage withlocal plain\n}\n"
    )
    source, plan = compiled(text)
    client = FakeClient(plan)
    outcome, _ = run(client, source)
    assert outcome.code == 0
    assert len(client.sessions) == len(client.calls) == 2
    for call in client.calls:
        assert call.session is not None and call.session.closed
        assert call.session in client.sessions
        syncs = [a for a in call.session.attachables if isinstance(a, FileSync)]
        if call.title == "target withlocal":
            (sync,) = syncs
            assert [d.path for d in sync.dirs.values()] == [str(tmp_path / "src")]
        else:
            assert syncs == []
    assert client.sessions[0] is not client.sessions[1]


def test_exporters_caches_and_entitlements_are_sent_as_planned() -> None:
    text = (
        'fs default() {\n\timage "busybox"\n\trun "make" with security("insecure")\n'
        '\tdockerPush "127.0.0.1:5000/app:1"\n}\n'
    )
    source, plan = compiled_with(text, cache_from=[REGISTRY_CACHE], cache_to=[REGISTRY_CACHE])
    client = FakeClient(plan, lambda call, _: {"containerimage.digest": "sha256:" + "d" * 64} if call.frontend else {})
    outcome, out = run(client, source)
    assert outcome.code == 0
    calls = {c.title: c for c in client.calls}
    push, target = calls["dockerPush 127.0.0.1:5000/app:1"], calls["target default"]
    assert [(x.type, dict(x.attrs)) for x in push.options.exporters] == [
        ("image", {"name": "127.0.0.1:5000/app:1", "push": "true"})
    ]
    assert list(push.options.cache_imports) == [REGISTRY_CACHE] and list(push.options.cache_exports) == []
    assert list(target.options.exporters) == [] and list(target.options.cache_exports) == [REGISTRY_CACHE]
    assert list(push.options.entitlements) == list(target.options.entitlements) == ["security.insecure"]
    # The pushed image carries its config: a gateway-mode build of the solve's definition.
    assert push.definition is None and push.frontend.definition is push.solve.definition
    assert push.frontend.config == push.solve.image_config
    assert target.definition is target.solve.definition and target.frontend is None
    assert outcome.responses[push.solve.index] == {"containerimage.digest": "sha256:" + "d" * 64}
    assert f"pushed 127.0.0.1:5000/app:1@sha256:{'d' * 64}" in out


def test_a_solve_that_cannot_be_prepared_opens_no_session() -> None:
    source, plan = compiled_with('fs default() {\n\timage "busybox"\n}\n', cache_to=[CacheEntry("local", {})])
    client = FakeClient(plan)
    outcome, out = run(client, source)
    assert outcome.code == 1
    assert "hlb: error: target default: a type=local cache export needs dest=DIR" in out
    assert client.sessions == [] and client.calls == []


def test_a_local_cache_export_is_recorded_from_the_exporter_response(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    descriptor = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + "c" * 64, "size": 1}
    source, plan = compiled_with(
        'fs default() {\n\timage "busybox"\n}\n', cache_to=[CacheEntry("local", {"dest": str(cache)})]
    )
    client = FakeClient(plan, lambda call, _: {"cache.manifest": json.dumps(descriptor)})
    outcome, _ = run(client, source)
    assert outcome.code == 0
    (manifest,) = json.loads((cache / "index.json").read_text())["manifests"]
    assert manifest["digest"] == descriptor["digest"]
    assert manifest["annotations"]["org.opencontainers.image.ref.name"] == "latest"


# -- failures ------------------------------------------------------------------------------


def test_a_cancelled_solve_exits_130_and_an_unreachable_daemon_1() -> None:
    source, plan = compiled('fs default() {\n\timage "busybox"\n}\n')

    def cancelled(call: SolveCall, client: FakeClient) -> dict[str, str]:
        raise Cancelled("cancelled")

    def unreachable(call: SolveCall, client: FakeClient) -> dict[str, str]:
        raise TransportError("cannot reach BuildKit at unix:///run/fake-buildkitd.sock: connection refused")

    assert run(FakeClient(plan, cancelled), source)[0] == Outcome(130, {})
    outcome, out = run(FakeClient(plan, unreachable), source)
    assert outcome == Outcome(1, {})
    assert "hlb: error: cannot reach BuildKit at unix:///run/fake-buildkitd.sock: connection refused" in out


def main_thread_waits_for_the_solves() -> None:
    """Wait until the main thread is in the runner's wait for the solves of a parallel group (where a
    Ctrl-C lands while solves run; not while it is still starting them)."""
    main = threading.main_thread().ident
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(main or -1)
        if frame is not None and any(f.name == "_result" for f in traceback.extract_stack(frame)):
            return
        time.sleep(0.01)
    raise AssertionError("the runner never waited for the solves")


def test_ctrl_c_cancels_the_solves_still_running() -> None:
    source, plan = compiled('pipeline default() {\n\tstage fs { image "alpine"; } build\n}\n' + BUILD)
    started = threading.Barrier(2, timeout=5)

    def script(call: SolveCall, client: FakeClient) -> dict[str, str]:
        started.wait()
        if call.title == "target build":
            main_thread_waits_for_the_solves()
            _thread.interrupt_main()  # Ctrl-C: the main thread gets the KeyboardInterrupt
        if not client.cancelled.wait(5):
            raise AssertionError("the other solve was never cancelled")
        raise Cancelled("cancelled")

    client = FakeClient(plan, script)
    with pytest.raises(KeyboardInterrupt):
        run(client, source)
    assert client.cancelled.is_set()
    assert [kind for kind, _ in client.events] == ["start", "start", "end", "end"]  # both ended before the raise


def test_an_empty_plan_solves_nothing() -> None:
    client = FakeClient(Plan(None))
    assert run(client, SourceFile("build.hlb", ""))[0] == Outcome(0, {})
    assert client.sessions == [] and client.calls == []


# -- cache outcomes ------------------------------------------------------------------------


def test_cache_outcomes_come_from_the_daemons_progress() -> None:
    source, plan = compiled_with(
        'fs default() {\n\timage "busybox"\n\trun "make"\n}\n', cache_from=[REGISTRY_CACHE], cache_to=[REGISTRY_CACHE]
    )

    def script(call: SolveCall, client: FakeClient) -> dict[str, str]:
        assert call.on_status is not None and call.session is not None
        (sent,) = call.options.cache_imports
        missing = f"{sent}: not found"
        step = cache_options.import_step(sent)
        importing = VertexEvent("sha256:" + "1" * 64, step, started=1.0, completed=2.0, error=missing)
        exporting = VertexEvent(
            cache_options.export_vertex(call.session.id, 0), "exporting cache", started=3.0, completed=4.0
        )
        call.on_status(StatusBatch(vertexes=(importing, exporting)))
        return {}

    outcome, out = run(FakeClient(plan, script), source)
    assert outcome.code == 0
    assert f"  cache from {REGISTRY_CACHE}: miss: not found\n" in out
    assert f"  cache to {REGISTRY_CACHE}: exported\n" in out
    assert "warning: this cache was not found, so the solve ran without it" in out


def test_caches_the_daemon_says_nothing_of_are_reported_so() -> None:
    source, plan = compiled_with(
        'fs default() {\n\timage "busybox"\n\trun "make"\n}\n', cache_from=[REGISTRY_CACHE], cache_to=[REGISTRY_CACHE]
    )
    outcome, out = run(FakeClient(plan), source)
    assert outcome.code == 0
    assert f"  cache from {REGISTRY_CACHE}: not imported: the daemon never read it\n" in out
    assert f"  cache to {REGISTRY_CACHE}: not exported: the daemon did not report exporting it\n" in out
