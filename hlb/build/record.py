"""What each `hlb run` built, kept on this machine so `hlb explain` can say why a step ran again.

BuildKit v0.13 cannot say why a step missed its cache, so hlb keeps its own record: per project
(the module's path) and target selection (``-t``), the last :data:`KEEP_RUNS` runs, each with

* every op of its solves in topological order: digest, kind, the `.hlb` text that made it
  (``run "npm ci"``), where (file:line:col), its inputs, and the facts its cache key is made of
  (an exec's args, env, cwd, user, mounts; a source's identifier and attributes; a file op's
  actions), long strings cut to a preview and a hash;
* which steps ran and which were cached (from the progress stream);
* each `local` directory as the session sent it (:mod:`hlb.session.summary`);
* the digest each image reference without one resolved to (asked of the daemon during the run).

Records live in ``$XDG_CACHE_HOME/hlb/runs/<hash of the project path>/<targets>.json`` (else
``~/.cache``), written atomically and kept under :data:`MAX_BYTES`; a record that cannot be read
is ignored with a warning.

The `local` transfer (:mod:`hlb.session.filesync`) is imported where a solve or a plan has a `local`
directory: a run without one never loads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hlb.cachedir import replace_atomically
from hlb.compiler.plan import Plan, Solve
from hlb.llb import Definition, Platform
from hlb.llb.dump import to_json_obj
from hlb.progress.tracker import Tracker
from hlb.resolver import ResolveError
from hlb.session import Attachable
from hlb.solver.client import BuildkitClient
from hlb.solver.gateway import GatewayError, GatewayResolver
from hlb.source import SourceFile
from hlb.transport import TransportError
from hlb.values import LocalDir

FORMAT = 1
KEEP_RUNS = 3
MAX_OPS = 2000  # ops kept per run (a generated graph of 100,000 steps keeps its first ones)
MAX_BYTES = 4 << 20  # a record larger than this drops its older runs' file lists, then older runs
LONG = 512  # a string longer than this is kept as a preview and a hash
PREVIEW = 160
IMAGE = "docker-image://"
LOCAL = "local://"
IMAGE_WAIT = 10.0  # seconds the end of a run waits for image digests still being resolved


class RecordError(ValueError):
    """A record file that is not what hlb writes (corrupt, or another format)."""


@dataclass
class Op:
    digest: str
    kind: str  # exec, source, file, merge, diff, build
    what: str  # the `.hlb` text that made it: run "npm ci"
    at: str  # /abs/build.hlb:12:2, or "" when it has no source location
    inputs: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    ignore_cache: bool = False

    @property
    def source(self) -> str:
        """A source op's identifier (``docker-image://...``, ``local://NAME``), else ""."""
        return str(self.facts.get("identifier", "")) if self.kind == "source" else ""


_OP_FIELDS = fields(Op)


@dataclass
class Run:
    project: str  # the module's absolute path
    key: str  # the targets, as `-t` gave them
    time: float = 0.0
    ops: list[Op] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)  # digests of the steps that ran (not cached)
    cached: list[str] = field(default_factory=list)
    locals: dict[str, dict[str, Any]] = field(default_factory=dict)  # local name -> summary (session.summary)
    images: dict[str, str] = field(default_factory=dict)  # unpinned image identifier -> digest it resolved to
    sources: dict[str, str] = field(default_factory=dict)  # .hlb file -> sha256 of its text when compiled
    local_patterns: dict[str, dict[str, Any]] = field(default_factory=dict)  # local name -> local_patterns()
    truncated: int = 0  # ops not kept (beyond MAX_OPS)
    planned: bool = False  # compiled now, not built (`hlb explain --plan`)
    no_cache: bool = False  # built with --no-cache: every step ran because it was told to
    platforms: list[str] = field(default_factory=list)  # several (--platform a,b): a marker, no ops (see below)

    def to_json(self) -> dict[str, Any]:
        """The run as JSON values; shares its lists and dicts with the run (``asdict`` deep-copied every op's
        facts: ~75 ms for 1,000 steps at the end of each run)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["ops"] = [{f.name: getattr(o, f.name) for f in _OP_FIELDS} for o in self.ops]
        return out

    @classmethod
    def from_json(cls, data: Any) -> Run:
        if not isinstance(data, dict):
            raise RecordError("a run is not an object")
        try:
            ops = [Op(**o) for o in data["ops"]]
            run = cls(**{**data, "ops": ops})
        except (KeyError, TypeError) as e:
            raise RecordError(f"a run is malformed: {e}") from None
        for o in run.ops:
            if not (isinstance(o.digest, str) and isinstance(o.inputs, list) and isinstance(o.facts, dict)):
                raise RecordError("an op is malformed")
        if not all(isinstance(x, list) for x in (run.ran, run.cached)) or not isinstance(run.locals, dict):
            raise RecordError("a run is malformed")
        return run

    @property
    def several_platforms(self) -> bool:
        """A run of several platforms: recorded without its graphs (``hlb explain`` compares one platform's
        graphs), so that explain never takes the single-platform run before it for the latest."""
        return len(self.platforms) > 1

    def op(self, digest: str) -> Op | None:
        return self._index().get(digest)

    def _index(self) -> dict[str, Op]:
        index = self.__dict__.get("_by_digest")
        if index is None or len(index) != len(self.ops):
            index = self.__dict__["_by_digest"] = {o.digest: o for o in self.ops}
        return index


# -- where records live ---------------------------------------------------------------------


def store_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(base) / "hlb" / "runs"


def project_of(path: str) -> str:
    return os.path.realpath(path)


def key_of(targets: Sequence[str]) -> str:
    return ",".join(targets)


def record_path(project: str, key: str, env: Mapping[str, str] | None = None) -> Path:
    folder = hashlib.sha256(project.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9_.,-]", "_", key) or "_"
    if safe != key:
        safe += "-" + hashlib.sha256(key.encode()).hexdigest()[:8]
    return store_dir(env) / folder / f"{safe}.json"


def load(project: str, key: str, env: Mapping[str, str] | None = None) -> tuple[list[Run], str]:
    """The recorded runs of ``project``/``key``, oldest first, and a warning when the record is unreadable."""
    path = record_path(project, key, env)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], ""
    except (OSError, UnicodeDecodeError) as e:
        return [], f"cannot read the run record {path}: {getattr(e, 'strerror', None) or e}; ignoring it"
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("runs"), list):
            raise RecordError("not a record of this hlb version")
        return [Run.from_json(r) for r in data["runs"]], ""
    except (ValueError, RecordError) as e:
        return [], f"the run record {path} is corrupt ({e}); ignoring it"


def save(run: Run, env: Mapping[str, str] | None = None) -> tuple[Run | None, str]:
    """Add ``run`` to its record (keeping the last :data:`KEEP_RUNS`, under :data:`MAX_BYTES`); returns the run
    before it (if any) and a warning (a corrupt record replaced, or the record could not be written)."""
    runs, warning = load(run.project, run.key, env)
    previous = runs[-1] if runs else None
    runs = [*runs, run][-KEEP_RUNS:]
    text = _bounded(runs)
    path = record_path(run.project, run.key, env)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, (text.encode("utf-8"),), ".run-", ".tmp")
    except OSError as e:
        warning = f"cannot write the run record {path}: {e.strerror or e} (`hlb explain` will not know this run)"
    return previous, warning


def _bounded(runs: list[Run]) -> str:
    """The record's text, under MAX_BYTES: older runs lose their file lists first, then the oldest runs go
    down to the two a comparison needs, then (a record that is still too large) the newest alone is kept."""
    data = [r.to_json() for r in runs]
    stripped = False
    while True:
        text = json.dumps({"format": FORMAT, "runs": data}, separators=(",", ":"))
        if len(text) <= MAX_BYTES or len(data) <= 1:
            return text
        if not stripped:
            for r in data[:-1]:  # new dicts: to_json shares the run's own
                r["locals"] = {name: {**summary, "files": {}} for name, summary in r["locals"].items()}
            stripped = True
        elif len(data) > 2:
            data = data[1:]
        else:
            data = data[-1:]


# -- what a run is made of ------------------------------------------------------------------


def ops_of(definitions: Iterable[Definition], limit: int | None = None) -> tuple[list[Op], int]:
    """The ops of ``definitions`` (deduplicated, in topological order; the first ``limit``, default
    :data:`MAX_OPS`) and how many were left out."""
    limit = MAX_OPS if limit is None else limit
    out: dict[str, Op] = {}
    every: set[str] = set()
    lines: dict[int, list[str]] = {}  # each source file's lines, by id of its SourceMap (decoded once)
    for definition in definitions:
        every.update(definition.op_kinds)
        room = limit - len(out)
        if definition.empty or room <= 0:
            continue
        known = sum(1 for d in definition.op_kinds if d in out)
        if len(definition.ops) > room + known:  # only the ops that can still be kept are decoded
            cut = definition.ops[: room + known]
            definition = Definition(cut, definition.metadata, definition.sources, None, definition.op_kinds)
        dump = to_json_obj(definition, with_sources=False)
        locations = definition.sources.locations if definition.sources is not None else {}
        for entry in dump["ops"]:
            dgst = entry["digest"]
            kind = definition.op_kinds.get(dgst)
            if kind is None or dgst in out or len(out) >= limit:
                continue  # the terminal op, an op another solve has, or one over the limit
            op = entry["op"]
            meta = entry.get("metadata", {})
            where, text = _where(locations.get(dgst, []), lines)
            facts = _facts(kind, op)
            out[dgst] = Op(
                dgst,
                kind,
                text or _describe(kind, facts, meta),
                where,
                [i.get("digest", "") for i in op.get("inputs", [])],
                facts,
                bool(meta.get("ignoreCache")),
            )
    return list(out.values()), len(every) - len(out)


def _where(locations: Sequence[Any], files: dict[int, list[str]]) -> tuple[str, str]:
    """file:line:col of an op's first location and the first line of the `.hlb` text there."""
    for loc in locations:
        for r in loc.ranges:
            name = loc.source.filename
            path = name if name.startswith("<") else os.path.abspath(name)
            lines = files.get(id(loc.source))
            if lines is None:
                lines = files[id(loc.source)] = loc.source.data.decode("utf-8", "replace").splitlines()
            text = ""
            if 0 < r.start.line <= len(lines):
                line = lines[r.start.line - 1]
                end = r.end.character if r.end.line == r.start.line else len(line)
                text = line[max(r.start.character - 1, 0) : end].strip()
                text = text.split(" with ", 1)[0].strip()
                if len(text) > 72:
                    text = text[:71] + "…"
            return f"{path}:{r.start.line}:{r.start.character}", text
    return "", ""


def _facts(kind: str, op: Mapping[str, Any]) -> dict[str, Any]:
    """What the op's cache key is made of, as `hlb explain` compares it (bounded)."""
    body = dict(op.get(kind, {}))
    if kind == "exec":
        meta = dict(body.pop("meta", {}))
        env: dict[str, str] = {}
        for item in meta.pop("env", []):
            k, _, v = str(item).partition("=")
            env[k] = v
        facts: dict[str, Any] = {
            "args": meta.pop("args", []),
            "env": env,
            "cwd": meta.pop("cwd", ""),
            "user": meta.pop("user", ""),
            "mounts": body.pop("mounts", []),
        }
        meta.pop("removeMountStubsRecursive", None)
        facts["other"] = {**meta, **body}
    elif kind == "source":
        facts = {"identifier": body.get("identifier", ""), "attrs": body.get("attrs", {})}
    else:
        facts = body
    if op.get("platform"):
        facts["platform"] = op["platform"]
    bounded: dict[str, Any] = _bound(facts)
    return bounded


def _bound(value: Any) -> Any:
    if isinstance(value, str) and len(value) > LONG:
        h = hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        return f"{value[:PREVIEW]}… ({len(value)} characters, sha256 {h})"
    if isinstance(value, dict):
        return {str(k): _bound(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bound(v) for v in value]
    return value


def _describe(kind: str, facts: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """An op's `.hlb` spelling when it has no source location."""
    name = meta.get("description", {}).get("llb.customname", "")
    ident = str(facts.get("identifier", ""))
    if ident.startswith(IMAGE):
        return f'image "{ident.removeprefix(IMAGE)}"'
    if ident.startswith(LOCAL):
        return f'local "{name.removeprefix("local ") or ident.removeprefix(LOCAL)}"'
    if kind == "exec":
        args = facts.get("args", [])
        cmd = args[2] if len(args) == 3 and args[1] == "-c" else " ".join(map(str, args))
        return f'run "{cmd}"'
    return name or ident or kind


def local_patterns(local: LocalDir) -> dict[str, Any]:
    """What a `local`'s id is made of besides its path, as `hlb explain` names it: the ignore file that applied
    and its patterns, apart from the patterns of the `local`'s options (empty ones left out)."""
    own = len(local.ignore_patterns)
    out = {
        "ignore_file": local.ignore_file,
        "ignore": list(local.ignore_patterns),
        "include": list(local.include_patterns),
        "exclude": list(local.exclude_patterns[own:]),
        "follow": list(local.follow_paths),
    }
    return {k: v for k, v in out.items() if v}


def image_platform(op: Op) -> Platform | None:
    p = op.facts.get("platform") or {}
    if not p.get("OS") or not p.get("Architecture"):
        return None
    return Platform(p["OS"], p["Architecture"], p.get("Variant", ""))


def unpinned_images(ops: Iterable[Op]) -> list[Op]:
    """The image sources whose reference has no digest: the daemon picks one when it resolves them."""
    return [o for o in ops if o.source.startswith(IMAGE) and "@" not in o.source]


def resolve_images(resolver: GatewayResolver, ops: Iterable[Op], default: Platform) -> tuple[dict[str, str], list[str]]:
    """Each unpinned image's digest as ``resolver`` (the daemon) resolves it now, and why any could not be."""
    out: dict[str, str] = {}
    problems: list[str] = []
    for op in unpinned_images(ops):
        if op.source in out:
            continue
        ref = op.source.removeprefix(IMAGE)
        try:
            out[op.source] = resolver.resolve(ref, image_platform(op) or default).digest
        except (ResolveError, GatewayError, TransportError) as e:
            problems.append(f"cannot resolve the image {ref} now, so its digest is not compared: {e}")
            if not isinstance(e, ResolveError):
                break  # the daemon cannot be reached: the other images cannot be resolved either
    return out, problems


def source_hashes(definitions: Iterable[Definition]) -> dict[str, str]:
    out = {}
    for d in definitions:
        for sm in d.sources.maps if d.sources is not None else ():
            if not sm.filename.startswith("<"):
                out[os.path.abspath(sm.filename)] = hashlib.sha256(sm.data).hexdigest()[:16]
    return out


def explainable(previous: Run | None, run: Run) -> bool:
    """Whether ``hlb explain`` can say why a step of ``run`` ran again: a run is recorded before it, both are of
    one platform, and ``run`` was not built with --no-cache (which reruns every step on purpose)."""
    return previous is not None and not (previous.several_platforms or run.several_platforms or run.no_cache)


def several_platforms_note(run: Run, which: str) -> str:
    """What ``hlb explain`` says when ``run`` (``which``: "last", "one before the last") is a several-platform
    marker."""
    return (
        f"the {which} run built several platforms ({', '.join(run.platforms)}); hlb explain compares "
        "single-platform runs: run one platform (--platform PLATFORM, or none) to compare"
    )


class Recorder:
    """Collects a run as its solves finish (:meth:`solved`, from the runner's threads); :meth:`finish` gives it.

    With several ``platforms`` (``--platform a,b``) it records only that the run happened: ``hlb explain`` knows
    one platform's graphs, and a marker keeps it from presenting the single-platform run before as the latest."""

    def __init__(
        self,
        source: SourceFile,
        targets: Sequence[str],
        platform: Platform,
        *,
        platforms: Sequence[Platform] = (),
        no_cache: bool = False,
    ) -> None:
        several = [str(p) for p in platforms] if len(platforms) > 1 else []
        self.run = Run(project_of(source.name), key_of(targets), time.time(), no_cache=no_cache, platforms=several)
        self.platform = platform
        self.lock = threading.Lock()
        self.definitions: list[Definition] = []
        self.ran: dict[str, bool] = {}  # digest -> ran (True) or cached (False)
        self._images: dict[str, str] = {}
        self._resolving: threading.Thread | None = None
        self._planned: tuple[list[Definition], list[Op], int] | None = None  # the plan's definitions and their ops

    def start(self, client: BuildkitClient, plan: Plan) -> None:
        """Beside the build, on a thread: read the plan's ops (:meth:`finish` reuses them when the run solved
        the plan as planned) and ask the daemon which digest each image without one resolves to."""
        if self.run.several_platforms:
            return
        definitions = [s.definition for s in plan.solves]

        def read_and_resolve() -> None:
            try:
                ops, truncated = ops_of(definitions)
                with self.lock:
                    self._planned = (definitions, ops, truncated)
                if not unpinned_images(ops):
                    return
                resolver = GatewayResolver(client)
                try:
                    self._images, _ = resolve_images(resolver, ops, self.platform)
                finally:
                    resolver.close()
            except Exception:  # the record is a convenience: a failure here must not fail the build
                self._images = {}

        self._resolving = threading.Thread(target=read_and_resolve, name="hlb-record-images", daemon=True)
        self._resolving.start()

    def solved(self, solve: Solve, tracker: Tracker, attachables: Sequence[Attachable]) -> None:
        """A solve finished: note its graph, which of its steps ran, and the local directories it sent. The
        push of a persisted cache mount is left out: its copy runs every time by design (hlb.persist)."""
        if solve.kind == "persist" or self.run.several_platforms:
            return
        definition = solve.definition
        with self.lock:
            self.definitions.append(definition)
            for dgst in definition.op_kinds:
                v = tracker.vertices.get(dgst)
                if v is not None and (v.cached or v.done or v.error):
                    self.ran[dgst] = self.ran.get(dgst, False) or not v.cached
            dirs = [a for a in solve.attachments if isinstance(a, LocalDir)]
            for local in dirs:
                self.run.local_patterns[local.name] = local_patterns(local)
            if dirs:  # then the solve's session served them (hlb.build.attachments)
                from hlb.session.filesync import FileSync

                for a in attachables:
                    if isinstance(a, FileSync):
                        for name, summary in a.summaries.items():
                            self.run.locals[name] = summary.to_json()

    def finish(self) -> Run:
        if self.run.several_platforms:
            return self.run
        if self._resolving is not None:
            self._resolving.join(IMAGE_WAIT)
        with self.lock:
            planned = self._planned
            if planned is not None and _same(planned[0], self.definitions):
                self.run.ops, self.run.truncated = list(planned[1]), planned[2]
            else:
                self.run.ops, self.run.truncated = ops_of(self.definitions)
            self.run.ran = [d for d, ran in self.ran.items() if ran]
            self.run.cached = [d for d, ran in self.ran.items() if not ran]
            self.run.images = dict(self._images)
            self.run.sources = source_hashes(self.definitions)
        return self.run


def _same(a: Sequence[Definition], b: Sequence[Definition]) -> bool:
    """The same definitions in the same order (the run solved its plan as planned)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def planned_run(
    plan: Plan,
    source: SourceFile,
    targets: Sequence[str],
    platform: Platform,
    resolver: GatewayResolver | None = None,
) -> tuple[Run, list[str]]:
    """The next run as ``plan`` would make it, without building: its graph, each `local` as this machine has
    it now, and (with ``resolver``) the digest each image without one resolves to now. Also returns what
    could not be read (a `local` directory that is gone)."""
    run = Run(project_of(source.name), key_of(targets), time.time(), planned=True)
    definitions = [s.definition for s in plan.solves]
    run.ops, run.truncated = ops_of(definitions)
    run.sources = source_hashes(definitions)
    problems: list[str] = []
    names = {o.source.removeprefix(LOCAL) for o in run.ops if o.source.startswith(LOCAL)}
    for s in plan.solves:
        for a in s.attachments:
            if isinstance(a, LocalDir) and a.name in names:
                run.local_patterns.setdefault(a.name, local_patterns(a))
            if isinstance(a, LocalDir) and a.name in names and a.name not in run.locals:
                from hlb.session.filesync import summarize
                from hlb.session.fswalk import WalkError

                try:
                    run.locals[a.name] = summarize(a).to_json()
                except (OSError, WalkError) as e:
                    problems.append(f"cannot read the local directory {a.path}: {e}")
    if resolver is not None:
        run.images, unresolved = resolve_images(resolver, run.ops, platform)
        problems += unresolved
    return run, problems
