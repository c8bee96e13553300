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
import errno
import os
import stat as st
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

import grpc

from hlb import outfile
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
    """A file at ``path``, written as a temporary sibling and renamed into place on commit: through a symlink, and
    in place when ``path`` is a device or a pipe (:mod:`hlb.outfile`: renaming would replace it). A new file gets
    ``mode``, by default what the umask leaves of 0o666."""

    def __init__(self, path: str, mode: int | None = None) -> None:
        self.path = path
        self._mode = 0o666 & ~_UMASK if mode is None else mode
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        if os.path.isdir(path):  # found now, not after the whole stream
            raise IsADirectoryError(errno.EISDIR, "it is a directory", path)
        self._target, in_place = outfile.destination(path)
        self._tmp: str | None = None
        if in_place:
            self._file: IO[bytes] | None = open(self._target, "wb")  # noqa: SIM115 (closed by commit or abort)
        else:
            # the temporary's name stays short: the final name may already be NAME_MAX long
            prefix = f".{os.path.basename(self._target)[:64]}."
            fd, self._tmp = tempfile.mkstemp(prefix=prefix, suffix=".partial", dir=os.path.dirname(self._target))
            self._file = os.fdopen(fd, "wb")
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
            if self._tmp is not None:
                os.fsync(f.fileno())
                os.fchmod(f.fileno(), self._mode)
        finally:
            f.close()
        if self._tmp is not None:
            os.replace(self._tmp, self._target)

    def abort(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        if self._tmp is not None:
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


class StdoutSink:
    """This process's stdout (``hlb run -o -``): written through as it comes; an abort leaves what was written."""

    def __init__(self) -> None:
        self._out = sys.stdout.buffer

    def write(self, data: bytes) -> None:
        self._out.write(data)

    def commit(self) -> None:
        self._out.flush()

    def abort(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._out.flush()


STDOUT = "-"


def file_target(path: str) -> FileTarget:
    """The file ``path``, or stdout for ``-``."""
    if path == STDOUT:
        return FileTarget(lambda _md: StdoutSink(), "stdout")
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

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message  # without the path, for a message about another entry


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
class _Dir:
    """A directory of this transfer: its final mode and mtime, and the inode it has on disk."""

    perm: int
    mtime_ns: int
    dev: int
    ino: int


@dataclass(slots=True)
class _Open:
    """A requested regular file: its temporary is created in its directory when the first DATA arrives."""

    rel: str
    mode: int
    mtime_ns: int
    links: list[str] = field(default_factory=list)  # hardlinks to create once the data is in
    parent: int = -1  # fd of its directory while the temporary exists
    tmp: str = ""
    file: IO[bytes] | None = None


_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_TMP = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
NAME_MAX = 255
PATH_MAX = 4095  # bytes, without the terminating NUL


class TreeReceiver:
    """Creates the entries of a ``local`` export under ``dest`` (merge mode: nothing is deleted).

    Every entry is created relative to a file descriptor of its directory,
    reached from ``dest`` one component at a time without following symlinks,
    and only through directories this transfer created (checked by inode, so
    a directory swapped on disk meanwhile is noticed). A path is received once:
    fsutil sends each path once, in order, so a second STAT for one path (a
    directory turned into a symlink...) is refused. A symlink is created as a
    link, never followed; files, links and pipes are created under a temporary
    name and renamed into place, which replaces an existing file or symlink
    but never a directory that was there before: merging does not delete a
    tree it did not create.
    """

    def __init__(self, dest: str) -> None:
        self.dest = os.path.abspath(dest)
        self.kinds: dict[str, str] = {}  # every path received -> what it was ("a directory"...)
        # received directories; mode and mtime applied at the end (a read-only dir must stay writable until then)
        self.dirs: dict[str, _Dir] = {}
        self.files: set[str] = set()  # received regular files with data: what a hardlink may point to
        self.pending: dict[int, _Open] = {}  # requested file id -> its state
        self.listed = False
        self.sent_fin = False
        self._root = -1
        self._lock = threading.Lock()

    def run(self, requests: Iterator[bytes]) -> Iterator[bytes]:
        os.makedirs(self.dest, mode=0o755, exist_ok=True)
        self._root = os.open(self.dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # dest itself may be a link
        info = os.fstat(self._root)
        self.dirs[""] = _Dir(0, 0, info.st_dev, info.st_ino)
        try:
            yield from self._run(requests)
        except BaseException:
            self.abort()
            raise
        finally:
            self._close_root()

    def _run(self, requests: Iterator[bytes]) -> Iterator[bytes]:
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

    def _close_root(self) -> None:
        if self._root >= 0:
            with contextlib.suppress(OSError):
                os.close(self._root)
            self._root = -1

    def _entry(self, s: fsutil_stat_pb2.Stat, index: int) -> bool:
        """Create the entry of one STAT (its index among all STATs); True when its data must be requested."""
        rel = _safe_path(s.path)
        mode = s.mode
        kind = _kind(mode, s.linkname)
        if rel in self.kinds:
            raise TransferError(f"refusing {_show(rel)}: sent twice ({self.kinds[rel]}, then {kind})")
        self.kinds[rel] = kind
        if "\x00" in s.linkname:
            raise TransferError(f"refusing {_show(rel)}: its link target {_show(s.linkname)} contains a NUL byte")
        perm = (mode & 0o777) | (st.S_ISUID if mode & MODE_SETUID else 0) | (st.S_ISGID if mode & MODE_SETGID else 0)
        perm |= st.S_ISVTX if mode & MODE_STICKY else 0
        if mode & (MODE_DEVICE | MODE_SOCKET | MODE_IRREGULAR):
            return False  # devices need privileges, sockets are never sent: skipped as Go does unprivileged
        source = ""
        if kind == "a hardlink":
            try:
                source = _safe_path(s.linkname)
            except TransferError as e:
                raise TransferError(f"refusing hardlink {_show(rel)} to {_show(s.linkname)}: {e.reason}") from None
            if source not in self.files:
                raise TransferError(
                    f"refusing hardlink {_show(rel)} to {_show(s.linkname)}: not a file of this transfer"
                )
        elif kind == "a file":
            os.close(self._parent(rel)[0])  # refused now, before its data is requested, if it cannot be written
            self.files.add(rel)
            with self._lock:
                self.pending[index] = _Open(rel, perm, s.modTime)
            return True  # even when empty: the sender answers with one empty DATA
        parent, name = self._parent(rel)
        try:
            if kind == "a directory":
                self._mkdir(parent, name, rel, perm, s.modTime)
            elif kind == "a symlink":
                self._place(parent, name, rel, kind, lambda tmp: os.symlink(s.linkname, tmp, dir_fd=parent))
                os.utime(name, ns=(s.modTime, s.modTime), dir_fd=parent, follow_symlinks=False)
            elif kind == "a named pipe":
                self._place(parent, name, rel, kind, lambda tmp: os.mkfifo(tmp, perm, dir_fd=parent))
            else:
                with self._lock:
                    waiting = next((f for f in self.pending.values() if f.rel == source), None)
                    if waiting is not None:  # linked once its data is in
                        waiting.links.append(rel)
                if waiting is None:
                    self._link(source, parent, name, rel)
        except OSError as e:
            raise self._os_error(e, rel) from None
        finally:
            os.close(parent)
        return False

    def _parent(self, rel: str) -> tuple[int, str]:
        """An fd of ``rel``'s directory (the caller closes it) and ``rel``'s name in it.

        Walks from ``dest`` through directories of this transfer only, never
        following a symlink, each checked to be the inode the transfer created.
        """
        parent, _, name = rel.rpartition("/")
        if parent not in self.dirs:
            missing = next(p for p in _prefixes(parent) if p not in self.dirs)
            raise TransferError(
                f"refusing {_show(rel)}: its parent {_show(missing)} is not a directory of this transfer"
            )
        fd = os.dup(self._root)
        try:
            for prefix in _prefixes(parent):
                try:
                    nxt = os.open(prefix.rpartition("/")[2], _O_DIR, dir_fd=fd)
                except OSError as e:
                    raise TransferError(
                        f"refusing {_show(rel)}: directory {_show(prefix)} was replaced during the transfer"
                        f" ({e.strerror})"
                    ) from None
                os.close(fd)
                fd = nxt
                info, want = os.fstat(fd), self.dirs[prefix]
                if (info.st_dev, info.st_ino) != (want.dev, want.ino):
                    raise TransferError(
                        f"refusing {_show(rel)}: directory {_show(prefix)} was replaced during the transfer"
                    )
        except BaseException:
            os.close(fd)
            raise
        return fd, name

    def _mkdir(self, parent: int, name: str, rel: str, perm: int, mtime_ns: int) -> None:
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
        except FileExistsError:
            if not st.S_ISDIR(os.lstat(name, dir_fd=parent).st_mode):
                os.unlink(name, dir_fd=parent)  # a file or symlink where the export has a directory (not followed)
                os.mkdir(name, 0o700, dir_fd=parent)
        fd = os.open(name, _O_DIR, dir_fd=parent)
        try:
            info = os.fstat(fd)
            os.fchmod(fd, perm | 0o700)
        finally:
            os.close(fd)
        self.dirs[rel] = _Dir(perm, mtime_ns, info.st_dev, info.st_ino)

    def _not_a_directory(self, parent: int, name: str, rel: str, kind: str) -> None:
        """Refuse to replace a directory that was there before the transfer by a non-directory."""
        with contextlib.suppress(FileNotFoundError):
            if st.S_ISDIR(os.lstat(name, dir_fd=parent).st_mode):
                raise TransferError(
                    f"refusing {_show(rel)}: {os.path.join(self.dest, rel)} is a directory and the export has"
                    f" {kind} there; remove it or export into an empty directory"
                )

    def _place(self, parent: int, name: str, rel: str, kind: str, create: Callable[[str], None]) -> None:
        """Create an entry under a temporary name in ``parent``, then rename it to ``name``."""
        self._not_a_directory(parent, name, rel, kind)
        tmp = _tmp_name()
        create(tmp)
        try:
            os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=parent)
            raise

    def _link(self, source: str, parent: int, name: str, rel: str) -> None:
        src_parent, src_name = self._parent(source)
        try:
            self._place(
                parent,
                name,
                rel,
                "a hardlink",
                lambda tmp: os.link(src_name, tmp, src_dir_fd=src_parent, dst_dir_fd=parent, follow_symlinks=False),
            )
        finally:
            os.close(src_parent)

    def _data(self, ident: int, data: bytes) -> None:
        with self._lock:
            f = self.pending.get(ident)
        if f is None:
            raise TransferError(f"the daemon sent data for file {ident}, which was not requested")
        try:
            if f.file is None:
                parent, name = self._parent(f.rel)
                f.parent, f.tmp = parent, _tmp_name()
                f.file = os.fdopen(os.open(f.tmp, _O_TMP, 0o600, dir_fd=parent), "wb")
            if data:
                f.file.write(data)
                return
            f.file.flush()  # before the times: a later flush would change them
            os.fchmod(f.file.fileno(), f.mode)
            os.utime(f.file.fileno(), ns=(f.mtime_ns, f.mtime_ns))
            f.file.close()
            f.file = None
            name = f.rel.rpartition("/")[2]
            self._not_a_directory(f.parent, name, f.rel, "a file")
            os.replace(f.tmp, name, src_dir_fd=f.parent, dst_dir_fd=f.parent)
            f.tmp = ""
        except OSError as e:
            raise self._os_error(e, f.rel) from None
        with self._lock:
            del self.pending[ident]
        try:
            for link in f.links:
                parent, name = self._parent(link)
                try:
                    self._link(f.rel, parent, name, link)
                except OSError as e:
                    raise self._os_error(e, link) from None
                finally:
                    os.close(parent)
        finally:
            os.close(f.parent)

    def _os_error(self, e: OSError, rel: str) -> OSError:
        return OSError(e.errno, e.strerror, os.path.join(self.dest, rel))

    def _finish(self) -> None:
        if self.pending:
            raise TransferError(f"the transfer ended with {len(self.pending)} file(s) incomplete")
        for rel in sorted(self.dirs, key=len, reverse=True):  # deepest first: children change parents' mtimes
            if rel:
                d = self.dirs[rel]
                parent, name = self._parent(rel)
                try:
                    fd = os.open(name, _O_DIR, dir_fd=parent)
                except OSError as e:  # a symlink or a file now: never followed, refused as _parent refuses it
                    replaced = f"refusing {_show(rel)}: it was replaced during the transfer ({e.strerror})"
                    raise TransferError(replaced) from None
                finally:
                    os.close(parent)
                try:
                    info = os.fstat(fd)
                    if (info.st_dev, info.st_ino) != (d.dev, d.ino):
                        raise TransferError(f"refusing {_show(rel)}: it was replaced during the transfer")
                    os.fchmod(fd, d.perm)
                    os.utime(fd, ns=(d.mtime_ns, d.mtime_ns))
                finally:
                    os.close(fd)

    def abort(self) -> None:
        """Remove the temporaries of the files in flight (idempotent)."""
        with self._lock:
            pending, self.pending = list(self.pending.values()), {}
        for f in pending:
            if f.file is not None:
                with contextlib.suppress(OSError):
                    f.file.close()
                f.file = None
            if f.parent >= 0:
                if f.tmp:
                    with contextlib.suppress(OSError):
                        os.unlink(f.tmp, dir_fd=f.parent)
                with contextlib.suppress(OSError):
                    os.close(f.parent)
                f.parent = -1


def _kind(mode: int, linkname: str) -> str:
    if mode & MODE_DIR:
        return "a directory"
    if mode & MODE_SYMLINK:
        return "a symlink"
    if mode & (MODE_DEVICE | MODE_CHARDEV):
        return "a device"
    if mode & MODE_SOCKET:
        return "a socket"
    if mode & MODE_IRREGULAR:
        return "an irregular file"
    if mode & MODE_PIPE:
        return "a named pipe"
    return "a hardlink" if linkname else "a file"


def _prefixes(parent: str) -> list[str]:
    """``"a/b/c"`` -> ``["a", "a/b", "a/b/c"]``; ``""`` -> ``[]``."""
    parts = parent.split("/") if parent else []
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _tmp_name() -> str:
    return f".hlb-{os.urandom(8).hex()}.partial"  # short: the final name may already be NAME_MAX long


def _show(path: str, limit: int = 160) -> str:
    """``path`` quoted for an error, shortened in the middle when it is very long."""
    text = repr(path)
    return text if len(text) <= limit else f"{text[: limit // 2]}...{text[-limit // 2 :]}"


def _refused(path: str, reason: str) -> TransferError:
    return TransferError(f"refusing path {_show(path)}: {reason}", reason)


def _safe_path(path: str) -> str:
    """A clean relative path inside the destination, or TransferError naming it."""
    if not path:
        raise _refused(path, "empty")
    if "\x00" in path:
        raise _refused(path, "it contains a NUL byte")
    if path.startswith("/"):
        raise _refused(path, "not relative")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise _refused(path, "it must be a clean relative path inside the destination")
    raw = os.fsencode(path)
    if any(len(os.fsencode(p)) > NAME_MAX for p in parts):
        raise _refused(path, f"a component is longer than {NAME_MAX} bytes")
    if len(raw) > PATH_MAX:
        raise _refused(path, f"it is longer than {PATH_MAX} bytes")
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
