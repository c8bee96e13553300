"""What the front-end commands (check, lint, format) share: finding files and printing diagnostics."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from hlb.diagnostics import Diagnostic, render_all
from hlb.source import SourceFile

STDIN = "-"


def hlb_files(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    """The files named by ``paths`` (directories are searched for ``*.hlb``), and the paths that do not exist."""
    found: list[str] = []
    missing: list[str] = []
    for p in paths:
        if p != STDIN and os.path.isdir(p):
            found += sorted(str(f) for f in Path(p).rglob("*.hlb") if f.is_file())
        elif p == STDIN or os.path.exists(p):  # a device or FIFO is refused when it is read
            found.append(p)
        else:
            missing.append(p)
    return found, missing


def read_source(path: str) -> SourceFile:
    """The module at ``path`` (``-`` reads stdin); OSError propagates."""
    if path == STDIN:
        return SourceFile("<stdin>", sys.stdin.read())
    return SourceFile.read(path)


def use_color() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR")


def print_diagnostics(diagnostics: Iterable[Diagnostic]) -> None:
    diagnostics = list(diagnostics)
    if diagnostics:
        print(render_all(diagnostics, color=use_color()), file=sys.stderr)


def cannot_read(path: str, e: OSError) -> None:
    print(f"hlb: error: cannot read {path}: {e.strerror or e}", file=sys.stderr)


def replace_file(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file renamed over it), keeping its permissions."""
    mode = os.stat(path).st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".hlb-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
