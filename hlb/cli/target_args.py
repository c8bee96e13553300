"""``--arg NAME=VALUE``: target arguments as ``hlb run`` and ``hlb compile`` read them.

The command line is rebuilt as a ``<command line>`` pseudo-file (``hlb run -t
release --arg tag=1.4``) so that a diagnostic about a target or an argument gets
a caret under it. Binding the arguments to parameters is the library's work
(:mod:`hlb.compiler.target_args`); here they are only split and checked for
repeats.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hlb.api import Compiled, compile_source
from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.llb import Platform, default_platform
from hlb.source import SourceFile, Span


def add_arg_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="give a target parameter (string, int or bool): NAME binds it in every requested target that "
        "declares it, TARGET.NAME in that target only (repeatable)",
    )


@dataclass
class CommandLine:
    target_spans: dict[str, Span] = field(default_factory=dict)  # each target name
    args: dict[str, str] = field(default_factory=dict)  # NAME or TARGET.NAME -> the value's text
    arg_spans: dict[str, Span] = field(default_factory=dict)  # each NAME=VALUE
    diagnostics: list[Diagnostic] = field(default_factory=list)  # malformed or repeated arguments

    def compile(self, source: SourceFile, names: Sequence[str], platform: Platform, **options: Any) -> Compiled:
        """``hlb.api.compile_source`` of ``names`` with this command line's arguments and where it wrote them;
        ``options`` are compile_source's keywords (``services``, ``local_run``)."""
        spans = self.target_spans
        return compile_source(source, names, platform, spans, args=self.args, arg_spans=self.arg_spans, **options)


def command_line(command: str, names: Sequence[str], arg_texts: Sequence[str] = ()) -> CommandLine:
    """The targets and ``--arg`` texts of ``hlb COMMAND``, located in a ``<command line>`` pseudo-file."""
    prefix = f"hlb {command} -t "
    text = prefix + ",".join(names) + "".join(f" --arg {a}" for a in arg_texts)
    file = SourceFile("<command line>", text)
    out = CommandLine()
    pos = len(prefix)
    for n in names:
        out.target_spans[n] = Span(file, pos, pos + len(n))
        pos += len(n) + 1
    pos = len(prefix) + len(",".join(names))
    for a in arg_texts:
        pos += len(" --arg ")
        span = Span(file, pos, pos + len(a))
        pos += len(a)
        key, eq, value = a.partition("=")
        if not eq or not key:
            out.diagnostics.append(cat.malformed_argument(span, a))
        elif key in out.args:
            out.diagnostics.append(
                cat.duplicate_argument(Span(file, span.start, span.start + len(key)), key, out.arg_spans[key])
            )
        else:
            out.args[key] = value
            out.arg_spans[key] = span
    return out


def platform_flag(value: str | None) -> Platform | None:
    """``--platform``'s value (this machine's platform when not given), or None once the usage error is printed."""
    try:
        return Platform.parse_flag(value) if value is not None else default_platform()
    except ValueError as e:
        print(f"hlb: error: --platform: {e}", file=sys.stderr)
        return None


def platforms_flag(values: Sequence[str] | None) -> list[Platform] | None:
    """``hlb run --platform`` as buildx reads it: repeatable, each value a comma list (``linux/amd64,linux/arm64``),
    ``local`` for this machine's platform; each platform once, in order (this machine's when not given).
    None once the usage error is printed."""
    if not values:
        return [default_platform()]
    out: list[Platform] = []
    for value in values:
        for part in value.split(",") if value.strip() else [value]:
            try:
                p = default_platform() if part.strip() == "local" else Platform.parse_flag(part)
            except ValueError as e:
                where = f" (in {value!r})" if part != value else ""
                print(f"hlb: error: --platform: {e}{where}", file=sys.stderr)
                return None
            if p not in out:
                out.append(p)
    return out
