"""FileSync.DiffCopy: the daemon pulls a solve's `local` directories from the session.

The daemon is the receiver and names the directory it wants in the call's
metadata (``dir-name`` = the NAME of ``local://NAME``, and the source's
``include-patterns``/``exclude-patterns``/``followpaths``). We are fsutil's
sender: one STAT packet per entry in walk order, an empty STAT to end the
listing, and for every REQ (which counts every STAT, directories included) the
file's bytes as DATA packets followed by an empty DATA; FIN from the daemon
is answered with FIN.

Only directories the solve declared are served, and what the daemon asks for
is narrowed by the patterns that were declared with them: a daemon cannot
widen what leaves this machine. File data is read and sent one chunk at a
time; memory does not depend on the size of the directory's files.
"""

from __future__ import annotations

import os
import queue
import threading
import urllib.parse
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any

import grpc

from hlb._proto.fsutil_stat_pb2 import Stat
from hlb._proto.fsutil_wire_pb2 import Packet
from hlb.progress.timeline import mark
from hlb.session.fswalk import Filter, WalkError, can_request_data, follow_links, open_file_beneath, open_root, walk
from hlb.session.patterns import PatternError
from hlb.session.summary import LocalSummary
from hlb.values import LocalDir

SERVICE = "moby.filesync.v1.FileSync"
DIFFCOPY = f"/{SERVICE}/DiffCopy"
CHUNK = 1 << 20  # the daemon accepts DATA of any size below its 4 MiB message limit

_STAT = Packet.PACKET_STAT
_REQ = Packet.PACKET_REQ
_DATA = Packet.PACKET_DATA
_FIN = Packet.PACKET_FIN
_ERR = Packet.PACKET_ERR


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def data_packet(file_id: int, data: bytes) -> bytes:
    """A serialized ``Packet{type: DATA, ID, data}`` (written directly: one copy of the chunk, not three)."""
    head = b"\x08\x02"  # field 1 (type), varint 2 (PACKET_DATA)
    if file_id:
        head += b"\x18" + _varint(file_id)  # field 3 (ID)
    if data:
        return head + b"\x22" + _varint(len(data)) + data  # field 4 (data)
    return head


def stat_packet(stat: Stat) -> bytes:
    """A serialized ``Packet{type: STAT, stat}`` (STAT is 0, proto3's default: the type is not written)."""
    body = stat.SerializeToString()
    return b"\x12" + _varint(len(body)) + body  # field 2 (stat)


_END_OF_LISTING = b""  # Packet{type: STAT} without a stat: every field is a default


def _serialize(m: bytes | Packet) -> bytes:
    return m if isinstance(m, bytes) else m.SerializeToString()


def request_options(metadata: Iterable[tuple[str, str | bytes]]) -> dict[str, list[str]]:
    """The call's metadata as BuildKit's ``decodeOpts`` reads it (``KEY-encoded: true`` = query-escaped values)."""
    opts: dict[str, list[str]] = {}
    for k, v in metadata:
        opts.setdefault(k.lower(), []).append(v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
    out: dict[str, list[str]] = {}
    for k, values in opts.items():
        flag = opts.get(k + "-encoded", [""])[0].strip().lower()
        if flag in ("1", "t", "true"):
            out[k] = [urllib.parse.unquote_plus(v) for v in values]
        else:
            out[k] = values
    return out


class FileSync:
    """Serves the named local directories (``LocalDir.name`` -> directory) to the daemon."""

    def __init__(self, dirs: Sequence[LocalDir], *, chunk: int = CHUNK) -> None:
        self.dirs: dict[str, LocalDir] = {}
        for d in dirs:
            self.dirs.setdefault(d.name, d)
        self.chunk = chunk
        self.summaries: dict[str, LocalSummary] = {}  # what each directory's listing was (`hlb explain`)

    def methods(self) -> Sequence[str]:
        return (DIFFCOPY,)

    def register(self, server: grpc.Server) -> None:
        handler = grpc.stream_stream_rpc_method_handler(
            self.diff_copy, request_deserializer=Packet.FromString, response_serializer=_serialize
        )
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"DiffCopy": handler}),))

    def diff_copy(self, requests: Iterator[Packet], context: grpc.ServicerContext) -> Iterator[bytes | Packet]:
        opts = request_options(context.invocation_metadata())
        name = (opts.get("dir-name") or [""])[0]
        local = self.dirs.get(name)
        if local is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f'no access allowed to dir "{name}"')
        try:
            root = open_root(local.path)
        except WalkError as e:
            context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        try:
            filters = _filters(root, local, opts)
        except PatternError as e:
            os.close(root)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        summary = self.summaries.setdefault(name, LocalSummary())
        mark(f"filesync {name}: the daemon asks for it")
        return self._send(root, filters, requests, context, summary)

    def _send(
        self,
        root: int,
        filters: list[Filter],
        requests: Iterator[Packet],
        context: grpc.ServicerContext,
        summary: LocalSummary | None = None,
    ) -> Iterator[bytes | Packet]:
        inbox: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        reader = threading.Thread(target=_read, args=(requests, inbox), name="hlb-filesync-recv", daemon=True)
        reader.start()
        files: dict[int, str] = {}
        beside = summary.beside(root) if summary is not None else None
        i = -1
        try:
            try:
                for i, record in enumerate(walk(root, filters)):
                    if can_request_data(record.mode) and not record.linkname:
                        files[i] = record.path
                    elif can_request_data(record.mode):
                        files[i] = ""  # a hardlink: the daemon links it and asks for nothing
                    if beside is not None:
                        beside.add(record)
                    yield stat_packet(record)
                    # Serve requests as they come: the daemon asks while the listing is still going.
                    while not inbox.empty():
                        done = yield from self._handle(root, files, inbox.get(), context)
                        if done:
                            return
                if beside is not None:
                    beside.end()
                yield _END_OF_LISTING
                mark(f"filesync: listing of {i + 1} entries sent")
            except (WalkError, OSError) as e:
                msg = str(e) if isinstance(e, WalkError) else f"cannot read {getattr(e, 'filename', '')}: {e.strerror}"
                yield Packet(type=_ERR, data=msg.encode())
                context.abort(grpc.StatusCode.UNKNOWN, msg)
            while True:
                done = yield from self._handle(root, files, inbox.get(), context)
                if done:
                    return
        finally:
            if beside is not None:
                beside.end()
            os.close(root)

    def _handle(
        self, root: int, files: dict[int, str], item: tuple[int, Any], context: grpc.ServicerContext
    ) -> Generator[bytes | Packet, None, bool]:
        """Answers one packet from the daemon; returns True when the transfer is over."""
        kind, value = item
        if kind == _REQ:
            path = files.pop(value, None)
            if path is None:
                yield Packet(type=_ERR, data=f"invalid file id {value}".encode())
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid file id {value}")
            if path:
                yield from self._file(root, value, path, context)
            else:
                yield data_packet(value, b"")
            return False
        if kind == _FIN:
            mark("filesync: FIN")
            yield Packet(type=_FIN)
            return True
        if kind == _ERR:
            context.abort(grpc.StatusCode.CANCELLED, f"error from receiver: {value}")
        return True  # the daemon closed its side or the call ended

    def _file(self, root: int, file_id: int, path: str, context: grpc.ServicerContext) -> Iterator[bytes | Packet]:
        try:
            fd = open_file_beneath(root, path)
        except FileNotFoundError:
            yield data_packet(file_id, b"")  # removed since it was listed: sent empty, as the Go sender does
            return
        except OSError as e:
            msg = f"cannot send {path}: it changed while being sent ({e.strerror})"
            yield Packet(type=_ERR, data=msg.encode())
            context.abort(grpc.StatusCode.UNKNOWN, msg)
        try:
            while True:
                chunk = os.read(fd, self.chunk)
                if not chunk:
                    break
                yield data_packet(file_id, chunk)
        finally:
            os.close(fd)
        yield data_packet(file_id, b"")


def _read(requests: Iterator[Packet], inbox: queue.SimpleQueue[tuple[int, Any]]) -> None:
    try:
        for p in requests:
            if p.type == _REQ:
                inbox.put((_REQ, p.ID))
            elif p.type == _FIN:
                inbox.put((_FIN, None))
                return
            elif p.type == _ERR:
                inbox.put((_ERR, p.data.decode("utf-8", "replace")))
                return
    except grpc.RpcError:
        pass
    except Exception:  # the call was torn down under the iterator
        pass
    inbox.put((-1, None))


def _filters(root: int, local: LocalDir, opts: Mapping[str, list[str]]) -> list[Filter]:
    """What the daemon asks for, narrowed by what the solve declared for this directory."""
    declared = _filter(root, local.include_patterns, local.exclude_patterns, local.follow_paths)
    asked = _filter(
        root,
        opts.get("include-patterns", []),
        opts.get("exclude-patterns", []),
        opts.get("followpaths", []),
    )
    return [declared] if asked == declared else [declared, asked]


def summarize(local: LocalDir) -> LocalSummary:
    """The summary of ``local`` as a solve would send it now (its declared patterns), read on this machine."""
    summary = LocalSummary()
    root = open_root(local.path)
    try:
        for record in walk(root, [_filter(root, local.include_patterns, local.exclude_patterns, local.follow_paths)]):
            summary.add(root, record)
    finally:
        os.close(root)
    return summary


def _filter(root: int, includes: Sequence[str], excludes: Sequence[str], follow: Sequence[str]) -> Filter:
    inc = list(includes)
    if follow:
        targets = follow_links(root, follow)
        if targets is not None:
            inc = sorted(set(inc) | set(targets), key=os.fsencode)
    return Filter.new(inc, excludes)
