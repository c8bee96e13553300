"""Source files and spans.

A :class:`Span` is a half-open range ``[start, end)`` of characters in a :class:`SourceFile`
(offsets index the decoded, normalised text). Lines and columns are 1-based and computed
from the file's line index on demand, so spans stay cheap to create.

Source is UTF-8. A file is read as written, except that a leading byte order mark is
dropped and CRLF and lone CR line breaks become LF, so the lexer, the line index and the
values of strings and heredocs see one newline. Bytes that are not UTF-8 are kept as
lone surrogates (Python's ``surrogateescape``) and :attr:`SourceFile.invalid` points at
the first of them: the lexer rejects such a file before reading any token.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

BOM = "\ufeff"
_SURROGATE = re.compile("[\ud800-\udfff]")
_BREAK = re.compile("\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based, in characters


@dataclass(frozen=True, eq=False, slots=True)
class SourceFile:
    """The text of one module plus a line index.

    ``name`` is what diagnostics print (the path as the user gave it).
    Identity equality: two loads of the same path are different files.

    ``text`` is normalised when the file is made (see the module doc); ``original`` is the
    text as given, ``newline`` the file's line ending style (``"\\r\\n"`` when its first line
    break is CRLF, else ``"\\n"``), which ``hlb format -w`` and ``hlb lint --fix`` write back.
    ``invalid`` is the offset in ``text`` of the first character that is not UTF-8, if any.
    """

    name: str
    text: str
    original: str = field(init=False, repr=False)
    newline: str = field(init=False, repr=False)
    invalid: int | None = field(init=False, repr=False)
    _line_starts: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        original = self.text
        text = original.removeprefix(BOM)
        newline = "\n"
        if "\r" in text:
            first = _BREAK.search(text)
            newline = "\r\n" if first and first.group() == "\r\n" else "\n"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        bad = _SURROGATE.search(text)
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "original", original)
        object.__setattr__(self, "newline", newline)
        object.__setattr__(self, "invalid", bad.start() if bad else None)
        starts = [0]
        find = self.text.find
        i = find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = find("\n", i + 1)
        object.__setattr__(self, "_line_starts", tuple(starts))

    @classmethod
    def read(cls, path: str | Path, name: str | None = None, *, pipe: bool = False) -> SourceFile:
        """The file at ``path``; OSError propagates. Bytes that are not UTF-8 set :attr:`invalid`.

        With ``pipe``, a FIFO is read too (a file named on the command line: ``hlb check <(gen)``); an
        import of one, and any device, is refused.
        """
        p = Path(path)
        _refuse_special(p, pipe=pipe)
        return cls.from_bytes(name if name is not None else str(path), p.read_bytes())

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> SourceFile:
        return cls(name, data.decode("utf-8", errors="surrogateescape"))

    @property
    def data(self) -> bytes:
        """The normalised text as UTF-8 (what source maps carry)."""
        return self.text.encode("utf-8", errors="surrogateescape")

    def styled(self, text: str) -> str:
        """``text`` (LF line breaks) with this file's line ending style, as a rewrite writes it back."""
        return text.replace("\n", self.newline) if self.newline != "\n" else text

    def position(self, offset: int) -> Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset)
        return Position(line, offset - self._line_starts[line - 1] + 1)

    def offset(self, line: int, column: int) -> int:
        """The offset of a 1-based (line, column), clamped to the file."""
        if line < 1:
            return 0
        if line > len(self._line_starts):
            return len(self.text)
        start = self._line_starts[line - 1]
        end = self._line_starts[line] - 1 if line < len(self._line_starts) else len(self.text)
        return min(start + max(column, 1) - 1, end)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start : end if end >= 0 else len(self.text)].rstrip("\r")


@dataclass(frozen=True, slots=True)
class Span:
    file: SourceFile
    start: int
    end: int

    @property
    def begin(self) -> Position:
        return self.file.position(self.start)

    @property
    def finish(self) -> Position:
        """Position of the last character of the span (inclusive)."""
        return self.file.position(max(self.start, self.end - 1))

    @property
    def text(self) -> str:
        return self.file.text[self.start : self.end]

    def __str__(self) -> str:
        p = self.begin
        return f"{self.file.name}:{p.line}:{p.column}"

    def __repr__(self) -> str:
        p, q = self.begin, self.finish
        return f"<Span {self.file.name}:{p.line}:{p.column}-{q.line}:{q.column}>"


STDIN_NAMES = ("-", "<stdin>")  # how a module read from standard input is named


def module_dir(file: SourceFile) -> str:
    """The absolute directory of a module's file: the working directory for a module read from stdin."""
    if file.name in STDIN_NAMES:
        return os.getcwd()
    return os.path.dirname(os.path.abspath(file.name))


def module_key(file: SourceFile) -> str:
    """How a module is named in what must not depend on where a checkout lies (a `local`'s id): its path
    relative to the working directory, however the command line wrote it."""
    if file.name in STDIN_NAMES:
        return file.name
    return os.path.relpath(os.path.abspath(file.name))


def shown_path(path: str, cwd: str | None = None) -> str:
    """How diagnostics name a file of the machine running hlb: relative to the working directory (``cwd``) when
    it lies inside it, else as given."""
    if os.path.isabs(path):
        rel = os.path.relpath(path, cwd or os.getcwd())
        if not rel.startswith(".."):
            return rel
    return path


def client_path(written: str, base: str) -> str:
    """A path of the machine running hlb as a program writes it, made absolute and normal: ``~`` and
    ``~user`` start at a home directory, and a relative path is relative to ``base`` (the directory of
    the module that wrote it, :func:`module_dir`)."""
    return os.path.normpath(os.path.join(base, os.path.expanduser(written)))


def _refuse_special(path: Path, *, pipe: bool = False) -> None:
    """A module is a regular file (or, with ``pipe``, a FIFO): a device (`/dev/zero`) may never end."""
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    if not (stat.S_ISREG(mode) or (pipe and stat.S_ISFIFO(mode))):
        raise OSError(errno.EINVAL, f"not a regular file ({_special_kind(mode)})", str(path))


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def source_digest(source: SourceFile) -> str:
    """What a module's file held when it was read: the sha256 of its bytes."""
    return "sha256:" + hashlib.sha256(source.original.encode("utf-8", "surrogateescape")).hexdigest()
