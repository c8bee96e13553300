"""The content store the daemon reads and writes through the session.

containerd's ``Content`` service, served over OCI image layout directories
(``blobs/sha256/<hex>``, ``oci-layout``, ``index.json``). The daemon names the
store per call in metadata ``buildkit-attachable-store-id``: ``local:<dir>``
for a ``type=local`` cache export (``dest``) or import (``src``), with the
directory exactly as sent in the cache attrs. Unknown ids are ``NOT_FOUND``.

Reads stream the blob from disk in chunks at the requested offset; writes go
to ``ingest/<ref hash>-<writer>/data`` (one folder per store instance, so two
processes writing the same blob never share a file) and are renamed into
``blobs/`` only after their size and sha256 check out (a blob that already
exists answers ``ALREADY_EXISTS``, which the daemon takes as done).
``index.json`` is the client's job: :func:`tag_descriptor` records the cache
manifest after the solve and :func:`tagged_digest` finds it for an import, as
buildctl does.

Several exports may share one directory (parallel CI jobs, ``hlb run`` of
several targets): the read-modify-write of ``index.json``, creating and
removing ``ingest/`` folders and moving blobs into place happen under an
advisory lock on the directory (:func:`locked`, ``flock``), and every file is
written under a temporary name, fsynced, and renamed into place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import empty_pb2, timestamp_pb2

from hlb._proto import content_pb2, content_pb2_grpc

SERVICE = "containerd.services.content.v1.Content"
STORE_ID_KEY = "buildkit-attachable-store-id"
REF_NAME = "org.opencontainers.image.ref.name"
IMAGE_NAME = "io.containerd.image.name"
CHUNK = 1 << 20
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_METHODS = ("Info", "Update", "List", "Delete", "Read", "Status", "ListStatuses", "Write", "Abort")


class StoreError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class LayoutStore:
    """An OCI image layout directory as a content store (created on first write)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._writing: set[str] = set()
        self._lock = threading.Lock()
        self._writer = f"{os.getpid()}-{os.urandom(4).hex()}"  # names this instance's ingest folders

    def blob(self, digest: str) -> str:
        m = _DIGEST.match(digest)
        if m is None:
            raise StoreError(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported digest {digest!r}")
        return os.path.join(self.root, "blobs", "sha256", m.group(1))

    def info(self, digest: str) -> content_pb2.Info:
        try:
            s = os.stat(self.blob(digest))
        except FileNotFoundError:
            raise StoreError(grpc.StatusCode.NOT_FOUND, f"content {digest}: not found") from None
        return content_pb2.Info(digest=digest, size=s.st_size, created_at=_ts(s.st_ctime), updated_at=_ts(s.st_mtime))

    def read(self, digest: str, offset: int, size: int) -> Iterator[content_pb2.ReadContentResponse]:
        path = self.blob(digest)
        if not os.path.isfile(path):
            raise StoreError(grpc.StatusCode.NOT_FOUND, f"content {digest}: not found")
        with open(path, "rb") as f:
            total = os.fstat(f.fileno()).st_size
            if offset < 0 or offset > total:
                raise StoreError(grpc.StatusCode.OUT_OF_RANGE, f"offset {offset} outside {digest} ({total} bytes)")
            end = total if size <= 0 else min(total, offset + size)
            f.seek(offset)
            while offset < end:
                data = f.read(min(CHUNK, end - offset))
                if not data:
                    break
                yield content_pb2.ReadContentResponse(offset=offset, data=data)
                offset += len(data)

    def list(self) -> list[content_pb2.Info]:
        out = []
        with contextlib.suppress(FileNotFoundError):
            for name in sorted(os.listdir(os.path.join(self.root, "blobs", "sha256"))):
                with contextlib.suppress(StoreError):
                    out.append(self.info(f"sha256:{name}"))
        return out

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.blob(digest))
        except FileNotFoundError:
            raise StoreError(grpc.StatusCode.NOT_FOUND, f"content {digest}: not found") from None

    def ingest(self, ref: str) -> str:
        return os.path.join(self.root, "ingest", f"{hashlib.sha256(ref.encode()).hexdigest()}-{self._writer}")

    def close(self) -> None:
        """Remove this instance's unfinished ingests (the daemon can resume a write only within its session)."""
        folder = os.path.join(self.root, "ingest")
        if not os.path.isdir(folder):
            return
        with locked(self.root):
            for name in os.listdir(folder):
                if name.endswith(f"-{self._writer}"):
                    shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # once nothing is in progress

    def status(self, ref: str) -> content_pb2.Status:
        data = os.path.join(self.ingest(ref), "data")
        try:
            s = os.stat(data)
        except FileNotFoundError:
            raise StoreError(grpc.StatusCode.NOT_FOUND, f"no write in progress for {ref}") from None
        return content_pb2.Status(ref=ref, offset=s.st_size, started_at=_ts(s.st_ctime), updated_at=_ts(s.st_mtime))

    def abort(self, ref: str) -> None:
        path = self.ingest(ref)
        if not os.path.isdir(path):
            raise StoreError(grpc.StatusCode.NOT_FOUND, f"no write in progress for {ref}")
        shutil.rmtree(path, ignore_errors=True)

    def write(self, requests: Iterator[content_pb2.WriteContentRequest]) -> Iterator[content_pb2.WriteContentResponse]:
        """containerd's Write protocol: STAT/WRITE/COMMIT on one ref, one response per request."""
        first = next(requests, None)
        if first is None:
            return
        if not first.ref:
            raise StoreError(grpc.StatusCode.INVALID_ARGUMENT, "first message must have a reference")
        with self._lock:
            if first.ref in self._writing:
                raise StoreError(grpc.StatusCode.UNAVAILABLE, f"ref {first.ref} is locked")
            self._writing.add(first.ref)
        try:
            yield from self._write(first, requests)
        finally:
            with self._lock:
                self._writing.discard(first.ref)

    def _write(
        self, req: content_pb2.WriteContentRequest, requests: Iterator[content_pb2.WriteContentRequest]
    ) -> Iterator[content_pb2.WriteContentResponse]:
        ref, total, expected = req.ref, req.total, req.expected
        folder = self.ingest(ref)
        data_path = os.path.join(folder, "data")
        with locked(self.root):  # against another writer's commit removing an empty ingest/ meanwhile
            os.makedirs(folder, exist_ok=True)
            f = open(data_path, "ab")  # noqa: SIM115 (closed by the with below)
        self._layout()
        started = time.time()
        with f:
            while True:
                if req.expected:
                    expected = req.expected
                    if os.path.exists(self.blob(expected)):  # complete: blobs only appear by rename
                        f.close()
                        self._remove_ingest(folder)
                        raise StoreError(grpc.StatusCode.ALREADY_EXISTS, f"blob with expected digest {expected} exists")
                if req.total > 0:
                    total = req.total
                offset = f.tell()
                resp = content_pb2.WriteContentResponse(action=req.action, offset=offset)
                if req.action == content_pb2.STAT:
                    resp.total = total
                    resp.started_at.CopyFrom(_ts(started))
                    resp.updated_at.CopyFrom(_ts(time.time()))
                else:
                    if req.offset > 0 and req.offset != offset:
                        raise StoreError(
                            grpc.StatusCode.OUT_OF_RANGE, f"write @{req.offset} must occur at current offset {offset}"
                        )
                    if req.offset == 0 and offset > 0:
                        f.truncate(0)
                        f.seek(0)
                    if req.data:
                        f.write(req.data)
                    resp.offset = f.tell()
                    if req.action == content_pb2.COMMIT:
                        f.flush()
                        os.fsync(f.fileno())
                        try:
                            resp.digest = self._commit(data_path, total, expected)
                        finally:
                            f.close()
                            self._remove_ingest(folder)
                        yield resp
                        return
                yield resp
                nxt = next(requests, None)
                if nxt is None:
                    return  # the daemon may resume this ref later: the ingest stays
                req = nxt

    def _commit(self, data_path: str, total: int, expected: str) -> str:
        h = hashlib.sha256()
        size = 0
        with open(data_path, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
        if total > 0 and size != total:
            raise StoreError(grpc.StatusCode.FAILED_PRECONDITION, f"unexpected commit size {size}, expected {total}")
        digest = f"sha256:{h.hexdigest()}"
        if expected and digest != expected:
            raise StoreError(
                grpc.StatusCode.FAILED_PRECONDITION, f"unexpected commit digest {digest}, expected {expected}"
            )
        target = self.blob(digest)
        with locked(self.root):
            if os.path.exists(target):  # another writer put the same bytes there first: done
                raise StoreError(grpc.StatusCode.ALREADY_EXISTS, f"content {digest}: already exists")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.chmod(data_path, 0o444)
            os.replace(data_path, target)
            _fsync_dir(os.path.dirname(target))
        return digest

    def _remove_ingest(self, folder: str) -> None:
        with locked(self.root):
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(folder))  # ingest/, once nothing is in progress

    def _layout(self) -> None:
        path = os.path.join(self.root, "oci-layout")
        if not os.path.exists(path):
            _write_json(path, {"imageLayoutVersion": "1.0.0"})


def _ts(t: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(t * 1e9))
    return ts


def _write_json(path: str, value: Any) -> None:
    """Replace ``path`` atomically: a temporary sibling, fsynced, renamed over it, the directory fsynced."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".hlb-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(value, f)
            f.flush()
            os.fchmod(f.fileno(), 0o644)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(os.path.dirname(path))


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(root: str) -> Iterator[None]:
    """Hold the advisory lock of the layout directory ``root`` (created if needed).

    ``flock`` on the directory itself (no lock file left behind): exclusive
    between processes, and between threads too, as each call opens its own
    descriptor. Held only for short steps, never while a blob streams in.
    """
    os.makedirs(root, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


class _Servicer(content_pb2_grpc.ContentServicer):
    def __init__(self, stores: Mapping[str, LayoutStore]) -> None:
        self.stores = dict(stores)

    def _store(self, context: grpc.ServicerContext) -> LayoutStore:
        ids = [v for k, v in context.invocation_metadata() if k.lower() == STORE_ID_KEY]
        if not ids:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"request lacks metadata {STORE_ID_KEY!r}")
        value = ids[0]
        store = self.stores.get(value if isinstance(value, str) else value.decode())
        if store is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown store {ids[0]!r}")
        return store

    def Info(self, request: content_pb2.InfoRequest, context: grpc.ServicerContext) -> content_pb2.InfoResponse:
        with _errors(context):
            return content_pb2.InfoResponse(info=self._store(context).info(request.digest))
        raise AssertionError("unreachable")

    def Update(self, request: content_pb2.UpdateRequest, context: grpc.ServicerContext) -> content_pb2.UpdateResponse:
        with _errors(context):  # labels are not kept: an OCI layout has nowhere to store them
            return content_pb2.UpdateResponse(info=self._store(context).info(request.info.digest))
        raise AssertionError("unreachable")

    def List(
        self, request: content_pb2.ListContentRequest, context: grpc.ServicerContext
    ) -> Iterator[content_pb2.ListContentResponse]:
        with _errors(context):
            yield content_pb2.ListContentResponse(info=self._store(context).list())

    def Delete(self, request: content_pb2.DeleteContentRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        with _errors(context):
            self._store(context).delete(request.digest)
        return empty_pb2.Empty()

    def Read(
        self, request: content_pb2.ReadContentRequest, context: grpc.ServicerContext
    ) -> Iterator[content_pb2.ReadContentResponse]:
        with _errors(context):
            yield from self._store(context).read(request.digest, request.offset, request.size)

    def Status(self, request: content_pb2.StatusRequest, context: grpc.ServicerContext) -> content_pb2.StatusResponse:
        with _errors(context):
            return content_pb2.StatusResponse(status=self._store(context).status(request.ref))
        raise AssertionError("unreachable")

    def ListStatuses(
        self, request: content_pb2.ListStatusesRequest, context: grpc.ServicerContext
    ) -> content_pb2.ListStatusesResponse:
        self._store(context)
        return content_pb2.ListStatusesResponse()

    def Write(
        self, request_iterator: Iterator[content_pb2.WriteContentRequest], context: grpc.ServicerContext
    ) -> Iterator[content_pb2.WriteContentResponse]:
        with _errors(context):
            yield from self._store(context).write(request_iterator)

    def Abort(self, request: content_pb2.AbortRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        with _errors(context):
            self._store(context).abort(request.ref)
        return empty_pb2.Empty()


@contextlib.contextmanager
def _errors(context: grpc.ServicerContext) -> Iterator[None]:
    try:
        yield
    except StoreError as e:
        context.abort(e.code, str(e))
    except OSError as e:
        context.abort(grpc.StatusCode.INTERNAL, f"{e.filename or 'content store'}: {e.strerror or e}")


class ContentStore:
    """The Content attachable: store id (``local:<dir>``) -> an OCI layout directory."""

    def __init__(self, stores: Mapping[str, str]) -> None:
        self.stores = {key: LayoutStore(root) for key, root in stores.items()}

    def close(self) -> None:
        """With the session: unfinished ingests go (a Session calls this after stopping its server)."""
        for store in self.stores.values():
            with contextlib.suppress(OSError):
                store.close()

    def methods(self) -> Sequence[str]:
        return [f"/{SERVICE}/{m}" for m in _METHODS]

    def register(self, server: grpc.Server) -> None:
        content_pb2_grpc.add_ContentServicer_to_server(_Servicer(self.stores), server)


def read_index(root: str) -> dict[str, Any]:
    """The OCI layout's ``index.json`` (an empty index when there is none).

    Raises OSError when it cannot be read, and ValueError naming the file and what is wrong when it
    is not JSON or not an OCI image index (the parts hlb reads: manifests, their annotations and digests).
    """
    path = os.path.join(root, "index.json")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
    try:
        index = json.loads(data)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path}: not JSON: {e}") from None
    problem = _index_problem(index)
    if problem:
        raise ValueError(f"{path}: not an OCI image index: {problem}")
    return dict(index)


def _index_problem(index: object) -> str:
    """What makes ``index`` no OCI image index hlb can read, or ``""``."""
    if not isinstance(index, dict):
        return f"the document is {_json_kind(index)}, not an object"
    manifests = index.get("manifests", [])
    if not isinstance(manifests, list):
        return f'"manifests" is {_json_kind(manifests)}, not a list'
    for i, m in enumerate(manifests):
        if not isinstance(m, dict):
            return f'"manifests"[{i}] is {_json_kind(m)}, not an object'
        if not isinstance(m.get("annotations") or {}, dict):
            return f'"manifests"[{i}].annotations is {_json_kind(m["annotations"])}, not an object'
        if not isinstance(m.get("digest", ""), str):
            return f'"manifests"[{i}].digest is {_json_kind(m["digest"])}, not a string'
    return ""


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def tagged_digest(root: str, tag: str) -> str | None:
    """The digest ``index.json`` records for ``tag`` (by ref name or containerd image name), if any."""
    for m in read_index(root).get("manifests", []):
        ann = m.get("annotations") or {}
        if ann.get(REF_NAME) == tag or ann.get(IMAGE_NAME) == tag:
            return str(m.get("digest", "")) or None
    return None


def tag_descriptor(root: str, tag: str, descriptor: Mapping[str, Any]) -> None:
    """Record ``descriptor`` as ``tag`` in ``index.json`` (replacing that tag), and the ``oci-layout`` file.

    Under the directory's lock, so concurrent exports into one directory each keep their tag.
    """
    with locked(root):
        index = read_index(root)
        desc = dict(descriptor)
        desc["annotations"] = {**(desc.get("annotations") or {}), REF_NAME: tag}
        kept = [m for m in index.get("manifests", []) if (m.get("annotations") or {}).get(REF_NAME) != tag]
        index["manifests"] = [*kept, desc]
        index.setdefault("schemaVersion", 2)
        index.setdefault("mediaType", "application/vnd.oci.image.index.v1+json")
        _write_json(os.path.join(root, "index.json"), index)
        layout = os.path.join(root, "oci-layout")
        if not os.path.exists(layout):
            _write_json(layout, {"imageLayoutVersion": "1.0.0"})


__all__ = ["ContentStore", "LayoutStore", "StoreError", "locked", "read_index", "tag_descriptor", "tagged_digest"]
