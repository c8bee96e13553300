"""The daemon's cache mounts and build cache: list, total and prune them (``hlb cache``).

Everything goes through BuildKit's own Control API (``DiskUsage``, ``Prune``), which
the Docker engine serves on ``/grpc`` and a standalone buildkitd on its socket.

A cache mount's record carries its cache id only in its description
(``cached mount <dest> from exec <args> with id "<id>"``, the ``with id`` part
left out when the id is the mount point), and v0.13's ``Prune`` cannot filter
on descriptions. So pruning one id reads the disk usage, selects the cache-mount
records of that id, and prunes exactly those by record id: one ``id==<record>``
filter string each, which the daemon ORs.

The ``.hlb`` line of a mount comes from the module's compiled cache mounts
(:func:`hlb.compiler.cache_mounts.cache_uses`, as ``hlb lint`` judges them),
matched by cache id; no daemon is asked for that.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hlb.address import Address
from hlb.checker.check import ModuleLoader, check_module
from hlb.compiler.cache_mounts import cache_uses
from hlb.diagnostics import HlbError
from hlb.llb import Platform, default_platform
from hlb.solver.client import BuildkitClient, DiskRecord
from hlb.source import SourceFile, Span
from hlb.syntax.parser import parse_module

CACHE_MOUNT = "exec.cachemount"
JSON_VERSION = 1


class CacheDaemon(Protocol):
    """What the commands ask of a daemon (a :class:`BuildkitClient`, or a fake in tests)."""

    def disk_usage(self, filters: Sequence[str] = ()) -> list[DiskRecord]: ...

    def prune(
        self, filters: Sequence[str] = (), *, all: bool = False, keep_duration: float = 0, keep_bytes: int = 0
    ) -> list[DiskRecord]: ...

    def close(self) -> None: ...


# -- what a record is ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MountDescription:
    dest: str
    command: str
    cache_id: str


_MOUNT = re.compile(
    r"cached mount (?P<dest>.+?) from (?:exec|container) (?P<cmd>.*?)(?: with id (?P<id>\"(?:[^\"\\]|\\.)*\"))?"
)
_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}


def go_unquote(quoted: str) -> str:
    """The string a Go ``%q`` wrote (``"a\\"b"`` -> ``a"b``)."""

    def one(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc[0] in "xuU":
            return chr(int(esc[1:], 16))
        if esc[0] in "01234567":
            return chr(int(esc, 8))
        return _GO_ESCAPES.get(esc, esc)

    return re.sub(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", one, quoted[1:-1])


def parse_mount_description(description: str) -> MountDescription | None:
    """Dest, command and cache id of a cache mount's record description; None for any other description.

    BuildKit writes ``cached mount <dest> from exec <args joined by spaces>`` and appends
    ``with id "<id>"`` (Go ``%q``) only when the id is not the dest: the id is the dest then.
    """
    m = _MOUNT.fullmatch(description)
    if m is None:
        return None
    cache_id = go_unquote(m.group("id")) if m.group("id") else m.group("dest")
    return MountDescription(m.group("dest"), m.group("cmd"), cache_id)


@dataclass(frozen=True)
class Declared:
    """Where a module declares a cache mount (``file:line:column``)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    @classmethod
    def of(cls, span: Span) -> Declared:
        p = span.begin
        return cls(span.file.name, p.line, p.column)


@dataclass(frozen=True)
class CacheRecord:
    """A disk-usage record, with what hlb knows of it when it is a cache mount."""

    record: DiskRecord
    mount: MountDescription | None = None
    declared: tuple[Declared, ...] = ()

    @property
    def cache_id(self) -> str | None:
        return self.mount.cache_id if self.mount is not None else None

    @property
    def size(self) -> int:
        return max(self.record.size, 0)  # a size the daemon has not computed is negative

    def to_json(self) -> dict[str, Any]:
        r = self.record
        return {
            "id": r.id,
            "type": r.record_type,
            "size": self.size,
            "in_use": r.in_use,
            "shared": r.shared,
            "mutable": r.mutable,
            "created_at": rfc3339(r.created_at),
            "last_used_at": rfc3339(r.last_used_at),
            "usage_count": r.usage_count,
            "description": r.description,
            "cache_id": self.cache_id,
            "mount": self.mount.dest if self.mount else None,
            "command": self.mount.command if self.mount else None,
            "declared_at": [{"file": d.file, "line": d.line, "column": d.column} for d in self.declared],
        }


def classify(
    records: Iterable[DiskRecord], declared: Mapping[str, Sequence[Declared]] | None = None
) -> list[CacheRecord]:
    """The records with their cache ids and declarations: cache mounts first (by id, largest first), then
    the build cache (largest first)."""
    declared = declared or {}
    out = []
    for r in records:
        mount = parse_mount_description(r.description) if r.record_type == CACHE_MOUNT else None
        found = tuple(declared.get(mount.cache_id, ())) if mount is not None else ()
        out.append(CacheRecord(r, mount, found))
    return sorted(out, key=lambda c: (c.mount is None, c.cache_id or "", -c.size, c.record.id))


def declared_mounts(source: SourceFile, platform: Platform | None = None) -> dict[str, list[Declared]]:
    """Cache id -> where ``source`` (and the local modules it imports) declares mounts of it.

    The module is checked and its cache mounts compiled as ``hlb lint`` does (no daemon, nothing run);
    errors raise :class:`HlbError`.
    """
    parsed = parse_module(source)
    if parsed.module is None or not parsed.ok:
        raise HlbError(parsed.diagnostics)
    checked = check_module(parsed.module, ModuleLoader())
    if not checked.ok:
        raise HlbError(checked.diagnostics)
    out: dict[str, list[Declared]] = {}
    for use in cache_uses(checked.checked, platform or default_platform()):
        where = Declared.of(use.span)
        if where not in out.setdefault(use.id, []):
            out[use.id].append(where)
    return out


# -- totals -------------------------------------------------------------------------------------


@dataclass
class Total:
    records: int = 0
    size: int = 0
    reclaimable: int = 0  # not in use
    last_used_at: float | None = None

    def add(self, c: CacheRecord) -> None:
        self.records += 1
        self.size += c.size
        self.reclaimable += 0 if c.record.in_use else c.size
        used = c.record.last_used_at
        if used is not None and (self.last_used_at is None or used > self.last_used_at):
            self.last_used_at = used

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "size": self.size,
            "reclaimable": self.reclaimable,
            "last_used_at": rfc3339(self.last_used_at),
        }


@dataclass
class Totals:
    total: Total = field(default_factory=Total)
    by_type: dict[str, Total] = field(default_factory=dict)
    by_cache_id: dict[str, Total] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": JSON_VERSION,
            "total": self.total.to_json(),
            "by_type": {k: v.to_json() for k, v in self.by_type.items()},
            "cache_mounts": {k: v.to_json() for k, v in self.by_cache_id.items()},
        }


def totals(records: Iterable[CacheRecord]) -> Totals:
    """Sizes summed over every record, per record type (largest first) and per cache id (by id)."""
    t = Totals()
    for c in records:
        t.total.add(c)
        t.by_type.setdefault(c.record.record_type, Total()).add(c)
        if c.cache_id is not None:
            t.by_cache_id.setdefault(c.cache_id, Total()).add(c)
    t.by_type = dict(sorted(t.by_type.items(), key=lambda kv: (-kv[1].size, kv[0])))
    t.by_cache_id = dict(sorted(t.by_cache_id.items()))
    return t


# -- prune --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PruneRequest:
    """What to ask ``Control.Prune``; ``cache_id`` set means exactly ``selected`` (their ``filters``)."""

    cache_id: str | None = None
    older_than: float = 0  # seconds; 0: any age
    keep_storage: int = 0  # bytes; 0: no floor
    all: bool = False
    selected: tuple[CacheRecord, ...] = ()
    in_use: tuple[CacheRecord, ...] = ()  # records of the id the daemon will not prune while in use

    @property
    def filters(self) -> list[str]:
        """One ``id==<record id>`` string per selected record: separate strings are ORed."""
        return [f"id=={c.record.id}" for c in self.selected]

    @property
    def nothing(self) -> bool:
        """With an id: no record of it can be pruned, so Prune must not be called (no filter means all)."""
        return self.cache_id is not None and not self.selected

    def to_json(self) -> dict[str, Any]:
        return {
            "cache_id": self.cache_id,
            "older_than_seconds": self.older_than,
            "keep_storage": self.keep_storage,
            "all": self.all,
            "filters": self.filters,
        }


def select(
    records: Iterable[CacheRecord], cache_id: str, older_than: float = 0, now: float | None = None
) -> tuple[list[CacheRecord], list[CacheRecord]]:
    """(prunable, in use): the cache-mount records of ``cache_id``, with ``older_than`` those last used
    before that many seconds ago (never used counts as old, as the daemon's keep-duration has it)."""
    now = time.time() if now is None else now
    prunable: list[CacheRecord] = []
    busy: list[CacheRecord] = []
    for c in records:
        if c.cache_id != cache_id:
            continue
        used = c.record.last_used_at
        if older_than and used is not None and used > now - older_than:
            continue
        (busy if c.record.in_use else prunable).append(c)
    return prunable, busy


@dataclass
class PruneResult:
    deleted: list[DiskRecord]
    missed: list[CacheRecord]  # selected but not deleted (in use by now, or gone already)

    @property
    def reclaimed(self) -> int:
        return sum(max(r.size, 0) for r in self.deleted)


class CacheAdmin:
    """One daemon's cache: ``usage()``, ``plan_prune()``, ``prune()``. Close it (or use ``with``)."""

    def __init__(self, daemon: CacheDaemon, where: str = "the daemon") -> None:
        self.daemon = daemon
        self.where = where

    def __enter__(self) -> CacheAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.daemon.close()

    def usage(self, declared: Mapping[str, Sequence[Declared]] | None = None) -> list[CacheRecord]:
        return classify(self.daemon.disk_usage(), declared)

    def plan_prune(
        self,
        cache_id: str | None = None,
        *,
        older_than: float = 0,
        keep_storage: int = 0,
        all: bool = False,
        now: float | None = None,
    ) -> PruneRequest:
        if cache_id is None:
            return PruneRequest(None, older_than, keep_storage, all)
        prunable, busy = select(self.usage(), cache_id, older_than, now)
        return PruneRequest(cache_id, older_than, keep_storage, all, tuple(prunable), tuple(busy))

    def prune(self, request: PruneRequest) -> PruneResult:
        if request.nothing:
            return PruneResult([], [])
        deleted = self.daemon.prune(
            request.filters, all=request.all, keep_duration=request.older_than, keep_bytes=request.keep_storage
        )
        gone = {r.id for r in deleted}
        return PruneResult(deleted, [c for c in request.selected if c.record.id not in gone])


def connect(address: Address) -> CacheAdmin:
    """The cache of the daemon at ``address``; raises :class:`hlb.transport.TransportError`."""
    return CacheAdmin(BuildkitClient(address), address.describe())


# -- units as docker and buildx read and print them ---------------------------------------------------

_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?(?:([kmgtp])(i)?)?(b)?", re.I)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_size(text: str) -> int:
    """Bytes of ``10GB``, ``512MiB``, ``1.5g``, ``4096``: as ``docker buildx prune --keep-storage`` reads sizes,
    every unit a power of 1024. Raises ValueError with a hint."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a size; give bytes or a number with a unit: 10GB, 512MiB, 1.5g")
    power = "kmgtp".index(m.group(2).lower()) + 1 if m.group(2) else 0
    return int(float(m.group(1)) * 1024**power)


def parse_duration(text: str) -> float:
    """Seconds of a Go duration (``72h``, ``30m``, ``1h30m``, ``90s``), as buildx reads ``until``.
    Raises ValueError with a hint (there is no day unit: ``3d`` is ``72h``)."""
    s = text.strip()
    if s == "0":
        return 0.0
    pos, seconds = 0, 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            break
        seconds += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        days = re.fullmatch(r"(\d+)d", s)
        hint = f"; there is no day unit, say {int(days.group(1)) * 24}h" if days else ""
        raise ValueError(f"{text!r} is not a duration: give a number with a unit, e.g. 72h, 30m or 1h30m{hint}")
    return seconds


def human_size(n: int) -> str:
    """``4.096kB``, ``12.3MB``: decimal units with 4 significant digits, as ``docker buildx du`` prints sizes."""
    value, units = float(n), ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while value >= 1000 and i < len(units) - 1:
        value /= 1000
        i += 1
    return f"{value:.4g}{units[i]}"


def human_ago(then: float | None, now: float | None = None) -> str:
    """``3 hours ago``, ``about a minute ago``, ``never``: how long ago, roughly, as docker prints ages."""
    if then is None:
        return "never"
    seconds = max(0.0, (time.time() if now is None else now) - then)
    if seconds < 1:
        return "just now"
    for limit, unit, size in (
        (60, "second", 1),
        (3600, "minute", 60),
        (48 * 3600, "hour", 3600),
        (14 * 86400, "day", 86400),
        (60 * 86400, "week", 7 * 86400),
        (730 * 86400, "month", 30 * 86400),
        (math.inf, "year", 365 * 86400),
    ):
        if seconds < limit:
            count = int(seconds // size)
            if count != 1:
                return f"{count} {unit}s ago"
            return {"second": "1 second ago", "hour": "about an hour ago"}.get(unit, f"about a {unit} ago")
    raise AssertionError("unreachable")  # pragma: no cover


def rfc3339(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e6):06d}Z"
