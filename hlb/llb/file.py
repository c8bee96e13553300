"""File ops: mkdir, mkfile, rm (Go's ``llb.FileOp`` with one action per op, as hlb emits)."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias, assert_never

from google.protobuf.message import Message

from hlb._proto import ops_pb2 as pb
from hlb.llb.core import Constraints, Output

if TYPE_CHECKING:
    from hlb.llb.definition import Marshaller


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


FileAction: TypeAlias = Mkdir | Mkfile | Rm


@dataclass(frozen=True, eq=False, slots=True)
class FileOp:
    base: Output | None  # None: scratch
    action: FileAction
    cwd: str = "/"  # the base state's working dir; relative paths join onto it
    constraints: Constraints = field(default_factory=Constraints)

    def inputs(self) -> tuple[Output, ...]:
        return (self.base,) if self.base is not None else ()

    def output(self) -> Output:
        return Output(self, 0)

    def to_pb(self, m: Marshaller) -> tuple[pb.Op, set[str]]:
        op = pb.Op()
        base = -1
        if self.base is not None:
            op.inputs.append(m.input_pb(self.base))
            base = 0
        act = pb.FileAction(input=base, secondaryInput=-1, output=0)
        field, body = _action_pb(self.action, self.cwd, base)
        getattr(act, field).CopyFrom(body)
        op.file.actions.append(act)
        return op, {"file.base"}


def _action_pb(a: FileAction, cwd: str, base: int) -> tuple[str, Message]:
    """The action's oneof field name and message; paths are made absolute against ``cwd``."""
    path = normalize_path(cwd, a.path)
    match a:
        case Mkdir():
            owner = a.owner.to_pb(base) if a.owner else None
            return "mkdir", pb.FileActionMkDir(
                path=path, mode=a.mode & 0o777, makeParents=a.make_parents, owner=owner, timestamp=a.timestamp
            )
        case Mkfile():
            owner = a.owner.to_pb(base) if a.owner else None
            return "mkfile", pb.FileActionMkFile(
                path=path, mode=a.mode & 0o777, data=a.data, owner=owner, timestamp=a.timestamp
            )
        case Rm():
            return "rm", pb.FileActionRm(path=path, allowNotFound=a.allow_not_found, allowWildcard=a.allow_wildcard)
        case _:
            assert_never(a)


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


def _clean(p: str) -> str:
    """Go's ``path.Clean`` (posixpath.normpath keeps a leading ``//``; Go does not)."""
    if not p:
        return "."
    cleaned = posixpath.normpath(p)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned
