"""The session's content store over real gRPC, as containerd's proxy store in the daemon calls it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from hlb._proto import content_pb2, content_pb2_grpc
from hlb.session import Session, content
from hlb.session.content import STORE_ID_KEY, ContentStore, tag_descriptor, tagged_digest


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[content_pb2_grpc.ContentStub, Path]]:
    root = tmp_path / "cache"
    with Session([ContentStore({f"local:{root}": str(root)})]) as s, grpc.insecure_channel(f"unix:{s.path}") as ch:
        yield content_pb2_grpc.ContentStub(ch), root


def md(root: Path) -> list[tuple[str, str]]:
    return [(STORE_ID_KEY, f"local:{root}")]


def write(stub: content_pb2_grpc.ContentStub, root: Path, data: bytes, *, expected: str = "", ref: str = "r1") -> list:
    W = content_pb2.WriteContentRequest
    reqs = [
        W(action=content_pb2.STAT, ref=ref, total=len(data), expected=expected),
        W(action=content_pb2.WRITE, ref=ref, offset=0, data=data[:5]),
        W(action=content_pb2.WRITE, ref=ref, offset=5, data=data[5:]),
        W(action=content_pb2.COMMIT, ref=ref, total=len(data), expected=expected, offset=len(data)),
    ]
    return list(stub.Write(iter(reqs), metadata=md(root), timeout=10))


def test_a_blob_written_in_pieces_is_committed_under_its_digest(
    store: tuple[content_pb2_grpc.ContentStub, Path],
) -> None:
    stub, root = store
    data = b"layer bytes " * 1000
    resps = write(stub, root, data, expected=digest_of(data))
    assert [r.offset for r in resps] == [0, 5, len(data), len(data)]
    assert resps[-1].digest == digest_of(data)
    blob = root / "blobs" / "sha256" / digest_of(data).removeprefix("sha256:")
    assert blob.read_bytes() == data
    assert json.loads((root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert not (root / "ingest").exists()
    info = stub.Info(content_pb2.InfoRequest(digest=digest_of(data)), metadata=md(root)).info
    assert (info.digest, info.size) == (digest_of(data), len(data))
    # Read at an offset and size, as the daemon's ReaderAt does.
    chunks = stub.Read(content_pb2.ReadContentRequest(digest=digest_of(data), offset=7, size=20), metadata=md(root))
    got = list(chunks)
    assert b"".join(c.data for c in got) == data[7:27] and got[0].offset == 7
    whole = stub.Read(content_pb2.ReadContentRequest(digest=digest_of(data)), metadata=md(root))
    assert b"".join(c.data for c in whole) == data


def test_an_existing_blob_answers_already_exists(store: tuple[content_pb2_grpc.ContentStub, Path]) -> None:
    stub, root = store
    data = b"the same blob"
    write(stub, root, data, expected=digest_of(data))
    with pytest.raises(grpc.RpcError) as err:
        write(stub, root, data, expected=digest_of(data), ref="r2")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_a_wrong_digest_or_size_is_refused_and_nothing_is_stored(
    store: tuple[content_pb2_grpc.ContentStub, Path],
) -> None:
    stub, root = store
    with pytest.raises(grpc.RpcError) as err:
        write(stub, root, b"actual data", expected=digest_of(b"other data"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "unexpected commit digest" in (err.value.details() or "")
    assert not (root / "blobs" / "sha256").exists() or os.listdir(root / "blobs" / "sha256") == []
    W = content_pb2.WriteContentRequest
    bad_offset = [W(action=content_pb2.STAT, ref="r3"), W(action=content_pb2.WRITE, ref="r3", offset=9, data=b"x")]
    with pytest.raises(grpc.RpcError) as err:
        list(stub.Write(iter(bad_offset), metadata=md(root)))
    assert err.value.code() == grpc.StatusCode.OUT_OF_RANGE


def test_store_selection_by_metadata(store: tuple[content_pb2_grpc.ContentStub, Path]) -> None:
    stub, root = store
    with pytest.raises(grpc.RpcError) as err:
        stub.Info(content_pb2.InfoRequest(digest=digest_of(b"x")), metadata=md(root))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        stub.Info(content_pb2.InfoRequest(digest=digest_of(b"x")), metadata=[(STORE_ID_KEY, "local:/elsewhere")])
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "unknown store" in (err.value.details() or "")
    with pytest.raises(grpc.RpcError) as err:
        stub.Info(content_pb2.InfoRequest(digest=digest_of(b"x")))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        stub.Info(content_pb2.InfoRequest(digest="sha256:../../etc/passwd"), metadata=md(root))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_index_tags(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    assert tagged_digest(str(root), "latest") is None
    desc = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + "a" * 64, "size": 9}
    tag_descriptor(str(root), "latest", desc)
    tag_descriptor(str(root), "other", {**desc, "digest": "sha256:" + "b" * 64})
    tag_descriptor(str(root), "latest", {**desc, "digest": "sha256:" + "c" * 64})  # replaces the tag
    assert tagged_digest(str(root), "latest") == "sha256:" + "c" * 64
    assert tagged_digest(str(root), "other") == "sha256:" + "b" * 64
    index = json.loads((root / "index.json").read_text())
    assert len(index["manifests"]) == 2 and index["schemaVersion"] == 2
    (root / "index.json").write_text("[]")
    with pytest.raises(ValueError, match="not an OCI image index"):
        tagged_digest(str(root), "latest")


# ---------------------------------------------------------------- one directory, several writers (issue 10, item 4)

DESC = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 2}


def _tags(root: Path) -> list[str]:
    index = json.loads((root / "index.json").read_text())
    return sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"])


def _read_then_wait(barrier: threading.Barrier | Any) -> Callable[[str], dict[str, Any]]:
    """read_index that waits for the other writers after reading: every unlocked read-modify-write overlaps."""
    original = content.read_index

    def read_index(root: str) -> dict[str, Any]:
        index = original(root)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=0.5)  # under the lock, the others cannot arrive: it breaks and all go on
        return index

    return read_index


def test_concurrent_tags_from_threads_are_all_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writers = 8
    monkeypatch.setattr(content, "read_index", _read_then_wait(threading.Barrier(writers)))
    root = tmp_path / "cache"
    threads = [
        threading.Thread(target=tag_descriptor, args=(str(root), f"t{i}", {**DESC, "digest": digest_of(b"%d" % i)}))
        for i in range(writers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert _tags(root) == [f"t{i}" for i in range(writers)]
    assert [p.name for p in root.iterdir() if p.name.startswith(".hlb-")] == []  # no temporary left


def _tag_in_a_process(root: str, tag: str, barrier: Any) -> None:
    content.read_index = _read_then_wait(barrier)  # type: ignore[assignment]  # this child's module only
    tag_descriptor(root, tag, {**DESC, "digest": digest_of(tag.encode())})


def test_concurrent_tags_from_processes_are_all_kept(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    writers = 8
    root = tmp_path / "cache"
    for rnd in range(3):
        barrier = ctx.Barrier(writers)
        procs = [
            ctx.Process(target=_tag_in_a_process, args=(str(root), f"r{rnd}t{i}", barrier)) for i in range(writers)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        assert [p.exitcode for p in procs] == [0] * writers
    assert _tags(root) == sorted(f"r{r}t{i}" for r in range(3) for i in range(writers))


def test_the_lock_excludes_threads_and_processes(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    inside: list[str] = []
    with content.locked(str(root)):
        got = threading.Event()

        def take() -> None:
            with content.locked(str(root)):
                inside.append("thread")
                got.set()

        t = threading.Thread(target=take)
        t.start()
        assert not got.wait(0.3)  # blocked while this thread holds it
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY);"
                " fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)",
                str(root),
            ],
            capture_output=True,
            text=True,
        )
        assert probe.returncode != 0 and "BlockingIOError" in probe.stderr
    assert got.wait(5) and inside == ["thread"]
    t.join(5)


def _stream(reqs: list[content_pb2.WriteContentRequest]) -> Iterator[content_pb2.WriteContentRequest]:
    yield from reqs


def test_two_writers_of_one_blob_do_not_share_an_ingest(tmp_path: Path) -> None:
    """Two sessions (two hlb processes) write the same ref at once, interleaved: both succeed, the blob is whole."""
    W = content_pb2.WriteContentRequest
    data = b"shared base layer " * 5000
    digest = digest_of(data)
    root = str(tmp_path / "cache")
    a, b = content.LayoutStore(root), content.LayoutStore(root)
    half = len(data) // 2

    def writer(store: content.LayoutStore) -> tuple[Iterator[content_pb2.WriteContentResponse], Any]:
        q: queue.Queue[content_pb2.WriteContentRequest | None] = queue.Queue()
        return store.write(iter(q.get, None)), q

    (ra, qa), (rb, qb) = writer(a), writer(b)
    qa.put(W(action=content_pb2.WRITE, ref="layer", total=len(data), offset=0, data=data[:half]))
    assert next(ra).offset == half
    qb.put(W(action=content_pb2.WRITE, ref="layer", total=len(data), offset=0, data=data[:100]))  # B starts later
    assert next(rb).offset == 100
    qa.put(W(action=content_pb2.COMMIT, ref="layer", offset=half, data=data[half:], total=len(data), expected=digest))
    assert next(ra).digest == digest
    qb.put(W(action=content_pb2.COMMIT, ref="layer", offset=100, data=data[100:], total=len(data), expected=digest))
    with pytest.raises(content.StoreError) as err:
        next(rb)
    assert err.value.code == grpc.StatusCode.ALREADY_EXISTS  # what the daemon takes as done
    assert (tmp_path / "cache" / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes() == data
    assert not (tmp_path / "cache" / "ingest").exists()


def test_closing_the_store_removes_its_unfinished_ingests_only(tmp_path: Path) -> None:
    W = content_pb2.WriteContentRequest
    root = tmp_path / "cache"
    mine, other = content.ContentStore({"local:x": str(root)}), content.LayoutStore(str(root))
    list(mine.stores["local:x"].write(_stream([W(action=content_pb2.WRITE, ref="a", offset=0, data=b"half")])))
    list(other.write(_stream([W(action=content_pb2.WRITE, ref="a", offset=0, data=b"other")])))
    assert len(list((root / "ingest").iterdir())) == 2
    mine.close()
    (left,) = (root / "ingest").iterdir()
    assert (left / "data").read_bytes() == b"other"
    other.close()
    assert not (root / "ingest").exists()
