"""The session's content store over real gRPC, as containerd's proxy store in the daemon calls it."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from hlb._proto import content_pb2, content_pb2_grpc
from hlb.session import Session
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
