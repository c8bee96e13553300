"""``hlb format`` (alias ``fmt``): print modules formatted, or rewrite them in place."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from hlb.cli.common import STDIN, cannot_read, cannot_write, hlb_files, print_diagnostics, read_source, rewrite
from hlb.syntax.cache import format_cached


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "format",
        aliases=["fmt"],
        help="format .hlb files",
        description="Format modules as openllb/hlb's formatter does. Directories are searched for *.hlb; "
        "with no file, stdin is formatted to stdout.",
    )
    p.add_argument("files", nargs="*", help="files or directories (default: stdin)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("-w", "--write", action="store_true", help="rewrite the files in place")
    mode.add_argument("--check", action="store_true", help="list the files that would change; exit 1 if any")
    p.set_defaults(func=run_format)


def run_format(args: argparse.Namespace) -> int:
    files, missing = hlb_files(args.files or [STDIN])
    for path in missing:
        cannot_read(path, FileNotFoundError(2, "no such file or directory"))
    status = 1 if missing else 0
    color = not args.write and not args.check and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    for path in files:
        try:
            source = read_source(path)
        except OSError as e:
            cannot_read(path, e)
            status = 1
            continue
        text, diagnostics = format_cached(source)
        if text is None:
            print_diagnostics(diagnostics)
            status = 1
            continue
        if args.check:
            if source.styled(text) != source.original:
                print(f"would reformat {path}", file=sys.stderr)
                status = 1
        elif args.write and path != STDIN:
            try:
                rewrite(path, source, text)
            except OSError as e:
                cannot_write(path, e)
                status = 1
        else:
            sys.stdout.write(source.styled(_colored(text) if color else text))
    return status


def _colored(text: str) -> str:
    """``text`` with ANSI colours from the hlb Pygments lexer, for a terminal. Pygments' own terminal formatter, not
    rich's Syntax, which crops lines at the terminal's width: the text stays as printed, character for character.
    Imported here only: a pipe or a file gets the plain text without loading Pygments."""
    from pygments import highlight
    from pygments.formatters import TerminalFormatter

    from hlb.highlight import HlbLexer

    colored: str = highlight(text, HlbLexer(stripnl=False), TerminalFormatter())
    return colored
