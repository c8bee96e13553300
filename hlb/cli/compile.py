"""``hlb compile``: print a target's LLB without building it.

``--format json`` (the default) prints one entry per op like ``buildctl debug
dump-llb``; ``--format binary`` writes the ``pb.Definition`` that
``buildctl build`` reads on stdin (``hlb compile -t app --format binary |
buildctl build ...``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hlb.address import AddressError
from hlb.cli.common import add_module_argument, print_diagnostics, source_of
from hlb.cli.daemon import add_address_flags, address_of
from hlb.cli.target_args import add_arg_flag, command_line, platform_flag
from hlb.diagnostics import HlbError
from hlb.llb.dump import to_json
from hlb.solver import compile_services
from hlb.solver.gateway import GatewayResolver
from hlb.solver.registry import RegistryClient


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "compile",
        help="print a target's LLB (JSON or binary) without building",
        description="Compile a target of an .hlb file and print its LLB Definition. A daemon is contacted only "
        "when an `image ... with resolve` needs an image config.",
    )
    add_module_argument(p)
    p.add_argument("-t", "--target", default="default", metavar="TARGET", help="the fs target (default: default)")
    add_arg_flag(p)
    p.add_argument(
        "--no-local-run",
        action="store_true",
        help="do not run `localRun` commands on this machine while compiling: a `localRun` is then an error",
    )
    p.add_argument("--format", choices=("json", "binary"), default="json", help="output format (default: json)")
    p.add_argument("--platform", help="default platform for images, os/arch[/variant] (default: linux/<host arch>)")
    add_address_flags(p)
    p.set_defaults(func=compile_command)


def compile_command(args: argparse.Namespace) -> int:
    if args.platform is not None and len([p for p in args.platform.split(",") if p.strip()]) > 1:
        print(
            f"hlb: error: --platform {args.platform}: `hlb compile` prints the LLB of one platform: give one "
            "(`hlb run --platform` takes a list and builds them all)",
            file=sys.stderr,
        )
        return 2
    platform = platform_flag(args.platform)
    if platform is None:
        return 2
    if not args.target.strip():
        hint = "give an fs function's name, e.g. -t default"
        print(f"hlb: error: -t {args.target!r} names no target: {hint}", file=sys.stderr)
        return 2
    source = source_of(args.file)
    if source is None:
        return 1
    cmdline = command_line("compile", [args.target], args.arg)
    if cmdline.diagnostics:
        print_diagnostics(cmdline.diagnostics)
        return 2  # a malformed or repeated --arg: a usage error
    try:
        address = address_of(args)  # one daemon (a fleet is refused), asked only if an image config is needed
    except AddressError as e:  # BUILDKIT_HOST or DOCKER_HOST names no address hlb can use
        print(f"hlb: error: {e}", file=sys.stderr)
        return 2
    with GatewayResolver(address) as resolver:
        try:
            compiled = cmdline.compile(
                source,
                [args.target],
                platform,
                local_run=not args.no_local_run,
                services=compile_services(resolver, RegistryClient()),
            )
        except HlbError as e:
            print_diagnostics(e.diagnostics)
            return 1
    print_diagnostics(compiled.warnings)
    target = compiled.targets[0]
    if target.fs is None:
        print(f"hlb: error: target `{target.name}` is a pipeline; compile one of its fs targets", file=sys.stderr)
        return 1
    definition = target.definition
    if args.format == "binary":
        sys.stdout.buffer.write(definition.serialize())
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(to_json(definition) + "\n")
    return 0
