"""Walking a local directory the way fsutil's sender does, confined to that directory.

The daemon receives the listing as fsutil ``Stat`` records and checks their
order strictly, so the walk is depth-first, each directory's entries sorted by
their bytes, a directory before its children. Under include/exclude filters a
directory that is not itself kept is sent only when something below it is
(just before that entry), and a directory no pattern could reach below is not
walked at all.

Confinement: every directory is opened relative to its parent's descriptor
with ``O_NOFOLLOW``, and files are opened the same way component by component,
so a symlink is only ever read as a link (its target is sent as text) and no
path, however it is spelled or swapped during the walk, reaches outside the
directory that was declared.
"""

from __future__ import annotations

import errno
import os
import stat as st
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum

from hlb._proto.fsutil_stat_pb2 import Stat
from hlb.session.patterns import Pattern, PatternMatcher, go_clean

# Go os.FileMode bits (not st_mode).
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20
MODE_TYPE = MODE_DIR | MODE_SYMLINK | MODE_NAMED_PIPE | MODE_SOCKET | MODE_DEVICE | MODE_CHAR_DEVICE | (1 << 19)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_PATTERN_CHARS = set("*[]?^\\")
_PROC_FD = os.path.isdir("/proc/self/fd")


class WalkError(Exception):
    """The directory cannot be sent as it is (the daemon reports the message as the build's error)."""


def go_mode(mode: int) -> int:
    """``st_mode`` as Go's ``os.FileMode`` bits."""
    out = mode & 0o777
    kind = st.S_IFMT(mode)
    if kind == st.S_IFDIR:
        out |= MODE_DIR
    elif kind == st.S_IFLNK:
        out |= MODE_SYMLINK
    elif kind == st.S_IFBLK:
        out |= MODE_DEVICE
    elif kind == st.S_IFCHR:
        out |= MODE_DEVICE | MODE_CHAR_DEVICE
    elif kind == st.S_IFIFO:
        out |= MODE_NAMED_PIPE
    elif kind == st.S_IFSOCK:
        out |= MODE_SOCKET
    if mode & st.S_ISUID:
        out |= MODE_SETUID
    if mode & st.S_ISGID:
        out |= MODE_SETGID
    if mode & st.S_ISVTX:
        out |= MODE_STICKY
    return out


def can_request_data(go_file_mode: int) -> bool:
    """The receiver asks for the contents of entries without type bits (regular files) only."""
    return go_file_mode & MODE_TYPE == 0


# -- filters ---------------------------------------------------------------------------


class Verdict(Enum):
    KEEP = 1  # send it (and walk into it)
    SKIP = 2  # do not send it, but walk into it: something below may be kept
    PRUNE = 3  # neither it nor anything below


FilterState = tuple[tuple[bool, ...] | None, tuple[bool, ...] | None]


@dataclass
class Filter:
    """One set of include/exclude patterns (fsutil's ``FilterOpt``)."""

    include: PatternMatcher | None
    exclude: PatternMatcher | None
    only_prefix_includes: bool
    only_prefix_exclude_exceptions: bool

    @classmethod
    def new(cls, includes: Sequence[str] = (), excludes: Sequence[str] = ()) -> Filter:
        inc = PatternMatcher.new(includes) if includes else None
        exc = PatternMatcher.new(excludes) if excludes else None
        return cls(
            inc,
            exc,
            not any(not p.exclusion and _has_pattern_chars(p) for p in (inc.patterns if inc else [])),
            not any(p.exclusion and _has_pattern_chars(p) for p in (exc.patterns if exc else [])),
        )

    @property
    def empty(self) -> bool:
        return self.include is None and self.exclude is None

    def decide(self, path: str, is_dir: bool, parent: FilterState | None) -> tuple[Verdict, FilterState]:
        skip = False
        inc_info = exc_info = None
        if self.include is not None:
            m, inc_info = self.include.matches(path, parent[0] if parent else None)
            if not m:
                if is_dir and self.only_prefix_includes:
                    below = path + "/"
                    if not any(
                        (p.without_trailing_glob() + "/").startswith(below)
                        for p in self.include.patterns
                        if not p.exclusion
                    ):
                        return Verdict.PRUNE, (inc_info, exc_info)
                skip = True
        if self.exclude is not None:
            m, exc_info = self.exclude.matches(path, parent[1] if parent else None)
            if m:
                if is_dir and self.only_prefix_exclude_exceptions:
                    below = path + "/"
                    exceptions = (p for p in self.exclude.patterns if p.exclusion)
                    if not any((p.without_trailing_glob() + "/").startswith(below) for p in exceptions):
                        return Verdict.PRUNE, (inc_info, exc_info)
                skip = True
        return (Verdict.SKIP if skip else Verdict.KEEP), (inc_info, exc_info)


def _has_pattern_chars(p: Pattern) -> bool:
    return any(c in _PATTERN_CHARS for c in p.without_trailing_glob())


# -- confined access -------------------------------------------------------------------


def open_root(path: str) -> int:
    """The declared directory (symlinks in the declared path itself are the user's and are followed)."""
    try:
        return os.open(os.path.realpath(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise WalkError(f"{path} does not exist") from None
    except NotADirectoryError:
        raise WalkError(f"{path} is not a directory") from None
    except OSError as e:
        raise WalkError(f"cannot open {path}: {e.strerror}") from None


def _components(rel: str) -> list[str]:
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise FileNotFoundError(errno.ENOENT, "path leaves the directory", rel)
    return parts


def open_dir_beneath(root_fd: int, parts: Sequence[str]) -> int:
    """A new descriptor for ``root/parts...``, never following a symlink on the way."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file_beneath(root_fd: int, rel: str) -> int:
    """A regular file below the root, opened without following any symlink (else ``OSError``)."""
    parts = _components(rel)
    if not parts:
        raise IsADirectoryError(errno.EISDIR, "not a file", rel)
    parent = open_dir_beneath(root_fd, parts[:-1])
    try:
        fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=parent)
    finally:
        os.close(parent)
    if not st.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", rel)
    os.set_blocking(fd, True)
    return fd


def lstat_beneath(root_fd: int, rel: str) -> os.stat_result | None:
    """``lstat`` of a path below the root; None when it does not exist there."""
    try:
        parts = _components(rel)
        if not parts:
            return None
        parent = open_dir_beneath(root_fd, parts[:-1])
        try:
            return os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(parent)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:  # a symlink where a directory was expected
            return None
        raise


# -- follow paths ----------------------------------------------------------------------


def follow_links(root_fd: int, paths: Sequence[str]) -> list[str] | None:
    """fsutil's ``FollowLinks``: the paths with every symlink on the way resolved, inside the root.

    Targets are resolved lexically against the root (an absolute target is
    taken from the root, ``..`` stops at it). ``None`` means "everything".
    """
    resolved: set[str] = set()

    def read_link(p: str, wildcard: bool) -> list[str] | None:
        base = p.rsplit("/", 1)[-1]
        parent = p.rsplit("/", 1)[0] if "/" in p else "."
        if wildcard and _has_wildcards(base):
            try:
                fd = open_dir_beneath(root_fd, _components(parent))
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError as e:
                if e.errno == errno.ELOOP:
                    return None
                raise
            try:
                names = sorted(os.listdir(fd), key=os.fsencode)
            finally:
                os.close(fd)
            glob = Pattern(base, False)
            out: list[str] = []
            for name in names:
                if glob.match(name):
                    out += read_link(name if parent == "." else f"{parent}/{name}", False) or []
            return out or None
        s = lstat_beneath(root_fd, p)
        if s is None or not st.S_ISLNK(s.st_mode):
            return None
        parts = _components(parent)
        fd = open_dir_beneath(root_fd, parts)
        try:
            link = go_clean(os.readlink(base, dir_fd=fd))
        finally:
            os.close(fd)
        if link.startswith("/"):
            return [link]
        return [go_clean("/" + (parent if parent != "." else "") + "/" + link)]

    def add(p: str) -> None:
        p = go_clean("./" + p)
        current = "."
        while True:
            first, _, rest = p.partition("/")
            current = go_clean(current + "/" + first)
            targets = read_link(current, True) if current != ".." else None
            p = rest
            if (p == "" or targets is not None) and current in resolved:
                return
            if targets is not None:
                resolved.add(current)
                for t in targets:
                    add(go_clean(t + "/" + p) if p else t)
                return
            if p == "" or current == "..":
                resolved.add(current)
                return

    for p in paths:
        add(p)
    out: list[str] = []
    last = None
    for s in sorted(resolved, key=os.fsencode):
        if s == ".":
            return None
        if last is not None and s.startswith(last + "/"):
            continue
        out.append(s)
        last = s
    return out


def _has_wildcards(name: str) -> bool:
    i = 0
    while i < len(name):
        if name[i] == "\\":
            i += 2
            continue
        if name[i] in "*?[":
            return True
        i += 1
    return False


# -- the walk --------------------------------------------------------------------------


@dataclass
class _Frame:
    fd: int
    prefix: str
    names: Iterator[str]
    states: list[FilterState | None]
    pending: Stat | None  # this directory's record, not sent yet (filtered, but a child may be kept)


def walk(root_fd: int, filters: Sequence[Filter] = ()) -> Iterator[Stat]:
    """The records of everything below ``root_fd`` that every filter keeps, in fsutil's order.

    uid and gid are 0 (as the Go client sends them); sizes and mtimes are
    real (the daemon's incremental transfer compares them).
    """
    filters = [f for f in filters if not f.empty]
    hardlinks: dict[tuple[int, int], str] = {}
    stack = [_Frame(os.dup(root_fd), "", iter(_sorted_names(root_fd, "")), [None] * len(filters), None)]
    try:
        while stack:
            frame = stack[-1]
            name = next(frame.names, None)
            if name is None:
                os.close(frame.fd)
                stack.pop()
                continue
            rel = frame.prefix + name
            try:
                s = os.stat(name, dir_fd=frame.fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed during the walk
            if st.S_ISSOCK(s.st_mode):
                continue  # a socket cannot be copied (the Go sender strips its type bit)
            is_dir = st.S_ISDIR(s.st_mode)
            verdicts: list[Verdict] = []
            states: list[FilterState | None] = []
            for f, parent in zip(filters, frame.states, strict=True):
                v, state = f.decide(rel, is_dir, parent)
                verdicts.append(v)
                states.append(state)
            if Verdict.PRUNE in verdicts:
                continue
            keep = all(v is Verdict.KEEP for v in verdicts)
            if not keep and not is_dir:
                continue
            record = _stat(frame.fd, name, rel, s, hardlinks if keep else None)
            if keep:
                for up in stack:
                    if up.pending is not None:
                        yield up.pending
                        up.pending = None
                yield record
            if is_dir:
                try:
                    fd = os.open(name, _DIR_FLAGS, dir_fd=frame.fd)
                except FileNotFoundError:
                    continue
                except PermissionError:
                    if not keep:
                        continue
                    raise WalkError(f"cannot read directory {rel}: permission denied") from None
                try:
                    names = _sorted_names(fd, rel)
                except BaseException:
                    os.close(fd)
                    raise
                stack.append(_Frame(fd, rel + "/", iter(names), states, None if keep else record))
    finally:
        for frame in stack:
            os.close(frame.fd)


def _sorted_names(fd: int, rel: str) -> list[str]:
    try:
        names = os.listdir(fd)
    except PermissionError:
        raise WalkError(f"cannot read directory {rel or '.'}: permission denied") from None
    return sorted(names, key=os.fsencode)


def _stat(dir_fd: int, name: str, rel: str, s: os.stat_result, hardlinks: dict[tuple[int, int], str] | None) -> Stat:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise WalkError(f"cannot send {rel!r}: its name is not valid UTF-8") from None
    mode = go_mode(s.st_mode)
    out = Stat(path=rel, mode=mode, uid=0, gid=0, modTime=s.st_mtime_ns)
    if not st.S_ISDIR(s.st_mode):
        out.size = s.st_size
        out.devmajor = (s.st_rdev >> 8) & 0xFFF
        out.devminor = (s.st_rdev & 0xFF) | ((s.st_rdev >> 12) & 0xFFF00)
        if st.S_ISLNK(s.st_mode):
            link = os.readlink(name, dir_fd=dir_fd)
            try:
                link.encode("utf-8")
            except UnicodeEncodeError:
                raise WalkError(f"cannot send the symlink {rel!r}: its target is not valid UTF-8") from None
            out.linkname = link
        elif hardlinks is not None and s.st_nlink > 1:
            key = (s.st_dev, s.st_ino)
            first = hardlinks.setdefault(key, rel)
            if first != rel:
                out.linkname = first
                out.size = 0
    for k, v in _xattrs(dir_fd, name).items():
        out.xattrs[k] = v
    return out


def _xattrs(dir_fd: int, name: str) -> dict[str, bytes]:
    if not _PROC_FD or not hasattr(os, "listxattr"):
        return {}
    path = f"/proc/self/fd/{dir_fd}/{name}"
    try:
        keys = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.ENOENT):
            return {}
        raise WalkError(f"cannot read the extended attributes of {name}: {e.strerror}") from None
    out: dict[str, bytes] = {}
    for k in keys:
        if k.startswith("com.apple."):
            continue
        try:
            out[k] = os.getxattr(path, k, follow_symlinks=False)
        except OSError:
            continue
    return out
