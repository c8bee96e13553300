"""The ignore file of a ``local`` directory: ``.hlbignore``, else ``.dockerignore``, at the directory's root.

Read as the Dockerfile frontend reads a context's ``.dockerignore`` (moby/patternmatcher's
``ignorefile.ReadAll``): a UTF-8 BOM on the first line is dropped; a line whose first character is
``#`` is a comment (an indented ``  #x`` is a pattern); each line is trimmed and blank ones are
skipped; a leading ``!`` (an exception) is kept and the text after it trimmed; the rest is cleaned like
Go's ``filepath.Clean`` and loses one leading ``/``, so ``/foo`` and ``./foo/`` are ``foo``. Only the
file at the root is read; ``.hlbignore`` replaces ``.dockerignore`` (the two are not merged), as a
``<Dockerfile>.dockerignore`` replaces the context's.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

NAMES = (".hlbignore", ".dockerignore")  # the first that exists wins
_BOM = "\ufeff"
# Go's strings.TrimSpace trims Unicode White_Space; Python's str.strip also trims U+001C..U+001F.
_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True, slots=True)
class IgnoreFile:
    path: str  # absolute
    name: str  # ".hlbignore" or ".dockerignore"
    text: str
    patterns: tuple[str, ...]  # as the daemon receives them
    lines: tuple[int, ...]  # the 1-based line of each pattern


def find(directory: str) -> str | None:
    """The ignore file that applies to ``directory``: ``.hlbignore`` if it exists, else ``.dockerignore``."""
    for name in NAMES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def read(directory: str) -> IgnoreFile | None:
    """The ignore file of ``directory`` and its patterns; None when there is none. OSError propagates."""
    path = find(directory)
    if path is None:
        return None
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="surrogateescape")
    patterns, lines = parse(text)
    return IgnoreFile(path, os.path.basename(path), text, patterns, lines)


def parse(text: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The patterns of an ignore file's ``text`` and the line of each."""
    patterns: list[str] = []
    lines: list[int] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")  # Go's line scanner drops a CR before the LF
        if number == 1:
            line = line.removeprefix(_BOM)
        if line.startswith("#"):
            continue
        line = line.strip(_SPACE)
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip(_SPACE)
        if line:
            line = _clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if invert else line)
        lines.append(number)
    return tuple(patterns), tuple(lines)


def _clean(path: str) -> str:
    """Go's ``filepath.Clean`` on Unix (posixpath keeps a leading ``//``, Go does not)."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def problems(found: IgnoreFile) -> list[tuple[int, str, str]]:
    """The lines of ``found`` the pattern matcher would refuse: (line number, the line as written, why)."""
    out = []
    lines = found.text.split("\n")
    for pattern, number in zip(found.patterns, found.lines, strict=True):
        why = problem(pattern)
        if why is not None:
            out.append((number, lines[number - 1].removesuffix("\r"), why))
    return out


def problem(pattern: str) -> str | None:
    """Why the pattern matcher refuses ``pattern``, or None: a bare ``!``, or a ``[`` never closed.

    The syntax errors of Go's ``filepath.Match`` that the matcher checks each pattern for.
    """
    body = pattern.removeprefix("!")
    if not body:
        return "`!` excepts nothing (an exception names what to keep, e.g. `!keep.txt`)"
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            j = i + 1
            if j < n and body[j] == "^":
                j += 1
            start = j
            while j < n and (body[j] != "]" or j == start):
                if body[j] == "\\":
                    j += 1
                j += 1
            if j >= n:
                return "a `[` is never closed"
            i = j
        i += 1
    return None
