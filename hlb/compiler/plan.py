"""The solve plan: the requested targets as a tree of parallel and sequential solves.

Each :class:`Solve` is one ``Control.Solve``: its own Definition, exporters,
cache imports and exports, the client attachments its graph refers to, and the
entitlements its exec ops need. A target's ``fs`` is one solve, preceded by
the side solves its evaluation started (pushes, downloads, cache sections):

* a ``cacheContext`` section is solved before every solve whose graph
  contains it, so that solve finds the section in the daemon's cache;
* the other side solves of a target run in parallel with each other and
  with the target's own solve; a target solve that only rebuilds what a side
  solve already builds (``fs f() { ...; dockerPush "x"; }``) is left out;
* targets are parallel; pipelines keep their ``stage`` order.

``render`` prints the plan for ``hlb run --tree``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hlb.builtins.oci_config import oci_config
from hlb.compiler.compiler import CompiledTarget
from hlb.llb import Definition, Platform
from hlb.llb.needs import needs_of
from hlb.source import Span
from hlb.values import (
    Attachment,
    CacheEntry,
    Effect,
    Exporter,
    FsValue,
    LocalDir,
    Notice,
    Parallel,
    Request,
    SecretFile,
    Sequential,
    Single,
    SSHSocket,
)

IMAGE_EXPORTERS = ("image", "docker", "oci", "moby")


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

    @property
    def head(self) -> str | None:
        return self.definition.head


@dataclass(frozen=True, slots=True)
class Group:
    parallel: bool
    children: tuple[Node, ...]


Node = Solve | Group


@dataclass
class Plan:
    root: Node | None
    solves: list[Solve] = field(default_factory=list)


def build_plan(
    targets: Sequence[CompiledTarget],
    attachments: Mapping[str, Attachment],
    platform: Platform,
    *,
    cache_from: Sequence[CacheEntry] = (),
    cache_to: Sequence[CacheEntry] = (),
    notices: Sequence[Notice] = (),
) -> Plan:
    """The plan for ``targets``; ``cache_from``/``cache_to`` (``hlb run`` flags) apply to every target solve.

    Each of ``notices`` becomes a note of every solve whose graph has its step.
    """
    builder = _Builder(attachments, platform, tuple(cache_from), tuple(cache_to))
    for t in targets:
        if t.request is not None:
            builder.request(t.request)
    for s in builder.solves:
        texts = [n.text for n in notices if n.digest in s.definition.op_kinds]
        s.notes = tuple(dict.fromkeys((*s.notes, *texts)))
    return Plan(builder.tree(), builder.solves)


def solve_for_effect(effect: Effect, attachments: Mapping[str, Attachment], platform: Platform) -> Solve:
    """The solve of one side solve on its own (a push run while compiling)."""
    return _Builder(attachments, platform, (), ()).effect(effect)


class _Builder:
    def __init__(
        self,
        attachments: Mapping[str, Attachment],
        platform: Platform,
        cache_from: tuple[CacheEntry, ...],
        cache_to: tuple[CacheEntry, ...],
    ) -> None:
        self.platform = platform
        self.cache_from = cache_from
        self.cache_to = cache_to
        self.solves: list[Solve] = []
        self.deps: dict[Solve, list[Solve]] = {}  # the solves that must finish before each solve
        self.side: dict[object, Solve] = {}
        self.locals = {a.name: a for a in attachments.values() if isinstance(a, LocalDir)}
        self.secrets = {a.id: a for a in attachments.values() if isinstance(a, SecretFile)}
        self.ssh = {a.id: a for a in attachments.values() if isinstance(a, SSHSocket)}

    def request(self, r: Request) -> list[Solve]:
        """Add the solves of ``r``; returns them (a sequential group orders its members' solves)."""
        match r:
            case Single():
                return self.single(r)
            case Parallel():
                return [s for c in r.children for s in self.request(c)]
            case Sequential():
                done: list[Solve] = []
                for c in r.children:
                    solves = self.request(c)
                    for s in solves:
                        self.deps[s].extend(d for d in done if d is not s and d not in self.deps[s])
                    done.extend(x for x in solves if x not in done)
                return done

    def single(self, r: Single) -> list[Solve]:
        solves = [self.effect(e) for e in _effects(r.fs)]
        definition = r.fs.state.marshal(r.fs.state.platform or self.platform)
        if not definition.empty and not any(s.head == definition.head for s in solves):
            title = f"target {r.name}"
            solves.append(self.solve("target", title, r.span, r.fs, definition, (), self.cache_from, self.cache_to))
        # A cache section goes before every solve whose graph contains its result (op_kinds has every op's digest).
        for s in solves:
            ops = s.definition.op_kinds
            for a in solves:
                if a is not s and a.kind == "cacheContext" and a.head in ops and a not in self.deps[s]:
                    self.deps[s].append(a)
        return solves

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
            _group(True, [s for s in self.solves if level[s] == n]) for n in range(max(level.values(), default=-1) + 1)
        ]
        return _group(False, stages)

    def effect(self, e: Effect) -> Solve:
        """The side solve ``e`` (the same solve for an identical side solve reached from another target)."""
        definition = e.fs.state.marshal(e.fs.state.platform or self.platform)
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


def _group(parallel: bool, nodes: Sequence[Node | None]) -> Node | None:
    flat: list[Node] = []
    for n in nodes:
        if n is None:
            continue
        if isinstance(n, Group) and n.parallel == parallel:
            flat.extend(n.children)
        else:
            flat.append(n)
    if not flat:
        return None
    if len(flat) == 1:
        return flat[0]
    return Group(parallel, tuple(flat))


# -- rendering ---------------------------------------------------------------------------


def render(plan: Plan, *, cwd: str | None = None) -> str:
    """The plan as a tree, with each solve's exports, cache imports and exports and attachments."""
    if plan.root is None:
        return "nothing to solve\n"
    lines: list[str] = []
    _render(plan.root, "", "", lines, cwd or os.getcwd())
    return "\n".join(lines) + "\n"


def _render(node: Node, first: str, rest: str, out: list[str], cwd: str) -> None:
    if isinstance(node, Group):
        out.append(first + ("parallel" if node.parallel else "sequential"))
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            _render(child, rest + ("└── " if last else "├── "), rest + ("    " if last else "│   "), out, cwd)
        return
    s = node
    where = f"{_shown(s.span.file.name, cwd)}:{s.span.begin.line}:{s.span.begin.column}"
    head = (s.head or "scratch").removeprefix("sha256:")[:12]
    out.append(f"{first}solve {s.index}: {s.title}  ({where}, {len(s.definition.ops) - 1} ops, {head})")
    for line in solve_details(s, cwd):
        out.append(f"{rest}    {line}")


def solve_details(s: Solve, cwd: str) -> list[str]:
    lines = []
    for x in s.exporters:
        attrs = ",".join(f"{k}={v}" for k, v in x.attrs.items())
        dest = f" -> {_shown(x.dest, cwd)}" if x.dest else ""
        lines.append(f"export: type={x.type}{',' + attrs if attrs else ''}{dest}")
    lines += [f"cache import: {c}" for c in s.cache_imports]
    lines += [f"cache export: {c}" for c in s.cache_exports]
    for a in s.attachments:
        match a:
            case LocalDir():
                lines.append(f"local: {_shown(a.path, cwd)} as {a.name}")
            case SecretFile():
                lines.append(f"secret: {a.id}")
            case SSHSocket():
                lines.append(f"ssh: {a.id}")
    if s.entitlements:
        lines.append("entitlements: " + ", ".join(s.entitlements))
    lines += [f"note: {n}" for n in s.notes]
    return lines


def _shown(path: str, cwd: str) -> str:
    if not os.path.isabs(path):
        return path
    rel = os.path.relpath(path, cwd)
    return path if rel.startswith("..") else rel
