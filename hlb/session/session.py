"""A BuildKit session: a gRPC server run by the client that the daemon calls back.

The daemon is the HTTP/2 *client* of a session. We run a grpcio server on a
private unix socket and splice the daemon's connection into it: for the Docker
engine that connection is ``POST /session`` upgraded to h2c (headers name the
session and list every method we serve, one header per method).

The daemon health-checks the session at once and tears it down when checks
fail, so the server has a generous thread pool and we wait for the first check
before solving (it is the reliable "session registered" signal).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Protocol

import grpc

from hlb._proto import health_pb2, health_pb2_grpc
from hlb.progress.timeline import mark
from hlb.transport import DockerHost, splice

MAX_MESSAGE = 16 * 1024 * 1024
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
    # A failed solve's status travels in trailers that hold the whole error (the step's command line, the stack
    # of causes): 35 KB for a `run` of a 35 KB command line. grpcio refuses trailers over 16 KB by default, and the
    # error was lost ("Stream removed"); BuildKit's Go client accepts them (grpc-go has no such limit by default).
    ("grpc.max_metadata_size", MAX_MESSAGE),
    ("grpc.absolute_max_metadata_size", MAX_MESSAGE),
]
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id() -> str:
    """A random base36 id of ~130 bits, like BuildKit's identity.NewID."""
    n = secrets.randbits(130)
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_B36[r])
    return "".join(reversed(out)).rjust(25, "0")


class Attachable(Protocol):
    """A service the session serves (filesync, auth, secrets...)."""

    def methods(self) -> Sequence[str]:
        """Full method paths, e.g. ``/moby.filesync.v1.Auth/Credentials``."""
        ...

    def register(self, server: grpc.Server) -> None: ...


class _Health(health_pb2_grpc.HealthServicer):
    def __init__(self, ready: threading.Event) -> None:
        self.ready = ready

    def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        self.ready.set()
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    def Watch(self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        self.ready.set()
        yield health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


HEALTH_METHODS = ("/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch")


class Session:
    def __init__(self, attachables: Sequence[Attachable] = (), *, name: str = "hlb", shared_key: str = "") -> None:
        self.id = new_id()
        self.name = name
        self.shared_key = shared_key or _default_shared_key()
        self.ready = threading.Event()
        self._methods = list(HEALTH_METHODS)
        self._dir = tempfile.mkdtemp(prefix="hlb-session-")
        os.chmod(self._dir, 0o700)
        self.path = os.path.join(self._dir, "session.sock")
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="hlb-session"),
            options=GRPC_OPTIONS,
        )
        health_pb2_grpc.add_HealthServicer_to_server(_Health(self.ready), self.server)
        self._attachables = list(attachables)
        for a in attachables:
            a.register(self.server)
            self._methods.extend(a.methods())
        self.server.add_insecure_port(f"unix:{self.path}")
        self.server.start()
        self._conns: list[socket.socket] = []
        self._closers: list[Callable[[], None]] = []  # transports to end on close (e.g. a Control.Session call)

    @property
    def methods(self) -> list[str]:
        return list(self._methods)

    def headers(self) -> list[tuple[str, str]]:
        h = [
            ("X-Docker-Expose-Session-Uuid", self.id),
            ("X-Docker-Expose-Session-Name", self.name),
            ("X-Docker-Expose-Session-Sharedkey", self.shared_key),
        ]
        return h + [("X-Docker-Expose-Session-Grpc-Method", m) for m in self._methods]

    def attach_docker(self, host: DockerHost) -> None:
        """Open ``POST /session`` on the Docker engine and serve the daemon over it."""
        up = host.upgrade("/session", self.headers())
        local = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        local.connect(self.path)
        self._conns += [up.sock, local]
        splice(up.sock, local, up.leftover)

    def on_close(self, closer: Callable[[], None]) -> None:
        """Call ``closer`` when the session closes, before its server stops."""
        self._closers.append(closer)

    def wait_ready(self, timeout: float = 10.0) -> bool:
        return self.ready.wait(timeout)

    def close(self) -> None:
        for closer in self._closers:
            closer()
        for s in self._conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()
        mark(f"session {self.id} closing")
        self.server.stop(grace=None)
        for a in self._attachables:  # an attachable with a close() (a private ssh-agent) ends with the session
            close = getattr(a, "close", None)
            if callable(close):
                close()
        shutil.rmtree(self._dir, ignore_errors=True)
        mark(f"session {self.id} closed")

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _default_shared_key() -> str:
    """Stable per client directory, so the daemon can reuse incremental context transfers."""
    return hashlib.sha256(os.getcwd().encode()).hexdigest()[:32]
