"""`.dockerignore` pattern semantics, as BuildKit's file transfer applies them.

The daemon passes a local source's include and exclude patterns to the client,
and the client decides what it sends. These rules follow moby/patternmatcher
(the matcher fsutil's filter uses): a pattern is cleaned like Go's
``filepath.Clean``; ``*`` and ``?`` never cross a ``/``; ``**`` spans any
number of directories (a leading ``**/`` also matches at the top); a trailing
``**`` matches everything below; a leading ``!`` turns a pattern into an
exception; the last pattern that matches decides; a pattern that matches a
directory matches everything below it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from hlb import ignorefile


class PatternError(ValueError):
    """A pattern the matcher cannot compile (the daemon reports it as the build's error)."""


def go_clean(path: str) -> str:
    """Go's ``path.Clean``: lexical, ``""`` becomes ``"."``, one leading ``/`` at most."""
    if not path:
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


class _Kind(Enum):
    EXACT = 1
    PREFIX = 2
    SUFFIX = 3
    REGEXP = 4


_ESCAPED = set(".+()|{}$")


@dataclass
class Pattern:
    text: str  # cleaned, without the leading "!"
    exclusion: bool
    kind: _Kind = _Kind.EXACT
    regexp: re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        self._compile()

    def _compile(self) -> None:
        out = ["^"]
        kind = _Kind.EXACT
        p = self.text
        i, n = 0, len(p)
        first = True
        while i < n:
            ch = p[i]
            i += 1
            if ch == "*":
                if i < n and p[i] == "*":
                    i += 1
                    if i < n and p[i] == "/":
                        i += 1  # "**/" is "**"
                    if i >= n:  # trailing "**": everything
                        if kind is _Kind.EXACT:
                            kind = _Kind.PREFIX
                        else:
                            out.append(".*")
                            kind = _Kind.REGEXP
                    else:
                        out.append("(.*/)?")
                        kind = _Kind.REGEXP
                    if first:
                        kind = _Kind.SUFFIX
                else:
                    out.append("[^/]*")
                    kind = _Kind.REGEXP
            elif ch == "?":
                out.append("[^/]")
                kind = _Kind.REGEXP
            elif ch in _ESCAPED:
                out.append("\\" + ch)
            elif ch == "\\":
                if i < n:
                    out.append("\\" + p[i])
                    i += 1
                    kind = _Kind.REGEXP
                else:
                    out.append("\\\\")
            elif ch in "[]":
                out.append(ch)
                kind = _Kind.REGEXP
            else:
                out.append(ch)  # "^" too, as Go's matcher leaves it
            first = False
        if kind is _Kind.REGEXP:
            try:
                self.regexp = re.compile("".join(out) + "$", re.DOTALL)
            except re.error as e:
                raise PatternError(f"invalid pattern {self.text!r}: {e}") from None
        self.kind = kind

    def match(self, path: str) -> bool:
        if self.kind is _Kind.EXACT:
            return path == self.text
        if self.kind is _Kind.PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind is _Kind.SUFFIX:
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regexp is not None
        return self.regexp.match(path) is not None

    def without_trailing_glob(self) -> str:
        t = self.text
        for tail in ("/**", "/*"):
            if t.endswith(tail):
                t = t[: -len(tail)]
        return t


MatchInfo = tuple[bool, ...]
"""Per pattern: whether it matched the parent directory (the walker passes it down)."""


@dataclass
class PatternMatcher:
    patterns: list[Pattern] = field(default_factory=list)

    @classmethod
    def new(cls, texts: Sequence[str]) -> PatternMatcher:
        out: list[Pattern] = []
        for raw in texts:
            p = raw.strip()
            if not p:
                continue
            p = go_clean(p)
            exclusion = p.startswith("!")
            if exclusion:
                if len(p) == 1:
                    raise PatternError('illegal exclusion pattern: "!"')
                p = p[1:]
            if (problem := ignorefile.problem(p)) is not None:
                raise PatternError(f"invalid pattern {p!r}: {problem}")
            out.append(Pattern(p, exclusion))
        return cls(out)

    @property
    def exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def matches(self, path: str, parent: MatchInfo | None = None) -> tuple[bool, MatchInfo]:
        """Whether ``path`` is matched (and not excepted), and the info its children need.

        ``parent`` is the info of the parent directory; ``None`` checks every
        ancestor of ``path`` against the patterns instead.
        """
        matched = False
        info: list[bool] = []
        parent_dirs: list[str] | None = None
        for i, pattern in enumerate(self.patterns):
            hit = parent[i] if parent else False
            if not hit:
                if pattern.exclusion != matched:
                    info.append(False)
                    continue
                hit = pattern.match(path)
                if not hit and not parent and "/" in path:
                    if parent_dirs is None:
                        parts = path.split("/")[:-1]
                        parent_dirs = ["/".join(parts[: j + 1]) for j in range(len(parts))]
                    hit = any(pattern.match(d) for d in parent_dirs)
            info.append(hit)
            if hit:
                matched = not pattern.exclusion
        return matched, tuple(info)
