"""Render diagnostics as text: ``file:line:col: error: message``, the source line,
carets under the span, secondary labels, then the hint.

Example::

    build.hlb:3:2: error: `imgae` is undefined or not in scope [undefined-name]
      |
    3 |     imgae "busybox"
      |     ^^^^^
      = hint: did you mean `image`?
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from hlb.diagnostics.diagnostic import Diagnostic, Label, Severity

TAB = "    "
_SURROGATE = re.compile("[\ud800-\udfff]")

_COLORS = {
    Severity.ERROR: "\x1b[1;31m",
    Severity.WARNING: "\x1b[1;33m",
    Severity.NOTE: "\x1b[1;36m",
}
_BOLD = "\x1b[1m"
_BLUE = "\x1b[1;34m"
_RESET = "\x1b[0m"


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.color and text else text


def render(diagnostic: Diagnostic, *, color: bool = False) -> str:
    st = _Style(color)
    d = diagnostic
    sev = st(_COLORS[d.severity], d.severity.value)
    out = [f"{st(_BOLD, d.location())}: {sev}: {st(_BOLD, d.message)} [{d.code.slug}]"]
    labels = [(d.primary, True)] + [(lab, False) for lab in d.secondary]
    shown = [lab for lab, _ in labels if lab.span.file is d.primary.span.file]  # others print as `file:line:col`
    width = max(len(str(lab.span.begin.line)) for lab in shown)
    gutter = " " * width
    out.append(st(_BLUE, f"{gutter} |"))
    for lab, primary in labels:
        if not primary and lab.span.file is not d.primary.span.file:
            out.append(st(_BLUE, f"{gutter} = ") + f"{lab.message or 'see'}: {lab.span}")
            continue
        out.extend(_snippet(lab, primary, width, st, d.severity))
    if d.hint:
        out.append(st(_BLUE, f"{gutter} = ") + f"hint: {d.hint}")
    for note in d.notes:
        for i, line in enumerate(note.splitlines() or [""]):
            lead = f"{gutter} = " if i == 0 else f"{gutter}   "
            out.append(st(_BLUE, lead) + (("note: " if i == 0 else "      ") + line))
    return "\n".join(out)


def _snippet(lab: Label, primary: bool, width: int, st: _Style, sev: Severity) -> list[str]:
    span = lab.span
    begin, finish = span.begin, span.finish
    raw = span.file.line_text(begin.line)
    text = _shown(raw)
    col = len(_shown(raw[: begin.column - 1]))
    if finish.line == begin.line:
        end_col = len(_shown(raw[: finish.column]))
    else:
        end_col = len(text)
    n = max(1, end_col - col)
    mark = ("^" if primary else "-") * n
    mark = st(_COLORS[sev] if primary else _BLUE, mark)
    suffix = f" {lab.message}" if lab.message else ""
    if finish.line != begin.line:
        suffix = " ..." + suffix
    num = str(begin.line).rjust(width)
    gutter = " " * width
    return [
        st(_BLUE, f"{num} |") + (f" {text}" if text else ""),
        st(_BLUE, f"{gutter} |") + " " + " " * col + mark + suffix,
    ]


def _shown(text: str) -> str:
    """``text`` as printed: tabs expanded, bytes that are not UTF-8 (lone surrogates) escaped as ``\\xff``."""
    if "\t" in text:
        text = text.expandtabs(len(TAB))
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(_escape, text)
    return text


def _escape(m: re.Match[str]) -> str:
    ch = ord(m.group())
    return f"\\x{ch - 0xDC00:02x}" if 0xDC80 <= ch <= 0xDCFF else f"\\u{ch:04x}"


def render_all(diagnostics: Iterable[Diagnostic], *, color: bool = False) -> str:
    """Render several diagnostics, then the `aborting due to ...` summary line."""
    diags = list(diagnostics)
    parts = [render(d, color=color) for d in diags]
    errors = sum(1 for d in diags if d.is_error)
    if errors == 1:
        parts.append("aborting due to previous error")
    elif errors > 1:
        parts.append(f"aborting due to {errors} previous errors")
    return "\n\n".join(parts)
