"""``hlb run``: compile targets and build them on BuildKit."""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from typing import Any

from hlb import cache_options, output_options
from hlb.address import Address, AddressError, TLSConfig, resolve
from hlb.api import Compiled
from hlb.build import execute, record
from hlb.build.runner import CompilePusher, CompileStatus
from hlb.cli.common import add_module_argument, source_of
from hlb.cli.target_args import add_arg_flag, command_line, platforms_flag
from hlb.compiler.plan import Plan, PlanError, merge_platforms
from hlb.compiler.plan import render as render_plan
from hlb.diagnostics import HlbError, render_all
from hlb.explain import rerun_step, show
from hlb.progress import timeline
from hlb.progress.display import MODES, QuietProgress, choose_mode, open_progress
from hlb.resolver import EffectFailed
from hlb.solver import compile_services
from hlb.solver.client import BuildkitClient
from hlb.solver.gateway import GatewayResolver, ResolveMode
from hlb.solver.registry import RegistryClient
from hlb.transport import TransportError
from hlb.values import IMAGE_EXPORTERS


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "run",
        help="build targets of a .hlb file",
        description="Compile the targets of an .hlb file to LLB and build them on BuildKit.",
    )
    add_module_argument(p)
    p.set_defaults(file=None)  # to tell a FILE given from none (then -f, else build.hlb)
    p.add_argument(
        "-f",
        "--file",
        dest="file_option",
        metavar="FILE",
        help="the .hlb module, as buildx's -f (the same as the FILE argument; give one of the two)",
    )
    p.add_argument(
        "-t",
        "--target",
        action="append",
        metavar="TARGET",
        help="a function to build; repeatable or comma-separated (default: default)",
    )
    add_arg_flag(p)
    p.add_argument(
        "--no-local-run",
        action="store_true",
        help="do not run `localRun` commands on this machine while compiling: a `localRun` is then an error",
    )
    p.add_argument(
        "--platform",
        action="append",
        metavar="PLATFORMS",
        help="platform(s) to build, os/arch[/variant]; a comma list or repeated builds each one, and an image "
        "output becomes a multi-platform image; local is this machine's (default: linux/<host arch>)",
    )
    p.add_argument(
        "-o",
        "--output",
        action="append",
        default=[],
        metavar="OUTPUT",
        help="export each target's result, as buildx writes it: DIR (type=local,dest=DIR) | - (a tar on stdout) | "
        "type=local,dest=DIR | type=tar,dest=FILE|- | type=image,name=REF,push=true | type=registry,name=REF | "
        "type=docker[,name=REF][,dest=FILE] | type=oci,dest=FILE; several targets: {target} in dest/name "
        "(repeatable)",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="run every step again (each op ignores the cache); BuildKit also empties the cache mounts of those steps",
    )
    p.add_argument(
        "--pull",
        action="store_true",
        help="resolve every image again in its registry instead of using a copy the daemon has",
    )
    p.add_argument(
        "--tree",
        action="store_true",
        help="print the solve plan (every solve with its exports and cache imports/exports) instead of building",
    )
    p.add_argument(
        "--cache-from",
        action="append",
        default=[],
        metavar="CACHE",
        help="import build cache into every solve, as buildx writes it: type=registry,ref=REF | "
        "type=local,src=DIR | type=gha | type=s3,bucket=B,region=R | REF[,REF] (repeatable)",
    )
    p.add_argument(
        "--cache-to",
        action="append",
        default=[],
        metavar="CACHE",
        help="export each target's build cache (several targets: one each, or {target} in the ref): "
        "type=registry,ref=REF[,mode=max] | "
        "type=local,dest=DIR | type=inline | type=gha | type=s3,... (repeatable; checked before building)",
    )
    p.add_argument(
        "--persist-caches",
        action="store_true",
        help="after the build succeeds, push every cache mount written with `persist REF` to its REF "
        "(for a scheduled job or the main branch; without it, persisted caches are only seeded)",
    )
    add_address_flags(p)
    p.add_argument(
        "--progress",
        choices=MODES,
        default="auto",
        help="progress output, as buildx has it: auto (tty on a terminal, else plain; BUILDKIT_PROGRESS "
        "overrides), tty, plain, rawjson (one JSON status message a line) or quiet (nothing but errors; the "
        "image ID of each exported image on stdout) (default: auto)",
    )
    p.add_argument(
        "--debug",
        action="store_true",
        help=f"print a timestamped line for each phase of the run on stderr (as ${timeline.ENV}=1 does)",
    )
    p.set_defaults(func=run)


def add_address_flags(p: argparse.ArgumentParser) -> None:
    """``--addr`` and buildctl's TLS flags."""
    p.add_argument(
        "--addr",
        metavar="ADDRESS",
        help="the BuildKit daemon: unix://PATH, tcp://HOST:PORT, docker-container://NAME, or docker:// for the "
        "Docker engine (default: $BUILDKIT_HOST, else the Docker engine at $DOCKER_HOST or the default socket)",
    )
    p.add_argument("--tlscacert", metavar="FILE", help="CA certificate to verify a tcp:// daemon with")
    p.add_argument("--tlscert", metavar="FILE", help="client certificate for a tcp:// daemon (with --tlskey)")
    p.add_argument("--tlskey", metavar="FILE", help="key of the client certificate")
    p.add_argument("--tlsservername", metavar="NAME", help="server name to verify (default: the address's host)")


def address_of(args: argparse.Namespace) -> Address:
    """The daemon the flags and the environment name; raises AddressError."""
    files = (args.tlscacert, args.tlscert, args.tlskey, args.tlsservername)
    tls = TLSConfig(*files) if any(files) else None
    return resolve(args.addr, tls=tls)


def targets_flag(values: list[str] | None) -> list[str] | None:
    """The target names of ``-t`` flags (repeatable, comma-separated), in order, each once; None once the
    usage error is printed for a flag that names no target (``-t ''``, ``-t ,``, ``-t a,,b``): a build of
    nothing is never what was asked for."""
    names: list[str] = []
    for v in values or ["default"]:
        parts = [n.strip() for n in v.split(",")]
        if not all(parts):
            what = "names no target" if not any(parts) else "has an empty target name"
            print(f"hlb: error: -t {v!r} {what}: give function names, e.g. -t default or -t app,test", file=sys.stderr)
            return None
        names.extend(parts)
    return list(dict.fromkeys(names))


def run(args: argparse.Namespace) -> int:
    err = sys.stderr
    if getattr(args, "debug", False):
        timeline.TIMELINE.enable()
    timeline.mark("arguments parsed")
    color = err.isatty() and not os.environ.get("NO_COLOR")
    platforms = platforms_flag(args.platform)
    if platforms is None:
        return 2
    platform = platforms[0]
    if args.file is not None and args.file_option is not None:
        print(f"hlb: error: the module is given twice ({args.file} and -f {args.file_option}): give one", file=err)
        return 2
    args.file = args.file_option or args.file or "build.hlb"
    names = targets_flag(args.target)
    if names is None:
        return 2
    try:
        outputs = output_options.parse_all(args.output, names)
    except output_options.OutputFlagError as e:
        print(f"hlb: error: {e}", file=err)
        return 2
    if any(o.to_stdout for o in outputs) and sys.stdout.isatty():
        print(
            "hlb: error: -o: a tar is not written to a terminal; redirect stdout (-o - > out.tar) or give dest=FILE",
            file=err,
        )
        return 2
    try:
        progress_mode = choose_mode(getattr(args, "progress", "auto"), err)
    except ValueError as e:
        print(f"hlb: error: {e}", file=err)
        return 2
    source = source_of(args.file)
    if source is None:
        return 1
    try:
        cache_from = cache_options.parse_all(args.cache_from, cache_options.IMPORT)
        cache_to = cache_options.parse_all(args.cache_to, cache_options.EXPORT)
    except cache_options.CacheFlagError as e:
        print(f"hlb: error: {e}", file=err)
        return 2
    for warning in (*cache_from.warnings, *cache_to.warnings):
        print(f"hlb: warning: {warning}", file=err)
    cmdline = command_line("run", names, args.arg)
    if cmdline.diagnostics:
        print(render_all(cmdline.diagnostics, color=color), file=err)
        return 2  # a malformed or repeated --arg: a usage error
    try:
        address = None if args.tree else address_of(args)
    except AddressError as e:
        print(f"hlb: error: {e}", file=err)
        return 2
    compile_status = CompileStatus(progress_mode)
    mode: ResolveMode | None = "pull" if args.pull else None
    resolver = None if address is None else GatewayResolver(address, on_status=compile_status.handle, resolve_mode=mode)
    pusher = None
    if address is not None:
        pusher = CompilePusher(
            address, source, color, progress_mode, platform, cache_from.entries, names, args.no_cache, args.pull
        )
    try:
        failed: HlbError | EffectFailed | None = None
        every: list[Compiled] = []
        try:
            timeline.mark("compile")
            for p in platforms:  # each platform compiles on its own (its images, their configs)
                if pusher is not None:
                    pusher.platform = p
                    pusher.several = len(platforms) > 1
                every.append(
                    cmdline.compile(
                        source,
                        names,
                        p,
                        local_run=not args.no_local_run,
                        services=compile_services(
                            resolver, RegistryClient(), pusher.push if pusher is not None else None
                        ),
                    )
                )
        except (HlbError, EffectFailed) as e:
            failed = e
        finally:
            if pusher is not None:
                pusher.close()
            if resolver is not None:
                resolver.close()  # only compiling needs it: image configs and frontends are resolved by now
                resolver = None
            compile_status.close()  # the daemon's compile-time steps print before any diagnostic
            timeline.mark("compiled")
        if isinstance(failed, EffectFailed):  # a push whose digest is bound failed while compiling; it was reported
            return failed.code
        if failed is not None:
            print(render_all(failed.diagnostics, color=color), file=err)
            return 1
        compiled = every[0]
        if compiled.warnings:
            print(render_all(compiled.warnings, color=color), file=err)
        stamp = uuid.uuid4().hex  # the copies of persisted caches run every time
        try:
            plans = [
                (
                    p,
                    c.plan(
                        p,
                        cache_from=cache_from.entries,
                        cache_to=cache_to.entries,
                        persist_caches=args.persist_caches,
                        persist_stamp=stamp,
                        outputs=outputs,
                        ignore_cache=args.no_cache,
                        pull=args.pull,
                    ),
                )
                for p, c in zip(platforms, every, strict=True)
            ]
            plan = merge_platforms(plans) if len(plans) > 1 else plans[0][1]
        except PlanError as e:
            for problem in e.problems:
                print(f"hlb: error: {problem}", file=err)
            return 2
        for warning in plan.warnings:
            print(f"hlb: warning: {warning}", file=err)
        if args.tree:
            sys.stdout.write(render_plan(plan))
            return 0
        assert address is not None
        # `hlb explain` knows one platform's graphs: a multi-platform run is not recorded
        recorder = None if args.file == "-" or len(platforms) > 1 else record.Recorder(source, names, platform)
        return _build(compiled, plan, color, address, progress_mode, recorder)
    finally:
        if resolver is not None:
            resolver.close()


def _build(
    compiled: Compiled,
    plan: Plan,
    color: bool,
    address: Address,
    progress_mode: str = "plain",
    recorder: record.Recorder | None = None,
) -> int:
    err = sys.stderr
    for t in compiled.targets:
        if t.request is None or (t.fs is not None and t.definition.empty and not t.fs.effects):
            print(f"hlb: {t.name}: the result is an empty filesystem (scratch); nothing to build", file=err)
    if plan.root is None:
        return 0
    try:
        client = BuildkitClient(address)
    except TransportError as e:
        print(f"hlb: error: {e}", file=err)
        print("  hint: start an engine (scripts/engine up), or set DOCKER_HOST or BUILDKIT_HOST", file=err)
        return 1
    progress = open_progress(progress_mode, err)
    with client:
        try:
            if recorder is not None:
                recorder.start(client, plan)
            outcome = execute(plan, client, compiled.source, progress=progress, color=color, recorder=recorder)
            code = outcome.code
        finally:
            progress.close()  # the final frame (tty), then the summaries it held back
        if isinstance(progress, QuietProgress):
            if code:
                progress.show_held()  # quiet is quiet until something fails
            else:
                _print_image_ids(plan, outcome.responses)
        if code == 0 and recorder is not None:
            _record(recorder, quiet=isinstance(progress, QuietProgress))
    timeline.mark("build finished")
    return code


def _print_image_ids(plan: Plan, responses: dict[int, dict[str, str]]) -> None:
    """``--progress quiet``'s one output, as buildx's: the ID of each image exported (its config digest, else
    its manifest's or index's digest), a line each, on stdout."""
    for s in plan.solves:
        response = responses.get(s.index, {})
        if any(x.type in IMAGE_EXPORTERS for x in s.exporters):
            digest = response.get("containerimage.config.digest") or response.get("containerimage.digest", "")
            if digest:
                print(digest)


def _record(recorder: record.Recorder, quiet: bool = False) -> None:
    """Keep the run for `hlb explain`; name the first step that ran again when an earlier run is known."""
    run = recorder.finish()
    timeline.mark("run record made")
    previous, warning = record.save(run)
    timeline.mark("run record saved")
    if warning:
        print(f"hlb: warning: {warning}", file=sys.stderr)
    step = rerun_step(run)
    if previous is None or step is None or quiet:
        return
    rel = os.path.relpath(run.project)
    command = "hlb explain" + ("" if rel == "build.hlb" else f" {rel}")
    command += "" if run.key == "default" else f" -t {run.key}"
    print(f"hlb: first step not cached: `{step.what}` ({show(step.at)}); `{command}` says why", file=sys.stderr)
