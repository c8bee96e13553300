"""``hlb explain``: why the first step of the last run ran again instead of being cached.

It compares the last two recorded runs of the module and targets (``hlb run`` records each run,
:mod:`hlb.build.record`), or, with ``--plan``, the last run with the next one as compiled now,
without building. The comparison is :func:`hlb.explain.explain`; this module parses and prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from hlb.address import AddressError
from hlb.build import record
from hlb.cli.common import add_module_argument, print_diagnostics, source_of
from hlb.cli.daemon import add_address_flags, address_of
from hlb.cli.run import targets_flag
from hlb.cli.target_args import add_arg_flag, command_line, platform_flag
from hlb.compiler.plan import PlanError
from hlb.diagnostics import HlbError
from hlb.explain import explain
from hlb.solver import compile_services
from hlb.solver.gateway import GatewayResolver
from hlb.solver.registry import RegistryClient


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "explain",
        help="say why a step of the last run ran again instead of being cached",
        description="Compare the last two runs of a module's targets (hlb run records each one) and name, for "
        "the first step that ran again, what changed, at its .hlb line: a local file, an env value, a command, "
        "an image's digest. With --plan, compare the last run with the next one, compiled now, without building.",
    )
    add_module_argument(p, stdin=False)
    p.add_argument(
        "-t",
        "--target",
        action="append",
        metavar="TARGET",
        help="the targets, as `hlb run -t` gave them (default: default)",
    )
    p.add_argument("--plan", action="store_true", help="compile the module now and compare with the last run")
    p.add_argument("--json", action="store_true", help="print the explanation as JSON (for CI)")
    add_arg_flag(p)
    p.add_argument("--platform", help="with --plan: the default platform, as `hlb run` takes it")
    add_address_flags(p)
    p.set_defaults(func=explain_command)


def explain_command(args: argparse.Namespace) -> int:
    err = sys.stderr
    if args.file == "-":
        print("hlb: error: hlb explain needs the module's file (runs are recorded per file), not stdin", file=err)
        return 2
    names = targets_flag(args.target)
    if names is None:
        return 2
    project, key = record.project_of(args.file), record.key_of(names)
    runs, warning = record.load(project, key)
    if warning:
        print(f"hlb: warning: {warning}", file=err)
    flag = "" if key == "default" else f" -t {key}"
    if not runs:
        print(f"hlb: error: no run of {args.file}{flag} is recorded: `hlb run{flag}` records each run", file=err)
        return 1
    several = [r for r in (runs[-1:] if args.plan else runs[-2:]) if r.several_platforms]
    if several:  # a run of several platforms is recorded as a marker, without its graphs
        which = "last" if several[-1] is runs[-1] else "one before the last"
        print(f"hlb: note: {record.several_platforms_note(several[-1], which)}", file=err)
        return 1
    if args.plan:
        planned = _planned(args, names)
        if isinstance(planned, int):
            return planned
        old, new = runs[-1], planned
    elif len(runs) < 2:
        print(
            f"hlb: error: only one run of {args.file}{flag} is recorded; run it again to compare, "
            "or compare it with the next run now: hlb explain --plan",
            file=err,
        )
        return 1
    else:
        old, new = runs[-2], runs[-1]
    result = explain(old, new)
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(os.getcwd()), indent=2) + "\n")
    else:
        sys.stdout.write(result.render(os.getcwd()) + "\n")
    return 0


def _planned(args: argparse.Namespace, names: list[str]) -> record.Run | int:
    """The next run as compiled now, or an exit code (what went wrong was printed)."""
    err = sys.stderr
    platform = platform_flag(args.platform)
    if platform is None:
        return 2
    cmdline = command_line("explain", names, args.arg)
    if cmdline.diagnostics:
        print_diagnostics(cmdline.diagnostics)
        return 2
    try:
        address = address_of(args)
    except AddressError as e:
        print(f"hlb: error: {e}", file=err)
        return 2
    source = source_of(args.file)
    if source is None:
        return 1
    with GatewayResolver(address) as resolver:
        try:
            compiled = cmdline.compile(
                source,
                names,
                platform,
                services=compile_services(resolver, RegistryClient()),
            )
            plan = compiled.plan(platform)
        except HlbError as e:
            print_diagnostics(e.diagnostics)
            return 1
        except PlanError as e:
            for problem in e.problems:
                print(f"hlb: error: {problem}", file=err)
            return 2
        print_diagnostics(compiled.warnings)
        run, problems = record.planned_run(plan, source, names, platform, resolver)
    for problem in problems:
        print(f"hlb: warning: {problem}", file=err)
    return run
