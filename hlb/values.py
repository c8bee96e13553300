"""Runtime values of HLB expressions, shared by the compiler and the builtins.

An ``fs`` value is an LLB :class:`State` plus the image config an export of it
writes (:class:`ImageSpec`). What a build needs from the machine running hlb
(local directories, secrets, SSH agents) and the side solves a block starts
(pushes, downloads, cache sections) are not carried on values: a lowering
reports them to its :class:`~hlb.builtins.call.CompileContext`, and the solve
plan gives each solve the attachments its own graph references.
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeAlias, TypeVar, overload

from hlb.llb import State
from hlb.source import Span

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class History:
    """One entry of an image's history (``created_by``), as `docker history` shows it."""

    created_by: str
    empty_layer: bool = False


class HistoryLog(Sequence[History]):
    """An image's history as it grows step by step: appending is O(1), not a copy of the history so far.

    A function of 100,000 steps adds 100,000 entries; with a tuple each step copied all the entries before
    it (quadratic: 38 s and 1.5 GB to compile). Logs share one list: the first ``n`` items are this log's,
    so appending to the newest log of a list is a ``list.append``, and appending to an older one (a value
    that two functions continue differently) copies its ``n`` items into a list of its own. Reads are a
    sequence's (``len``, index, slice, iteration), equal to a tuple of the same entries.
    """

    __slots__ = ("_items", "_n")

    def __init__(self, items: list[History], n: int) -> None:
        self._items = items
        self._n = n

    @classmethod
    def of(cls, history: Sequence[History]) -> HistoryLog:
        return history if isinstance(history, HistoryLog) else cls(list(history), len(history))

    def appended(self, entry: History) -> HistoryLog:
        items, n = self._items, self._n
        if len(items) == n:
            items.append(entry)
            if items[n] is entry:  # nobody appended to this list in between (another thread, say)
                return HistoryLog(items, n + 1)
        return HistoryLog([*itertools.islice(items, n), entry], n + 1)

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> History: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[History, ...]: ...

    def __getitem__(self, index: int | slice) -> History | tuple[History, ...]:
        if isinstance(index, slice):
            return tuple(self)[index]
        i = operator.index(index)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("history index out of range")
        return self._items[i]

    def __iter__(self) -> Iterator[History]:
        return itertools.islice(self._items, self._n)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (HistoryLog, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """The parts of an OCI image config that are not on the LLB state.

    Env, working dir, user and platform live on the :class:`State` (runs use
    them); ``base`` is the config JSON of a resolved image, kept so an export
    inherits what hlb does not model (healthcheck, shell, ...).
    """

    base: str = ""  # JSON text of the resolved image's config; "" when not resolved
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    labels: tuple[tuple[str, str], ...] = ()
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str = ""
    history: Sequence[History] = ()  # a HistoryLog once a step adds to it; read it as a sequence

    def base_config(self) -> dict[str, Any]:
        return dict(json.loads(self.base)) if self.base else {}

    def add_history(self, created_by: str, empty_layer: bool = False) -> ImageSpec:
        return replace(self, history=HistoryLog.of(self.history).appended(History(created_by, empty_layer)))


@dataclass(frozen=True, slots=True)
class FsValue:
    """An ``fs``: an LLB state (with its env, working dir, user and platform) and its image config."""

    state: State
    image: ImageSpec = field(default_factory=ImageSpec)
    effects: tuple[Effect, ...] = ()  # side solves that evaluating this value started, in order

    @classmethod
    def scratch(cls) -> FsValue:
        return cls(State())

    def with_state(self, state: State) -> FsValue:
        """The same value (image config included) over another state."""
        return replace(self, state=state)

    def with_image(self, image: ImageSpec) -> FsValue:
        return replace(self, image=image)

    def history(self, created_by: str, empty_layer: bool = False) -> FsValue:
        return replace(self, image=self.image.add_history(created_by, empty_layer))

    def with_effects(self, *effects: Effect) -> FsValue:
        """This value with ``effects`` added after its own (each effect once)."""
        merged = list(self.effects)
        for e in effects:
            if not any(e is m for m in merged):
                merged.append(e)
        return replace(self, effects=tuple(merged))


@dataclass(frozen=True, slots=True)
class Options:
    """An ``option::X`` value: the ordered option items of one call."""

    items: tuple[object, ...] = ()

    def __add__(self, other: Options) -> Options:
        return Options(self.items + other.items)

    def append(self, item: object) -> Options:
        return Options(self.items + (item,))

    def of(self, cls: type[T]) -> list[T]:
        return [i for i in self.items if isinstance(i, cls)]

    def last(self, cls: type[T]) -> T | None:
        found = self.of(cls)
        return found[-1] if found else None

    def has(self, cls: type) -> bool:
        return any(isinstance(i, cls) for i in self.items)


# -- what a build needs from the client ------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalDir:
    """A directory of the client machine that a ``local://NAME`` source reads through filesync.

    ``name`` is the source's name (unique per directory and patterns);
    ``path`` is absolute. Only the declared patterns are sent.
    """

    name: str
    path: str
    include_patterns: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()
    follow_paths: tuple[str, ...] = ()
    ignore_file: str = ""  # the .hlbignore or .dockerignore whose patterns lead exclude_patterns
    ignore_patterns: tuple[str, ...] = ()  # that file's patterns (the first ones of exclude_patterns)


@dataclass(frozen=True, slots=True)
class SecretFile:
    """A file of the client machine served to the daemon as secret ``id``."""

    id: str
    path: str


@dataclass(frozen=True, slots=True)
class SSHSocket:
    """An SSH agent (or a forwarded socket) served to the daemon as ssh id ``id``.

    ``paths`` are agent sockets or private keys; empty means ``$SSH_AUTH_SOCK``. ``given``: the paths come
    from ``hlb run --ssh`` (else from ``localPaths``, ``forward`` or nothing), for ``--tree``.
    """

    id: str
    paths: tuple[str, ...] = ()
    given: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class InputUse:
    """Where a build uses a secret or ssh id that the command line gives, and whether it must be given."""

    span: Span
    required: bool = True


@dataclass(frozen=True, slots=True)
class SecretInput:
    """A secret the build names by id (``secretMount``), given by ``hlb run --secret id=ID,...``.

    ``uses`` are its mounts, in the order compiled. ``source`` is None until the
    command line's flags are bound (:func:`hlb.compiler.attachments.bind`):
    then ``("file", path)`` or ``("env", VARIABLE)``, read only when the daemon
    asks for it, so the value is never in the plan, the LLB or a log.
    """

    id: str
    uses: tuple[InputUse, ...] = ()
    source: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class SSHInput:
    """An ssh id the build names (``ssh with id("ID")``), given by ``hlb run --ssh ID=PATH``.

    Binding the flags turns it into the :class:`SSHSocket` the session serves.
    """

    id: str
    uses: tuple[InputUse, ...] = ()


Attachment: TypeAlias = LocalDir | SecretFile | SSHSocket | SecretInput | SSHInput


# -- side solves -------------------------------------------------------------------------


IMAGE_EXPORTERS = ("image", "docker", "oci", "moby")  # exporters that write an image (and so its config)


@dataclass(frozen=True, slots=True)
class Exporter:
    """A BuildKit exporter of a solve: ``type`` and its attrs, as ``SolveRequest.Exporters`` holds them.

    ``dest`` is the local path the session writes to (``local``, ``tar``,
    ``oci``, ``docker`` exporters); ``""`` when the daemon keeps the result.
    """

    type: str
    attrs: Mapping[str, str] = field(default_factory=dict)
    dest: str = ""


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cache import or export, as buildx writes it: ``type=registry,ref=...``."""

    type: str
    attrs: Mapping[str, str] = field(default_factory=dict)

    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """What makes two entries the same (secrets included, unlike the masked text)."""
        return (self.type, tuple(sorted(self.attrs.items())))

    def __str__(self) -> str:
        """As buildx writes it, with secret values (tokens, keys) as ``***``: this is what --tree and summaries show."""
        shown = (f"{k}={'***' if k in SECRET_CACHE_ATTRS and v else v}" for k, v in self.attrs.items())
        return ",".join([f"type={self.type}", *shown])


# Cache attributes whose values are credentials (hlb.cache_options declares which backend has which).
SECRET_CACHE_ATTRS = frozenset({"token", "access_key_id", "secret_access_key", "session_token"})


@dataclass(frozen=True, eq=False, slots=True)
class Effect:
    """A separate solve that a block starts: an export or a cache section.

    ``kind`` is the builtin (``dockerPush``, ``download``, ``cacheContext``...),
    ``title`` what the plan and progress call it. The solve builds ``fs``
    with ``exporters`` and imports/exports ``cache``; ``span`` is the call.
    """

    kind: str
    title: str
    fs: FsValue
    span: Span
    exporters: tuple[Exporter, ...] = ()
    cache_imports: tuple[CacheEntry, ...] = ()
    cache_exports: tuple[CacheEntry, ...] = ()
    image_name: str = ""  # the normalised image reference an image exporter names, for the summary


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should know about one step, shown on every solve that builds it.

    ``digest`` is the step's op digest; ``--tree`` prints ``text`` as a ``note:``
    line under each such solve and the run summary repeats it. A ``warning`` is
    one of the plan's warnings instead (``hlb: warning:`` before the build).
    """

    text: str
    digest: str
    warning: bool = False


# -- pipelines: trees of solves ------------------------------------------------------------


@dataclass(frozen=True, eq=False, slots=True)
class Single:
    """Solve one ``fs`` (after the side solves its evaluation started)."""

    fs: FsValue
    name: str
    span: Span


N = TypeVar("N")


@dataclass(frozen=True, slots=True)
class Group(Generic[N]):
    """Members run together (``parallel``) or one after another: a tree of requests, or of a plan's solves."""

    parallel: bool
    children: tuple[N | Group[N], ...]


def group(parallel: bool, members: Iterable[N | Group[N] | None]) -> N | Group[N] | None:
    """The algebra of groups (openllb/hlb's): empty members (None) are dropped, a member that is a group of
    the same kind is spread into this one, and no member is None, one member is itself."""
    flat: list[N | Group[N]] = []
    for m in members:
        if isinstance(m, Group) and m.parallel == parallel:
            flat.extend(m.children)
        elif m is not None:
            flat.append(m)
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else Group(parallel, tuple(flat))


Request: TypeAlias = Single | Group[Single]


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A ``pipeline`` value: a request tree, or nothing (``None``) yet."""

    request: Request | None = None


def parallel(*requests: Request | None) -> Request | None:
    return group(True, requests)


def sequential(*requests: Request | None) -> Request | None:
    return group(False, requests)


Value: TypeAlias = FsValue | str | int | bool | Options | Pipeline
