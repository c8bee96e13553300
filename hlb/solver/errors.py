"""Decode BuildKit's solve errors.

A failed solve is a gRPC status whose ``grpc-status-details-bin`` trailer holds
a ``google.rpc.Status``; BuildKit's typed details are JSON in ``Any`` values
with type URLs like ``github.com/moby/buildkit/errdefs.Vertex+json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from hlb._proto import status_pb2

_DETAILS_KEY = "grpc-status-details-bin"
_EXIT_CODE = re.compile(r"exit code: (\d+)")
# Where a daemon mounts a step's filesystem on its own host: a path under one of these roots is the step's path.
_DAEMON_ROOTS = re.compile(
    r"/(?:[^\s:'\"]*/)?(?:"
    r"cachemounts/buildkit\d+"  # the engine's and containerd's temporary mounts of a snapshot
    r"|snapshots/\d+/fs"  # containerd and buildkitd overlay snapshotters
    r"|overlay2/[0-9a-f]{16,}/(?:merged|diff)"  # the Docker graph driver
    r")(?=/|[\s:'\"]|$)"
)


def step_paths(message: str) -> str:
    """``message`` with the daemon's own mount points stripped from paths, so they read as the step sees them.

    ``open /var/lib/docker/.../cachemounts/buildkit123/src/a: no such file`` becomes ``open /src/a: ...``.
    """
    return _DAEMON_ROOTS.sub(lambda m: "" if m.end() < len(message) and message[m.end()] == "/" else "/", message)


@dataclass(frozen=True, slots=True)
class SourceRange:
    filename: str
    start_line: int
    start_col: int
    end_line: int
    end_col: int


@dataclass
class SolveFailure:
    message: str
    code: grpc.StatusCode | None = None
    vertex: str | None = None  # digest of the failing vertex
    sources: list[SourceRange] = field(default_factory=list)
    canceled: bool = False

    @property
    def exit_code(self) -> int | None:
        m = _EXIT_CODE.search(self.message)
        return int(m.group(1)) if m else None


class SolveError(Exception):
    def __init__(self, failure: SolveFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def decode(err: grpc.RpcError) -> SolveFailure:
    code = err.code() if hasattr(err, "code") else None
    message = err.details() if hasattr(err, "details") else str(err)
    failure = SolveFailure(step_paths(message or str(code)), code, canceled=code == grpc.StatusCode.CANCELLED)
    trailers: Any = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for item in trailers or ():
        key, value = item[0], item[1]
        if key == _DETAILS_KEY and isinstance(value, bytes):
            _apply_details(failure, value)
    return failure


def _apply_details(failure: SolveFailure, data: bytes) -> None:
    status = status_pb2.Status()
    try:
        status.ParseFromString(data)
    except DecodeError:  # malformed trailer: keep the plain message
        return
    if status.message:
        failure.message = step_paths(status.message)
    for any_ in status.details:
        kind = any_.type_url.rsplit("/", 1)[-1]
        if not kind.endswith("+json"):
            continue
        try:
            doc: Any = json.loads(any_.value)
        except ValueError:
            continue
        if kind == "errdefs.Vertex+json" and failure.vertex is None:
            failure.vertex = doc.get("digest")
        elif kind == "errdefs.Source+json":
            failure.sources.extend(_sources(doc))


def _sources(doc: dict[str, Any]) -> list[SourceRange]:
    info = doc.get("info") or {}
    name = info.get("filename", "")
    out = []
    for r in doc.get("ranges") or []:
        start, end = r.get("start") or {}, r.get("end") or {}
        out.append(
            SourceRange(
                name,
                int(start.get("line", 0)),
                int(start.get("character", 0)),
                int(end.get("line", 0)),
                int(end.get("character", 0)),
            )
        )
    return out
