"""``hlb run``: compile targets and build them on BuildKit."""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from typing import Any

from hlb.api import Compiled, compile_source, load
from hlb.compiler import CompiledTarget
from hlb.diagnostics import Diagnostic, HlbError, Label, render_all
from hlb.diagnostics import catalog as cat
from hlb.llb import Platform, default_platform
from hlb.progress.plain import PlainPrinter
from hlb.progress.tracker import Tracker
from hlb.solver.address import resolve
from hlb.solver.client import BuildkitClient
from hlb.solver.errors import SolveError, SolveFailure
from hlb.solver.transport import TransportError
from hlb.source import SourceFile, Span

FAIL_LOG_LINES = 10


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "run",
        help="build targets of a .hlb file",
        description="Compile the targets of an .hlb file to LLB and build them on BuildKit.",
    )
    p.add_argument("file", nargs="?", default="build.hlb", help="the .hlb module (default: build.hlb; - reads stdin)")
    p.add_argument(
        "-t",
        "--target",
        action="append",
        metavar="TARGET",
        help="a function to build; repeatable or comma-separated (default: default)",
    )
    p.add_argument("--platform", help="default platform for images, os/arch[/variant] (default: linux/<host arch>)")
    p.set_defaults(func=run)


def targets_of(values: list[str] | None) -> list[str]:
    names = [n.strip() for v in values or ["default"] for n in v.split(",")]
    return list(dict.fromkeys(n for n in names if n))


def run(args: argparse.Namespace) -> int:
    err = sys.stderr
    color = err.isatty() and not os.environ.get("NO_COLOR")
    try:
        platform = Platform.parse(args.platform) if args.platform else default_platform()
    except ValueError as e:
        print(f"hlb: error: --platform: {e}", file=err)
        return 2
    try:
        source = SourceFile("<stdin>", sys.stdin.read()) if args.file == "-" else load(args.file)
    except OSError as e:
        print(f"hlb: error: cannot read {args.file}: {e.strerror or e}", file=err)
        return 1
    names = targets_of(args.target)
    try:
        compiled = compile_source(source, names, platform, command_line_spans(names))
    except HlbError as e:
        print(render_all(e.diagnostics, color=color), file=err)
        return 1
    if compiled.warnings:
        print(render_all(compiled.warnings, color=color), file=err)
    return _build(compiled, color)


def command_line_spans(names: list[str]) -> dict[str, Span]:
    """Spans into a pseudo-file holding the command line, so target errors get a caret too."""
    text = "hlb run -t " + ",".join(names)
    cmdline = SourceFile("<command line>", text)
    spans, pos = {}, len("hlb run -t ")
    for n in names:
        spans[n] = Span(cmdline, pos, pos + len(n))
        pos += len(n) + 1
    return spans


def _build(compiled: Compiled, color: bool) -> int:
    err = sys.stderr
    todo = [t for t in compiled.targets if not t.definition.empty]
    for t in compiled.targets:
        if t.definition.empty:
            print(f"hlb: {t.name}: the result is an empty filesystem (scratch); nothing to build", file=err)
    if not todo:
        return 0
    address = resolve()
    try:
        client = BuildkitClient(address)
    except TransportError as e:
        print(f"hlb: error: {e}", file=err)
        print("  hint: start an engine (scripts/engine up), or set DOCKER_HOST or BUILDKIT_HOST", file=err)
        return 1
    with client:
        for target in todo:
            code = _solve(client, target, compiled.source, color)
            if code:
                return code
    return 0


def _solve(client: BuildkitClient, target: CompiledTarget, source: SourceFile, color: bool) -> int:
    err = sys.stderr
    printer = PlainPrinter(err)
    start = time.monotonic()
    try:
        session = client.open_session()
        try:
            client.solve(target.definition, session=session, on_status=printer.handle)
        finally:
            printer.close()
            if session is not None:
                session.close()
    except TransportError as e:
        print(f"hlb: error: {e}", file=err)
        return 1
    except SolveError as e:
        print(file=err)
        print(render_all([failure_diagnostic(e.failure, target, source, printer.tracker)], color=color), file=err)
        return 1
    print(f"\nhlb: {target.name}: {summary(target, printer.tracker)} in {time.monotonic() - start:.2f}s", file=err)
    return 0


def summary(target: CompiledTarget, tracker: Tracker) -> str:
    """``3 of 3 steps cached, 1 source resolved``: what the cache saved this run."""
    kinds = target.definition.op_kinds
    steps = {d for d, k in kinds.items() if k != "source"}
    total, cached = tracker.summary(steps)
    sources = sum(1 for d, k in kinds.items() if k == "source" and d in tracker.vertices)
    text = f"{cached} of {total} steps cached"
    if sources:
        text += f", {sources} source{'s' if sources != 1 else ''} resolved"
    return text


def failure_diagnostic(
    failure: SolveFailure, target: CompiledTarget, source: SourceFile, tracker: Tracker
) -> Diagnostic:
    """A daemon failure as a diagnostic at the .hlb line that produced the failing step."""
    spans = _spans_for(failure, target, source)
    notes = []
    v = tracker.vertices.get(failure.vertex or "")
    if v is not None and v.lines:
        tail = v.lines[-FAIL_LOG_LINES:]
        notes.append(f"last {len(tail)} lines of `{v.name}`:\n" + "\n".join(tail))
    primary = spans[0] if spans else Span(source, 0, 0)
    d = cat.build_failed(primary, failure.message, notes)
    if len(spans) > 1:
        labels = [Label(s, f"in target `{target.name}`" if s == target.span else "called from here") for s in spans[1:]]
        d = replace(d, secondary=tuple(labels))
    return d


def _spans_for(failure: SolveFailure, target: CompiledTarget, source: SourceFile) -> list[Span]:
    src = target.definition.source
    spans: list[Span] = []
    if src is not None and failure.vertex and failure.vertex in src.locations:
        for loc in src.locations[failure.vertex].locations:
            for r in loc.ranges:
                spans.append(_span(source, r.start.line, r.start.character, r.end.line, r.end.character))
    if not spans:
        for sr in failure.sources:
            if sr.filename == source.name:
                spans.append(_span(source, sr.start_line, sr.start_col, sr.end_line, sr.end_col))
    return spans


def _span(source: SourceFile, l1: int, c1: int, l2: int, c2: int) -> Span:
    start = source.offset(l1, c1)
    end = max(start + 1, source.offset(l2, c2) + 1)
    return Span(source, start, end)
