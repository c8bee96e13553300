"""FileSend over real gRPC: the test plays the daemon (the Go side sends, our session receives)."""

from __future__ import annotations

import os
import queue
import stat
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from hlb._proto import filesync_pb2, fsutil_stat_pb2, fsutil_wire_pb2
from hlb.session import Session
from hlb.session.filesend import (
    EXPORTER_ID_KEY,
    MODE_DIR,
    MODE_SYMLINK,
    DirTarget,
    FileSend,
    FileTarget,
    file_target,
)

Packet = fsutil_wire_pb2.Packet
METHOD = "/moby.filesync.v1.FileSend/DiffCopy"
NS = 1_000_000_000


def bytes_messages(chunks: list[bytes]) -> Iterator[bytes]:
    for c in chunks:
        yield filesync_pb2.BytesMessage(data=c).SerializeToString()


def call(session: Session, requests: Iterator[bytes], exporter: int | None = None) -> list[bytes]:
    md = [] if exporter is None else [(EXPORTER_ID_KEY, str(exporter))]
    with grpc.insecure_channel(f"unix:{session.path}") as ch:
        return list(ch.stream_stream(METHOD)(requests, metadata=md, timeout=20))


def test_a_tarball_lands_in_its_file_only_when_complete(tmp_path: Path) -> None:
    src = tmp_path / "src.tar"
    with tarfile.open(src, "w") as tf:
        payload = tmp_path / "hello.txt"
        payload.write_bytes(b"hello\n" * 100_000)
        tf.add(payload, "hello.txt")
    data = src.read_bytes()
    dest = tmp_path / "out" / "rootfs.tar"
    chunks = [data[i : i + 3 * 1024 * 1024] for i in range(0, len(data), 3 * 1024 * 1024)]
    assert len(chunks) > 0
    with Session([FileSend({1: file_target(str(dest))})]) as s:
        assert call(s, bytes_messages(chunks), exporter=1) == []
    assert dest.read_bytes() == data
    with tarfile.open(dest) as tf:
        assert tf.getnames() == ["hello.txt"]
    assert sorted(os.listdir(dest.parent)) == ["rootfs.tar"]  # no temporary left behind


def test_an_interrupted_stream_leaves_no_file(tmp_path: Path) -> None:
    dest = tmp_path / "image.tar"
    stop = threading.Event()

    def requests() -> Iterator[bytes]:
        yield filesync_pb2.BytesMessage(data=b"x" * 1000).SerializeToString()
        stop.wait(10)

    with Session([FileSend({0: file_target(str(dest))})]) as s, grpc.insecure_channel(f"unix:{s.path}") as ch:
        call_ = ch.stream_stream(METHOD)(requests())
        threading.Timer(0.5, call_.cancel).start()
        with pytest.raises(grpc.RpcError) as err:
            list(call_)
        assert err.value.code() == grpc.StatusCode.CANCELLED
        for _ in range(50):  # the handler notices the cancellation on its own thread
            if not os.listdir(tmp_path):
                break
            time.sleep(0.1)
        assert os.listdir(tmp_path) == []
        stop.set()  # only now: a request stream that ends is a half-close, which means "complete"


def test_metadata_reaches_the_sink_and_an_unknown_exporter_is_not_found(tmp_path: Path) -> None:
    seen: list[dict[str, str]] = []

    class Sink:
        def __init__(self) -> None:
            self.data = b""

        def write(self, data: bytes) -> None:
            self.data += data

        def commit(self) -> None:
            seen.append({"data": self.data.decode()})

        def abort(self) -> None:
            raise AssertionError("aborted")

    def factory(md: object) -> Sink:
        assert isinstance(md, dict)
        seen.append(md)
        return Sink()

    with Session([FileSend({0: FileTarget(factory, "a sink")})]) as s:
        with grpc.insecure_channel(f"unix:{s.path}") as ch:
            md = [("exporter-md-containerimage.digest", "sha256:abc"), ("exporter-md-image.name", "a,b")]
            assert list(ch.stream_stream(METHOD)(bytes_messages([b"ab", b"c"]), metadata=md, timeout=10)) == []
        with pytest.raises(grpc.RpcError) as err:
            call(s, bytes_messages([b"x"]), exporter=3)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "exporter 3 not found" in (err.value.details() or "")
    assert seen == [{"containerimage.digest": "sha256:abc", "image.name": "a,b"}, {"data": "abc"}]


class Sender:
    """The daemon's fsutil sender: STATs, then the data of each requested id, FIN for FIN."""

    def __init__(self, stats: list[fsutil_stat_pb2.Stat | None], files: dict[int, bytes]) -> None:
        self.stats = stats
        self.files = files
        self.out: queue.Queue[bytes | None] = queue.Queue()
        self.requested: list[int] = []
        self.fin = False

    def requests(self) -> Iterator[bytes]:
        while (item := self.out.get()) is not None:
            yield item

    def run(self, session: Session) -> grpc.RpcError | None:
        for s in self.stats:
            p = Packet(type=Packet.PACKET_STAT)
            if s is not None:
                p.stat.CopyFrom(s)
            self.out.put(p.SerializeToString())
        with grpc.insecure_channel(f"unix:{session.path}") as ch:
            try:
                for raw in ch.stream_stream(METHOD)(self.requests(), timeout=20):
                    p = Packet.FromString(raw)
                    if p.type == Packet.PACKET_REQ:
                        self.requested.append(p.ID)
                        data = self.files[p.ID]
                        for i in range(0, len(data), 7):  # small chunks: data must be appended in order
                            self.out.put(
                                Packet(type=Packet.PACKET_DATA, ID=p.ID, data=data[i : i + 7]).SerializeToString()
                            )
                        self.out.put(Packet(type=Packet.PACKET_DATA, ID=p.ID).SerializeToString())
                    elif p.type == Packet.PACKET_FIN:
                        self.fin = True
                        self.out.put(Packet(type=Packet.PACKET_FIN).SerializeToString())
                        self.out.put(None)
            except grpc.RpcError as e:
                self.out.put(None)
                return e
        return None


def st_(path: str, mode: int, *, size: int = 0, mtime: int = 1_600_000_000, link: str = "") -> fsutil_stat_pb2.Stat:
    return fsutil_stat_pb2.Stat(path=path, mode=mode, size=size, modTime=mtime * NS, linkname=link)


def test_a_directory_tree_with_modes_links_and_mtimes(tmp_path: Path) -> None:
    dest = tmp_path / "dist"
    stats: list[fsutil_stat_pb2.Stat | None] = [
        st_("bin", MODE_DIR | 0o755, mtime=1_500_000_000),
        st_("bin/tool", 0o755, size=12),
        st_("empty", 0o600),
        st_("etc", MODE_DIR | 0o750),
        st_("etc/conf", 0o644, size=5),
        st_("etc/hard", 0o644, link="etc/conf"),
        st_("etc/link", MODE_SYMLINK | 0o777, link="../bin/tool"),
        st_("ro", MODE_DIR | 0o555),
        st_("ro/file", 0o444, size=2),
        None,
    ]
    files = {1: b"#!/bin/sh\necho", 2: b"", 4: b"a=1\n\n", 8: b"ro"}
    sender = Sender(stats, files)
    with Session([FileSend({0: DirTarget(str(dest))})]) as s:
        assert sender.run(s) is None
    assert sender.fin and sorted(sender.requested) == [1, 2, 4, 8]  # ids count every STAT, dirs and links too
    assert (dest / "bin" / "tool").read_bytes() == files[1]
    assert stat.S_IMODE(os.stat(dest / "bin" / "tool").st_mode) == 0o755
    assert os.stat(dest / "bin").st_mtime == 1_500_000_000
    assert os.stat(dest / "bin" / "tool").st_mtime == 1_600_000_000
    assert (dest / "empty").read_bytes() == b"" and stat.S_IMODE(os.stat(dest / "empty").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(dest / "etc").st_mode) == 0o750
    assert os.stat(dest / "etc" / "hard").st_ino == os.stat(dest / "etc" / "conf").st_ino
    assert os.readlink(dest / "etc" / "link") == "../bin/tool"
    assert stat.S_IMODE(os.stat(dest / "ro").st_mode) == 0o555  # read-only only once its content is in
    assert (dest / "ro" / "file").read_bytes() == b"ro"
    leftovers = [f for _, _, fs in os.walk(dest) for f in fs if f.endswith(".partial")]
    assert leftovers == []


def test_merging_into_an_existing_directory_replaces_files_and_links(tmp_path: Path) -> None:
    dest = tmp_path / "dist"
    (dest / "a").mkdir(parents=True)
    (dest / "a" / "old").write_text("kept")
    (dest / "f").write_text("old")  # a file where the export has a file
    outside = tmp_path / "outside"
    outside.mkdir()
    (dest / "d").symlink_to(outside)  # a symlink where the export has a directory
    stats = [
        st_("a", MODE_DIR | 0o755),
        st_("a/new", 0o644, size=1),
        st_("d", MODE_DIR | 0o755),
        st_("d/inside", 0o644, size=1),
        st_("f", 0o644, size=1),
        None,
    ]
    sender = Sender(stats, {1: b"n", 3: b"i", 4: b"f"})
    with Session([FileSend({0: DirTarget(str(dest))})]) as s:
        assert sender.run(s) is None
    assert (dest / "a" / "old").read_text() == "kept" and (dest / "a" / "new").read_text() == "n"
    assert (dest / "d").is_dir() and not (dest / "d").is_symlink() and (dest / "d" / "inside").read_text() == "i"
    assert os.listdir(outside) == []
    assert (dest / "f").read_text() == "f"


@pytest.mark.parametrize(
    ("stats", "reason"),
    [
        ([st_("../escape", 0o644, size=1)], "clean relative path"),
        ([st_("/tmp/escape", 0o644, size=1)], "not relative"),
        ([st_("a/./b", 0o644, size=1)], "clean relative path"),
        (
            [st_("link", MODE_SYMLINK | 0o777, link=".."), st_("link/escape", 0o644, size=1)],
            "is not a directory of this transfer",
        ),
        ([st_("nodir/escape", 0o644, size=1)], "is not a directory of this transfer"),
        ([st_("hard", 0o644, link="../../etc/passwd")], "clean relative path"),
        ([st_("hard", 0o644, link="missing")], "not a file of this transfer"),
    ],
    ids=["dotdot", "absolute", "dot", "below-a-symlink", "no-parent", "hardlink-outside", "hardlink-unknown"],
)
def test_paths_outside_the_destination_are_refused(
    tmp_path: Path, stats: list[fsutil_stat_pb2.Stat | None], reason: str
) -> None:
    dest = tmp_path / "a" / "dist"
    sender = Sender([*stats, None], {i: b"x" for i in range(len(stats))})
    with Session([FileSend({0: DirTarget(str(dest))})]) as s:
        err = sender.run(s)
    assert err is not None and err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason in (err.details() or "")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "a" / "escape").exists()
    assert not os.path.exists("/tmp/escape")
    assert [f for _, _, fs in os.walk(tmp_path) for f in fs if f != "link"] == []


def test_a_sender_error_aborts_the_files_in_flight(tmp_path: Path) -> None:
    dest = tmp_path / "dist"
    out: queue.Queue[bytes | None] = queue.Queue()
    stat_ = Packet(type=Packet.PACKET_STAT)
    stat_.stat.CopyFrom(st_("big", 0o644, size=100))
    out.put(stat_.SerializeToString())
    out.put(Packet(type=Packet.PACKET_STAT).SerializeToString())

    def requests() -> Iterator[bytes]:
        while (item := out.get()) is not None:
            yield item

    with Session([FileSend({0: DirTarget(str(dest))})]) as s, grpc.insecure_channel(f"unix:{s.path}") as ch:
        responses = ch.stream_stream(METHOD)(requests(), timeout=20)
        first = Packet.FromString(next(responses))
        assert first.type == Packet.PACKET_REQ and first.ID == 0
        out.put(Packet(type=Packet.PACKET_DATA, ID=0, data=b"partial").SerializeToString())
        out.put(Packet(type=Packet.PACKET_ERR, data=b"disk on fire").SerializeToString())
        with pytest.raises(grpc.RpcError) as err:
            list(responses)
        out.put(None)
    assert "disk on fire" in (err.value.details() or "")
    assert os.listdir(dest) == []


# ---------------------------------------------------------------- a hostile daemon (issue 10, item 1)

OUTSIDE_FILE = "target"


def _escapes(outside: str) -> dict[str, tuple[list[fsutil_stat_pb2.Stat], str]]:
    """Crafted STAT sequences -> the text the refusal must contain (each names the offending path)."""
    long_name = "n" * 256
    deep = "/".join(["d" * 200] * 21)  # > PATH_MAX (4096) in total, every component valid
    return {
        "dotdot": ([st_("../escape", 0o644, size=1)], "refusing path '../escape'"),
        "dotdot-inside": ([st_("a", MODE_DIR | 0o755), st_("a/../../escape", 0o644, size=1)], "'a/../../escape'"),
        "absolute": ([st_("/tmp/escape", 0o644, size=1)], "refusing path '/tmp/escape'"),
        "symlink-then-child": (
            [st_("l", MODE_SYMLINK | 0o777, link=outside), st_("l/escape", 0o644, size=1)],
            "refusing 'l/escape': its parent 'l' is not a directory of this transfer",
        ),
        "dir-then-symlink-then-child": (
            [
                st_("a", MODE_DIR | 0o755),
                st_("a", MODE_SYMLINK | 0o777, link=outside),
                st_("a/escape", 0o644, size=1),
            ],
            "refusing 'a': sent twice (a directory, then a symlink)",
        ),
        "dir-to-symlink-swap": (
            [st_("a", MODE_DIR | 0o755), st_("a", MODE_SYMLINK | 0o777, link=outside)],
            "refusing 'a': sent twice (a directory, then a symlink)",
        ),
        "nested-swap": (
            [
                st_("a", MODE_DIR | 0o755),
                st_("a/b", MODE_DIR | 0o755),
                st_("a/b", MODE_SYMLINK | 0o777, link=outside),
                st_("a/b/escape", 0o644, size=1),
            ],
            "refusing 'a/b': sent twice (a directory, then a symlink)",
        ),
        "hardlink-dotdot": ([st_("hard", 0o644, link=f"../outside/{OUTSIDE_FILE}")], "refusing hardlink 'hard'"),
        "hardlink-absolute": ([st_("hard", 0o644, link=f"{outside}/{OUTSIDE_FILE}")], "refusing hardlink 'hard'"),
        "hardlink-through-symlink": (
            [st_("l", MODE_SYMLINK | 0o777, link=outside), st_("hard", 0o644, link=f"l/{OUTSIDE_FILE}")],
            "refusing hardlink 'hard' to 'l/target': not a file of this transfer",
        ),
        "hardlink-to-symlink": (
            [st_("l", MODE_SYMLINK | 0o777, link=f"{outside}/{OUTSIDE_FILE}"), st_("hard", 0o644, link="l")],
            "refusing hardlink 'hard' to 'l': not a file of this transfer",
        ),
        "symlink-replaced-by-file": (
            [st_("l", MODE_SYMLINK | 0o777, link=f"{outside}/{OUTSIDE_FILE}"), st_("l", 0o644, size=1)],
            "refusing 'l': sent twice (a symlink, then a file)",
        ),
        "file-replaced-by-dir": (
            [st_("f", 0o644, size=1), st_("f", MODE_DIR | 0o755), st_("f/escape", 0o644, size=1)],
            "refusing 'f': sent twice (a file, then a directory)",
        ),
        "nul": ([st_("a\x00b", 0o644, size=1)], "refusing path 'a\\x00b'"),
        "nul-in-link": ([st_("l", MODE_SYMLINK | 0o777, link="/etc\x00x")], "refusing 'l': its link target"),
        "long-component": ([st_(long_name, 0o644, size=1)], "longer than 255 bytes"),
        "long-path": ([st_(deep, 0o644, size=1)], "longer than 4095 bytes"),
    }


ESCAPES = list(_escapes("/x"))


@pytest.mark.parametrize("case", ESCAPES)
def test_a_hostile_tree_never_writes_outside_its_destination(tmp_path: Path, case: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / OUTSIDE_FILE).write_text("precious")
    stats, reason = _escapes(str(outside))[case]
    dest = tmp_path / "dist"
    sender = Sender([*stats, None], {i: b"x" for i in range(len(stats))})
    with Session([FileSend({0: DirTarget(str(dest))})]) as s:
        err = sender.run(s)
    assert err is not None, "the transfer must fail"
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert reason in (err.details() or "")
    assert sorted(os.listdir(outside)) == [OUTSIDE_FILE] and (outside / OUTSIDE_FILE).read_text() == "precious"
    assert os.stat(outside / OUTSIDE_FILE).st_nlink == 1
    assert sorted(os.listdir(tmp_path)) == ["dist", "outside"]
    assert not os.path.exists("/tmp/escape")
    partial = [f for _, _, fs in os.walk(tmp_path) for f in fs if f.endswith(".partial") or f.startswith(".hlb")]
    assert partial == []


def _swap_then(tmp_path: Path, rest: list[fsutil_stat_pb2.Stat | None]) -> tuple[grpc.RpcError, list[Packet]]:
    """A transfer of directory `a` into tmp_path/dist that another process replaces, once the receiver made it,
    by a symlink to tmp_path/outside; then the STATs ``rest`` (None: the end of the listing). The error the
    transfer ends with, and the packets the receiver sent."""
    outside = tmp_path / "outside"
    dest = tmp_path / "dist"

    def packet(s: fsutil_stat_pb2.Stat | None) -> bytes:
        p = Packet(type=Packet.PACKET_STAT)
        if s is not None:
            p.stat.CopyFrom(s)
        return p.SerializeToString()

    def requests() -> Iterator[bytes]:
        yield packet(st_("a", MODE_DIR | 0o755))
        for _ in range(3000):  # up to 30 s: the receiver thread may be slow to run on a loaded machine
            if (dest / "a").is_dir():
                break
            time.sleep(0.01)
        os.rename(dest / "a", tmp_path / "moved")
        os.symlink(outside, dest / "a")
        yield from map(packet, rest)
        done.wait(10)  # the receiver answers (REQ or an error) meanwhile

    done = threading.Event()
    sent: list[Packet] = []
    with (
        Session([FileSend({0: DirTarget(str(dest))})]) as s,
        grpc.insecure_channel(f"unix:{s.path}") as ch,
        pytest.raises(grpc.RpcError) as err,
    ):
        try:
            for raw in ch.stream_stream(METHOD)(requests(), timeout=20):
                sent.append(Packet.FromString(raw))
        finally:
            done.set()
    return err.value, sent


def test_a_directory_swapped_for_a_symlink_before_the_end_is_refused_not_followed(tmp_path: Path) -> None:
    """The directory is replaced after its last entry, before the end: the last pass (its mode and mtime) refuses
    it as the walk does (an invalid transfer, not an internal error), and changes nothing outside."""
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o700)
    err, _ = _swap_then(tmp_path, [None])
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert "was replaced during the transfer" in (err.details() or "")
    assert stat.S_IMODE(outside.stat().st_mode) == 0o700


def test_a_directory_swapped_for_a_symlink_on_disk_during_the_transfer_is_not_followed(tmp_path: Path) -> None:
    """Another process replaces a directory the transfer created by a symlink before its child arrives."""
    outside = tmp_path / "outside"
    outside.mkdir()
    err, sent = _swap_then(tmp_path, [st_("a/escape", 0o644, size=1), None])
    assert all(p.type != Packet.PACKET_REQ for p in sent), "the file below the swapped directory was requested"
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "refusing 'a/escape': directory 'a' was replaced during the transfer" in (err.details() or "")
    assert os.listdir(outside) == []


def test_an_existing_directory_is_not_deleted_for_a_file(tmp_path: Path) -> None:
    """Merging never removes a directory tree it did not create (``dest=.`` with a file named like a folder)."""
    dest = tmp_path / "dist"
    (dest / "src").mkdir(parents=True)
    (dest / "src" / "main.c").write_text("mine")
    for entry in (st_("src", 0o644, size=1), st_("src", MODE_SYMLINK | 0o777, link="/etc")):
        sender = Sender([entry, None], {0: b"x"})
        with Session([FileSend({0: DirTarget(str(dest))})]) as s:
            err = sender.run(s)
        assert err is not None and err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"refusing 'src': {dest}/src is a directory" in (err.details() or "")
        assert (dest / "src" / "main.c").read_text() == "mine"
        assert sorted(os.listdir(dest)) == ["src"]


def test_legitimate_links_are_written_as_links_and_hardlinks_still_work(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dist"
    stats: list[fsutil_stat_pb2.Stat | None] = [
        st_("a", MODE_DIR | 0o755),
        st_("a/abs", MODE_SYMLINK | 0o777, link=str(outside)),
        st_("a/data", 0o644, size=4),
        st_("a/hard", 0o644, link="a/data"),
        st_("b", MODE_DIR | 0o755),
        st_("b/hard", 0o644, link="a/data"),
        st_("b/up", MODE_SYMLINK | 0o777, link="../../outside"),
        st_("l", MODE_SYMLINK | 0o777, link="/etc/passwd"),
        st_("n" * 255, 0o644, size=1),
        None,
    ]
    sender = Sender(stats, {2: b"data", 8: b"x"})
    with Session([FileSend({0: DirTarget(str(dest))})]) as s:
        assert sender.run(s) is None
    assert os.readlink(dest / "a" / "abs") == str(outside) and os.readlink(dest / "l") == "/etc/passwd"
    assert os.readlink(dest / "b" / "up") == "../../outside"
    ino = os.stat(dest / "a" / "data").st_ino
    assert [os.stat(dest / p).st_ino for p in ("a/hard", "b/hard")] == [ino] * 2
    assert (dest / "b" / "hard").read_bytes() == b"data" and (dest / ("n" * 255)).read_bytes() == b"x"
    assert os.listdir(outside) == []
    assert [f for _, _, fs in os.walk(dest) for f in fs if f.endswith(".partial")] == []


def test_a_tarball_with_a_name_of_255_bytes_and_a_directory_in_the_way(tmp_path: Path) -> None:
    dest = tmp_path / ("n" * 251 + ".tar")
    with Session([FileSend({0: file_target(str(dest)), 1: file_target(str(tmp_path / "dir"))})]) as s:
        assert call(s, bytes_messages([b"tar"]), exporter=0) == []
        (tmp_path / "dir").mkdir()
        with pytest.raises(grpc.RpcError) as err:
            call(s, bytes_messages([b"tar"]), exporter=1)
    assert dest.read_bytes() == b"tar"
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert f"cannot write {tmp_path}/dir: it is a directory" in (err.value.details() or "")
    assert sorted(os.listdir(tmp_path)) == sorted([dest.name, "dir"]) and os.listdir(tmp_path / "dir") == []
