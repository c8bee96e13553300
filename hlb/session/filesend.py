"""FileSend: the daemon sends exporter output back to this machine.

``/moby.filesync.v1.FileSend/DiffCopy`` is one method carrying two protocols,
chosen by the exporter (metadata ``buildkit-attachable-exporter-id``, the
exporter's index in ``SolveRequest.Exporters``; absent means 0):

* ``tar``, ``oci`` and ``docker`` exporters stream one file as
  ``BytesMessage`` chunks; the daemon half-closes when done and waits for the
  handler to return OK. Metadata ``exporter-md-<key>`` carries the exporter's
  response (``containerimage.digest``...), handed to the sink's factory.
* the ``local`` exporter is an fsutil sender: STAT packets describe the tree
  (depth first, an empty STAT ends it), the receiver (us) asks for each regular
  file's data by its index among the STATs, and ends with FIN.

Files are streamed to disk, never held in memory, and written under a
temporary name renamed into place when complete, so a failed export never
leaves a partial file under its real name. A directory export never writes
outside its destination: absolute paths, ``..``, and paths whose parent is not
a directory received in the same transfer (e.g. below a symlink) are refused.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat as st
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

import grpc

from hlb._proto import filesync_pb2, fsutil_stat_pb2, fsutil_wire_pb2

SERVICE = "moby.filesync.v1.FileSend"
METHOD = f"/{SERVICE}/DiffCopy"
EXPORTER_ID_KEY = "buildkit-attachable-exporter-id"
EXPORTER_MD_PREFIX = "exporter-md-"

Packet = fsutil_wire_pb2.Packet

# Go os.FileMode type bits (fsutil Stat.mode), not st_mode.
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHARDEV = 1 << 21
MODE_STICKY = 1 << 20
MODE_IRREGULAR = 1 << 19
MODE_TYPE = MODE_DIR | MODE_SYMLINK | MODE_DEVICE | MODE_PIPE | MODE_SOCKET | MODE_CHARDEV | MODE_IRREGULAR


class Sink(Protocol):
    """Where one streamed file goes: written in order, then committed or aborted."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class FileSink:
    """A file at ``path``, written as a temporary sibling and renamed into place on commit."""

    def __init__(self, path: str) -> None:
        self.path = path
        parent = os.path.dirname(os.path.abspath(path)) or "."
        os.makedirs(parent, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".partial", dir=parent)
        self._file: IO[bytes] | None = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self.size += len(data)

    def commit(self) -> None:
        assert self._file is not None
        f, self._file = self._file, None
        try:
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)
        finally:
            f.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # once, at import: os.umask is process-wide and threads would race on it


SinkFactory = Callable[[Mapping[str, str]], Sink]


@dataclass(frozen=True, slots=True)
class FileTarget:
    """A ``tar``/``oci``/``docker`` exporter's stream; ``open`` gets the ``exporter-md-*`` metadata."""

    open: SinkFactory
    describe: str  # for errors: the file, or "the Docker engine's image store"


@dataclass(frozen=True, slots=True)
class DirTarget:
    """A ``local`` exporter's tree, merged into the directory ``path`` (created if needed)."""

    path: str


Target = FileTarget | DirTarget


def file_target(path: str) -> FileTarget:
    return FileTarget(lambda _md: FileSink(path), path)


class FileSend:
    """The FileSend attachable: exporter index -> where its output goes."""

    def __init__(self, targets: Mapping[int, Target]) -> None:
        self.targets = dict(targets)

    def methods(self) -> Sequence[str]:
        return [METHOD]

    def register(self, server: grpc.Server) -> None:
        handler = grpc.stream_stream_rpc_method_handler(self._diff_copy)  # raw bytes both ways
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"DiffCopy": handler}),))

    def _diff_copy(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        md: dict[str, list[str]] = {}
        for key, value in context.invocation_metadata():
            md.setdefault(key.lower(), []).append(value if isinstance(value, str) else value.decode())
        try:
            index = int((md.get(EXPORTER_ID_KEY) or ["0"])[0])
        except ValueError:
            index = 0
        target = self.targets.get(index)
        if target is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"exporter {index} not found")
        if isinstance(target, DirTarget):
            yield from receive_tree(requests, context, target.path)
            return
        exporter_md = {k.removeprefix(EXPORTER_MD_PREFIX): ",".join(v) for k, v in md.items()}
        exporter_md = {k: v for k, v in exporter_md.items() if f"{EXPORTER_MD_PREFIX}{k}" in md}
        receive_file(requests, context, target, exporter_md)
        yield from ()


def receive_file(
    requests: Iterator[bytes], context: grpc.ServicerContext, target: FileTarget, md: Mapping[str, str]
) -> None:
    """Write the BytesMessage stream into a sink; commit it only when the daemon half-closed cleanly."""
    try:
        sink = target.open(md)
    except OSError as e:
        context.abort(grpc.StatusCode.INTERNAL, f"cannot write {target.describe}: {e.strerror or e}")
    ok = False
    try:
        for raw in requests:
            sink.write(filesync_pb2.BytesMessage.FromString(raw).data)
        if not _half_closed(context):
            return  # cancelled: the export failed, the file never appears
        sink.commit()
        ok = True
    except OSError as e:
        context.abort(grpc.StatusCode.INTERNAL, f"cannot write {target.describe}: {e.strerror or e}")
    except grpc.RpcError:
        return
    finally:
        if not ok:
            sink.abort()


def _half_closed(context: grpc.ServicerContext, grace: float = 0.25) -> bool:
    """Whether the request stream ended because the daemon finished, not because it cancelled.

    grpcio ends the request iterator the same way for both; a cancellation
    also terminates the RPC, which shows within moments, while a daemon that
    finished waits for our answer. So: still active after ``grace`` = done.
    """
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not context.is_active():
            return False
        time.sleep(0.01)
    return context.is_active()


class TransferError(Exception):
    """The daemon's tree is unsafe or inconsistent, or writing it failed."""


def receive_tree(requests: Iterator[bytes], context: grpc.ServicerContext, dest: str) -> Iterator[bytes]:
    """The fsutil receiver: yields our REQ/FIN packets while consuming the daemon's packets."""
    receiver = TreeReceiver(dest)
    try:
        yield from receiver.run(requests)
    except TransferError as e:
        receiver.abort()
        msg = str(e)
        with contextlib.suppress(Exception):
            yield Packet(type=Packet.PACKET_ERR, data=msg.encode()).SerializeToString()
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, msg)
    except OSError as e:
        receiver.abort()
        where = f"{e.filename}" if e.filename else dest
        context.abort(grpc.StatusCode.INTERNAL, f"cannot write {where}: {e.strerror or e}")
    except grpc.RpcError:
        receiver.abort()
    if not context.is_active():
        receiver.abort()


@dataclass(slots=True)
class _Open:
    rel: str
    path: str  # final path
    sink: _TreeFile
    mode: int
    mtime_ns: int
    links: list[str] = field(default_factory=list)  # hardlinks to create once the data is in


class TreeReceiver:
    """Creates the entries of a ``local`` export under ``dest`` (merge mode: nothing is deleted)."""

    def __init__(self, dest: str) -> None:
        self.dest = os.path.abspath(dest)
        # received directory -> (mode, mtime ns), applied at the end (a read-only dir must stay writable until then)
        self.dirs: dict[str, tuple[int, int]] = {"": (0, 0)}
        self.files: set[str] = set()  # received regular files, for hardlinks
        self.pending: dict[int, _Open] = {}  # requested file id -> its open sink
        self.listed = False
        self.sent_fin = False
        self._lock = threading.Lock()

    def run(self, requests: Iterator[bytes]) -> Iterator[bytes]:
        os.makedirs(self.dest, mode=0o755, exist_ok=True)
        index = 0
        for raw in requests:
            p = Packet.FromString(raw)
            if p.type == Packet.PACKET_STAT:
                if not p.HasField("stat"):
                    self.listed = True
                else:
                    want = self._entry(p.stat, index)
                    index += 1
                    if want:
                        yield Packet(type=Packet.PACKET_REQ, ID=index - 1).SerializeToString()
            elif p.type == Packet.PACKET_DATA:
                self._data(p.ID, p.data)
            elif p.type == Packet.PACKET_ERR:
                raise TransferError(f"the daemon failed the transfer: {p.data.decode(errors='replace')}")
            elif p.type == Packet.PACKET_FIN:
                self._finish()
                return
            if self.listed and not self.pending and not self.sent_fin:
                self._finish()
                self.sent_fin = True
                yield Packet(type=Packet.PACKET_FIN).SerializeToString()
        if not self.sent_fin:
            raise TransferError("the daemon ended the transfer before it was complete")

    def _entry(self, s: fsutil_stat_pb2.Stat, index: int) -> bool:
        """Create the entry of one STAT (its index among all STATs); True when its data must be requested."""
        rel = _safe_path(s.path)
        parent = rel.rpartition("/")[0]
        if parent not in self.dirs:
            raise TransferError(f"refusing {s.path!r}: its parent is not a directory of this transfer")
        path = os.path.join(self.dest, rel)
        mode = s.mode
        perm = (mode & 0o777) | (st.S_ISUID if mode & MODE_SETUID else 0) | (st.S_ISGID if mode & MODE_SETGID else 0)
        perm |= st.S_ISVTX if mode & MODE_STICKY else 0
        if mode & MODE_DIR:
            self._mkdir(path, perm | 0o700)
            self.dirs[rel] = (perm, s.modTime)
            return False
        if mode & MODE_SYMLINK:
            self._replace(path, lambda tmp: os.symlink(s.linkname, tmp))
            os.utime(path, ns=(s.modTime, s.modTime), follow_symlinks=False)
            return False
        if mode & (MODE_DEVICE | MODE_SOCKET | MODE_IRREGULAR):
            return False  # devices need privileges, sockets are never sent: skipped as Go does unprivileged
        if mode & MODE_PIPE:
            self._replace(path, lambda tmp: os.mkfifo(tmp, perm))
            return False
        if s.linkname:
            source = _safe_path(s.linkname)
            if source not in self.files:
                raise TransferError(f"refusing hardlink {s.path!r} to {s.linkname!r}: not a file of this transfer")
            with self._lock:
                waiting = next((f for f in self.pending.values() if f.rel == source), None)
                if waiting is not None:  # linked once its data is in
                    waiting.links.append(path)
            if waiting is None:
                self._link(os.path.join(self.dest, source), path)
            self.files.add(rel)
            return False
        self.files.add(rel)
        with self._lock:
            self.pending[index] = _Open(rel, path, _TreeFile(path), perm, s.modTime)
        return True  # even when empty: the sender answers with one empty DATA

    def _mkdir(self, path: str, perm: int) -> None:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, perm)
            os.chmod(path, perm)
            return
        if st.S_ISDIR(info.st_mode):
            os.chmod(path, perm)
            return
        os.unlink(path)  # a file or symlink where the export has a directory
        os.mkdir(path, perm)
        os.chmod(path, perm)

    def _link(self, source: str, path: str) -> None:
        self._replace(path, lambda tmp: os.link(source, tmp))

    def _replace(self, path: str, create: Callable[[str], None]) -> None:
        tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.urandom(4).hex()}.partial")
        create(tmp)
        _remove_dir_in_the_way(path)
        os.replace(tmp, path)

    def _data(self, ident: int, data: bytes) -> None:
        with self._lock:
            f = self.pending.get(ident)
        if f is None:
            raise TransferError(f"the daemon sent data for file {ident}, which was not requested")
        if data:
            f.sink.write(data)
            return
        f.sink.close()  # before the times: a later flush would change them
        os.chmod(f.sink.tmp, f.mode)
        os.utime(f.sink.tmp, ns=(f.mtime_ns, f.mtime_ns))
        _remove_dir_in_the_way(f.path)
        f.sink.commit()
        with self._lock:
            del self.pending[ident]
        for link in f.links:
            self._link(f.path, link)

    def _finish(self) -> None:
        if self.pending:
            raise TransferError(f"the transfer ended with {len(self.pending)} file(s) incomplete")
        for rel in sorted(self.dirs, key=len, reverse=True):  # deepest first: children change parents' mtimes
            if rel:
                perm, mtime = self.dirs[rel]
                path = os.path.join(self.dest, rel)
                os.chmod(path, perm)
                os.utime(path, ns=(mtime, mtime), follow_symlinks=False)

    def abort(self) -> None:
        with self._lock:
            pending, self.pending = list(self.pending.values()), {}
        for f in pending:
            f.sink.abort()


class _TreeFile(FileSink):
    """A FileSink whose commit keeps the mode set on the temporary file."""

    @property
    def tmp(self) -> str:
        return self._tmp

    def close(self) -> None:
        if self._file is not None:
            f, self._file = self._file, None
            f.close()

    def commit(self) -> None:
        self.close()
        os.replace(self._tmp, self.path)


def _remove_dir_in_the_way(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        if st.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)


def _safe_path(path: str) -> str:
    """A clean relative path inside the destination, or TransferError."""
    if not path or path.startswith("/"):
        raise TransferError(f"refusing path {path!r}: not relative")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\x00" in path:
        raise TransferError(f"refusing path {path!r}: it must be a clean relative path inside the destination")
    return path


__all__ = [
    "DirTarget",
    "FileSend",
    "FileSink",
    "FileTarget",
    "Sink",
    "Target",
    "TransferError",
    "TreeReceiver",
    "file_target",
]
