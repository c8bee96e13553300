"""Parse again only the top-level declarations an edit touched.

A module is a run of chunks: each declaration with the blank lines and comments before it, then the
trailing text. After an edit, the chunks the changed characters touch (and, to be safe at their borders,
their neighbours) are parsed again (:func:`hlb.syntax.parser.parse_decls`); the declarations before them
keep their nodes, those after them too, their spans moved by the length the edit added or removed. The
lexer is between declarations at each chunk border, and the text outside the parsed chunks is unchanged,
so this is what parsing the whole text gives; when the chunks do not parse on their own (an unclosed
block or heredoc), or anything reports a diagnostic, the caller parses the whole module instead.

The kept nodes' spans are moved in place to the new source: the previous tree must not be used afterwards.
"""

from __future__ import annotations

import bisect

from hlb.source import SourceFile, Span
from hlb.syntax import ast
from hlb.syntax.parser import parse_decls
from hlb.syntax.visitor import walk


def common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix (halving: each probe is a C comparison)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def common_suffix(a: str, b: str, limit: int) -> int:
    """The length of the longest common suffix, at most ``limit``."""
    lo, hi = 0, min(limit, len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid : len(a) - lo] == b[len(b) - mid : len(b) - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def reparse(prev: ast.Module, source: SourceFile) -> ast.Module | None:
    """``source`` parsed from ``prev`` (a module that parsed without diagnostics) and the chunks the edit
    changed; None when the whole module must be parsed."""
    old, new = prev.file.text, source.text
    if source.invalid is not None:
        return None
    p = common_prefix(old, new)
    q = common_suffix(old, new, min(len(old), len(new)) - p)
    old_end, delta = len(old) - q, len(new) - len(old)
    decls = prev.decls
    bounds = [0, *(d.span.end for d in decls), len(old)]  # chunk j is [bounds[j], bounds[j + 1])
    k = len(decls)  # chunk k is the trailing text
    j1 = max(0, bisect.bisect_right(bounds, p - 1) - 1)
    j2 = min(k, bisect.bisect_right(bounds, old_end) - 1)
    start, end = bounds[j1], bounds[j2 + 1]
    parsed = parse_decls(source, start, end + delta)
    if parsed is None or parsed[2]:
        return None
    mid, mid_comments, _ = parsed
    before, after = decls[:j1], decls[j2 + 1 :]
    if after and (not mid or mid[-1].span.end != end + delta):
        return None  # the parsed text ends in comments, which may be the doc comment of the next declaration
    # A doc comment is the comment lines above a declaration's first line: on a line shared with the text
    # before it, a declaration's doc comes from beyond its chunk.
    if mid and start > 0 and source.position(mid[0].span.start).line == source.position(start - 1).line:
        return None
    if after and source.position(end + delta).line == source.position(after[0].span.start + delta).line:
        return None
    comments_before = [c for c in prev.comments if c.span.end <= start]
    comments_after = [c for c in prev.comments if c.span.start >= end]
    _move([*before, *comments_before], source, 0)
    _move([*after, *comments_after], source, delta)
    comments = [*comments_before, *mid_comments, *comments_after]
    return ast.Module(Span(source, 0, len(new)), source, (*before, *mid, *after), tuple(comments))


def _move(nodes: list[ast.Decl | ast.Comment], source: SourceFile, delta: int) -> None:
    spans: dict[int, Span] = {}
    for node in nodes:
        for n in walk(node):
            spans[id(n.span)] = n.span
    put = object.__setattr__  # spans are frozen for everyone else
    for s in spans.values():
        put(s, "file", source)
        if delta:
            put(s, "start", s.start + delta)
            put(s, "end", s.end + delta)
