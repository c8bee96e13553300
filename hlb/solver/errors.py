"""Decode BuildKit's solve errors.

A failed solve is a gRPC status whose ``grpc-status-details-bin`` trailer holds
a ``google.rpc.Status``; BuildKit's typed details are JSON in ``Any`` values
with type URLs like ``github.com/moby/buildkit/errdefs.Vertex+json``.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from hlb._proto import ops_pb2 as pb
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


_COPY_DEST = re.compile(r"failed to stat (?P<dest>/\S*): lstat (?P<dir>/\S*): no such file or directory")
_NO_SUCH = re.compile(r"(?P<verb>open|mkdir|lstat|stat) (?P<path>/\S*): no such file or directory")


_TOO_MANY_LAYERS = "mount options is too long"  # the snapshotter's overlay lowerdir list exceeds a page


def explain(message: str, op: bytes | None) -> tuple[str, str | None]:
    """``message`` (paths already as the step sees them) with the path told as the build wrote it, and a hint.

    ``op`` is the failing op as marshalled (None when unknown). A file op that fails on a missing directory
    gets the option or the ``mkdir`` that creates it; a path an exec op read through a mount's
    ``sourcePath`` is told as that mount's.
    """
    if op is None:
        return message, None
    parsed = pb.Op()
    try:
        parsed.ParseFromString(op)
    except DecodeError:
        return message, None
    kind = parsed.WhichOneof("op")
    if kind == "file":
        return message, _file_hint(message, parsed.file)
    if kind == "exec":
        if _TOO_MANY_LAYERS in message:
            return message, (
                "the step's filesystem has more layers than the kernel's overlay mount can take (every step before "
                "it on this filesystem is one: a few hundred in a row reach the limit); join consecutive commands "
                "into one `run` (`a && b`), or build independent parts apart and combine them with `merge`"
            )
        return _mount_path(message, parsed.exec)
    return message, None


def _file_hint(message: str, file: pb.FileOp) -> str | None:
    copy = _COPY_DEST.search(message)
    missing = _NO_SUCH.search(message)
    for action in file.actions:
        which = action.WhichOneof("action")
        if which == "copy" and copy and not action.copy.createDestPath and _within(action.copy.dest, copy["dir"]):
            d = copy["dir"]
            return (
                f"`{d}` does not exist where `copy` writes: add `createDestPath` to create it "
                f'(`copy ... with createDestPath`), or `mkdir "{d}" 0o755 with createParents` before the copy'
            )
        if which == "mkfile" and missing and missing["verb"] == "open" and action.mkfile.path == missing["path"]:
            d = posixpath.dirname(missing["path"])
            return f'`{d}` does not exist: create it first, e.g. `mkdir "{d}" 0o755 with createParents`'
        mkdir = which == "mkdir" and missing and missing["verb"] == "mkdir" and not action.mkdir.makeParents
        if mkdir and missing and action.mkdir.path == missing["path"]:
            d = posixpath.dirname(missing["path"])
            return f"`{d}` does not exist: add `createParents` (`mkdir ... with createParents`) to create it too"
    return None


def _mount_path(message: str, exec_op: pb.ExecOp) -> tuple[str, str | None]:
    missing = _NO_SUCH.search(message)
    if missing is None:
        return message, None
    path = missing["path"]
    for m in exec_op.mounts:
        if m.dest == "/" or m.mountType != pb.MountType.BIND or not m.selector:
            continue
        if posixpath.normpath("/" + m.selector.lstrip("/")) == path:
            told = f"{missing['verb']} {path} (the sourcePath of the mount at {m.dest})"
            hint = f"the filesystem mounted at `{m.dest}` has no `{path}`: check the mount's `sourcePath`"
            return message[: missing.start()] + told + message[missing.end("path") :], hint
    return message, None


def _within(path: str, directory: str) -> bool:
    return path.startswith(directory.rstrip("/") + "/")


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
