"""A session carried inside ``Control.Session``, for a standalone buildkitd.

``Control.Session`` is a bidirectional stream of ``BytesMessage``: concatenated,
the ``data`` fields form a byte pipe. Inside it the daemon is the HTTP/2 client
and we are the server, so the pipe is joined to a connection to the session's
own grpcio server (its private unix socket): what the server writes goes out
as request messages, what the daemon sends comes back as responses and is
written to the server. The session is named by gRPC metadata, the lower-case
form of the ``X-Docker-Expose-Session-*`` headers (one entry per served method).

Closing cancels the call and shuts the local connection down, which ends both
directions.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import grpc

from hlb._proto import control_pb2

CHUNK = 32 * 1024  # what Go's side reads at a time; far below the 16 MiB message limit


class _SessionStub(Protocol):
    @property
    def Session(self) -> Any: ...  # noqa: N802 (the generated stub's method name)


def metadata(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """gRPC metadata keys must be lower-case; repeated keys stay repeated."""
    return [(k.lower(), v) for k, v in headers]


class ControlSessionPipe:
    """One ``Control.Session`` call joined to a connection to a local session server."""

    def __init__(self, control: _SessionStub, server_path: str, headers: Sequence[tuple[str, str]]) -> None:
        self._local = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._local.connect(server_path)
        self._closed = threading.Event()
        self.error: grpc.RpcError | None = None
        self._call: Any = control.Session(self._requests(), metadata=metadata(headers))
        self._thread = threading.Thread(target=self._responses, daemon=True, name="hlb-session-pipe")
        self._thread.start()

    def _requests(self) -> Iterator[control_pb2.BytesMessage]:
        """Bytes our session server writes, as request messages (grpcio pulls this on its own thread)."""
        while not self._closed.is_set():
            try:
                data = self._local.recv(CHUNK)
            except OSError:
                return
            if not data:
                return
            yield control_pb2.BytesMessage(data=data)

    def _responses(self) -> None:
        """Bytes the daemon sends, written to our session server."""
        try:
            for msg in self._call:
                if msg.data:
                    self._local.sendall(msg.data)
        except grpc.RpcError as e:
            if not self._closed.is_set():
                self.error = e
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                self._local.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed.set()
        self._call.cancel()
        with contextlib.suppress(OSError):
            self._local.shutdown(socket.SHUT_RDWR)
        self._thread.join(2.0)
        with contextlib.suppress(OSError):
            self._local.close()
