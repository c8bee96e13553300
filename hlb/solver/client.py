"""``BuildkitClient``: connect to BuildKit, solve a definition, stream its status."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from hlb._proto import control_pb2, control_pb2_grpc
from hlb.address import Address
from hlb.llb import Definition
from hlb.progress.events import LogEvent, StatusBatch, StatusEvent, VertexEvent, WarningEvent
from hlb.progress.timeline import mark
from hlb.session import Attachable, Session, new_id
from hlb.session.grpc_transport import ControlSessionPipe
from hlb.session.session import GRPC_OPTIONS
from hlb.solver.connhelper import HelperDialer, check_container, check_docker_api, check_kube_pod, docker_api
from hlb.solver.errors import SolveError, SolveFailure, decode, step_paths
from hlb.transport import DockerHost, Relay, TransportError, Upgraded, dial_tcp, probe
from hlb.values import CacheEntry  # one type for a cache entry, from the plan to the wire

StatusHandler = Callable[[StatusBatch], None]


@dataclass(frozen=True, slots=True)
class SolveOptions:
    cache_imports: Sequence[CacheEntry] = ()
    cache_exports: Sequence[CacheEntry] = ()
    frontend_attrs: Mapping[str, str] = field(default_factory=dict)
    exporters: Sequence[CacheEntry] = ()  # type and attrs, as for caches
    entitlements: Sequence[str] = ()


@dataclass
class SolveResult:
    ref: str
    exporter_response: dict[str, str]
    duration: float


@dataclass(frozen=True, slots=True)
class DiskRecord:
    """One record of the daemon's disk usage (``Control.DiskUsage``, or one that ``Control.Prune`` deleted).

    Times are Unix seconds (``last_used_at`` None when never used); ``record_type`` is
    ``regular`` when the daemon leaves it empty, as BuildKit's own client reads it.
    """

    id: str
    record_type: str = "regular"
    size: int = 0
    description: str = ""
    mutable: bool = False
    in_use: bool = False
    shared: bool = False
    created_at: float | None = None
    last_used_at: float | None = None
    usage_count: int = 0
    parents: tuple[str, ...] = ()


class Cancelled(Exception):
    """The solve was cancelled by :meth:`BuildkitClient.cancel` (Ctrl-C)."""


class BuildkitClient:
    def __init__(self, address: Address) -> None:
        self.address = address
        self.docker: DockerHost | None = None
        self._relay: Relay | None = None
        self._dialer: HelperDialer | None = None
        self._lock = threading.Lock()
        self._active: set[Any] = set()  # Solve futures in flight
        self._cancelled = threading.Event()
        mark(f"connect to {address.describe()}")
        self.channel = self._connect(address)
        self.control = control_pb2_grpc.ControlStub(self.channel)
        mark("connected")

    def _connect(self, address: Address) -> grpc.Channel:
        """A channel to the daemon; fails fast, naming the address, when nothing listens there."""
        if address.kind == "docker":
            docker, self._dialer = docker_api(address)  # ssh://: the engine's API over `ssh HOST docker ...`
            check_docker_api(docker, self._dialer)
            self.docker = docker
            self._relay = Relay(lambda: docker.upgrade("/grpc"), "grpc")
            return grpc.insecure_channel(self._relay.address, options=GRPC_OPTIONS)
        scheme = address.scheme
        if scheme == "unix":
            probe(address)
            return grpc.insecure_channel(f"unix:{address.socket_path}", options=GRPC_OPTIONS)
        if scheme in ("docker-container", "kube-pod"):
            self._dialer = HelperDialer(address)
            check = check_container if scheme == "docker-container" else check_kube_pod
            check(address, self._dialer.argv[0])
            self._relay = Relay(self._dialer, "dial-stdio")
            return grpc.insecure_channel(self._relay.address, options=GRPC_OPTIONS)
        if scheme != "tcp":
            raise TransportError(f"unsupported BuildKit address {address.url!r} (from {address.source})")
        # Through a relay too, so the TCP connection gets keepalive probes (see transport.py).
        host, port = address.host_port
        probe(address)
        what = address.describe()
        self._relay = Relay(lambda: Upgraded(dial_tcp(host, port, what)), "tcp")
        if address.tls is None:
            return grpc.insecure_channel(self._relay.address, options=GRPC_OPTIONS)
        try:
            ca, key, cert = address.tls.read()
        except OSError as e:
            self._relay.close()
            raise TransportError(f"cannot reach {what}: reading the TLS files: {e.strerror or e}: {e.filename}") from e
        name = address.tls.server_name or host
        creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
        options = [*GRPC_OPTIONS, ("grpc.ssl_target_name_override", name), ("grpc.default_authority", name)]
        return grpc.secure_channel(self._relay.address, creds, options=options)

    def close(self) -> None:
        self.channel.close()
        if self._relay is not None:
            self._relay.close()
        mark("client closed")

    def __enter__(self) -> BuildkitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cancel(self) -> None:
        """Cancel every solve in flight and refuse new ones (Ctrl-C): the daemon stops their builds."""
        self._cancelled.set()
        with self._lock:
            active = list(self._active)
        for future in active:
            future.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _unreachable(self, err: grpc.RpcError) -> TransportError:
        reason = err.details() if hasattr(err, "details") else str(err)
        if self._relay is not None and self._relay.error is not None:
            reason = str(self._relay.error)
        elif self._dialer is not None and self._dialer.reason():
            reason = f"{reason} ({' '.join(self._dialer.argv)}: {self._dialer.reason()})"
        text = str(reason)
        if text.startswith("cannot reach "):
            return TransportError(text)
        return TransportError(f"cannot reach {self.address.describe()}: {text}")

    def disk_usage(self, filters: Sequence[str] = ()) -> list[DiskRecord]:
        """Every record of the daemon's build cache (cache mounts included); ``filters`` as BuildKit reads
        them (several strings are ORed, the comma-separated parts of one string ANDed)."""
        try:
            response = wait_future(self.control.DiskUsage.future(control_pb2.DiskUsageRequest(filter=list(filters))))
        except grpc.RpcError as e:
            raise self._failed("DiskUsage", e) from e
        return [to_record(r) for r in response.record]

    def prune(
        self, filters: Sequence[str] = (), *, all: bool = False, keep_duration: float = 0, keep_bytes: int = 0
    ) -> list[DiskRecord]:
        """Prune through the daemon's own ``Control.Prune``; returns the records it deleted.

        ``keep_duration`` (seconds) spares records used more recently; ``keep_bytes`` is v0.13's
        ``keepBytes`` (field 4, ``reservedSpace`` since v0.17): the daemon keeps that much.
        """
        req = control_pb2.PruneRequest(
            filter=list(filters), all=all, keepDuration=int(keep_duration * 1e9), reservedSpace=keep_bytes
        )
        deleted: list[DiskRecord] = []
        try:
            for r in self.control.Prune(req):
                deleted.append(to_record(r))
        except grpc.RpcError as e:
            raise self._failed("Prune", e) from e
        return deleted

    def _failed(self, call: str, err: grpc.RpcError) -> TransportError:
        if err.code() == grpc.StatusCode.UNAVAILABLE:
            return self._unreachable(err)
        details = err.details() if hasattr(err, "details") else str(err)
        return TransportError(f"{self.address.describe()} answered {call} with an error: {details}")

    def open_session(self, attachables: Sequence[Attachable] = ()) -> Session | None:
        """A session serving ``attachables``, attached to the daemon.

        The Docker engine takes it over ``POST /session``; a standalone buildkitd
        inside a ``Control.Session`` stream on the channel.
        """
        session = Session(attachables)
        try:
            if self.docker is not None:
                session.attach_docker(self.docker)
            else:
                pipe = ControlSessionPipe(self.control, session.path, session.headers())
                session.on_close(pipe.close)
            mark(f"session {session.id} attached")
        except (TransportError, OSError) as e:
            session.close()
            if isinstance(e, TransportError):
                raise
            raise TransportError(f"cannot attach a session to {self.address.describe()}: {e}") from e
        return session

    def solve(
        self,
        definition: Definition | None,
        *,
        session: Session | None = None,
        on_status: StatusHandler | None = None,
        options: SolveOptions = SolveOptions(),
        frontend: Callable[[str], None] | None = None,
    ) -> SolveResult:
        """Solve ``definition``; or, with ``frontend`` and no definition, a gateway-mode build.

        ``frontend(ref)`` runs once the Solve is started: it drives the build with
        LLBBridge calls for ``ref`` and must end it with ``LLBBridge.Return``
        (hlb.solver.export). The exporters and caches apply to what it returns.
        """
        if frontend is None and (definition is None or definition.empty):
            raise ValueError("cannot solve an empty definition")
        # No need to wait for the session's first health check (it comes after the
        # daemon's 5 s interval): the daemon's session lookups wait for registration.
        ref = new_id()
        req = control_pb2.SolveRequest(
            Ref=ref,
            Session=session.id if session else "",
            FrontendAttrs=dict(options.frontend_attrs),
        )
        if frontend is None and definition is not None:
            req.Definition.CopyFrom(definition.to_pb())
        if len(options.exporters) == 1:
            # One exporter: the field every BuildKit version reads (Exporters is v0.13+).
            req.ExporterDeprecated = options.exporters[0].type
            req.ExporterAttrsDeprecated.update(dict(options.exporters[0].attrs))
        else:
            for x in options.exporters:
                req.Exporters.add(Type=x.type, Attrs=dict(x.attrs))
        req.Entitlements.extend(options.entitlements)
        for e in options.cache_imports:
            req.Cache.Imports.add(Type=e.type, Attrs=dict(e.attrs))
        for e in options.cache_exports:
            req.Cache.Exports.add(Type=e.type, Attrs=dict(e.attrs))
        if self._cancelled.is_set():
            raise Cancelled("cancelled before it started")
        status = _StatusStream(self.control, ref, on_status)
        start = time.monotonic()
        future = self.control.Solve.future(req)
        mark(f"solve {ref} sent")
        with self._lock:
            self._active.add(future)
        if self._cancelled.is_set():  # cancel() ran between the check above and the add
            future.cancel()
        try:
            if frontend is not None:
                frontend(ref)
            response: control_pb2.SolveResponse = wait_future(future)
        except grpc.FutureCancelledError as e:
            status.finish(grace=1.0)
            raise Cancelled("cancelled") from e
        except grpc.RpcError as e:
            status.finish(grace=2.0)
            if e.code() == grpc.StatusCode.CANCELLED and self._cancelled.is_set():
                raise Cancelled("cancelled") from e
            if e.code() == grpc.StatusCode.UNAVAILABLE:
                raise self._unreachable(e) from e
            raise SolveError(decode(e)) from e
        except BaseException:
            future.cancel()
            status.finish(grace=1.0)
            raise
        finally:
            with self._lock:
                self._active.discard(future)
        mark(f"solve {ref} done")
        status.finish(grace=5.0)
        mark(f"solve {ref} status drained")
        return SolveResult(ref, dict(response.ExporterResponse), time.monotonic() - start)


def wait_future(future: Any) -> Any:
    """Wait for a unary gRPC future while staying responsive to Ctrl-C (the future is cancelled then)."""
    try:
        while True:
            try:
                return future.result(timeout=0.25)
            except grpc.FutureTimeoutError:
                continue
    except BaseException:
        future.cancel()
        raise


class _StatusStream:
    """Reads ``Control.Status`` for one build on a thread and hands out typed batches."""

    def __init__(self, control: control_pb2_grpc.ControlStub, ref: str, handler: StatusHandler | None) -> None:
        self._call = control.Status(control_pb2.StatusRequest(Ref=ref))
        self._handler = handler
        self._thread = threading.Thread(target=self._run, daemon=True, name="hlb-status")
        self._thread.start()

    def _run(self) -> None:
        first = True
        try:
            for resp in self._call:
                if first:
                    mark("first status")
                    first = False
                if self._handler is not None:
                    self._handler(to_batch(resp))
        except grpc.RpcError:
            pass  # progress is best effort: the Solve call reports the build's outcome
        mark("status stream ended")

    def finish(self, grace: float) -> None:
        self._thread.join(grace)
        if self._thread.is_alive():
            self._call.cancel()
            self._thread.join(1.0)


def _ts(msg: Any, name: str) -> float | None:
    if not msg.HasField(name):
        return None
    t = getattr(msg, name)
    return float(t.seconds) + float(t.nanos) / 1e9


def to_record(r: control_pb2.UsageRecord) -> DiskRecord:
    return DiskRecord(
        id=r.ID,
        record_type=r.RecordType or "regular",
        size=r.Size,
        description=r.Description,
        mutable=r.Mutable,
        in_use=r.InUse,
        shared=r.Shared,
        created_at=_ts(r, "CreatedAt"),
        last_used_at=_ts(r, "LastUsedAt"),
        usage_count=r.UsageCount,
        parents=tuple(r.Parents) or ((r.Parent,) if r.Parent else ()),
    )


def to_batch(resp: control_pb2.StatusResponse) -> StatusBatch:
    return StatusBatch(
        vertexes=tuple(
            VertexEvent(
                digest=v.digest,
                name=v.name,
                inputs=tuple(v.inputs),
                cached=v.cached,
                started=_ts(v, "started"),
                completed=_ts(v, "completed"),
                error=step_paths(v.error),
            )
            for v in resp.vertexes
        ),
        statuses=tuple(
            StatusEvent(
                id=s.ID,
                vertex=s.vertex,
                name=s.name,
                current=s.current,
                total=s.total,
                timestamp=_ts(s, "timestamp"),
                started=_ts(s, "started"),
                completed=_ts(s, "completed"),
            )
            for s in resp.statuses
        ),
        logs=tuple(
            LogEvent(vertex=lg.vertex, stream=lg.stream, data=lg.msg, timestamp=_ts(lg, "timestamp"))
            for lg in resp.logs
        ),
        warnings=tuple(
            WarningEvent(
                vertex=w.vertex,
                level=w.level,
                short=w.short.decode("utf-8", "replace"),
                detail=tuple(d.decode("utf-8", "replace") for d in w.detail),
                url=w.url,
            )
            for w in resp.warnings
        ),
    )


__all__ = [
    "BuildkitClient",
    "CacheEntry",
    "Cancelled",
    "DiskRecord",
    "SolveError",
    "SolveFailure",
    "SolveOptions",
    "SolveResult",
    "TransportError",
]
