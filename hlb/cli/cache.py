"""``hlb cache ls|du|prune``: the daemon's cache mounts and build cache, listed, totalled and pruned.

The work is :mod:`hlb.cache_admin`'s (through :func:`hlb.api.cache_admin`); this module
parses the command line and prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from hlb import api
from hlb.address import AddressError, unreachable_hint
from hlb.cache_admin import (
    CacheAdmin,
    CacheRecord,
    Declared,
    PruneRequest,
    PruneResult,
    Totals,
    human_ago,
    human_size,
    parse_duration,
    parse_size,
    totals,
)
from hlb.cli.common import cannot_read, print_diagnostics, read_source
from hlb.cli.daemon import add_address_flags, address_of
from hlb.diagnostics import HlbError
from hlb.transport import TransportError

DESCRIPTION_WIDTH = 60


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "cache",
        help="list, total and prune the daemon's cache mounts and build cache",
        description="See and prune what the daemon keeps: cache mounts (with their cache ids and the .hlb line "
        "that declared them) and the build cache, through BuildKit's own DiskUsage and Prune.",
    )
    p.set_defaults(func=lambda args: _usage(p))
    sub = p.add_subparsers(dest="cache_command", metavar="COMMAND")

    ls = sub.add_parser(
        "ls",
        help="list cache mounts and build cache records",
        description="List the daemon's cache mounts (cache id, mount point, size, last use, and the .hlb line "
        "declaring each when the module declares that id) and its build cache records.",
    )
    ls.add_argument(
        "file", nargs="?", help="the module whose cache mounts to locate (default: ./build.hlb when it exists)"
    )
    ls.add_argument("--id", metavar="ID", help="only the cache mounts of this cache id")
    ls.add_argument("--json", action="store_true", help="machine-readable output (see docs/language.md)")
    ls.add_argument("--no-trunc", action="store_true", help="do not shorten descriptions")
    add_address_flags(ls)
    ls.set_defaults(func=run_ls)

    du = sub.add_parser("du", help="total sizes by record type and by cache id", description="Total the "
                        "daemon's disk usage by record type and its cache mounts by cache id.")  # fmt: skip
    du.add_argument("--json", action="store_true", help="machine-readable output (see docs/language.md)")
    add_address_flags(du)
    du.set_defaults(func=run_du)

    prune = sub.add_parser(
        "prune",
        help="remove cache mounts and build cache through the daemon's Prune",
        description="Remove build cache and cache mounts that are not in use, through the daemon's own Prune. "
        "Asks for confirmation on a terminal; elsewhere -f is required.",
    )
    prune.add_argument("--id", metavar="ID", help="only the cache mounts of this cache id")
    prune.add_argument(
        "--older-than", metavar="DURATION", type=_duration, default=0.0,
        help="only what was last used longer ago than this (a Go duration: 72h, 30m, 1h30m)",
    )  # fmt: skip
    prune.add_argument(
        "--keep-storage", metavar="SIZE", type=_size, default=0,
        help="keep this much of the most recently used cache (10GB, 512MiB; units of 1024, as docker's)",
    )  # fmt: skip
    prune.add_argument(
        "--all", action="store_true", help="also internal and frontend records and cache shared with images"
    )
    prune.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    prune.add_argument("--json", action="store_true", help="print what was deleted as JSON")
    add_address_flags(prune)
    prune.set_defaults(func=run_prune)


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# -- commands -------------------------------------------------------------------------------------


def run_ls(args: argparse.Namespace) -> int:
    declared = _declared(args.file)
    if declared is None:
        return 1
    return _with_daemon(args, lambda admin: _ls(admin, declared, args))


def _ls(admin: CacheAdmin, declared: dict[str, list[Declared]], args: argparse.Namespace) -> int:
    records = admin.usage(declared)
    if args.id is not None:
        records = [c for c in records if c.cache_id == args.id]
    if args.json:
        print(json.dumps({"version": 1, "records": [c.to_json() for c in records]}, indent=2))
    else:
        sys.stdout.write(render_ls(records, time.time(), truncate=not args.no_trunc, mounts_only=args.id is not None))
    if args.id is not None and not records:
        print(f"hlb: no cache mount has id {args.id!r} on {admin.where}", file=sys.stderr)
    return 0


def run_du(args: argparse.Namespace) -> int:
    def du(admin: CacheAdmin) -> int:
        t = totals(admin.usage())
        sys.stdout.write(json.dumps(t.to_json(), indent=2) + "\n" if args.json else render_du(t, time.time()))
        return 0

    return _with_daemon(args, du)


def run_prune(args: argparse.Namespace) -> int:
    if not args.force and not sys.stdin.isatty():
        print(
            "hlb: error: `hlb cache prune` asks for confirmation, and stdin is not a terminal\n"
            "  hint: pass -f (--force) to prune without asking",
            file=sys.stderr,
        )
        return 2

    def prune(admin: CacheAdmin) -> int:
        request = admin.plan_prune(args.id, older_than=args.older_than, keep_storage=args.keep_storage, all=args.all)
        for c in request.in_use:
            print(f"hlb: warning: {_mount_name(c)} is in use by a build: not pruned", file=sys.stderr)
        if request.nothing:
            age = f" last used more than {_age_text(args.older_than)} ago" if args.older_than else ""
            print(f"hlb: no cache mount with id {args.id!r}{age} to prune on {admin.where}", file=sys.stderr)
            return 0
        if not args.force and not _confirm(describe_prune(request, admin.where)):
            print("hlb: nothing pruned", file=sys.stderr)
            return 0
        result = admin.prune(request)
        for c in result.missed:
            print(
                f"hlb: warning: the daemon did not prune {_mount_name(c)} (in use by now, gone already, "
                "or kept for --keep-storage)",
                file=sys.stderr,
            )
        if args.json:
            print(json.dumps(prune_json(request, result), indent=2))
        else:
            sys.stdout.write(render_pruned(result))
        return 0

    return _with_daemon(args, prune)


def _with_daemon(args: argparse.Namespace, work: Callable[[CacheAdmin], int]) -> int:
    try:
        address = address_of(args)
        admin = api.cache_admin(address)
    except AddressError as e:
        print(f"hlb: error: {e}", file=sys.stderr)
        return 2
    except TransportError as e:
        print(f"hlb: error: {e}", file=sys.stderr)
        print(f"  hint: {unreachable_hint(address)}", file=sys.stderr)
        return 1
    with admin:
        try:
            return work(admin)
        except TransportError as e:
            print(f"hlb: error: {e}", file=sys.stderr)
            return 1


def _declared(file: str | None) -> dict[str, list[Declared]] | None:
    """Cache id -> declarations in the module (none without one); None after reporting an error."""
    if file is None:
        if not os.path.isfile("build.hlb"):
            return {}
        file = "build.hlb"
    try:
        source = read_source(file)
    except OSError as e:
        cannot_read(file, e)
        return None
    try:
        return api.declared_cache_mounts(source)
    except HlbError as e:
        print_diagnostics(e.diagnostics)
        return None


def _confirm(what: str) -> bool:
    print(f"WARNING! {what}", file=sys.stderr)
    try:
        answer = input("Are you sure you want to continue? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


# -- output ---------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns aligned, three spaces apart, as docker's tables; the last column is not padded."""
    widths = [max(len(r[i]) for r in (headers, *rows)) for i in range(len(headers))]
    lines = []
    for r in (headers, *rows):
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths[:-1], strict=True)] + [r[-1]]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _last_used(c: CacheRecord, now: float) -> str:
    return "in use" if c.record.in_use else human_ago(c.record.last_used_at, now)


def _shorten(text: str, truncate: bool) -> str:
    return text[: DESCRIPTION_WIDTH - 1] + "…" if truncate and len(text) > DESCRIPTION_WIDTH else text


def render_ls(records: Sequence[CacheRecord], now: float, *, truncate: bool = True, mounts_only: bool = False) -> str:
    mounts = [c for c in records if c.mount is not None]
    cache = [c for c in records if c.mount is None]
    parts = []
    if mounts or mounts_only:
        rows = [
            [
                c.cache_id or "",
                c.mount.dest if c.mount else "",
                human_size(c.size),
                _last_used(c, now),
                ", ".join(map(str, c.declared)) or "-",
            ]
            for c in mounts
        ]
        parts.append(table(["CACHE ID", "MOUNT", "SIZE", "LAST USED", "DECLARED AT"], rows))
    if cache and not mounts_only:
        rows = [
            [
                c.record.id,
                c.record.record_type,
                human_size(c.size),
                _last_used(c, now),
                _shorten(c.record.description, truncate),
            ]
            for c in cache
        ]
        parts.append(table(["ID", "TYPE", "SIZE", "LAST USED", "DESCRIPTION"], rows))
    t = totals(records)
    mount_size = sum(c.size for c in mounts)
    summary = f"{_count(len(mounts), 'cache mount')} ({human_size(mount_size)})"
    if not mounts_only:
        summary += (
            f", {_count(len(cache), 'build cache record')} ({human_size(t.total.size - mount_size)}); "
            f"total {human_size(t.total.size)}, {human_size(t.total.reclaimable)} reclaimable"
        )
    parts.append(summary + "\n")
    return "\n".join(parts)


def render_du(t: Totals, now: float) -> str:
    rows = [[k, str(v.records), human_size(v.size), human_size(v.reclaimable)] for k, v in t.by_type.items()]
    rows.append(["total", str(t.total.records), human_size(t.total.size), human_size(t.total.reclaimable)])
    out = table(["TYPE", "RECORDS", "SIZE", "RECLAIMABLE"], rows)
    if t.by_cache_id:
        ids = [
            [k, str(v.records), human_size(v.size), human_ago(v.last_used_at, now)] for k, v in t.by_cache_id.items()
        ]
        out += "\n" + table(["CACHE ID", "RECORDS", "SIZE", "LAST USED"], ids)
    return out


def describe_prune(request: PruneRequest, where: str) -> str:
    """The sentence the confirmation shows: what will be removed, from which daemon."""
    if request.cache_id is not None:
        size = sum(c.size for c in request.selected)
        what = f"{_count(len(request.selected), 'cache mount record')} of id {request.cache_id!r} ({human_size(size)})"
    else:
        what = "all build cache and cache mounts not in use" + (
            " (internal and frontend records and cache shared with images too)" if request.all else ""
        )
    if request.older_than:
        what += f", except what was used in the last {_age_text(request.older_than)}"
    if request.keep_storage:
        what += f", keeping {human_size(request.keep_storage)} of the most recently used cache"
    return f"This will remove {what} from {where}."


def render_pruned(result: PruneResult) -> str:
    rows = []
    for r in result.deleted:
        what = r.description
        rows.append([r.id, r.record_type, human_size(max(r.size, 0)), _shorten(what, True)])
    out = table(["ID", "TYPE", "SIZE", "DESCRIPTION"], rows) if rows else ""
    return out + f"Total reclaimed: {human_size(result.reclaimed)} ({_count(len(result.deleted), 'record')})\n"


def prune_json(request: PruneRequest, result: PruneResult) -> dict[str, Any]:
    return {
        "version": 1,
        "request": request.to_json(),
        "deleted": [
            {"id": r.id, "type": r.record_type, "size": max(r.size, 0), "description": r.description}
            for r in result.deleted
        ],
        "reclaimed": result.reclaimed,
        "not_pruned": [c.record.id for c in (*request.in_use, *result.missed)],
    }


def _mount_name(c: CacheRecord) -> str:
    return f"cache mount {c.record.id} (id {c.cache_id!r}, {human_size(c.size)})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _age_text(seconds: float) -> str:
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            return _count(int(seconds // size), unit)
    return f"{seconds:g} seconds"
