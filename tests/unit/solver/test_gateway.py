"""GatewayResolver without a daemon: request construction, error mapping, the cache and
the build's lifecycle, against an in-process fake of Control.Solve and LLBBridge."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from hlb._proto import (
    caps_pb2,
    control_pb2,
    control_pb2_grpc,
    gateway_pb2,
    gateway_pb2_grpc,
)
from hlb.address import Address
from hlb.llb.platform import Platform
from hlb.progress.events import LogEvent, StatusBatch, StatusEvent, VertexEvent
from hlb.resolver import ResolvedImage, ResolveError
from hlb.solver import GatewayResolver, default_resolve_mode
from hlb.solver.client import BuildkitClient
from hlb.solver.gateway import (
    BUILD_ID_KEY,
    PROBE_PREFIX,
    describe_rpc_error,
    llb_caps,
    resolve_request,
    return_request,
    without_probes,
)

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
CONFIG = b'{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"]}}'


# -- requests ------------------------------------------------------------------


def test_resolve_request_carries_every_field_buildkit_reads() -> None:
    req = resolve_request("docker.io/library/busybox:latest", Platform("linux", "arm", "v7"), "pull", "sess1")
    assert req.Ref == "docker.io/library/busybox:latest"
    assert (req.Platform.OS, req.Platform.Architecture, req.Platform.Variant) == ("linux", "arm", "v7")
    assert req.ResolveMode == "pull"
    assert req.LogName == "[internal] load metadata for docker.io/library/busybox:latest"
    assert req.SessionID == "sess1"
    assert req.ResolverType == 0  # registry, not an OCI layout
    # BuildKit's field numbers (gateway.proto): Ref=1 Platform=2 ResolveMode=3 LogName=4 SessionID=6
    numbers = {f.name: f.number for f in req.DESCRIPTOR.fields}
    assert numbers == {
        "Ref": 1,
        "Platform": 2,
        "ResolveMode": 3,
        "LogName": 4,
        "ResolverType": 5,
        "SessionID": 6,
        "StoreID": 7,
        "SourcePolicies": 8,
    }


def test_return_request_always_sets_an_empty_result() -> None:
    req = return_request()
    assert req.HasField("result") and not req.HasField("error")
    assert req.result.ByteSize() == 0
    assert req.SerializeToString() == b"\x0a\x00"  # field 1, length 0: present but empty


def test_llb_caps_maps_id_to_enabled() -> None:
    pong = gateway_pb2.PongResponse(
        LLBCaps=[caps_pb2.APICap(ID="mergeop", Enabled=False), caps_pb2.APICap(ID="exec.mount.cache", Enabled=True)]
    )
    assert llb_caps(pong) == {"mergeop": False, "exec.mount.cache": True}


def test_resolve_mode_prefers_the_engine_store_on_docker_and_pulls_on_buildkitd() -> None:
    assert default_resolve_mode(Address("docker", "unix:///d.sock", "DOCKER_HOST")) == "default"
    assert default_resolve_mode(Address("buildkit", "unix:///b.sock", "BUILDKIT_HOST")) == "pull"


# -- error mapping -------------------------------------------------------------


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> list[tuple[str, Any]]:
        return []


@pytest.mark.parametrize(
    ("code", "details", "message", "fatal"),
    [
        (grpc.StatusCode.UNIMPLEMENTED, "", "BuildKit at X is too old for gateway builds (LLBBridge.Ping is not", True),
        (grpc.StatusCode.UNAVAILABLE, "connection refused", "cannot reach BuildKit at X: connection refused", True),
        (grpc.StatusCode.UNKNOWN, "forwarding Ping: no such job abc", "forwarding Ping: no such job abc", True),
        (grpc.StatusCode.UNKNOWN, "x: not found", "x: not found", False),
        (grpc.StatusCode.UNKNOWN, "line one\n  line two", "line one line two", False),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "", "LLBBridge.Ping timed out on BuildKit at X", False),
    ],
)
def test_rpc_errors_become_one_line_messages(code: grpc.StatusCode, details: str, message: str, fatal: bool) -> None:
    err = describe_rpc_error(FakeRpcError(code, details), "LLBBridge.Ping", "BuildKit at X")
    assert str(err).startswith(message)
    assert "\n" not in str(err)
    assert err.fatal is fatal


# -- a fake daemon -------------------------------------------------------------


@dataclass
class FakeDaemon:
    """Control.Solve in gateway mode and the LLBBridge calls routed to it by build id."""

    register_delay: float = 0.0
    images: dict[str, str] = field(default_factory=lambda: {"docker.io/library/busybox:latest": "sha256:" + "a" * 64})
    solves: list[control_pb2.SolveRequest] = field(default_factory=list)
    resolves: list[gateway_pb2.ResolveImageConfigRequest] = field(default_factory=list)
    returns: list[gateway_pb2.ReturnRequest] = field(default_factory=list)
    unknown_job_replies: int = 0
    finished: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._builds: dict[str, threading.Event] = {}
        self._stopped = threading.Event()

    def stop(self) -> None:
        """End every Solve still running or still to register: the server is going away."""
        with self._lock:
            self._stopped.set()
            for done in self._builds.values():
                done.set()

    # Control
    def Solve(self, request: control_pb2.SolveRequest, context: grpc.ServicerContext) -> control_pb2.SolveResponse:
        self.solves.append(request)
        assert request.Frontend == "" and not request.HasField("Definition")
        self._stopped.wait(self.register_delay)
        done = threading.Event()
        with self._lock:
            self._builds[request.Ref] = done
            if self._stopped.is_set():
                done.set()
        if not context.add_callback(done.set):  # ended by the client (Return, or cancelled) ...
            done.set()  # ... before the build registered: no callback will come
        done.wait(30)
        with self._lock:
            del self._builds[request.Ref]
        self.finished.set()
        return control_pb2.SolveResponse()

    def _build(self, context: grpc.ServicerContext) -> threading.Event:
        ids = [v for k, v in context.invocation_metadata() if k == BUILD_ID_KEY]
        with self._lock:
            build = self._builds.get(str(ids[0])) if ids else None
        if build is None:
            self.unknown_job_replies += 1
            context.abort(grpc.StatusCode.UNKNOWN, f"forwarding: no such job {ids}")
        assert build is not None
        return build

    # LLBBridge
    def ResolveImageConfig(
        self, request: gateway_pb2.ResolveImageConfigRequest, context: grpc.ServicerContext
    ) -> gateway_pb2.ResolveImageConfigResponse:
        self._build(context)
        self.resolves.append(request)
        digest = self.images.get(request.Ref)
        if digest is None:
            context.abort(
                grpc.StatusCode.UNKNOWN,
                f"failed to resolve source metadata for {request.Ref}: {request.Ref}: not found",
            )
        return gateway_pb2.ResolveImageConfigResponse(Digest=digest, Config=CONFIG, Ref=request.Ref)

    def Ping(self, request: gateway_pb2.PingRequest, context: grpc.ServicerContext) -> gateway_pb2.PongResponse:
        self._build(context)
        return gateway_pb2.PongResponse(LLBCaps=[caps_pb2.APICap(ID="mergeop", Enabled=True)])

    def Return(self, request: gateway_pb2.ReturnRequest, context: grpc.ServicerContext) -> gateway_pb2.ReturnResponse:
        self._build(context).set()
        self.returns.append(request)
        return gateway_pb2.ReturnResponse()

    def active(self) -> int:
        with self._lock:
            return len(self._builds)


class _Control(control_pb2_grpc.ControlServicer):
    def __init__(self, daemon: FakeDaemon) -> None:
        self.Solve = daemon.Solve  # type: ignore[method-assign]


class _Bridge(gateway_pb2_grpc.LLBBridgeServicer):
    def __init__(self, daemon: FakeDaemon) -> None:
        self.ResolveImageConfig = daemon.ResolveImageConfig  # type: ignore[method-assign]
        self.Ping = daemon.Ping  # type: ignore[method-assign]
        self.Return = daemon.Return  # type: ignore[method-assign]


@dataclass
class Served:
    daemon: FakeDaemon
    address: Address


def _serve(daemon: FakeDaemon, *, bridge: bool = True) -> Iterator[Served]:
    with tempfile.TemporaryDirectory() as d:
        sock = Path(d) / "buildkitd.sock"
        handlers = futures.ThreadPoolExecutor(max_workers=8)
        server = grpc.server(handlers)
        control_pb2_grpc.add_ControlServicer_to_server(_Control(daemon), server)
        if bridge:
            gateway_pb2_grpc.add_LLBBridgeServicer_to_server(_Bridge(daemon), server)
        server.add_insecure_port(f"unix:{sock}")
        server.start()
        try:
            yield Served(daemon, Address("buildkit", f"unix://{sock}", "test"))
        finally:
            daemon.stop()
            server.stop(grace=None)
            handlers.shutdown(wait=True)  # a handler still running is this test's time, not the interpreter's exit


@pytest.fixture
def served() -> Iterator[Served]:
    yield from _serve(FakeDaemon())


# -- lifecycle and cache -------------------------------------------------------


def test_one_build_serves_every_resolution_and_results_are_cached(served: Served) -> None:
    with GatewayResolver(served.address) as resolver:
        assert served.daemon.solves == []  # lazily started
        first = resolver.resolve("busybox", AMD64)
        assert first == ResolvedImage("docker.io/library/busybox:latest", "sha256:" + "a" * 64, CONFIG)
        assert resolver.resolve("docker.io/library/busybox:latest", AMD64) is first
        resolver.resolve("busybox:latest", ARM64)
        assert resolver.ping() == {"mergeop": True}
        assert len(served.daemon.solves) == 1
        assert [(r.Ref, r.Platform.Architecture) for r in served.daemon.resolves] == [
            ("docker.io/library/busybox:latest", "amd64"),
            ("docker.io/library/busybox:latest", "arm64"),
        ]
        assert served.daemon.resolves[0].ResolveMode == "pull"  # a buildkitd address
        assert served.daemon.solves[0].Ref == resolver.build_ref
    assert [r.HasField("result") for r in served.daemon.returns] == [True]
    assert served.daemon.finished.wait(5)
    assert served.daemon.active() == 0


def test_the_gateway_build_is_internal_so_the_daemon_keeps_no_history_record_of_it(served: Served) -> None:
    """A build-history record costs the daemon a database write (~15-30 ms on the engine) that the user's
    solves queue behind; the gateway build is hlb's own, as buildx's internal builds are."""
    with GatewayResolver(served.address) as resolver:
        resolver.resolve("busybox", AMD64)
    assert [s.Internal for s in served.daemon.solves] == [True]


def test_close_without_any_resolution_starts_nothing(served: Served) -> None:
    GatewayResolver(served.address).close()
    assert served.daemon.solves == [] and served.daemon.returns == []


def test_an_unknown_image_is_a_cached_one_line_error_and_the_build_stays_usable(served: Served) -> None:
    with GatewayResolver(served.address, resolve_mode="local") as resolver:
        for _ in range(2):
            with pytest.raises(ResolveError) as err:
                resolver.resolve("nothere:v1", AMD64)
            assert str(err.value) == "cannot resolve image docker.io/library/nothere:v1 for linux/amd64: not found"
        assert len(served.daemon.resolves) == 1
        assert resolver.resolve("busybox", AMD64).digest.startswith("sha256:")
        assert {r.ResolveMode for r in served.daemon.resolves} == {"local"}
    assert len(served.daemon.returns) == 1


def test_has_image_answers_with_a_probe_named_so_its_progress_is_hidden(served: Served) -> None:
    with GatewayResolver(served.address) as resolver:
        assert resolver.has_image("busybox", AMD64) is True
        assert resolver.has_image("127.0.0.1:5000/app/modules:latest", AMD64) is False
        assert resolver.has_image("127.0.0.1:5000/app/modules:latest", AMD64) is False  # kept
    assert [r.LogName for r in served.daemon.resolves] == [
        PROBE_PREFIX + "docker.io/library/busybox:latest",
        PROBE_PREFIX + "127.0.0.1:5000/app/modules:latest",
    ]


def test_the_progress_of_probes_is_filtered_out() -> None:
    seen: list[StatusBatch] = []
    handle = without_probes(seen.append)
    probe, other = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    handle(StatusBatch(vertexes=(VertexEvent(probe, PROBE_PREFIX + "x"), VertexEvent(other, "[internal] load x"))))
    handle(StatusBatch(vertexes=(VertexEvent(probe, PROBE_PREFIX + "x", error="x: not found"),)))
    handle(StatusBatch(statuses=(StatusEvent("s", probe),), logs=(LogEvent(other, 1, b"hi"),)))
    assert [[v.digest for v in b.vertexes] for b in seen] == [[other], []]
    assert seen[1].statuses == () and len(seen[1].logs) == 1


def test_an_invalid_reference_never_reaches_the_daemon(served: Served) -> None:
    with GatewayResolver(served.address) as resolver, pytest.raises(ResolveError, match="invalid image reference"):
        resolver.resolve("Busy Box", AMD64)
    assert served.daemon.solves == []


def test_calls_are_retried_until_the_daemon_registered_the_build() -> None:
    for served in _serve(FakeDaemon(register_delay=0.3)):
        with GatewayResolver(served.address) as resolver:
            assert resolver.resolve("busybox", AMD64).ref == "docker.io/library/busybox:latest"
        assert served.daemon.unknown_job_replies >= 1
        assert len(served.daemon.returns) == 1


def test_a_build_that_never_registers_gives_up() -> None:
    for served in _serve(FakeDaemon(register_delay=3.0)):
        resolver = GatewayResolver(served.address, register_timeout=0.3)
        start = time.monotonic()
        unregistered = r"image docker.io/library/busybox:latest: .* did not register the gateway build in 0.3 s"
        with pytest.raises(ResolveError, match=unregistered + r" \(.*no such job"):
            resolver.resolve("busybox", AMD64)
        assert time.monotonic() - start < 2.0
        with pytest.raises(ResolveError, match="no such job"):  # the build is broken: no second wait
            resolver.resolve("alpine", AMD64)
        resolver.close()


def test_an_exception_in_the_with_block_still_returns() -> None:
    for served in _serve(FakeDaemon()):
        with pytest.raises(KeyboardInterrupt), GatewayResolver(served.address) as resolver:
            resolver.resolve("busybox", AMD64)
            raise KeyboardInterrupt
        assert len(served.daemon.returns) == 1
        assert served.daemon.finished.wait(5)


def test_a_closed_resolver_refuses_work(served: Served) -> None:
    resolver = GatewayResolver(served.address)
    resolver.close()
    resolver.close()  # idempotent
    with pytest.raises(ResolveError, match="resolver is closed"):
        resolver.resolve("busybox", AMD64)


def test_a_borrowed_client_stays_open(served: Served) -> None:
    client = BuildkitClient(served.address)
    try:
        with GatewayResolver(client) as resolver:
            resolver.resolve("busybox", AMD64)
        with GatewayResolver(client) as again:  # same channel, a second gateway build
            again.resolve("busybox", AMD64)
        assert len(served.daemon.solves) == 2 and len(served.daemon.returns) == 2
    finally:
        client.close()


# -- daemons that cannot serve ---------------------------------------------------


def test_a_daemon_without_llbbridge_is_too_old() -> None:
    for served in _serve(FakeDaemon(), bridge=False):
        with GatewayResolver(served.address) as resolver:
            with pytest.raises(ResolveError) as err:
                resolver.resolve("busybox", AMD64)
            assert str(err.value) == (
                "cannot resolve image docker.io/library/busybox:latest: BuildKit at "
                f"{served.address.url} (from test) is too old for gateway builds "
                "(LLBBridge.ResolveImageConfig is not implemented)"
            )
            with pytest.raises(ResolveError, match="too old"):
                resolver.ping()


@pytest.mark.parametrize(
    "address",
    [
        Address("buildkit", "unix:///nonexistent/buildkitd.sock", "BUILDKIT_HOST"),
        Address("docker", "unix:///nonexistent/docker.sock", "DOCKER_HOST"),
    ],
    ids=["buildkit", "docker"],
)
def test_an_unreachable_daemon_is_a_resolve_error_naming_the_ref(address: Address) -> None:
    start = time.monotonic()
    with GatewayResolver(address) as resolver, pytest.raises(ResolveError) as err:
        resolver.resolve("busybox", AMD64)
    message = str(err.value)
    assert message.startswith("cannot resolve image docker.io/library/busybox:latest: ")
    assert "/nonexistent/" in message and "\n" not in message
    assert time.monotonic() - start < 5.0
