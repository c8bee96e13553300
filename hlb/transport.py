"""Byte transports to BuildKit: sockets, the Docker engine's HTTP upgrade endpoints, a relay.

grpcio can only dial an address, not adopt an open stream, so a :class:`Relay`
listens on a private unix socket and, for every connection grpcio makes,
opens a fresh upstream (the Docker socket upgraded with ``POST /grpc``, a TCP
connection, a ``buildctl dial-stdio`` process) and copies bytes both ways
until either side closes.

A dead peer must be noticed within seconds, not at the kernel's two-hour
default: every TCP upstream gets keepalive probes and a user timeout
(:func:`tune_tcp`). HTTP/2 pings are not used for that: BuildKit's Go gRPC
servers answer pings more often than every 5 minutes with GOAWAY
``too_many_pings``, which would end a long build.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from hlb.address import Address, TLSConfig

_CHUNK = 256 * 1024
CONNECT_TIMEOUT = 10.0
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 5, 3, 3  # a silent peer is dropped after ~15 s
USER_TIMEOUT_MS = 20_000  # unacknowledged data for this long drops the connection


class TransportError(Exception):
    """The daemon could not be reached; the message names the address."""


def tune_tcp(s: socket.socket) -> None:
    """No Nagle delay; keepalive probes and a user timeout, so a dead peer ends the connection quickly."""
    with contextlib.suppress(OSError, AttributeError):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)


def _reason(e: OSError) -> str:
    if isinstance(e, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(e, ssl.SSLError):
        return f"TLS: {e.reason or e}"
    if e.strerror and e.filename:
        return f"{e.strerror}: {e.filename}"
    return e.strerror or str(e)


def dial_unix(path: str, what: str, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise TransportError(f"cannot reach {what}: connecting to {path}: {_reason(e)}") from e
    s.settimeout(None)
    return s


def dial_tcp(host: str, port: int, what: str, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
    try:
        s = socket.create_connection((host, port), timeout)
    except OSError as e:
        raise TransportError(f"cannot reach {what}: connecting to {host}:{port}: {_reason(e)}") from e
    tune_tcp(s)
    s.settimeout(None)
    return s


def tls_context(tls: TLSConfig, what: str) -> ssl.SSLContext:
    """A client context: the CA file (else the system's roots) and an optional client certificate."""
    try:
        for path in (tls.ca, tls.cert, tls.key):
            if path is not None:
                open(path, "rb").close()  # names the file that is missing (ssl's own errors do not)
        ctx = ssl.create_default_context(cafile=tls.ca)
        if tls.skip_verify:  # a docker context's SkipTLSVerify
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if tls.cert and tls.key:
            ctx.load_cert_chain(tls.cert, tls.key)
    except (OSError, ssl.SSLError) as e:
        raise TransportError(f"cannot reach {what}: loading the TLS files: {_reason(e)}") from e
    return ctx


def probe(address: Address, timeout: float = 5.0) -> None:
    """Fail fast, naming the address, when nothing listens there (one connection, closed at once)."""
    what = address.describe()
    if address.scheme == "unix":
        dial_unix(address.socket_path, what, timeout).close()
    elif address.scheme in ("tcp", "http", "https"):
        host, port = address.host_port
        dial_tcp(host, port, what, timeout).close()


@dataclass(frozen=True, slots=True)
class DockerHost:
    """Where the Docker engine API listens: ``unix:///path`` or ``tcp://host:port`` (TLS if given), or
    what reaches it (``dial``: a helper process such as ``ssh HOST docker system dial-stdio``)."""

    url: str
    label: str = ""  # how messages name it: "the Docker engine at ... (from DOCKER_HOST)"
    tls: TLSConfig | None = None
    dial: Callable[[], socket.socket] | None = field(default=None, compare=False)  # a helper's (ssh://)

    @classmethod
    def of(cls, address: Address) -> DockerHost:
        return cls(address.url, address.describe(), address.tls)

    @property
    def what(self) -> str:
        return self.label or f"the Docker engine at {self.url}"

    def connect(self, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
        if self.dial is not None:
            return self.dial()
        parts = urlsplit(self.url)
        if parts.scheme == "unix":
            return dial_unix(self.url.partition("://")[2], self.what, timeout)
        if parts.scheme not in ("tcp", "http", "https"):
            raise TransportError(f"unsupported DOCKER_HOST scheme in {self.url!r} (use unix:// or tcp://)")
        host = parts.hostname or "localhost"
        s = dial_tcp(host, parts.port or 2375, self.what, timeout)
        if self.tls is None:
            return s
        ctx = tls_context(self.tls, self.what)
        try:
            s.settimeout(timeout)
            wrapped = ctx.wrap_socket(s, server_hostname=self.tls.server_name or host)
        except OSError as e:
            s.close()
            raise TransportError(f"cannot reach {self.what}: TLS handshake with {host}: {_reason(e)}") from e
        wrapped.settimeout(None)
        return wrapped

    def upgrade(self, path: str, headers: Sequence[tuple[str, str]] = (), timeout: float = 30.0) -> Upgraded:
        """``POST path`` with ``Upgrade: h2c``; returns the socket after ``101 Switching Protocols``."""
        s = self.connect()
        lines = [f"POST {path} HTTP/1.1", "Host: docker", "Connection: Upgrade", "Upgrade: h2c"]
        lines += [f"{k}: {v}" for k, v in headers]
        buf = b""
        try:
            s.settimeout(timeout)
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise TransportError(f"{self.what} closed the connection during POST {path}")
                buf += chunk
                if len(buf) > 1 << 20:
                    raise TransportError(f"oversized HTTP response from {self.what}")
        except OSError as e:
            s.close()
            raise TransportError(f"cannot reach {self.what}: POST {path}: {_reason(e)}") from e
        except TransportError:
            s.close()
            raise
        s.settimeout(None)
        head, _, rest = buf.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        if " 101 " not in f"{status} ":
            s.close()
            raise TransportError(f"{self.what} refused POST {path}: {status} {rest[:200]!r}")
        # Bytes after the headers already belong to the HTTP/2 stream: keep them.
        return Upgraded(s, rest)


@dataclass
class Upgraded:
    """An open upstream: its socket, bytes already read from it, and what to do once it is closed."""

    sock: socket.socket
    leftover: bytes = b""
    on_close: Callable[[], None] | None = field(default=None)


def splice(
    a: socket.socket, b: socket.socket, a_leftover: bytes = b"", on_close: Callable[[], None] | None = None
) -> threading.Thread:
    """Copy bytes a->b and b->a on two daemon threads; close both when both directions end.

    When one side reports an error (a reset, a keepalive timeout), both sockets
    are shut down at once, so the other direction does not wait for a peer that
    is gone.
    """

    def close_both() -> None:
        _close(a)
        _close(b)
        if on_close is not None:
            with contextlib.suppress(Exception):
                on_close()

    done = threading.Barrier(2, action=close_both)

    def pump(src: socket.socket, dst: socket.socket, first: bytes) -> None:
        try:
            if first:
                dst.sendall(first)
            buf = bytearray(_CHUNK)
            view = memoryview(buf)
            while True:
                n = src.recv_into(buf)
                if not n:
                    break
                dst.sendall(view[:n])
        except OSError:
            for s in (a, b):  # broken: end both directions now
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            with contextlib.suppress(threading.BrokenBarrierError):
                done.wait()

    t1 = threading.Thread(target=pump, args=(a, b, a_leftover), daemon=True, name="hlb-splice")
    t2 = threading.Thread(target=pump, args=(b, a, b""), daemon=True, name="hlb-splice")
    t1.start()
    t2.start()
    return t1


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.close()


class Relay:
    """A private unix socket whose connections are spliced to fresh upstreams."""

    def __init__(self, dial: Callable[[], Upgraded], name: str = "relay") -> None:
        self._dial = dial
        self._dir = tempfile.mkdtemp(prefix="hlb-")
        os.chmod(self._dir, 0o700)
        self.path = os.path.join(self._dir, f"{name}.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(16)
        self._closed = False
        self.error: Exception | None = None
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True, name=f"hlb-{name}")
        self._thread.start()

    @property
    def address(self) -> str:
        return f"unix:{self.path}"

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            try:
                up = self._dial()
            except (TransportError, OSError) as e:  # grpcio sees a closed connection; keep the reason
                self.error = e
                _close(conn)
                continue
            with self._lock:
                self._open[:] = [s for s in self._open if s.fileno() != -1] + [conn, up.sock]
            splice(up.sock, conn, up.leftover, up.on_close)

    def close(self) -> None:
        """Stop accepting and end every open connection (their helper processes too)."""
        self._closed = True
        _close(self._listener)
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        shutil.rmtree(self._dir, ignore_errors=True)
