"""File ops: mkdir, mkfile, rm and copy (Go's ``llb.FileOp`` with one action per op, as hlb emits).

The op inputs are the base state and, for a copy, the state copied from; an
input both refer to (the same digest) is listed once, as Go's marshal state
does. File ops carry no platform.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, assert_never

from google.protobuf.message import Message

from hlb._proto import ops_pb2 as pb
from hlb.llb.core import Constraints, Output

if TYPE_CHECKING:
    from hlb.llb.definition import Marshaller
    from hlb.llb.state import State


@dataclass(frozen=True, slots=True)
class Chown:
    """Ownership: numeric ids, or names resolved in the base's /etc/passwd and /etc/group."""

    user: int | str
    group: int | str | None = None

    def to_pb(self, base: int) -> pb.ChownOpt:
        c = pb.ChownOpt()
        c.user.CopyFrom(_user_opt(self.user, base))
        if self.group is not None:
            c.group.CopyFrom(_user_opt(self.group, base))
        return c


def _user_opt(who: int | str, base: int) -> pb.UserOpt:
    u = pb.UserOpt()
    if isinstance(who, str):
        u.byName.CopyFrom(pb.NamedUserOpt(name=who, input=base))
    else:
        u.byID = who  # a oneof member: written even when 0, as Go does
    return u


@dataclass(frozen=True, slots=True)
class Mkdir:
    path: str
    mode: int
    make_parents: bool = False
    owner: Chown | None = None
    timestamp: int = -1  # unix nanoseconds; -1 = unset


@dataclass(frozen=True, slots=True)
class Mkfile:
    path: str
    mode: int
    data: bytes
    owner: Chown | None = None
    timestamp: int = -1


@dataclass(frozen=True, slots=True)
class Rm:
    path: str
    allow_not_found: bool = False
    allow_wildcard: bool = False


@dataclass(frozen=True, slots=True)
class CopyInfo:
    """The options of a copy (Go's ``llb.CopyInfo``)."""

    owner: Chown | None = None
    mode: int | None = None  # None: the files keep their mode (written as -1)
    follow_symlinks: bool = False
    dir_contents_only: bool = False
    attempt_unpack: bool = False
    create_dest_path: bool = False
    allow_wildcard: bool = False
    allow_empty_wildcard: bool = False
    timestamp: int = -1  # unix nanoseconds; -1 = unset
    include_patterns: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Copy:
    """Copy ``src`` of the ``source`` output (None: scratch) to ``dest`` of the base.

    ``src_dir`` is the source state's working dir, ``""`` when it has none: a
    relative ``src`` then stays relative, as in Go.
    """

    source: Output | None
    src: str
    dest: str
    src_dir: str = ""
    info: CopyInfo = field(default_factory=CopyInfo)

    @classmethod
    def from_state(cls, source: State, src: str, dest: str, info: CopyInfo | None = None) -> Copy:
        """Go's ``llb.Copy(source, src, dest, info)``."""
        return cls(source.output, src, dest, source.cwd if source.cwd_set else "", info or CopyInfo())

    def source_path(self) -> str:
        """Go's ``sourcePath``: cleaned, joined onto the source's dir when relative."""
        p = _clean(self.src)
        return _join("/", p) if p.startswith("/") else _join(self.src_dir, p)


FileAction: TypeAlias = Mkdir | Mkfile | Rm | Copy


@dataclass(frozen=True, eq=False, slots=True)
class FileOp:
    base: Output | None  # None: scratch
    action: FileAction
    cwd: str = "/"  # the base state's working dir; relative paths join onto it
    constraints: Constraints = field(default_factory=Constraints)

    def inputs(self) -> tuple[Output, ...]:
        outs = [o for o in (self.base, self.secondary()) if o is not None]
        return tuple(o for i, o in enumerate(outs) if o not in outs[:i])

    def secondary(self) -> Output | None:
        return self.action.source if isinstance(self.action, Copy) else None

    def output(self) -> Output:
        return Output(self, 0)

    def to_pb(self, m: Marshaller) -> tuple[pb.Op, set[str]]:
        op = pb.Op()

        def index(out: Output | None) -> int:
            if out is None:
                return -1
            inp = m.input_pb(out)
            for i, known in enumerate(op.inputs):
                if known == inp:
                    return i
            op.inputs.append(inp)
            return len(op.inputs) - 1

        base = index(self.base)
        act = pb.FileAction(input=base, secondaryInput=index(self.secondary()), output=0)
        field, body = _action_pb(self.action, self.cwd, base)
        getattr(act, field).CopyFrom(body)
        op.file.actions.append(act)
        # Go declares file.copy.includeexcludepatterns in fileActionCopy.addCaps, but its
        # FileOp.Marshal calls addCaps over an empty action list, so the cap is never set.
        return op, {"file.base"}


def _action_pb(a: FileAction, cwd: str, base: int) -> tuple[str, Message]:
    """The action's oneof field name and message; paths are made absolute against ``cwd``."""
    match a:
        case Mkdir():
            return "mkdir", pb.FileActionMkDir(makeParents=a.make_parents, **_created_pb(a, cwd, base))
        case Mkfile():
            return "mkfile", pb.FileActionMkFile(data=a.data, **_created_pb(a, cwd, base))
        case Rm():
            return "rm", pb.FileActionRm(
                path=normalize_path(cwd, a.path), allowNotFound=a.allow_not_found, allowWildcard=a.allow_wildcard
            )
        case Copy():
            return "copy", _copy_pb(a, cwd, base)
        case _:
            assert_never(a)


def _created_pb(a: Mkdir | Mkfile, cwd: str, base: int) -> dict[str, Any]:
    """The fields mkdir and mkfile share: what they create, where, and with which owner, mode and time."""
    return {
        "path": normalize_path(cwd, a.path),
        "mode": a.mode & 0o777,
        "owner": _owner_pb(a.owner, base),
        "timestamp": a.timestamp,
    }


def _owner_pb(owner: Chown | None, base: int) -> pb.ChownOpt | None:
    return owner.to_pb(base) if owner is not None else None


def _copy_pb(a: Copy, cwd: str, base: int) -> pb.FileActionCopy:
    i = a.info
    return pb.FileActionCopy(
        src=a.source_path(),
        dest=normalize_path(cwd, a.dest, keep_slash=True),
        owner=_owner_pb(i.owner, base),
        mode=-1 if i.mode is None else i.mode,
        followSymlink=i.follow_symlinks,
        dirCopyContents=i.dir_contents_only,
        attemptUnpackDockerCompatibility=i.attempt_unpack,
        createDestPath=i.create_dest_path,
        allowWildcard=i.allow_wildcard,
        allowEmptyWildcard=i.allow_empty_wildcard,
        timestamp=i.timestamp,
        include_patterns=i.include_patterns,
        exclude_patterns=i.exclude_patterns,
    )


def copy_name(a: Copy, cwd: str) -> str:
    """The daemon's name for a copy vertex: ``copy SRC DEST`` with the paths the op holds."""
    return f"copy {a.source_path()} {normalize_path(cwd, a.dest, keep_slash=True)}"


def normalize_path(parent: str, p: str, keep_slash: bool = False) -> str:
    """Go's ``normalizePath``: clean, make absolute against ``parent``."""
    orig = p
    p = _clean(p)
    if not p.startswith("/"):
        p = _clean(posixpath.join("/", parent, p))
    if keep_slash:
        if orig.endswith("/") and not p.endswith("/"):
            p += "/"
        elif orig.endswith("/."):
            if p != "/":
                p += "/"
            p += "."
    return p


def _join(*elems: str) -> str:
    """Go's ``path.Join``: the non-empty elements joined and cleaned; ``""`` when all are empty."""
    parts = [e for e in elems if e]
    return _clean("/".join(parts)) if parts else ""


def _clean(p: str) -> str:
    """Go's ``path.Clean`` (posixpath.normpath keeps a leading ``//``; Go does not)."""
    if not p:
        return "."
    cleaned = posixpath.normpath(p)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned
