"""Running a plan on the daemon: the solves in order, their sessions, summaries and failure reports.

``hlb run`` compiles, then hands the plan to :class:`Runner`; pushes whose digest
a program binds run while compiling through :class:`CompilePusher`, and what the
daemon does while hlb compiles is shown by :class:`CompileStatus`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

from hlb import cache_options
from hlb.address import Address, unreachable_hint
from hlb.build.attachments import attachables_for, caches_of
from hlb.build.fleet import Fleet
from hlb.build.record import Recorder
from hlb.compiler.attachments import Inputs, bind
from hlb.compiler.plan import Node as PlanNode
from hlb.compiler.plan import Solve, solve_for_effect
from hlb.diagnostics import Diagnostic, Label, render_all
from hlb.diagnostics import catalog as cat
from hlb.llb import Definition, Platform, default_platform
from hlb.progress.display import PlainProgress, Progress, SolveProgress, open_progress
from hlb.progress.events import StatusBatch, VertexState
from hlb.progress.tracker import Tracker
from hlb.resolver import EffectFailed, ResolveError
from hlb.solver import export
from hlb.solver.client import BuildkitClient, Cancelled, SolveOptions
from hlb.solver.errors import SolveError, SolveFailure, explain
from hlb.solver.registry import RegistryClient
from hlb.source import SourceFile, Span
from hlb.transport import TransportError
from hlb.values import IMAGE_EXPORTERS, Attachment, CacheEntry, Effect, Exporter

FAIL_LOG_LINES = 10
INTERRUPTED = 130  # the exit code of a solve ended by Ctrl-C (main.py prints `hlb: interrupted`)


class CompileStatus:
    """Progress of what the daemon does while hlb compiles (image resolution, frontends), opened on first use."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.lock = threading.Lock()
        self.progress: Progress | None = None
        self.printer: SolveProgress | None = None

    def handle(self, batch: StatusBatch) -> None:
        with self.lock:
            if self.printer is None:
                self.progress = open_progress(self.mode, sys.stderr)
                self.printer = self.progress.solve("")
            self.printer.handle(batch)

    def close(self) -> None:
        with self.lock:
            if self.printer is not None:
                self.printer.close()
            if self.progress is not None:
                self.progress.close()


class CompilePusher:
    """Runs the pushes whose digest a program binds (`dockerPush ... as digest`) while it compiles."""

    def __init__(
        self,
        address: Address,
        source: SourceFile,
        color: bool,
        progress_mode: str,
        platform: Platform,
        cache_from: Sequence[CacheEntry] = (),
        targets: Sequence[str] = (),
        inputs: Inputs | None = None,
        ignore_cache: bool = False,
        pull: bool = False,
    ) -> None:
        self.address = address
        self.inputs = inputs or Inputs()  # --secret/--ssh: a push run while compiling is served them too
        self.platform = platform  # the platform being compiled (hlb run sets it before each)
        self.several = False  # several platforms are compiled: a push bound while compiling is refused
        self.ignore_cache = ignore_cache  # --no-cache
        self.pull = pull  # --pull
        self.targets = tuple(targets)  # the requested targets: --cache-from is imported per target
        self.cache_from = tuple(cache_from)  # --cache-from: these pushes import it too
        self.source = source
        self.color = color
        self.progress_mode = progress_mode
        self._client: BuildkitClient | None = None
        self._runner: Runner | None = None

    def push(self, effect: Effect, attachments: Mapping[str, Attachment]) -> str:
        """Run the push ``effect`` now (with the cache imports it needs) and return its digest."""
        if self.several:
            print(
                f"hlb: error: {effect.span}: `{effect.title}` binds the digest of one image while compiling; with "
                "several --platform each platform would push its own image to that name: build one platform, or "
                "push a multi-platform image with -o type=image,name=REF,push=true",
                file=sys.stderr,
            )
            raise EffectFailed(2)
        bound = bind(attachments, self.inputs, warn_unused=False)  # the run warns once, after compiling
        if bound.errors:
            print(render_all(bound.errors, color=self.color), file=sys.stderr)
            raise EffectFailed(2)
        solve = solve_for_effect(
            effect,
            bound.attachments,
            self.platform,
            self.cache_from,
            self.targets,
            ignore_cache=self.ignore_cache,
            pull=self.pull,
        )
        if self._runner is None:
            try:
                self._client = BuildkitClient(self.address)
            except TransportError as e:
                print(f"hlb: error: {e}", file=sys.stderr)
                raise EffectFailed(1) from e
            progress = open_progress(self.progress_mode, sys.stderr)
            self._runner = Runner(self._client, self.source, self.color, many=False, progress=progress)
        code = self._runner.solve(solve)
        if code:
            show_held = getattr(self._runner.progress, "show_held", None)
            if show_held is not None:  # --progress quiet: the failure is shown after all
                show_held()
            raise EffectFailed(code)
        return export.pushed_digest(self._runner.responses[solve], solve.title)

    def results(self) -> list[tuple[Solve, SolveResult]]:
        """The pushes run so far, each with what it did (`hlb run --metadata-file` lists them)."""
        return list(self._runner.results.items()) if self._runner is not None else []

    def close(self) -> None:
        if self._runner is not None:
            self._runner.progress.close()
        if self._client is not None:
            self._client.close()


class Runner:
    """Runs a plan: sequential groups in order, parallel groups on threads; stops at the first failure.
    On a :class:`~hlb.build.fleet.Fleet`, each solve runs on its target's daemon (its summary names it)."""

    def __init__(
        self,
        client: BuildkitClient | Fleet,
        source: SourceFile,
        color: bool,
        many: bool,
        progress: Progress | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.progress = progress or PlainProgress(sys.stderr)
        self.recorder = recorder  # notes each finished solve for `hlb explain`
        self.client = client
        self.source = source
        self.color = color
        self.many = many
        self.lock = threading.Lock()
        self.responses: dict[Solve, dict[str, str]] = {}  # each finished solve's exporter response
        self.results: dict[Solve, SolveResult] = {}  # what each finished solve did (`hlb run --metadata-file`)
        self.failed: dict[str, Solve] = {}  # failing vertex digest -> the first solve that reported it

    def node(self, node: PlanNode) -> int:
        if isinstance(node, Solve):
            return self.solve(node)
        if not node.parallel:
            for child in node.children:
                code = self.node(child)
                if code:
                    return code
            return 0
        pool = ThreadPoolExecutor(max_workers=min(8, len(node.children)))
        try:
            futures = [pool.submit(self.node, child) for child in node.children]
            codes = [_result(f) for f in futures]
        except BaseException:
            self.client.cancel()  # Ctrl-C: end every solve in flight before waiting for the threads
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return next((c for c in codes if c), 0)

    def solve(self, s: Solve) -> int:
        printer = self.progress.solve(str(s.index) if self.many else "")
        start = time.monotonic()
        fleet = isinstance(self.client, Fleet)
        try:
            client = self.client.client_for(s) if isinstance(self.client, Fleet) else self.client
        except TransportError as e:
            printer.close()
            with self.lock:
                self.progress.print(f"hlb: error: {s.title}: {e}")
            return 1
        try:
            # Which exporters the daemon runs (dockerLoad is `moby` on the engine) and the caches as sent.
            exports = export.plan_exports(s.exporters, client.address)
            caches = caches_of(s)
        except (ValueError, OSError) as e:
            printer.close()
            with self.lock:
                self.progress.print(f"hlb: error: {s.title}: {e}")
            return 1
        if exports.load is not None:  # a standalone daemon's image load goes to the engine `docker` uses
            try:
                export.check_load_engine(exports.load)
            except TransportError as e:
                printer.close()
                what = f"loading {', '.join(n for n in exports.loads if n) or 'the image'}"
                with self.lock:
                    self.progress.print(f"hlb: error: {s.title}: {what}: {e}")
                    self.progress.print(f"  hint: {unreachable_hint(exports.load, load=True)}")
                return 1
        options = SolveOptions(
            cache_imports=caches.imports,
            cache_exports=caches.exports,
            exporters=exports.exporters,
            entitlements=list(s.entitlements),
        )
        try:
            attachables = attachables_for(s, caches, exports)
            session = client.open_session(attachables)
            try:
                result = export.solve(
                    client,
                    s.definition,
                    session=session,
                    options=options,
                    image_config=s.image_config,
                    on_status=printer.handle,
                    platforms=[(p.platform, p.definition, p.image_config) for p in s.platforms],
                )
                notes = [*s.notes, *export.finish_caches(caches, result.exporter_response)]
            finally:
                printer.close()
                if session is not None:
                    session.close()
        except (ValueError, OSError) as e:  # a local cache's index.json could not be written
            with self.lock:
                self.progress.print(f"hlb: error: {s.title}: {e}")
            return 1
        except Cancelled:
            return INTERRUPTED
        except TransportError as e:
            with self.lock:
                lost = lost_daemon_diagnostic(e, s, self.source, printer.tracker)
                if lost is None:
                    self.progress.print(f"hlb: error: {e}")
                else:
                    self.progress.print(render_all([lost], color=self.color))
            return 1
        except SolveError as e:
            entries = (*s.cache_imports, *s.cache_exports)
            failure = replace(e.failure, message=cache_options.scrub(e.failure.message, entries))
            with self.lock:
                # Solves that share a step fail together at it (the daemon ran it once): report it once.
                first = self.failed.setdefault(e.failure.vertex or f"solve {s.index}", s)
                if first is s:
                    diag = failure_diagnostic(failure, s, self.source, printer.tracker)
                    self.progress.print(render_all([diag], color=self.color))
                else:
                    self.progress.print(f"hlb: {s.title}: failed at the same step as solve {first.index} (above)")
            return 1
        took = time.monotonic() - start
        self.responses[s] = dict(result.exporter_response)
        if self.recorder is not None:
            self.recorder.solved(s, printer.tracker, attachables)
        pushed = persisted(s, result.exporter_response, took) if s.kind == "persist" else ""
        with self.lock:
            session_id = session.id if session is not None else ""
            outcomes = cache_outcomes(s, printer.tracker, caches, session_id)
            total, cached = step_counts(s.definitions, printer.tracker)
            self.results[s] = SolveResult(dict(result.exporter_response), tuple(outcomes), total, cached, took)
            loaded_into = exports.load.url if exports.load is not None else ""
            text = solve_summary(s, printer.tracker, result.exporter_response, took, outcomes, loaded_into)
            if fleet:  # which daemon of several built it, under the first line
                head, _, rest = text.partition("\n")
                text = "\n".join(x for x in (head, f"  daemon: {client.address.url}", rest) if x)
            self.progress.print(text)
            if pushed:
                self.progress.print(pushed)
            for note in notes:
                self.progress.print(f"  note: {note}")
        return 0


def persisted(s: Solve, response: Mapping[str, str], took: float) -> str:
    """The summary line of a persisted cache's push: how much went to the registry, and how long it took."""
    ref = next((x.attrs.get("name", "") for x in s.exporters), "")
    digest = response.get(export.DIGEST_KEY, "")
    try:
        m = RegistryClient().manifest(f"{ref}@{digest}", s.fs.state.platform or default_platform())
        doc = json.loads(m.manifest)
        layers = [int(x.get("size", 0)) for x in doc.get("layers", [])]
        size = sum(layers) + int(doc.get("config", {}).get("size", 0)) + len(m.manifest)
    except (ResolveError, ValueError, TypeError, AttributeError) as e:
        return f"  cache pushed in {took:.2f}s (its size is unknown: {e})"
    return f"  cache pushed: {_size(size)} in {len(layers)} layer{'s' if len(layers) != 1 else ''}, {took:.2f}s"


def _size(n: int) -> str:
    x, unit = float(n), "B"
    for bigger in ("kB", "MB", "GB"):
        if x < 1000:
            break
        x, unit = x / 1000, bigger
    return f"{n} B" if unit == "B" else f"{x:.1f} {unit}"


def _result(future: Future[int]) -> int:
    """A worker's exit code; waits in short steps so Ctrl-C reaches the main thread at once."""
    while True:
        try:
            return future.result(timeout=0.25)
        except TimeoutError:
            continue


def lost_daemon_diagnostic(e: TransportError, s: Solve, source: SourceFile, tracker: Tracker) -> Diagnostic | None:
    """The daemon went away mid-solve: a diagnostic at the step that was running, if one was."""
    running = [v for v in tracker.vertices.values() if v.started is not None and not v.done and not v.error]
    if not running:
        return None
    step = max(running, key=lambda v: v.started or 0.0)
    failure = SolveFailure(f"the daemon went away while running `{step.name}`: {e}", vertex=step.digest)
    return failure_diagnostic(failure, s, source, tracker)


@dataclass(frozen=True, slots=True)
class SolveResult:
    """What a finished solve did: the daemon's exporter response, each cache import's and export's outcome,
    its steps (exec and file ops that ran or were cached) and how many were cached, and how long it took."""

    response: dict[str, str]
    caches: tuple[CacheOutcome, ...]
    steps: int
    cached: int
    seconds: float


def op_kinds(definitions: Sequence[Definition]) -> dict[str, str]:
    """Every op of a solve's graphs (one per platform, :attr:`Solve.definitions`), by digest: its kind."""
    kinds: dict[str, str] = {}
    for d in definitions:
        kinds.update(d.op_kinds)
    return kinds


def step_counts(definitions: Sequence[Definition], tracker: Tracker) -> tuple[int, int]:
    """(steps, cached steps) of a solve: its exec and file ops that ran or were cached (sources are not steps)."""
    return tracker.summary({d for d, k in op_kinds(definitions).items() if k != "source"})


def summary(definitions: Sequence[Definition], tracker: Tracker) -> str:
    """``3 of 3 steps cached, 1 source resolved``: what the cache saved this run (over every platform's graph)."""
    kinds = op_kinds(definitions)
    total, cached = tracker.summary({d for d, k in kinds.items() if k != "source"})
    sources = sum(1 for d, k in kinds.items() if k == "source" and d in tracker.vertices)
    text = f"{cached} of {total} steps cached"
    if sources:
        text += f", {sources} source{'s' if sources != 1 else ''} resolved"
    return text


def solve_summary(
    s: Solve,
    tracker: Tracker,
    response: Mapping[str, str],
    took: float,
    caches: Sequence[CacheOutcome] | None = None,
    loaded_into: str = "",
) -> str:
    """What a solve did, buildx-like and compact: a first line of cache hits and time, then one
    line per cache import, export and cache export, saying what really happened to each cache::

        hlb: app: 2 of 3 steps cached, 1 source resolved in 1.52s
          cache from type=registry,ref=r/cache: imported
          pushed r/app:1@sha256:...
          cache to type=registry,ref=r/cache,mode=max: exported

    ``loaded_into``: the engine a standalone daemon's image load went to (not the daemon itself).
    """
    label = s.title.removeprefix("target ") if s.kind == "target" else s.title
    platforms = f" for {', '.join(str(p.platform) for p in s.platforms)}" if s.platforms else ""
    lines = [f"hlb: {label}: {summary(s.definitions, tracker)}{platforms} in {took:.2f}s"]
    outcomes = list(caches) if caches is not None else cache_outcomes(s, tracker)
    lines += [f"  cache from {o}" for o in outcomes if o.direction == cache_options.IMPORT]
    digest = response.get("containerimage.digest", "")
    for x in s.exporters:
        lines.append("  " + _exported(x, digest, loaded_into))
    lines += [f"  cache to {o}" for o in outcomes if o.direction == cache_options.EXPORT]
    misses = _missed_groups(s, [o for o in outcomes if o.direction == cache_options.IMPORT])
    if misses:
        what = "this cache was" if len(misses) == 1 else f"{len(misses)} caches were"
        lines.append(
            f"  warning: {what} not found, so the solve ran without it; expected on the first run, "
            "before a --cache-to (or cacheContext) has written it"
        )
    return "\n".join(lines)


def _missed_groups(s: Solve, imports: Sequence[CacheOutcome]) -> list[str]:
    """The requested imports none of whose parts was found (a --cache-from of several targets is imported as
    itself and one part per target; finding any of them is not a miss)."""
    groups: dict[str, bool] = {}
    for o in imports:
        for key in s.import_groups.get(o.entry.key(), {str(o.entry)}):
            groups[key] = groups.get(key, True) and o.status == MISS
    return [k for k, missed in groups.items() if missed]


IMPORTED, MISS, NOT_IMPORTED, EXPORTED, FAILED, NOT_EXPORTED = (
    "imported",
    "miss",
    "not imported",
    "exported",
    "failed",
    "not exported",
)


@dataclass(frozen=True, slots=True)
class CacheOutcome:
    """What the daemon reported for one cache import or export of a solve."""

    direction: str  # cache_options.IMPORT or EXPORT
    entry: CacheEntry
    status: str  # imported, miss, not imported / exported, failed, not exported
    reason: str = ""

    def __str__(self) -> str:
        text = f"{self.entry}: {self.status}"
        if self.status == FAILED and self.entry.attrs.get("ignore-error", "").lower() in ("1", "t", "true"):
            text += " (ignore-error: the build went on without it)"
        return text + (f": {self.reason}" if self.reason else "")


def cache_outcomes(
    s: Solve, tracker: Tracker, caches: export.Caches | None = None, session_id: str = ""
) -> list[CacheOutcome]:
    """Each cache import and export of ``s`` with what the daemon's progress says happened to it.

    An import is the vertex ``importing cache manifest from KEY`` (KEY as the
    daemon computes it from the entry as sent); its error is the reason, and
    a registry's ``not found`` is a miss. An export is the vertex the daemon
    starts for the i-th cache exporter of the session (or, failing that, the
    only one of its name); ``inline`` rides on an image exporter and has none.
    """
    entries = (*s.cache_imports, *s.cache_exports)
    out: list[CacheOutcome] = []
    skipped = caches.skipped if caches is not None else {}
    sent = iter(caches.imports if caches is not None else s.cache_imports)
    by_name: dict[str, list[VertexState]] = {}
    for vertex in tracker.vertices.values():
        by_name.setdefault(vertex.name, []).append(vertex)
    v: VertexState | None
    for i, entry in enumerate(s.cache_imports):
        if i in skipped:
            miss, reason = skipped[i]
            out.append(CacheOutcome(cache_options.IMPORT, entry, MISS if miss else NOT_IMPORTED, reason))
            continue
        found = by_name.get(cache_options.import_step(next(sent, entry)), [])
        v = found[0] if found else None
        if v is None:
            out.append(CacheOutcome(cache_options.IMPORT, entry, NOT_IMPORTED, "the daemon never read it"))
        elif v.error:
            error = cache_options.scrub(v.error, entries)
            if error.rstrip().endswith(": not found"):  # the registry has no such ref (yet)
                out.append(CacheOutcome(cache_options.IMPORT, entry, MISS, "not found"))
            else:
                out.append(CacheOutcome(cache_options.IMPORT, entry, NOT_IMPORTED, error))
        else:
            out.append(CacheOutcome(cache_options.IMPORT, entry, IMPORTED))
    remote = cache_options.remote_exports(s.cache_exports)
    images = any(x.type in IMAGE_EXPORTERS for x in s.exporters)
    index = 0
    for entry in s.cache_exports:
        if entry.type == "inline":
            if images:
                out.append(CacheOutcome(cache_options.EXPORT, entry, EXPORTED, "in the image"))
            else:
                why = "an inline cache goes into an image this solve exports, and it exports none"
                out.append(CacheOutcome(cache_options.EXPORT, entry, NOT_EXPORTED, why))
            continue
        v = tracker.vertices.get(cache_options.export_vertex(session_id, index)) if session_id else None
        index += 1
        name = cache_options.export_step(entry)
        if v is None and sum(1 for e in remote if cache_options.export_step(e) == name) == 1:
            found = by_name.get(name, [])
            v = found[0] if len(found) == 1 else None
        if v is None:
            why = "the daemon did not report exporting it"
            out.append(CacheOutcome(cache_options.EXPORT, entry, NOT_EXPORTED, why))
        elif v.error:
            out.append(CacheOutcome(cache_options.EXPORT, entry, FAILED, cache_options.scrub(v.error, entries)))
        else:
            out.append(CacheOutcome(cache_options.EXPORT, entry, EXPORTED))
    return out


def _exported(x: Exporter, digest: str, loaded_into: str = "") -> str:
    name = x.attrs.get("name", "")
    pinned = f"{name}@{digest}" if name and digest else name or digest
    if x.type == "image":
        return f"pushed {pinned}" if x.attrs.get("push") == "true" else f"image {pinned}"
    if x.type in ("moby", "docker") and not x.dest:
        return f"loaded {pinned} into " + (f"the Docker engine at {loaded_into}" if loaded_into else "docker")
    where = x.dest or x.attrs.get("dest", "")
    where = "stdout" if where == "-" else where
    return f"exported {x.type}" + (f" to {where}" if where else "") + (f" ({digest})" if digest else "")


def failure_diagnostic(failure: SolveFailure, target: Solve, source: SourceFile, tracker: Tracker) -> Diagnostic:
    """A daemon failure as a diagnostic at the .hlb line that produced the failing step."""
    spans = _spans_for(failure, target, source)
    notes = []
    v = tracker.vertices.get(failure.vertex or "")
    if v is not None and v.lines:
        tail = v.lines[-FAIL_LOG_LINES:]
        notes.append(f"last {len(tail)} lines of `{v.name}`:\n" + "\n".join(tail))
    primary = spans[0] if spans else target.span  # an export's failure: the call that asked for it
    op = _op_of(target.definition, failure.vertex)
    message, hint = explain(
        failure.message, op, dict(zip(target.definition.digests(), target.definition.ops, strict=True))
    )
    d = cat.build_failed(primary, message, notes, hint)
    if len(spans) > 1:
        where = (
            f"in target `{target.title.removeprefix('target ')}`" if target.kind == "target" else f"in `{target.title}`"
        )
        labels = [Label(s, where if s == target.span else "called from here") for s in spans[1:]]
        d = replace(d, secondary=tuple(labels))
    return d


def _op_of(definition: Definition, digest: str | None) -> bytes | None:
    """The marshalled op of ``definition`` whose digest is ``digest`` (the failing vertex), if it is one of its."""
    if not digest:
        return None
    return next((op for op, d in zip(definition.ops, definition.digests(), strict=True) if d == digest), None)


def _spans_for(failure: SolveFailure, target: Solve, source: SourceFile) -> list[Span]:
    src = next(
        (
            d.source
            for d in target.definitions
            if d.source is not None and failure.vertex and failure.vertex in d.source.locations
        ),
        target.definition.source,
    )
    spans: list[Span] = []
    if src is not None and failure.vertex and failure.vertex in src.locations:
        files: dict[int, SourceFile] = {}
        for loc in src.locations[failure.vertex].locations:
            file = files.get(loc.sourceIndex)
            if file is None:
                info = src.infos[loc.sourceIndex]
                same = info.filename == source.name
                file = files[loc.sourceIndex] = source if same else SourceFile(info.filename, info.data.decode())
            for r in loc.ranges:
                spans.append(_span(file, r.start.line, r.start.character, r.end.line, r.end.character))
    if not spans:
        for sr in failure.sources:
            if sr.filename == source.name:
                spans.append(_span(source, sr.start_line, sr.start_col, sr.end_line, sr.end_col))
    return spans


def _span(source: SourceFile, l1: int, c1: int, l2: int, c2: int) -> Span:
    start = source.offset(l1, c1)
    end = max(start + 1, source.offset(l2, c2) + 1)
    return Span(source, start, end)
