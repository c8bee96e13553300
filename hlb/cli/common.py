"""What the front-end commands (check, lint, format) share: finding files and printing diagnostics."""

from __future__ import annotations

import os
import sys
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
        if p == STDIN or os.path.isfile(p):
            found.append(p)
        elif os.path.isdir(p):
            found += sorted(str(f) for f in Path(p).rglob("*.hlb") if f.is_file())
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
