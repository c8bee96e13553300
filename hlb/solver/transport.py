"""Byte transports to BuildKit: the Docker engine's HTTP upgrade endpoints and a relay.

grpcio can only dial an address, not adopt an open stream, so a :class:`Relay`
listens on a private unix socket and, for every connection grpcio makes,
opens a fresh upstream (e.g. the Docker socket upgraded with ``POST /grpc``)
and copies bytes both ways until either side closes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

_CHUNK = 256 * 1024


class TransportError(Exception):
    """The daemon could not be reached; the message names the address."""


@dataclass(frozen=True, slots=True)
class DockerHost:
    """Where the Docker engine API listens: ``unix:///path`` or ``tcp://host:port``."""

    url: str

    def connect(self, timeout: float = 10.0) -> socket.socket:
        parts = urlsplit(self.url)
        try:
            if parts.scheme == "unix":
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(timeout)
                s.connect(parts.path)
            elif parts.scheme in ("tcp", "http"):
                s = socket.create_connection((parts.hostname or "localhost", parts.port or 2375), timeout)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            else:
                raise TransportError(f"unsupported DOCKER_HOST scheme in {self.url!r} (use unix:// or tcp://)")
        except OSError as e:
            raise TransportError(f"cannot connect to the Docker engine at {self.url}: {e.strerror or e}") from e
        s.settimeout(None)
        return s

    def upgrade(self, path: str, headers: Sequence[tuple[str, str]] = (), timeout: float = 30.0) -> Upgraded:
        """``POST path`` with ``Upgrade: h2c``; returns the socket after ``101 Switching Protocols``."""
        s = self.connect()
        lines = [f"POST {path} HTTP/1.1", "Host: docker", "Connection: Upgrade", "Upgrade: h2c"]
        lines += [f"{k}: {v}" for k, v in headers]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        s.settimeout(timeout)
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise TransportError(f"the Docker engine at {self.url} closed the connection during {path}")
                buf += chunk
                if len(buf) > 1 << 20:
                    raise TransportError(f"oversized HTTP response from {self.url}")
        except OSError as e:
            s.close()
            raise TransportError(f"upgrading {path} on {self.url} failed: {e}") from e
        s.settimeout(None)
        head, _, rest = buf.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        if " 101 " not in f"{status} ":
            s.close()
            raise TransportError(f"the Docker engine at {self.url} refused {path}: {status} {rest[:200]!r}")
        # Bytes after the headers already belong to the HTTP/2 stream: keep them.
        return Upgraded(s, rest)


@dataclass
class Upgraded:
    sock: socket.socket
    leftover: bytes


def splice(a: socket.socket, b: socket.socket, a_leftover: bytes = b"") -> threading.Thread:
    """Copy bytes a->b and b->a on two daemon threads; close both when both directions end."""

    def close_both() -> None:
        _close(a)
        _close(b)

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
            pass
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
            splice(up.sock, conn, up.leftover)

    def close(self) -> None:
        self._closed = True
        _close(self._listener)
        shutil.rmtree(self._dir, ignore_errors=True)
