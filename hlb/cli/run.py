"""``hlb run``: compile targets and build them on BuildKit."""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from hlb import cache_options, outfile, output_options
from hlb.address import Address, AddressError, unreachable_hint
from hlb.api import Compiled
from hlb.build import execute, metadata, record
from hlb.build.fleet import Fleet, Unreachable
from hlb.build.runner import CompilePusher, CompileStatus, SolveResult
from hlb.cli import inputs
from hlb.cli.common import add_module_argument, source_of
from hlb.cli.daemon import add_address_flags, addresses_of
from hlb.cli.target_args import add_arg_flag, command_line, platforms_flag
from hlb.compiler.attachments import bind
from hlb.compiler.plan import Plan, PlanError, Solve, merge_platforms
from hlb.compiler.plan import render as render_plan
from hlb.diagnostics import HlbError, render_all
from hlb.explain import rerun_step, show
from hlb.progress import timeline
from hlb.progress.display import MODES, QuietProgress, choose_mode, open_progress
from hlb.resolver import EffectFailed, LocalRuns
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
        help="run every step again (each op ignores the cache); BuildKit also empties its cache mounts (not persisted)",
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
        "--secret",
        action="append",
        default=[],
        metavar="SECRET",
        help="a secret for the `secretMount`s with its id, as buildx takes it: id=ID,src=FILE | id=ID,env=VARIABLE "
        "| id=ID (the variable ID if set, else the file ID); also type=file|env (repeatable)",
    )
    p.add_argument(
        "--ssh",
        action="append",
        default=[],
        metavar="SSH",
        help="an ssh agent for `ssh with id(ID)`, as buildx takes it: default|ID[=SOCKET|KEY[,KEY]] (no path: "
        "$SSH_AUTH_SOCK; default serves a plain `ssh`) (repeatable)",
    )
    p.add_argument(
        "--persist-caches",
        action="store_true",
        help="after the build succeeds, push every cache mount written with `persist REF` to its REF "
        "(for a scheduled job or the main branch; without it, persisted caches are only seeded)",
    )
    add_address_flags(p)
    p.add_argument(
        "--metadata-file",
        metavar="FILE",
        help="after a successful build, write what it made as JSON, as buildx does: per target, the image's "
        "containerimage.digest and image.name, and under hlb.solves each solve's exporter response, cache "
        "imports and exports, steps cached and duration",
    )
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
    for given_file, flag in ((args.file, "the module"), (args.file_option, "-f")):
        if given_file is not None and not given_file.strip():
            print(f"hlb: error: {flag} is empty: name a .hlb file (default: build.hlb), or - for stdin", file=err)
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
    if progress_mode in ("rawjson", "quiet") and any(o.to_stdout for o in outputs) and not args.tree:
        what = "its JSON lines" if progress_mode == "rawjson" else "the image IDs"
        print(
            f"hlb: error: -o - writes the tar to stdout, where --progress {progress_mode} writes {what}: "
            "give the tar a file (-o type=tar,dest=FILE) or use --progress plain",
            file=err,
        )
        return 2
    if args.metadata_file is not None:
        why = "--metadata-file: --tree builds nothing, so there is no result to write" if args.tree else None
        why = why or metadata.check_path(args.metadata_file)
        others = ["-o -"] if any(o.to_stdout for o in outputs) else []
        others += [f"--progress {progress_mode}"] if progress_mode in ("rawjson", "quiet") else []
        if not why and others and outfile.is_stdout(args.metadata_file):
            why = (
                f"--metadata-file {args.metadata_file} is stdout, where {' and '.join(others)} writes too: give a file"
            )
        if why:
            print(f"hlb: error: {why}", file=err)
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
    try:
        given = inputs.parse(args.secret, args.ssh)
    except inputs.FlagError as e:
        print(f"hlb: error: {e}", file=err)
        return 2
    cmdline = command_line("run", names, args.arg)
    if cmdline.diagnostics:
        print(render_all(cmdline.diagnostics, color=color), file=err)
        return 2  # a malformed or repeated --arg: a usage error
    try:
        addresses = addresses_of(args)  # --tree too: it shows the daemons the build would use (it dials none)
    except AddressError as e:
        print(f"hlb: error: {e}", file=err)
        return 2
    fleet = Fleet(addresses) if len(addresses) > 1 else None
    # Compiling (image configs, pushes whose digest is bound) goes to the first target's daemon; `--tree` asks
    # no daemon, of one or of several (it builds and pushes nothing).
    address = None if args.tree else fleet.place(names[0]) if fleet is not None else addresses[0]
    compile_status = CompileStatus(progress_mode)
    mode: ResolveMode | None = "pull" if args.pull else None
    resolver = None if address is None else GatewayResolver(address, on_status=compile_status.handle, resolve_mode=mode)
    pusher = None
    if address is not None:
        pusher = CompilePusher(
            address,
            source,
            color,
            progress_mode,
            platform,
            cache_from.entries,
            names,
            given,
            ignore_cache=args.no_cache,
            pull=args.pull,
        )
    try:
        failed: HlbError | EffectFailed | None = None
        every: list[Compiled] = []
        try:
            timeline.mark("compile")
            local_runs = LocalRuns()  # each `localRun` runs once, its output used for every platform
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
                            resolver, RegistryClient(), pusher.push if pusher is not None else None, local_runs
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
        for k, c in enumerate(every):  # each platform's compile declares the same secrets and agents
            bound = bind(c.attachments, given)
            if k == 0:
                for text in bound.warnings:
                    print(f"hlb: warning: {text}", file=err)
                if bound.errors and not args.tree:  # --tree shows them as not given
                    print(render_all(bound.errors, color=color), file=err)
                    return 2  # the command line lacks a --secret or --ssh the build requires
            c.attachments = bound.attachments
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
            daemons = {s: fleet.address_for(s).url for s in plan.solves} if fleet is not None else None
            sys.stdout.write(render_plan(plan, daemons=daemons))
            return 0
        assert address is not None
        # `hlb explain` knows one platform's graphs: a multi-platform run is recorded as a marker only
        recorder = (
            None
            if args.file == "-"
            else record.Recorder(source, names, platform, platforms=platforms, no_cache=args.no_cache)
        )
        early = pusher.results() if pusher is not None else []
        return _build(compiled, plan, color, fleet or address, progress_mode, recorder, args.metadata_file, early)
    finally:
        if resolver is not None:
            resolver.close()


def _build(
    compiled: Compiled,
    plan: Plan,
    color: bool,
    address: Address | Fleet,
    progress_mode: str = "plain",
    recorder: record.Recorder | None = None,
    metadata_file: str | None = None,
    compile_pushes: Sequence[tuple[Solve, SolveResult]] = (),
) -> int:
    err = sys.stderr
    for t in compiled.targets:
        if t.request is None or (t.fs is not None and t.definition.empty and not t.fs.effects):
            print(f"hlb: {t.name}: the result is an empty filesystem (scratch); nothing to build", file=err)
    if plan.root is None:
        return _write_metadata(metadata_file, plan, {}, compile_pushes)
    try:
        client = _connect_fleet(address, plan) if isinstance(address, Fleet) else BuildkitClient(address)
    except Unreachable as e:
        _unreachable(e)
        return 1
    except TransportError as e:
        assert isinstance(address, Address)  # a fleet's daemons fail as Unreachable
        print(f"hlb: error: {e}", file=err)
        print(f"  hint: {unreachable_hint(address)}", file=err)
        return 1
    progress = open_progress(progress_mode, err)
    with client:
        try:
            if recorder is not None:
                recorder.start(client if isinstance(client, BuildkitClient) else client.first(), plan)
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
    if code == 0:
        code = _write_metadata(metadata_file, plan, outcome.results, compile_pushes)
    return code


def _write_metadata(
    path: str | None, plan: Plan, results: dict[int, SolveResult], early: Sequence[tuple[Solve, SolveResult]]
) -> int:
    """``--metadata-file``: written after a successful build only, as buildx does; 1 when it cannot be."""
    if path is None:
        return 0
    try:
        metadata.write(path, metadata.document(plan, results, early))
    except OSError as e:
        print(f"hlb: error: --metadata-file: cannot write {path}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


def _connect_fleet(fleet: Fleet, plan: Plan) -> Fleet:
    """``fleet`` connected to every daemon a solve of ``plan`` is placed on; raises :class:`Unreachable`."""
    fleet.connect(plan.solves)
    return fleet


def _unreachable(e: Unreachable) -> None:
    for _, reason, targets in e.failures:
        which = ", ".join(targets)
        print(f"hlb: error: {reason}", file=sys.stderr)
        print(f"  the target{'s' if len(targets) > 1 else ''} placed on it: {which}", file=sys.stderr)
    print(
        "  hint: a target is never moved to another daemon, where its cache mounts and build cache are cold: "
        "start the daemon, or leave it out of --addr/BUILDKIT_HOST (which moves only its targets)",
        file=sys.stderr,
    )


def _print_image_ids(plan: Plan, responses: dict[int, dict[str, str]]) -> None:
    """``--progress quiet``'s one output, as buildx's: the ID of each image exported (its config digest, else
    its manifest's or index's digest), a line each, on stdout: the targets' images (not a persisted cache's), once."""
    ids: dict[str, None] = {}
    for s in dict.fromkeys(s for solves in plan.targets.values() for s in solves if s.kind != "persist"):
        response = responses.get(s.index, {})
        if any(x.type in IMAGE_EXPORTERS for x in s.exporters):
            ids.setdefault(response.get("containerimage.config.digest") or response.get("containerimage.digest", ""))
    for digest in filter(None, ids):
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
    if not record.explainable(previous, run) or step is None or quiet:
        return
    rel = os.path.relpath(run.project)
    command = "hlb explain" + ("" if rel == "build.hlb" else f" {rel}")
    command += "" if run.key == "default" else f" -t {run.key}"
    print(f"hlb: first step not cached: `{step.what}` ({show(step.at)}); `{command}` says why", file=sys.stderr)
