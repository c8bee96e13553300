"""``hlb targets``: the functions of a module that ``hlb run -t`` can build, with their docs and parameters.

A target is what :meth:`hlb.compiler.compiler._Compiler.find_target` accepts (an ``fs`` or ``pipeline``
function of the module, or a name bound with ``as`` to one) whose parameters the command line can give:
``string``, ``int`` and ``bool``, none variadic (:mod:`hlb.compiler.target_args`). Its doc is the comment
block right above it, as the parser keeps it. Nothing here contacts a daemon or runs ``localRun``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from hlb.checker.check import CheckedModule, ModuleLoader, check_module, declared_or_none
from hlb.cli.common import add_module_argument, print_diagnostics, source_of, use_color
from hlb.compiler.target_args import COMMAND_LINE_KINDS
from hlb.source import Span
from hlb.syntax import ast
from hlb.syntax.cache import parse_cached
from hlb.types import Kind

FORMATS = ("text", "json", "names")


@dataclass(frozen=True)
class Target:
    name: str
    type: str  # fs or pipeline
    params: tuple[tuple[str, str], ...]  # (name, type): given as --arg NAME=VALUE
    doc: str  # "" when the function has no doc comment
    span: Span  # the name in its declaration
    bound_in: str = ""  # for a name bound with `as`: the function that binds it

    def to_json(self) -> dict[str, Any]:
        p = self.span.begin
        return {
            "name": self.name,
            "type": self.type,
            "params": [{"name": n, "type": t} for n, t in self.params],
            "doc": self.doc,
            "file": self.span.file.name,
            "line": p.line,
            "col": p.column,
            **({"bound_in": self.bound_in} if self.bound_in else {}),
        }


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "targets",
        help="list the targets of a .hlb file (what `hlb run -t` builds) with their docs and parameters",
        description="List the functions `hlb run -t` can build: the module's fs and pipeline functions (and names "
        "bound to one with `as`) whose parameters are all string, int or bool, each with the comment above it "
        "and the `--arg` flags its parameters take. Nothing is built.",
    )
    add_module_argument(p)
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default); json: an array of {name, type, params, doc, file, line, col}; names: one name a line",
    )
    p.set_defaults(func=run_targets)


def targets_of(checked: CheckedModule) -> list[Target]:
    """The module's targets in declaration order (binds after the functions)."""
    out: list[Target] = []
    for func in checked.funcs.values():
        t = declared_or_none(func.type)
        params = _params(func)
        if t is not None and t.kind in (Kind.FS, Kind.PIPELINE) and params is not None:
            out.append(Target(func.name.name, str(t), params, func.doc or "", func.name.span))
    for name, bind in checked.binds.items():
        params = _params(bind.func)
        if bind.type is not None and bind.type.kind in (Kind.FS, Kind.PIPELINE) and params is not None:
            out.append(Target(name, str(bind.type), params, "", bind.name.span, bound_in=bind.func.name.name))
    return out


def _params(func: ast.FuncDecl) -> tuple[tuple[str, str], ...] | None:
    """The parameters as (name, type), or None when the command line cannot give one of them."""
    out: list[tuple[str, str]] = []
    for p in func.params:
        t = declared_or_none(p.type)
        if p.variadic or t is None or t.kind not in COMMAND_LINE_KINDS:
            return None
        out.append((p.name.name, str(t)))
    return tuple(out)


def run_targets(args: argparse.Namespace) -> int:
    source = source_of(args.file)
    if source is None:
        return 1
    parsed = parse_cached(source)
    if parsed.module is None:
        print_diagnostics(parsed.diagnostics)
        return 1
    result = check_module(parsed.module, ModuleLoader())
    errors = [d for d in (*parsed.diagnostics, *result.diagnostics) if d.is_error]
    if errors:
        print_diagnostics(errors)
        print(f"hlb: {args.file} has errors; its targets are listed once they are fixed", file=sys.stderr)
        return 1
    targets = targets_of(result.checked)
    if args.format == "json":
        sys.stdout.write(json.dumps([t.to_json() for t in targets], indent=2) + "\n")
    elif args.format == "names":
        sys.stdout.write("".join(t.name + "\n" for t in targets))
    else:
        sys.stdout.write(render(targets, color=use_color() and sys.stdout.isatty()))
        if not targets:
            hint = "declare an fs function, e.g. `fs default() { ... }`"
            print(f"hlb: {args.file} has no target: {hint}", file=sys.stderr)
    return 0


def render(targets: list[Target], color: bool = False) -> str:
    """One paragraph a target: its name and ``--arg`` flags, then its doc indented::

    release --arg tag=string --arg push=bool
        Pushes the image under the tag given.
    """
    bold, reset = ("\x1b[1m", "\x1b[0m") if color else ("", "")
    out: list[str] = []
    for t in targets:
        flags = "".join(f" --arg {n}={ty}" for n, ty in t.params)
        line = f"{bold}{t.name}{reset}{flags}"
        if t.type != "fs":
            line += f" ({t.type})"
        if t.bound_in:
            line += f" (bound with `as` in {t.bound_in})"
        out.append(line)
        out.extend(f"    {d}".rstrip() for d in t.doc.splitlines())
    return "".join(line + "\n" for line in out)
