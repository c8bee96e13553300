"""hlb offsets (Python ``str`` indexes of a :class:`SourceFile`'s text) to LSP positions and back.

An LSP position is a 0-based line and a ``character`` counted in the negotiated encoding's code units:
UTF-16 by default (a character outside the Basic Multilingual Plane, an emoji, counts two), or UTF-8
bytes, or UTF-32 (Python characters). hlb's lines are split at ``\\n`` after CRLF and lone CR became LF,
which are the line breaks LSP counts too.
"""

from __future__ import annotations

import bisect

from hlb.source import SourceFile, Span

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def units(text: str, encoding: str) -> int:
    """How many code units of ``encoding`` ``text`` is."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def chars(line: str, count: int, encoding: str) -> int:
    """How many characters of ``line`` the first ``count`` code units of ``encoding`` cover (clamped to the line;
    a position inside a character counts as its start)."""
    if encoding == UTF32 or line.isascii():
        return max(0, min(count, len(line)))
    seen = 0
    for i, c in enumerate(line):
        if encoding == UTF16:
            width = 2 if ord(c) > 0xFFFF else 1
        else:
            width = len(c.encode("utf-8", "surrogatepass"))
        if seen + width > count:
            return i
        seen += width
    return len(line)


class Lines:
    """A text's line starts, for converting positions in a text that is not (yet) a parsed module."""

    def __init__(self, text: str) -> None:
        self.text = text
        starts = [0]
        i = text.find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = text.find("\n", i + 1)
        self.starts = starts

    def line(self, n: int) -> str:
        """The 0-based line ``n`` without its newline ("" past the end)."""
        if n < 0 or n >= len(self.starts):
            return ""
        end = self.starts[n + 1] - 1 if n + 1 < len(self.starts) else len(self.text)
        return self.text[self.starts[n] : end]

    def offset(self, line: int, character: int, encoding: str) -> int:
        """The offset of an LSP position, clamped to the text."""
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.text)
        return self.starts[line] + chars(self.line(line), character, encoding)

    def position(self, offset: int, encoding: str) -> tuple[int, int]:
        """The LSP (line, character) of an offset."""
        offset = max(0, min(offset, len(self.text)))
        n = bisect.bisect_right(self.starts, offset) - 1
        return n, units(self.text[self.starts[n] : offset], encoding)


def position(file: SourceFile, offset: int, encoding: str) -> tuple[int, int]:
    """The LSP (line, character) of ``offset`` in ``file``."""
    p = file.position(offset)
    before = file.line_text(p.line)[: p.column - 1]
    return p.line - 1, units(before, encoding)


def span_range(span: Span, encoding: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """The LSP range (start, end) of ``span``."""
    return position(span.file, span.start, encoding), position(span.file, span.end, encoding)
