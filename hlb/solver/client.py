"""``BuildkitClient``: connect to BuildKit, solve a definition, stream its status."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import grpc

from hlb._proto import control_pb2, control_pb2_grpc
from hlb.llb import Definition
from hlb.progress.events import LogEvent, StatusBatch, StatusEvent, VertexEvent, WarningEvent
from hlb.session import Attachable, Session, new_id
from hlb.session.session import GRPC_OPTIONS
from hlb.solver.address import Address
from hlb.solver.errors import SolveError, SolveFailure, decode
from hlb.solver.transport import DockerHost, Relay, TransportError

StatusHandler = Callable[[StatusBatch], None]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A cache import or export, as buildx writes it: ``type=registry,ref=...``."""

    type: str
    attrs: Mapping[str, str] = field(default_factory=dict)


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


class BuildkitClient:
    def __init__(self, address: Address) -> None:
        self.address = address
        self._relay: Relay | None = None
        self.docker: DockerHost | None = None
        if address.kind == "docker":
            self.docker = DockerHost(address.url)
            self.docker.connect().close()  # fail fast with a readable error
            docker = self.docker
            self._relay = Relay(lambda: docker.upgrade("/grpc"), "grpc")
            target = self._relay.address
        else:
            target = _grpc_target(address.url)
        self.channel = grpc.insecure_channel(target, options=GRPC_OPTIONS)
        self.control = control_pb2_grpc.ControlStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        if self._relay is not None:
            self._relay.close()

    def __enter__(self) -> BuildkitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unreachable(self, err: grpc.RpcError) -> TransportError:
        reason = err.details() if hasattr(err, "details") else str(err)
        if self._relay is not None and self._relay.error is not None:
            reason = str(self._relay.error)
        return TransportError(f"cannot reach {self.address.describe()}: {reason}")

    def open_session(self, attachables: Sequence[Attachable] = ()) -> Session | None:
        """A session serving ``attachables``, attached to the daemon; None where it cannot be attached yet."""
        if self.docker is None:
            return None  # Control.Session transport for standalone buildkitd: issue #5
        session = Session(attachables)
        try:
            session.attach_docker(self.docker)
        except TransportError:
            session.close()
            raise
        return session

    def solve(
        self,
        definition: Definition,
        *,
        session: Session | None = None,
        on_status: StatusHandler | None = None,
        options: SolveOptions = SolveOptions(),
    ) -> SolveResult:
        if definition.empty:
            raise ValueError("cannot solve an empty definition")
        # No need to wait for the session's first health check (it comes after the
        # daemon's 5 s interval): the daemon's session lookups wait for registration.
        ref = new_id()
        req = control_pb2.SolveRequest(
            Ref=ref,
            Definition=definition.to_pb(),
            Session=session.id if session else "",
            FrontendAttrs=dict(options.frontend_attrs),
        )
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
        status = _StatusStream(self.control, ref, on_status)
        start = time.monotonic()
        future = self.control.Solve.future(req)
        try:
            response = _wait(future)
        except grpc.RpcError as e:
            status.finish(grace=2.0)
            if e.code() == grpc.StatusCode.UNAVAILABLE:
                raise self._unreachable(e) from e
            raise SolveError(decode(e)) from e
        except BaseException:
            future.cancel()
            status.finish(grace=2.0)
            raise
        status.finish(grace=5.0)
        return SolveResult(ref, dict(response.ExporterResponse), time.monotonic() - start)


def _wait(future: Any) -> control_pb2.SolveResponse:
    """Wait for a unary future while staying responsive to Ctrl-C."""
    while True:
        try:
            response: control_pb2.SolveResponse = future.result(timeout=0.25)
            return response
        except grpc.FutureTimeoutError:
            continue


class _StatusStream:
    """Reads ``Control.Status`` for one build on a thread and hands out typed batches."""

    def __init__(self, control: control_pb2_grpc.ControlStub, ref: str, handler: StatusHandler | None) -> None:
        self._call = control.Status(control_pb2.StatusRequest(Ref=ref))
        self._handler = handler
        self._thread = threading.Thread(target=self._run, daemon=True, name="hlb-status")
        self._thread.start()

    def _run(self) -> None:
        try:
            for resp in self._call:
                if self._handler is not None:
                    self._handler(to_batch(resp))
        except grpc.RpcError:
            pass  # progress is best effort: the Solve call reports the build's outcome

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
                error=v.error,
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


def _grpc_target(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    if parts.scheme == "tcp":
        return parts.netloc
    raise TransportError(
        f"unsupported BuildKit address {url!r}: use unix:// or tcp:// "
        "(docker-container:// and TLS arrive with issue #5)"
    )


__all__ = [
    "BuildkitClient",
    "CacheEntry",
    "SolveError",
    "SolveFailure",
    "SolveOptions",
    "SolveResult",
    "TransportError",
]
