"""FileSync for `local` sources: the walk fsutil's receiver accepts, Docker's patterns, confinement, the packets."""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import grpc
import pytest

from hlb._proto.fsutil_wire_pb2 import Packet
from hlb.session.filesync import FileSync, data_packet, request_options
from hlb.session.fswalk import (
    MODE_DIR,
    MODE_SETUID,
    MODE_STICKY,
    MODE_SYMLINK,
    Filter,
    follow_links,
    go_mode,
    open_file_beneath,
    open_root,
    walk,
)
from hlb.session.patterns import PatternError, PatternMatcher, go_clean
from hlb.values import LocalDir

# -- patterns --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "clean"),
    [("", "."), ("./a/", "a"), ("a//b/../c", "a/c"), ("../../x", "../../x"), ("/../a", "/a"), ("//a", "/a")],
)
def test_go_clean(path: str, clean: str) -> None:
    assert go_clean(path) == clean


def matched(patterns: list[str], path: str) -> bool:
    return PatternMatcher.new(patterns).matches(path)[0]


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["*.txt"], "a.txt", True),
        (["*.txt"], "sub/a.txt", False),  # "*" never crosses "/"
        (["**/*.txt"], "sub/deep/a.txt", True),
        (["**/*.txt"], "a.txt", True),  # a leading "**/" matches at the top too
        (["sub"], "sub/deep/a.txt", True),  # a matched directory matches what is below it
        (["sub/**"], "sub/a", True),
        (["sub/**"], "subx", False),
        (["a?c"], "abc", True),
        (["a?c"], "a/c", False),
        (["[ab].txt"], "b.txt", True),
        (["*", "!keep"], "keep", False),  # the last match wins
        (["*", "!keep", "keep"], "keep", True),
        (["./docs/"], "docs/x", True),  # patterns are cleaned
        (["a.b"], "axb", False),  # "." is literal
        (["  "], "x", False),
    ],
)
def test_docker_pattern_semantics(patterns: list[str], path: str, expected: bool) -> None:
    assert matched(patterns, path) is expected


def test_bad_patterns_are_errors() -> None:
    with pytest.raises(PatternError):
        PatternMatcher.new(["!"])
    with pytest.raises(PatternError):
        PatternMatcher.new(["a["])


# -- the walk --------------------------------------------------------------------------


def paths(root: Path, f: Filter | None = None) -> list[str]:
    fd = open_root(str(root))
    try:
        return [s.path for s in walk(fd, [f] if f else [])]
    finally:
        os.close(fd)


def tree(root: Path, files: list[str]) -> None:
    for f in files:
        p = root / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f)


def test_depth_first_bytewise_sorted_directory_before_children(tmp_path: Path) -> None:
    tree(tmp_path, ["a/b", "a-b", "B", "a0", "\u00e9", "z/y/x"])
    # "a" < "a-b" < "a0" bytewise; "a/b" follows "a" (its directory) even though "/" > "-".
    assert paths(tmp_path) == ["B", "a", "a/b", "a-b", "a0", "z", "z/y", "z/y/x", "\u00e9"]


def test_stat_fields_as_fsutil_sends_them(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    f = tmp_path / "d" / "run.sh"
    f.write_bytes(b"#!/bin/sh\n")
    os.chown(f, 1234, 5678)
    f.chmod(0o4755)
    os.utime(f, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    (tmp_path / "d").chmod(0o1775)
    os.symlink("../elsewhere/target", tmp_path / "ln")
    fd = open_root(str(tmp_path))
    try:
        stats = {s.path: s for s in walk(fd)}
    finally:
        os.close(fd)
    d, sh, ln = stats["d"], stats["d/run.sh"], stats["ln"]
    assert d.mode == MODE_DIR | MODE_STICKY | 0o775 and d.size == 0
    assert sh.mode == MODE_SETUID | 0o755 and sh.size == 10
    assert sh.modTime == 1_700_000_000_123_456_789
    assert (sh.uid, sh.gid) == (0, 0)  # reset, as the Go client does
    assert ln.mode == MODE_SYMLINK | 0o777 and ln.linkname == "../elsewhere/target"
    assert ln.size == len("../elsewhere/target")
    assert go_mode(0o020644) == (1 << 26) | (1 << 21) | 0o644  # char device


def test_include_sends_only_matches_and_their_parents(tmp_path: Path) -> None:
    tree(tmp_path, ["a.txt", "b.bin", "sub/deep/x.txt", "sub/deep/y.bin", "other/z.txt"])
    assert paths(tmp_path, Filter.new(["*.txt"])) == ["a.txt"]
    assert paths(tmp_path, Filter.new(["**/*.txt"])) == [
        "a.txt",
        "other",
        "other/z.txt",
        "sub",
        "sub/deep",
        "sub/deep/x.txt",
    ]
    # A directory that is only a parent of a match is sent just before that match.
    assert paths(tmp_path, Filter.new(["sub/deep/x.txt"])) == ["sub", "sub/deep", "sub/deep/x.txt"]
    assert paths(tmp_path, Filter.new(["sub"])) == ["sub", "sub/deep", "sub/deep/x.txt", "sub/deep/y.bin"]


def test_exclude_prunes_directories_and_negation_reincludes(tmp_path: Path) -> None:
    tree(tmp_path, ["a.txt", "node_modules/m/index.js", "sub/keep.txt", "sub/drop.txt", "x.log", "deep/x.log"])
    assert paths(tmp_path, Filter.new(excludes=["node_modules", "*.log"])) == [
        "a.txt",
        "deep",
        "deep/x.log",
        "sub",
        "sub/drop.txt",
        "sub/keep.txt",
    ]
    assert paths(tmp_path, Filter.new(excludes=["**/*.log", "sub", "!sub/keep.txt"])) == [
        "a.txt",
        "deep",
        "node_modules",
        "node_modules/m",
        "node_modules/m/index.js",
        "sub",
        "sub/keep.txt",
    ]


def test_pruned_directory_is_never_read(tmp_path: Path) -> None:
    tree(tmp_path, ["a", "big/x"])
    fd = open_root(str(tmp_path))
    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, *args: Any, **kw: Any) -> int:
        opened.append(str(path))
        return real_open(path, *args, **kw)

    try:
        os.open = spy
        assert [s.path for s in walk(fd, [Filter.new(excludes=["big"])])] == ["a"]
    finally:
        os.open = real_open
        os.close(fd)
    assert "big" not in opened


def test_symlinks_are_links_and_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s3cret")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    os.symlink(outside / "secret", ctx / "to-secret")
    os.symlink(outside, ctx / "to-dir")
    os.symlink("../outside/secret", ctx / "relative")
    fd = open_root(str(ctx))
    try:
        stats = list(walk(fd))
        assert [(s.path, s.linkname) for s in stats] == [
            ("relative", "../outside/secret"),
            ("to-dir", str(outside)),
            ("to-secret", str(outside / "secret")),
        ]
        assert all(s.mode & MODE_SYMLINK for s in stats)
        for attempt in ["to-secret", "to-dir/secret", "../outside/secret", "relative", "/../outside/secret"]:
            with pytest.raises(OSError):
                os.close(open_file_beneath(fd, attempt))
        # Follow paths resolve links lexically inside the directory: ".." stops at its root.
        assert follow_links(fd, ["relative"]) == ["outside/secret", "relative"]
        assert follow_links(fd, ["to-secret"]) == [str(outside / "secret").lstrip("/"), "to-secret"]
    finally:
        os.close(fd)


def test_hardlinks_point_at_the_first_path_sent(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("same")
    os.link(tmp_path / "a", tmp_path / "b")
    os.link(tmp_path / "a", tmp_path / "c")
    fd = open_root(str(tmp_path))
    try:
        every = [(s.path, s.linkname, s.size) for s in walk(fd)]
        without_a = [(s.path, s.linkname, s.size) for s in walk(fd, [Filter.new(excludes=["a"])])]
    finally:
        os.close(fd)
    assert every == [("a", "", 4), ("b", "a", 0), ("c", "a", 0)]
    assert without_a == [("b", "", 4), ("c", "b", 0)]  # the first one filtered out: sent as a file


# -- the packet stream -----------------------------------------------------------------


class Aborted(Exception):
    pass


class FakeContext:
    def __init__(self, metadata: list[tuple[str, str]]) -> None:
        self.metadata = metadata
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return self.metadata

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        self.code, self.details = code, details
        raise Aborted(details)


class Receiver:
    """The daemon's side, driven by hand."""

    def __init__(self, sync: FileSync, metadata: list[tuple[str, str]]) -> None:
        self.inbox: queue.Queue[Packet | None] = queue.Queue()
        self.ctx = FakeContext(metadata)
        self.out = sync.diff_copy(self._requests(), self.ctx)  # type: ignore[arg-type]

    def _requests(self) -> Iterator[Packet]:
        while (p := self.inbox.get()) is not None:
            yield p

    def next(self) -> Packet:
        m = next(self.out)
        return m if isinstance(m, Packet) else Packet.FromString(m)

    def send(self, p: Packet) -> None:
        self.inbox.put(p)


def test_packet_stream_listing_requests_data_fin(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    tree(ctx, ["a.txt", "b.bin", "sub/c.txt"])
    (ctx / "a.txt").write_bytes(b"x" * 2500)
    os.symlink("a.txt", ctx / "ln")
    sync = FileSync([LocalDir(name="hlb-1", path=str(ctx), include_patterns=("**/*.txt", "ln"))], chunk=1000)
    r = Receiver(sync, [("dir-name", "hlb-1"), ("include-patterns", "**/*.txt"), ("include-patterns", "ln")])
    listing = []
    while (p := r.next()).HasField("stat"):
        assert p.type == Packet.PACKET_STAT
        listing.append((p.stat.path, p.stat.mode & (MODE_DIR | MODE_SYMLINK)))
    assert p.type == Packet.PACKET_STAT  # the empty STAT ends the listing
    # IDs count every STAT: a.txt=0, ln=1, sub=2, sub/c.txt=3.
    assert listing == [("a.txt", 0), ("ln", MODE_SYMLINK), ("sub", MODE_DIR), ("sub/c.txt", 0)]
    r.send(Packet(type=Packet.PACKET_REQ, ID=3))
    r.send(Packet(type=Packet.PACKET_REQ, ID=0))
    got: dict[int, list[bytes]] = {0: [], 3: []}
    ended: list[int] = []
    while len(ended) < 2:
        p = r.next()
        assert p.type == Packet.PACKET_DATA
        if p.data:
            assert len(p.data) <= 1000
            got[p.ID].append(p.data)
        else:
            ended.append(p.ID)
    assert ended == [3, 0]
    assert b"".join(got[3]) == b"sub/c.txt" and b"".join(got[0]) == b"x" * 2500 and len(got[0]) == 3
    r.send(Packet(type=Packet.PACKET_FIN))
    assert r.next().type == Packet.PACKET_FIN
    with pytest.raises(StopIteration):
        r.next()


def test_unknown_directory_and_bad_file_ids_are_refused(tmp_path: Path) -> None:
    tree(tmp_path, ["a"])
    sync = FileSync([LocalDir(name="hlb-1", path=str(tmp_path))])
    ctx = FakeContext([("dir-name", "hlb-other")])
    with pytest.raises(Aborted):
        sync.diff_copy(iter(()), ctx)  # type: ignore[arg-type]
    assert ctx.code == grpc.StatusCode.NOT_FOUND and "hlb-other" in ctx.details
    r = Receiver(sync, [("dir-name", "hlb-1")])
    assert r.next().stat.path == "a"
    assert not r.next().HasField("stat")
    r.send(Packet(type=Packet.PACKET_REQ, ID=7))
    assert r.next().type == Packet.PACKET_ERR
    with pytest.raises(Aborted):
        r.next()


def test_the_daemon_cannot_widen_the_declared_patterns(tmp_path: Path) -> None:
    tree(tmp_path, ["a.txt", "b.bin"])
    sync = FileSync([LocalDir(name="hlb-1", path=str(tmp_path), include_patterns=("*.txt",))])
    r = Receiver(sync, [("dir-name", "hlb-1"), ("include-patterns", "*")])
    assert r.next().stat.path == "a.txt"
    assert not r.next().HasField("stat")
    r = Receiver(sync, [("dir-name", "hlb-1"), ("exclude-patterns", "a.txt")])  # narrowing is honoured
    assert not r.next().HasField("stat")


def test_encoded_metadata_values_are_decoded() -> None:
    md = [("dir-name", "x"), ("include-patterns", "caf%C3%A9%2A"), ("include-patterns-encoded", "true")]
    assert request_options(md) == {
        "dir-name": ["x"],
        "include-patterns": ["caf\u00e9*"],
        "include-patterns-encoded": ["true"],
    }


@pytest.mark.parametrize(("file_id", "data"), [(0, b""), (1, b""), (300, b"abc"), (2**32 - 1, b"x" * 70000)])
def test_data_packets_are_the_protobuf_encoding(file_id: int, data: bytes) -> None:
    assert data_packet(file_id, data) == Packet(type=Packet.PACKET_DATA, ID=file_id, data=data).SerializeToString()


def test_the_summary_reads_files_beside_the_listing_and_matches_a_summary_made_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sender only hands each record over: the `hlb explain` summary hashes small files on a thread of its
    own (it cost ~40 us an entry on the listing's path), and comes out as one made in a single pass."""
    import threading

    from hlb.session import summary as summary_module
    from hlb.session.filesync import summarize

    ctx = tmp_path / "ctx"
    tree(ctx, [f"d{i}/f{j}.txt" for i in range(3) for j in range(20)])
    (ctx / "big.bin").write_bytes(b"\0" * (summary_module.SMALL + 1))
    local = LocalDir(name="hlb-1", path=str(ctx))
    hashed_on: set[str] = set()
    real = summary_module._hash

    def noting(root: int, path: str) -> tuple[str, int]:
        hashed_on.add(threading.current_thread().name)
        return real(root, path)

    monkeypatch.setattr(summary_module, "_hash", noting)
    sync = FileSync([local])
    r = Receiver(sync, [("dir-name", "hlb-1")])
    count = 0
    while r.next().HasField("stat"):
        count += 1
    r.send(Packet(type=Packet.PACKET_FIN))
    assert r.next().type == Packet.PACKET_FIN
    served = sync.summaries["hlb-1"].to_json()  # waits for the summary's thread
    assert hashed_on == {"hlb-summary"}
    assert served["count"] == count == 3 + 60 + 1
    assert served == summarize(local).to_json()


def test_stat_packets_are_the_protobuf_encoding(tmp_path: Path) -> None:
    from hlb._proto.fsutil_stat_pb2 import Stat
    from hlb.session.filesync import stat_packet

    for stat in (Stat(path="a"), Stat(path="d/" + "x" * 300, mode=0o100644, size=1 << 40, modTime=1, uid=7)):
        assert stat_packet(stat) == Packet(type=Packet.PACKET_STAT, stat=stat).SerializeToString()
    assert Packet.FromString(b"").type == Packet.PACKET_STAT and not Packet.FromString(b"").HasField("stat")
