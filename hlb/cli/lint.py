"""``hlb lint``: deprecated forms, unused names and cache mounts that mislead; ``--fix`` rewrites.

The cache findings are judged on the compiled mounts: this command compiles
the module's ``fs`` functions without a daemon (:mod:`hlb.compiler.cache_mounts`)
and hands the mounts to :func:`hlb.checker.lint.lint`, since the checker does not
import the compiler.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hlb.checker.check import ModuleLoader, check_module
from hlb.checker.lint import Finding, apply, lint
from hlb.cli.common import (
    STDIN,
    DiagnosticOutput,
    add_files_command,
    cannot_write,
    hlb_files,
    read_source,
    rewrite,
)
from hlb.compiler.cache_mounts import cache_uses
from hlb.diagnostics import Diagnostic
from hlb.llb import default_platform
from hlb.source import SourceFile
from hlb.syntax.cache import parse_cached


def add_parser(commands: Any) -> None:
    p = add_files_command(
        commands,
        "lint",
        run_lint,
        help="report deprecated forms, unused names and cache mounts that conflict",
        description="Check modules and report findings beyond errors. The exit status is 1 when there is "
        "any finding; --fix rewrites the mechanical ones (deprecated forms, unused imports) in place.",
    )
    p.add_argument("--fix", action="store_true", help="rewrite the files with the mechanical fixes applied")


def run_lint(args: argparse.Namespace) -> int:
    files, missing = hlb_files(args.files)
    out = DiagnosticOutput(getattr(args, "format", "text"))
    for path in missing:
        out.unreadable(path, FileNotFoundError(2, "no such file or directory"))
    status = 1 if missing else 0
    shown: set[tuple[str, str, int, str]] = set()  # a finding in an imported module is shown once
    for path in files:
        status = max(status, _lint_file(path, args.fix and path != STDIN, shown, out))
    out.close()
    return status


def _lint_file(path: str, fix: bool, shown: set[tuple[str, str, int, str]], out: DiagnosticOutput) -> int:
    findings, errors, source = _findings(path, out)
    if errors is None or source is None:
        return 1
    if fix and any(f.fix for f in findings):
        try:
            rewrite(path, source, apply(source.text, findings))
        except OSError as e:
            cannot_write(path, e)
            return 1
        fixed = sum(1 for f in findings if f.fix)
        print(f"hlb: {path}: fixed {fixed} finding{'s' if fixed != 1 else ''}", file=sys.stderr)
        findings, errors, source = _findings(path, out)
        if errors is None:
            return 1
    out.add([*errors, *(d for d in (f.diagnostic for f in findings) if _first(d, shown))])
    if any(f.fix for f in findings) and not fix:
        print(f"hlb: run `hlb lint --fix {path}` to fix what can be fixed mechanically", file=sys.stderr)
    return 1 if errors or findings else 0


def _findings(path: str, out: DiagnosticOutput) -> tuple[list[Finding], list[Any] | None, SourceFile | None]:
    """(findings, errors, source); errors is None when the file cannot be read (``out`` reports it)."""
    try:
        source = read_source(path)
    except OSError as e:
        out.unreadable(path, e)
        return [], None, None
    parsed = parse_cached(source)
    if parsed.module is None:
        return [], parsed.diagnostics, source
    result = check_module(parsed.module, ModuleLoader())
    errors = [d for d in (*parsed.diagnostics, *result.diagnostics) if d.is_error]
    uses = [] if errors else cache_uses(result.checked, default_platform())
    return lint(result.checked, result.diagnostics, uses), errors, source


def _first(d: Diagnostic, shown: set[tuple[str, str, int, str]]) -> bool:
    key = (d.code.slug, d.span.file.name, d.span.start, d.message)
    if key in shown:
        return False
    shown.add(key)
    return True
