"""The solve plan: the requested targets as a tree of parallel and sequential solves.

Each :class:`Solve` is one ``Control.Solve``: its own Definition, exporters,
cache imports and exports, the client attachments its graph refers to, and the
entitlements its exec ops need. A target's ``fs`` is one solve, beside the side
solves its evaluation started (pushes, loads, downloads, cache sections):

* solves run in parallel unless a pipeline's ``stage`` orders them; where two
  solves share steps the daemon runs those steps once (it merges identical
  vertices of concurrent solves);
* a daemon keeps nothing of what an earlier solve's cache import offered, so
  every solve whose graph contains a ``cacheContext`` section imports that
  section's cache itself; ``--cache-from`` entries are imported by every solve;
* a target's ``--cache-to`` exports are made by the target's own solve. When a
  side solve already builds the same graph (``fs f() { ...; dockerPush "x" }``)
  the target's solve is kept only to export the cache: the image and the cache
  are exported by two concurrent solves of one graph instead of one after the
  other. ``type=inline`` goes with the solves that export an image;
* when several targets are requested, each target's ``--cache-to`` export gets
  its own place (``-<target>`` added to its name, or ``{target}`` replaced), and a
  ``--cache-from`` imports the place itself and every target's part;
* a requested cache import or export that no solve can make is a
  :class:`PlanError`; two exports that would overwrite each other are warnings
  (caches, and the files and directories of ``-o`` and ``download``...);
* a persisted cache mount (``cacheMount ... with persist "REF"``, a
  :class:`~hlb.persist.PersistEffect` on the value) is pushed only with
  ``persist_caches`` (``hlb run --persist-caches``): one side solve per cache and
  ref, after every other solve of the plan (a failed build pushes nothing), whose
  copy of the cache carries ``persist_stamp`` so it runs every time. Without it,
  the solves that run the step say that the cache is not pushed. Two caches
  pushed to one ref are a warning (the last push wins).

* ``outputs`` (``hlb run -o``) are exporters of each target's own solve (kept even
  when a side solve builds the same graph), ``{target}`` replaced by its name;
* ``ignore_cache`` (``--no-cache``) marks every op of every graph ignore-cache
  (never a persisted cache's copy: that would empty the cache it copies), and
  warns that BuildKit empties those steps' cache mounts (not a persisted one whose
  base is its image: BuildKit keeps what the daemon holds of it, and says so); ``pull`` (``--pull``)
  makes every image source ``image.resolvemode=pull``;
* several platforms (``--platform a,b``) are one plan per platform, merged by
  :func:`merge_platforms` into solves that build every platform's graph as one
  multi-platform result.

``render`` prints the plan for ``hlb run --tree``.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hlb import cache_options
from hlb.compiler.attachments import ssh_source
from hlb.compiler.compiler import CompiledTarget
from hlb.llb import Definition, Platform, digest_of
from hlb.llb.needs import needs_of
from hlb.llb.reference import parse as parse_ref
from hlb.oci_config import oci_config
from hlb.output_options import STDOUT, Output, check_dest
from hlb.persist import PersistEffect, copy_out
from hlb.source import Span
from hlb.values import (
    IMAGE_EXPORTERS,
    Attachment,
    CacheEntry,
    Effect,
    Exporter,
    FsValue,
    Group,
    LocalDir,
    Notice,
    Request,
    SecretFile,
    SecretInput,
    Single,
    SSHInput,
    SSHSocket,
    group,
)


@dataclass(eq=False)
class Solve:
    index: int  # 1-based, in plan order
    kind: str  # `target` or the builtin that started it (`dockerPush`, `cacheContext`...)
    title: str
    span: Span
    fs: FsValue
    definition: Definition
    exporters: tuple[Exporter, ...] = ()
    cache_imports: tuple[CacheEntry, ...] = ()
    cache_exports: tuple[CacheEntry, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    entitlements: tuple[str, ...] = ()
    image_config: bytes | None = None  # containerimage.config for image-producing exporters
    notes: tuple[str, ...] = ()  # what the user should know about this solve (--tree and the summary show it)
    origins: dict[str, str] = field(default_factory=dict)  # 'cache_imports ENTRY' -> who asked for it
    import_groups: dict[object, set[str]] = field(default_factory=dict)  # import's key -> the --cache-froms it serves
    target: str = ""  # the requested target whose evaluation started it (places it on a fleet: hlb.build.fleet)
    # Several --platform: the graph of each platform (the first is ``definition``), built as one
    # multi-platform result (an image index when an image is exported)
    platforms: tuple[PlatformPart, ...] = ()

    @property
    def definitions(self) -> list[Definition]:
        """Every graph this solve builds (one per platform)."""
        return [p.definition for p in self.platforms] if self.platforms else [self.definition]

    @property
    def head(self) -> str | None:
        return self.definition.head

    @functools.cached_property
    def result(self) -> str | None:
        """What the solve builds: its graph and which output of the head (two outputs of one step differ)."""
        return digest_of(self.definition.ops[-1]) if self.definition.ops else None

    def add_caches(
        self, imports: Iterable[CacheEntry] = (), exports: Iterable[CacheEntry] = (), origin: str = "", group: str = ""
    ) -> None:
        """Add cache entries not there yet (by their text), remembering who asked for them; imports of one
        ``group`` (one --cache-from and its per-target parts) miss together or not at all."""
        for which, entries in (("cache_imports", imports), ("cache_exports", exports)):
            have = list(getattr(self, which))
            for c in entries:
                if all(c.key() != h.key() for h in have):
                    have.append(c)
                    if origin:
                        self.origins.setdefault(f"{which} {c.key()}", origin)
                if group and which == "cache_imports":
                    self.import_groups.setdefault(c.key(), set()).add(group)
            setattr(self, which, tuple(have))


@dataclass(frozen=True, eq=False)
class PlatformPart:
    """One platform of a multi-platform solve: its graph and its image config."""

    platform: Platform
    definition: Definition
    image_config: bytes | None = None


Node = Solve | Group[Solve]  # the plan as a tree: solves in parallel and sequential groups


@dataclass
class Plan:
    root: Node | None
    solves: list[Solve] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. two exports that overwrite each other
    targets: dict[str, tuple[Solve, ...]] = field(default_factory=dict)  # each requested target -> its solves


class PlanError(ValueError):
    """Requested cache settings that no solve of the plan can honour (nothing is built)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


CLI_FROM = "--cache-from"
CLI_TO = "--cache-to"
TARGET_PLACEHOLDER = cache_options.TARGET_PLACEHOLDER


def build_plan(
    targets: Sequence[CompiledTarget],
    attachments: Mapping[str, Attachment],
    platform: Platform,
    *,
    cache_from: Sequence[CacheEntry] = (),
    cache_to: Sequence[CacheEntry] = (),
    notices: Sequence[Notice] = (),
    persist_caches: bool = False,
    persist_stamp: str = "",
    outputs: Sequence[Output] = (),
    ignore_cache: bool = False,
    pull: bool = False,
) -> Plan:
    """The plan for ``targets``; ``cache_from``/``cache_to``/``outputs`` are ``hlb run``'s flags (see the
    module docs); ``ignore_cache`` (``--no-cache``) and ``pull`` (``--pull``) change how every graph is marshalled.

    Each of ``notices`` becomes a note of every solve whose graph has its step (a warning one: a warning of
    the plan). ``persist_caches`` (``--persist-caches``) pushes the persisted cache mounts after the build;
    ``persist_stamp`` (a value that differs every run) makes their copies run.
    Raises :class:`PlanError` when a requested cache entry cannot be attached to any solve.
    """
    builder = _Builder(attachments, platform, tuple(cache_from), tuple(cache_to), outputs=tuple(outputs))
    builder.marshal_options = {"ignore_cache": ignore_cache, "pull": pull}
    solves_of: dict[str, tuple[Solve, ...]] = {}
    for t in targets:
        solves_of[t.name] = tuple(dict.fromkeys(builder.request(t.request))) if t.request is not None else ()
    pushes = builder.persist(persist_caches, persist_stamp)
    warnings = builder.attach_caches()
    for s in builder.solves:
        texts = [n.text for n in notices if n.digest in s.definition.op_kinds and not n.warning]
        s.notes = tuple(dict.fromkeys((*s.notes, *texts)))
    for s, text in builder.later_notes:
        s.notes = tuple(dict.fromkeys((*s.notes, text)))
    emptied: list[str] = []
    seeded: list[str] = []
    for s in builder.solves:
        s.notes = (*s.notes, *_flag_notes(s, ignore_cache, pull))
        if ignore_cache and s.kind != "persist" and not s.definition.empty:
            plain, based = _cache_mounts(s.definition)
            emptied += [i for i in plain if i not in emptied]
            seeded += [i for i in based if i not in seeded]
    if emptied:
        warnings.append(
            f"--no-cache empties the cache mounts of the steps it reruns ({', '.join(emptied)}): BuildKit detaches "
            "every cache mount of an ignore-cache step before the build, so those steps start with an empty cache"
        )
    if seeded:
        warnings.append(
            f"--no-cache does not empty the persisted cache mounts of the steps it reruns ({', '.join(seeded)}): "
            "BuildKit does not detach a cache mount whose base is an image, so those steps see the daemon's copy, "
            "or the persisted image again when the image is resolved anew (the daemon decides which); give the "
            "mount a new id to start empty"
        )
    warned = [n.text for n in notices if n.warning]  # compiled for these targets (--pull changes their digests)
    return Plan(builder.tree(), builder.solves, list(dict.fromkeys([*warned, *pushes, *warnings])), solves_of)


def _flag_notes(s: Solve, ignore_cache: bool, pull: bool) -> list[str]:
    """What --no-cache and --pull change in a solve (``hlb run --tree`` and the summary show it)."""
    notes = []
    if ignore_cache and s.kind != "persist" and not s.definition.empty:
        notes.append("--no-cache: every step runs again (each op is marked ignore-cache)")
        plain, seeded = _cache_mounts(s.definition)
        if plain:
            notes.append(f"--no-cache: these cache mounts start empty: {', '.join(plain)}")
        if seeded:
            notes.append(f"--no-cache: these persisted cache mounts keep what the daemon holds: {', '.join(seeded)}")
    if pull and not s.definition.empty:
        images = needs_of(s.definition).images
        if images:
            notes.append(f"--pull: images are resolved again in the registry ({', '.join(images)})")
    return notes


def _cache_mounts(d: Definition) -> tuple[list[str], list[str]]:
    """The ids of a graph's cache mounts: those without a base (an ignore-cache step starts them empty) and
    those with one (a persisted mount: BuildKit seeds it again from its image)."""
    needs = needs_of(d)
    return [i for i in needs.cache_ids if i not in needs.image_cache_ids], list(needs.image_cache_ids)


def merge_platforms(plans: Sequence[tuple[Platform, Plan]]) -> Plan:
    """One plan that builds every platform: the plans of one set of targets compiled for each platform (the
    first is the base), each solve paired with the same solve of the others and built as one multi-platform
    result (an image index when it exports an image; a directory or tar per platform for local and tar).
    Raises :class:`PlanError` when the plans differ in shape (a solve one platform has and another has not)."""
    (_, first), rest = plans[0], plans[1:]
    problems = []
    for platform, other in rest:
        if [_shape(s) for s in other.solves] != [_shape(s) for s in first.solves]:
            problems.append(
                f"--platform {platform}: the build has other solves than for {plans[0][0]} "
                "(a push or export that depends on the platform); build the platforms one at a time"
            )
    if problems:
        raise PlanError(problems)
    for k, s in enumerate(first.solves):
        twins = [(p, plan.solves[k]) for p, plan in plans]
        s.platforms = tuple(PlatformPart(p, t.definition, t.image_config) for p, t in twins)
        s.attachments = tuple(dict.fromkeys(a for _, t in twins for a in t.attachments))
        s.entitlements = tuple(dict.fromkeys(e for _, t in twins for e in t.entitlements))
        s.notes = tuple(dict.fromkeys(n for _, t in twins for n in t.notes))
    warnings = list(dict.fromkeys(w for _, plan in plans for w in plan.warnings))
    return Plan(first.root, first.solves, warnings, first.targets)  # the first's solves are the merged ones


def _shape(s: Solve) -> tuple[object, ...]:
    exporters = tuple((x.type, tuple(sorted(x.attrs.items())), x.dest) for x in s.exporters)
    caches = tuple(str(c) for c in (*s.cache_imports, *s.cache_exports))
    return (s.kind, s.title, exporters, caches)


def solve_for_effect(
    effect: Effect,
    attachments: Mapping[str, Attachment],
    platform: Platform,
    cache_from: Sequence[CacheEntry] = (),
    targets: Sequence[str] = (),
    *,
    ignore_cache: bool = False,
    pull: bool = False,
) -> Solve:
    """The solve of one side solve on its own (a push run while compiling), with the cache imports it needs;
    ``targets`` are the requested targets' names (a ``--cache-from`` is imported per target as in the plan)."""
    builder = _Builder(attachments, platform, tuple(cache_from), (), tuple(targets))
    builder.marshal_options = {"ignore_cache": ignore_cache, "pull": pull}
    for e in _effects(effect.fs):
        if not isinstance(e, PersistEffect):  # caches are pushed after the build, never while compiling
            builder.effect(e)
    solve = builder.effect(effect)
    builder.attach_caches()
    for s in builder.solves:
        s.target = targets[0] if targets else ""
    return solve


@dataclass
class _Target:
    """One requested fs: its own solve (if it has one) and the side solves its evaluation started."""

    name: str
    own: Solve | None
    solves: list[Solve]


class _Builder:
    def __init__(
        self,
        attachments: Mapping[str, Attachment],
        platform: Platform,
        cache_from: tuple[CacheEntry, ...],
        cache_to: tuple[CacheEntry, ...],
        target_names: tuple[str, ...] = (),
        outputs: tuple[Output, ...] = (),
    ) -> None:
        self.platform = platform
        self.outputs = outputs  # -o: what each target's own solve exports
        self.marshal_options: dict[str, bool] = {}
        self.problems: list[str] = []
        self.target_names = target_names  # when there are no requested targets of its own (solve_for_effect)
        self.cache_from = cache_from
        self.cache_to = cache_to
        self.solves: list[Solve] = []
        self.targets: list[_Target] = []
        self.warnings: list[str] = []
        self.deps: dict[Solve, list[Solve]] = {}  # the solves that must finish before each solve
        self.side: dict[object, Solve] = {}
        self.persisted: list[PersistEffect] = []  # the persisted cache mounts of the requested targets
        self.later_notes: list[tuple[Solve, str]] = []  # notes after the notices of the steps (see build_plan)
        self.locals = {a.name: a for a in attachments.values() if isinstance(a, LocalDir)}
        self.secrets = {a.id: a for a in attachments.values() if isinstance(a, (SecretFile, SecretInput))}
        self.ssh = {a.id: a for a in attachments.values() if isinstance(a, (SSHSocket, SSHInput))}

    def request(self, r: Request) -> list[Solve]:
        """Add the solves of ``r``; returns them (a sequential group orders its members' solves)."""
        match r:
            case Single():
                return self.single(r)
            case Group(parallel=True):
                return [s for c in r.children for s in self.request(c)]
            case Group():
                done: list[Solve] = []
                for c in r.children:
                    solves = self.request(c)
                    for s in solves:
                        self.deps[s].extend(d for d in done if d is not s and d not in self.deps[s])
                    done.extend(x for x in solves if x not in done)
                return done

    def single(self, r: Single) -> list[Solve]:
        effects = _effects(r.fs)
        self.persisted += [e for e in effects if isinstance(e, PersistEffect) and e not in self.persisted]
        solves = [self.effect(e) for e in effects if not isinstance(e, PersistEffect)]
        definition = self.marshal(r.fs)
        own = None
        name = _unique_names([*(t.name for t in self.targets), r.name])[-1]
        outputs = tuple(o.for_target(name) for o in self.outputs)
        for o, x in zip(self.outputs, outputs, strict=True):
            why = check_dest(x) if o.per_target else None  # the others were checked when -o was read
            if why:
                self.problems.append(f"-o {o.text}: {why}")
        if not definition.empty:
            # A side solve that builds the same graph does the work; the target's own solve is then
            # needed only to export its cache (concurrently with that side solve's export) or its -o outputs.
            rebuilt = any(s.definition.ops[-1:] == definition.ops[-1:] for s in solves)
            if not rebuilt or outputs or any(c.type != "inline" for c in self.cache_to):
                own = self.solve("target", f"target {r.name}", r.span, r.fs, definition, outputs, (), ())
                solves.append(own)
        elif outputs:
            texts = ", ".join(o.text for o in self.outputs)
            self.problems.append(f"-o {texts}: target {r.name} is an empty filesystem (scratch); nothing to export")
        for s in solves:
            s.target = s.target or r.name  # a side solve shared by targets goes with the first
        self.targets.append(_Target(r.name, own, solves))
        return solves

    def persist(self, push: bool, stamp: str) -> list[str]:
        """The pushes of the persisted cache mounts (``push``), each after every other solve, or a note on the
        solves that run each step that its cache is not pushed; returns the warnings (see the module docs)."""
        warnings: list[str] = []
        others = list(self.solves)
        if push and not self.persisted:
            warnings.append(
                "--persist-caches: no cache mount of the requested targets is written with `persist`, so nothing "
                'is pushed (cacheMount "/root/.npm" with persist("REGISTRY/cache/npm:latest") persists one)'
            )
        first: dict[tuple[str, str, str, str], PersistEffect] = {}
        for e in self.persisted:
            first.setdefault(e.identity(self.platform), e)
        for e in first.values():
            if e.warning and e.warning not in warnings:
                warnings.append(e.warning)
            where = f"{e.span}: the cache mount at {e.mount.target} (id {e.mount.cache_id})"
            if not push:
                for s in others:
                    if e.step in s.definition.op_kinds:
                        text = f"{where} is not pushed to {e.ref} (hlb run --persist-caches pushes it after the build)"
                        self.later_notes.append((s, text))
                continue
            fs = copy_out(e, stamp)
            # never ignore-cache: that would detach the very cache mount it copies (--pull still applies)
            pull = self.marshal_options.get("pull", False)
            definition = fs.state.marshal(fs.state.platform or self.platform, pull=pull)
            s = self.solve(e.kind, e.title, e.span, fs, definition, e.exporters, (), ())
            s.target = next((o.target for o in others if e.step in o.definition.op_kinds), "")  # where it ran
            s.notes = (
                f"{where} is copied (sharing locked) and pushed to {e.ref} after every other solve succeeded "
                "(--persist-caches); the copy runs every time, and the last push to the ref wins",
            )
            self.deps[s] = list(others)
        refs: dict[str, list[PersistEffect]] = {}
        for e in first.values():
            refs.setdefault(e.ref, []).append(e)
        for ref, es in refs.items():
            if len(es) > 1:
                which = ", ".join(f"{e.span} (id {e.mount.cache_id})" for e in es)
                warnings.append(
                    f"different caches are persisted to one ref, {ref}: {which}; each push overwrites the others and "
                    "each build seeds its mount with the last one (give each cache its own ref)"
                )
        return warnings

    def attach_caches(self) -> list[str]:
        """Give every solve the cache entries it needs (see the module docs); returns the plan's warnings."""
        problems: list[str] = list(self.problems)
        # The cacheContext sections a solve's graph contains (nested ones too): import their caches.
        sections = [s for s in self.solves if s.kind == "cacheContext"]
        for s in self.solves:
            for a in sections:
                if a is not s and a.head in s.definition.op_kinds:
                    s.add_caches(imports=a.cache_imports, origin=f"the cacheContext at {_where(a)}")
        self._cli_exports(problems)
        for requested, parts in self._cli_imports():
            for s in self.solves:
                s.add_caches(imports=parts, origin=CLI_FROM, group=str(requested))
        if self.cache_from and not self.solves:
            problems += [f"{CLI_FROM} {c}: the plan has no solve to import it into" for c in self.cache_from]
        if problems:
            raise PlanError(problems)
        return [*self.warnings, *_overwrites(self.solves)]

    def _names(self) -> list[str]:
        """The requested targets' names as they go into per-target cache refs, one per target, in order."""
        return _unique_names([t.name for t in self.targets] or list(self.target_names))

    def _cli_exports(self, problems: list[str]) -> None:
        """Attach ``--cache-to``: each target's own solve exports it; several targets each export their own."""
        names = dict(zip((id(t) for t in self.targets), _unique_names([t.name for t in self.targets]), strict=True))
        several = len(set(names.values())) > 1
        for requested in self.cache_to:
            if requested.type == "inline":
                self._inline(requested, problems)
                continue
            owners = [t for t in self.targets if t.own is not None]
            for t in owners:
                assert t.own is not None
                t.own.add_caches(exports=[_per_target(requested, names[id(t)], several)], origin=CLI_TO)
            if not owners:
                problems.append(f"{CLI_TO} {requested}: no target builds anything to export the cache of")

    def _inline(self, requested: CacheEntry, problems: list[str]) -> None:
        """An inline cache goes with each target's image exports; a target without one is told so."""
        without = []
        for t in self.targets:
            carriers = [s for s in t.solves if any(x.type in IMAGE_EXPORTERS for x in s.exporters)]
            for s in carriers:
                s.add_caches(exports=[requested], origin=CLI_TO)
            if not carriers:
                without.append(t.name)
        if len(without) == len(self.targets):
            problems.append(
                f"{CLI_TO} {requested}: inline cache travels in an exported image, and no target exports"
                " one (dockerPush, dockerLoad, or -o type=image|docker); use type=registry or type=local"
            )
        elif without:
            self.warnings.append(
                f"{CLI_TO} {requested}: {', '.join(without)} export{'s' if len(without) == 1 else ''} no image, "
                "so no inline cache of it is exported; use type=registry or type=local for those"
            )

    def _cli_imports(self) -> list[tuple[CacheEntry, list[CacheEntry]]]:
        """Each ``--cache-from`` and what it imports: with ``{target}``, one per requested target; with several
        targets, the entry itself and each target's part (``-TARGET``), which is what ``--cache-to`` of the same
        place writes; otherwise the entry itself."""
        names = self._names()
        several = len(set(names)) > 1
        out = []
        for c in self.cache_from:
            if _has_placeholder(c):
                parts = [_per_target(c, n, False) for n in names]
            elif several and _splittable(c):
                parts = [c, *(_per_target(c, n, True) for n in names)]
            else:
                parts = [c]
            out.append((c, list({str(p): p for p in parts}.values())))
        return out

    def tree(self) -> Node | None:
        """Solves in levels: each after everything it depends on, a level's solves in parallel."""
        level: dict[Solve, int] = {}

        def depth(s: Solve, seen: frozenset[Solve]) -> int:
            if s not in level:
                below = [depth(d, seen | {s}) for d in self.deps[s] if d not in seen]
                level[s] = 1 + max(below, default=-1)
            return level[s]

        for s in self.solves:
            depth(s, frozenset())
        stages = [
            group(True, [s for s in self.solves if level[s] == n]) for n in range(max(level.values(), default=-1) + 1)
        ]
        return group(False, stages)

    def marshal(self, fs: FsValue) -> Definition:
        return fs.state.marshal(fs.state.platform or self.platform, **self.marshal_options)

    def effect(self, e: Effect) -> Solve:
        """The side solve ``e`` (the same solve for an identical side solve reached from another target)."""
        definition = self.marshal(e.fs)
        key = (
            e.kind,
            definition.head,
            tuple((x.type, tuple(x.attrs.items()), x.dest) for x in e.exporters),
            tuple(str(c) for c in (*e.cache_imports, *e.cache_exports)),
        )
        if key not in self.side:
            self.side[key] = self.solve(
                e.kind, e.title, e.span, e.fs, definition, e.exporters, e.cache_imports, e.cache_exports
            )
        return self.side[key]

    def solve(
        self,
        kind: str,
        title: str,
        span: Span,
        fs: FsValue,
        definition: Definition,
        exporters: tuple[Exporter, ...],
        cache_imports: tuple[CacheEntry, ...],
        cache_exports: tuple[CacheEntry, ...],
    ) -> Solve:
        needs = needs_of(definition) if not definition.empty else None
        found: list[Attachment] = []
        if needs is not None:
            found += [self.locals[n] for n in needs.local_names if n in self.locals]
            found += [self.secrets[i] for i in needs.secret_ids if i in self.secrets]
            found += [self.ssh[i] for i in needs.ssh_ids if i in self.ssh]
        config = None
        if any(x.type in IMAGE_EXPORTERS for x in exporters):
            config = oci_config(fs, fs.state.platform or self.platform)
        s = Solve(
            len(self.solves) + 1,
            kind,
            title,
            span,
            fs,
            definition,
            exporters,
            cache_imports,
            cache_exports,
            tuple(found),
            tuple(needs.entitlements) if needs else (),
            config,
        )
        self.solves.append(s)
        self.deps[s] = []
        return s


def _where(s: Solve) -> str:
    return f"{os.path.basename(s.span.file.name)}:{s.span.begin.line}:{s.span.begin.column}"


def _unique_names(names: Sequence[str]) -> list[str]:
    """Target names as they go into cache refs: the function's name (a target's arguments are left out, so
    every release shares one cache), lower-cased (registry repositories are); a stage written as an
    expression is `stage`; a repeated name gets -2, -3..."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        base = n.split("(", 1)[0].strip()
        named = base != "" and all(part.isidentifier() for part in base.split("."))
        clean = base.replace(".", "-").lower() if named else "stage"  # `lib.build` -> lib-build
        seen[clean] = seen.get(clean, 0) + 1
        out.append(clean if seen[clean] == 1 else f"{clean}-{seen[clean]}")
    return out


def _splittable(c: CacheEntry) -> bool:
    """Whether ``c`` can have per-target parts (not a ref pinned to a digest: that names one cache)."""
    backend = cache_options.BACKENDS.get(c.type)
    return backend is not None and bool(backend.per_target) and "@" not in c.attrs.get("ref", "")


def _has_placeholder(c: CacheEntry) -> bool:
    return any(TARGET_PLACEHOLDER in v for v in c.attrs.values())


def _location(c: CacheEntry) -> tuple[str, ...]:
    """Where a cache lives: its type and the attrs that name the place (a local import's `src` and an export's
    `dest` are one directory); an import and an export of one place have the same location."""
    backend = cache_options.BACKENDS.get(c.type)
    place = backend.place if backend else tuple(sorted(c.attrs))
    values: list[str] = []
    for key in place:
        if key == "dir":
            values.append(c.attrs.get("dest") or c.attrs.get("src", ""))
        elif key == "tag":
            values.append(c.attrs.get("tag") or "latest")
        elif key == "ref":
            values.append(_normal_ref(c.attrs.get("ref", "")))
        else:
            values.append(c.attrs.get(key, "") or (backend.defaults.get(key, "") if backend else ""))
    return (c.type, *values)


def _normal_ref(ref: str) -> str:
    try:
        return str(parse_ref(ref))
    except ValueError:
        return ref


def _per_target(c: CacheEntry, name: str, suffix: bool) -> CacheEntry:
    """``c`` for target ``name``: ``{target}`` replaced wherever it is, else, when ``suffix``, ``-name`` added
    to the attr that names the place (a registry ref's tag, a local tag, a gha scope, an s3 or azblob name)."""
    attrs = dict(c.attrs)
    if _has_placeholder(c):
        return CacheEntry(c.type, {k: v.replace(TARGET_PLACEHOLDER, name) for k, v in attrs.items()})
    backend = cache_options.BACKENDS.get(c.type)
    key = backend.per_target if backend else ""
    if not suffix or not key:
        return c
    if key == "ref":
        attrs["ref"] = _tag_suffixed(attrs.get("ref", ""), name)
    else:
        default = {"tag": "latest", "scope": "buildkit", "name": "buildkit"}.get(key, "")
        attrs[key] = f"{attrs.get(key) or default}-{name}"
    return CacheEntry(c.type, attrs)


def _tag_suffixed(ref: str, name: str) -> str:
    """``registry/repo:tag`` -> ``registry/repo:tag-name`` (``latest`` when there is no tag); a tag holds at
    most 128 characters, so a long one keeps its start and a short hash of the rest."""
    repo, tag = ref, "latest"
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        repo, tag = ref[:colon], ref[colon + 1 :]
    tag = f"{tag}-{name}"
    if len(tag) > 128:
        tag = tag[:119] + "-" + hashlib.sha256(tag.encode()).hexdigest()[:8]
    return f"{repo}:{tag}"


def _overwrites(solves: Sequence[Solve]) -> list[str]:
    """Warnings for exports of several solves to one local destination (``-o DIR`` and the build's own
    ``download "DIR"``) and for cache exports of different graphs that land in one place (the last writer
    wins)."""
    writers: dict[tuple[str, ...], list[Solve]] = {}
    places: dict[tuple[str, ...], str] = {}
    for s in solves:
        for c in s.cache_exports:
            if c.type != "inline":
                writers.setdefault(_location(c), []).append(s)
                places.setdefault(_location(c), _place_text(c))
    warnings = []
    exports: dict[str, list[Solve]] = {}
    for s in solves:
        for x in s.exporters:
            if x.dest and x.dest != STDOUT and s not in exports.setdefault(x.dest, []):
                exports[x.dest].append(s)
    for dest, ss in exports.items():
        if len(ss) > 1:
            titles = ", ".join(f"solve {s.index} ({s.title}{', -o' if s.kind == 'target' else ''})" for s in ss)
            warnings.append(
                f"exports of several solves go to one place, {dest}: {titles}; they write it at the same time, so "
                "it ends up with a mix or the last one's files (give each its own destination)"
            )
    for where, ss in writers.items():
        if len({s.result for s in ss}) > 1:
            place = places[where]
            titles = ", ".join(f"solve {s.index} ({s.title})" for s in ss)
            warnings.append(
                f"cache exports of different graphs go to one place, {place}: {titles}; each overwrites the "
                "others and only the last one is kept (give each its own ref)"
            )
    return warnings


def _place_text(c: CacheEntry) -> str:
    if c.type == "registry":
        return _normal_ref(c.attrs.get("ref", ""))
    if c.type == "local":
        return f"{c.attrs.get('dest') or c.attrs.get('src', '')} (tag {c.attrs.get('tag') or 'latest'})"
    return str(c)


def _effects(fs: FsValue) -> list[Effect]:
    """The side solves of ``fs`` and, before each, those of the value it solves (each once)."""
    out: list[Effect] = []

    def visit(effects: Iterable[Effect]) -> None:
        for e in effects:
            if not any(e is o for o in out):
                visit(e.fs.effects)  # made before `e`, so they never contain it
                out.append(e)

    visit(fs.effects)
    return out


# -- rendering ---------------------------------------------------------------------------


def render(plan: Plan, *, cwd: str | None = None, daemons: Mapping[Solve, str] | None = None) -> str:
    """The plan as a tree, with each solve's exports, cache imports and exports and attachments, and
    the daemon each is placed on (``daemons``, with several ``--addr``)."""
    if plan.root is None:
        return "nothing to solve\n"
    lines: list[str] = []
    _render(plan.root, "", "", lines, cwd or os.getcwd(), plan, daemons or {})
    return "\n".join(lines) + "\n"


def _render(
    node: Node, first: str, rest: str, out: list[str], cwd: str, plan: Plan, daemons: Mapping[Solve, str]
) -> None:
    if isinstance(node, Group):
        out.append(first + ("parallel" if node.parallel else "sequential"))
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            more = rest + ("    " if last else "│   ")
            _render(child, rest + ("└── " if last else "├── "), more, out, cwd, plan, daemons)
        return
    s = node
    where = f"{_shown(s.span.file.name, cwd)}:{s.span.begin.line}:{s.span.begin.column}"
    head = (s.head or "scratch").removeprefix("sha256:")[:12]
    out.append(f"{first}solve {s.index}: {s.title}  ({where}, {len(s.definition.ops) - 1} ops, {head})")
    if s in daemons:
        out.append(f"{rest}    daemon: {daemons[s]}")
    for line in solve_details(s, cwd, plan.solves):
        out.append(f"{rest}    {line}")


def solve_details(s: Solve, cwd: str, solves: Sequence[Solve] = ()) -> list[str]:
    lines = []
    if s.platforms:
        lines.append("platforms: " + ", ".join(str(p.platform) for p in s.platforms))
    for x in s.exporters:
        attrs = ",".join(f"{k}={v}" for k, v in x.attrs.items())
        dest = f" -> {'stdout' if x.dest == '-' else _shown(x.dest, cwd)}" if x.dest else ""
        origin = "  (from -o)" if s.kind == "target" else ""
        lines.append(f"export: type={x.type}{',' + attrs if attrs else ''}{dest}{origin}")
    lines += [f"cache import: {c}{_origin(s, 'cache_imports', c)}" for c in s.cache_imports]
    lines += [f"cache export: {c}{_origin(s, 'cache_exports', c)}" for c in s.cache_exports]
    for a in s.attachments:
        match a:
            case LocalDir():
                ignored = ""
                if a.ignore_file:
                    ignored = f" (applies {_shown(a.ignore_file, cwd)})"
                lines.append(f"local: {_shown(a.path, cwd)} as {a.name}{ignored}")
            case SecretFile():
                lines.append(f"secret: {a.id}")
            case SecretInput():
                given = f"{a.source[0]} {_shown(a.source[1], cwd)}" if a.source else "not given"
                lines.append(f"secret: {a.id} (--secret: {given})")
            case SSHSocket():
                lines.append(f"ssh: {a.id} ({ssh_source(a, lambda p: _shown(p, cwd))})")
            case SSHInput():
                lines.append(f"ssh: {a.id} (--ssh: not given)")
    if s.entitlements:
        lines.append("entitlements: " + ", ".join(s.entitlements))
    twins = [o for o in solves if o is not s and o.result == s.result and s.result is not None]
    if twins:
        what = "built once with " + ", ".join(f"solve {o.index}" for o in twins) + " (the same graph)"
        image = any(x.type in IMAGE_EXPORTERS for o in (s, *twins) for x in o.exporters)
        cache = any(c.type != "inline" for o in (s, *twins) for c in o.cache_exports)
        lines.append(what + ("; image and cache are exported concurrently" if image and cache else ""))
    lines += [f"note: {n}" for n in s.notes]
    return lines


def _origin(s: Solve, which: str, c: CacheEntry) -> str:
    origin = s.origins.get(f"{which} {c.key()}", "")
    return f"  (from {origin})" if origin else ""


def _shown(path: str, cwd: str) -> str:
    if not os.path.isabs(path):
        return path
    rel = os.path.relpath(path, cwd)
    return path if rel.startswith("..") else rel
