"""``hlb check``: parse and type-check modules and their local imports, without a daemon."""

from __future__ import annotations

import argparse
from typing import Any

from hlb.checker.cache import check_diagnostics
from hlb.cli.common import DiagnosticOutput, add_files_command, hlb_files, read_source


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
    out = DiagnosticOutput(getattr(args, "format", "text"))
    for path in missing:
        out.unreadable(path, FileNotFoundError(2, "no such file or directory"))
    for path in files:
        try:
            source = read_source(path)
        except OSError as e:
            out.unreadable(path, e)
            failed = True
            continue
        diagnostics = check_diagnostics(source)
        out.add(diagnostics)
        failed = failed or any(d.is_error for d in diagnostics)
    out.close()
    return 1 if failed else 0
