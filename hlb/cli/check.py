"""``hlb check``: parse and type-check modules and their local imports, without a daemon."""

from __future__ import annotations

import argparse
from typing import Any

from hlb.checker.cache import check_diagnostics
from hlb.cli.common import DiagnosticOutput, add_files_command, cannot_read, hlb_files, read_source
from hlb.diagnostics import Diagnostic


def add_parser(commands: Any) -> None:
    add_files_command(
        commands,
        "check",
        check,
        help="parse and type-check .hlb files without building",
        description="Parse and type-check modules (and the local modules they import) without contacting "
        "a daemon. Warnings are printed; the exit status is 1 when there are errors.",
    )


def check(args: argparse.Namespace) -> int:
    files, missing = hlb_files(args.files)
    failed = bool(missing)
    for path in missing:
        cannot_read(path, FileNotFoundError(2, "no such file or directory"))
    out = DiagnosticOutput(getattr(args, "format", "text"))
    for path in files:
        diagnostics, ok = check_file(path)
        out.add(diagnostics)
        failed = failed or not ok
    out.close()
    return 1 if failed else 0


def check_file(path: str) -> tuple[list[Diagnostic], bool]:
    """Every diagnostic for one file (imports included), and whether it has no errors; from hlb's cache
    when neither the file nor its imports changed since they were last checked."""
    try:
        source = read_source(path)
    except OSError as e:
        cannot_read(path, e)
        return [], False
    diagnostics = check_diagnostics(source)
    return diagnostics, not any(d.is_error for d in diagnostics)
