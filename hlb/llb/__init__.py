"""A hand-written LLB builder (BuildKit's Go ``client/llb`` in Python).

Only this package, ``hlb.solver`` and ``hlb.session`` import ``hlb._proto``.
"""

from hlb.llb.core import Constraints, Output, Position, Range, SourceLocation, SourceMap
from hlb.llb.definition import Definition, digest_of, marshal
from hlb.llb.exec import CacheSharing, ExecOp, Mount, NetMode, SecurityMode
from hlb.llb.file import Chown, Copy, CopyInfo, FileOp, Mkdir, Mkfile, Rm
from hlb.llb.merge import DiffOp, MergeOp, diff, merge
from hlb.llb.platform import Platform, default_platform
from hlb.llb.source import SourceOp, image
from hlb.llb.state import ExecState, RunOptions, State

__all__ = [
    "CacheSharing",
    "Chown",
    "Constraints",
    "Copy",
    "CopyInfo",
    "Definition",
    "DiffOp",
    "ExecOp",
    "ExecState",
    "FileOp",
    "Mkdir",
    "MergeOp",
    "Mkfile",
    "Mount",
    "NetMode",
    "Output",
    "Platform",
    "Position",
    "Range",
    "Rm",
    "RunOptions",
    "SecurityMode",
    "SourceLocation",
    "SourceMap",
    "SourceOp",
    "State",
    "default_platform",
    "diff",
    "digest_of",
    "image",
    "marshal",
    "merge",
]
