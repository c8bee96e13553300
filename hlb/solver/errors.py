"""Decode BuildKit's solve errors.

A failed solve is a gRPC status whose ``grpc-status-details-bin`` trailer holds
a ``google.rpc.Status``; BuildKit's typed details are JSON in ``Any`` values
with type URLs like ``github.com/moby/buildkit/errdefs.Vertex+json``.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
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
    r"|(?:buildkit|containerd)-mount\d+"  # a file op's temporary mount (DATA_ROOT/tmp/, /tmp/ of a buildkitd)
    r"|snapshots/\d+/fs"  # containerd and buildkitd overlay snapshotters (runc-overlayfs/snapshots/snapshots/N/fs)
    r"|(?:native|runc-native)/snapshots/snapshots/\d+"  # buildkitd's native snapshotter (no fs/ under it)
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
# a copy source that is not there: its cache key (`"/src": not found`), or the walk of its parent
_COPY_SRC = re.compile(r'"(?P<path>/[^"]*)": not found|failed to walk (?P<walk>/\S*): lstat ')


_TOO_MANY_LAYERS = "mount options is too long"  # the snapshotter's overlay lowerdir list exceeds a page


def explain(message: str, op: bytes | None, ops: Mapping[str, bytes] | None = None) -> tuple[str, str | None]:
    """``message`` (paths already as the step sees them) with the path told as the build wrote it, and a hint.

    ``op`` is the failing op as marshalled (None when unknown); ``ops`` the graph's ops by digest, to name what
    a file op copies from. A file op that fails on a missing directory gets the option or the ``mkdir`` that
    creates it, a missing copy source names the filesystem it was looked for in; a path an exec op read
    through a mount's ``sourcePath`` is told as that mount's.
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
        return message, _file_hint(message, parsed, ops or {})
    if kind == "exec":
        if _TOO_MANY_LAYERS in message:
            return message, (
                "the step's filesystem has more layers than the kernel's overlay mount can take (every step before "
                "it on this filesystem is one: a few hundred in a row reach the limit); join consecutive commands "
                "into one `run` (`a && b`), or build independent parts apart and combine them with `merge`"
            )
        return _mount_path(message, parsed.exec)
    return message, None


def _file_hint(message: str, op: pb.Op, ops: Mapping[str, bytes]) -> str | None:
    file = op.file
    copy = _COPY_DEST.search(message)
    missing = _NO_SUCH.search(message)
    source = _COPY_SRC.search(message)
    for action in file.actions:
        which = action.WhichOneof("action")
        if which == "copy" and copy and not action.copy.createDestPath and _within(action.copy.dest, copy["dir"]):
            d = copy["dir"]
            return (
                f"`{d}` does not exist where `copy` writes: add `createDestPath` to create it "
                f'(`copy ... with createDestPath`), or `mkdir "{d}" 0o755 with createParents` before the copy'
            )
        if which == "copy" and not copy and (source or missing):
            src = posixpath.normpath("/" + action.copy.src.lstrip("/"))
            gone = source["path"] or source["walk"] if source else missing["path"] if missing else ""
            if gone and (gone == src or _within(src, gone)):
                what = _describe_input(op, action.secondaryInput, ops)
                parent = "" if gone == src else f" (not even `{gone}`)"
                return (
                    f"`{src}` does not exist in the source of `copy`, {what}{parent}: check the path, which is read "
                    "from the root of that filesystem; for a pattern, `copy ... with allowWildcard` (and "
                    "`allowEmptyWildcard` to let it match nothing)"
                )
        if which == "mkfile" and missing and missing["verb"] == "open" and action.mkfile.path == missing["path"]:
            d = posixpath.dirname(missing["path"])
            return f'`{d}` does not exist: create it first, e.g. `mkdir "{d}" 0o755 with createParents`'
        mkdir = which == "mkdir" and missing and missing["verb"] == "mkdir" and not action.mkdir.makeParents
        if mkdir and missing and action.mkdir.path == missing["path"]:
            d = posixpath.dirname(missing["path"])
            return f"`{d}` does not exist: add `createParents` (`mkdir ... with createParents`) to create it too"
    return None


def _describe_input(op: pb.Op, index: int, ops: Mapping[str, bytes]) -> str:
    """What a file action reads from: ``image "REF"``, ``local "NAME"``, ``git "URL"``..., else the fs given."""
    if 0 <= index < len(op.inputs):
        raw = ops.get(op.inputs[index].digest)
        if raw is not None:
            source = pb.Op()
            try:
                source.ParseFromString(raw)
            except DecodeError:
                return "the fs given"
            if source.WhichOneof("op") == "source":
                identifier = source.source.identifier
                scheme, _, rest = identifier.partition("://")
                if scheme == "local":  # its name is a hash: the files sent are what can be missing
                    return (
                        "a `local` directory (as sent: a .dockerignore or .hlbignore there, or the `local`'s "
                        "includePatterns/excludePatterns, may leave the file out)"
                    )
                if scheme in ("docker-image", "git"):
                    return f'{"image" if scheme == "docker-image" else "git"} "{rest}"'
                if scheme in ("http", "https"):
                    return f'http "{identifier}"'
            return "the fs given as its first argument"
    return "the fs given as its first argument"


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
