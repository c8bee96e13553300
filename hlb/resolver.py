"""What the compiler asks of a daemon or a registry while it compiles: image configs, manifests, frontends.

The compiler never talks to BuildKit or a registry itself: it is given :class:`Services`, each one
optional. The CLI fills the daemon's slots with the solver's gateway-mode build (``LLBBridge``: image
configs, frontends, files of built filesystems) and the registry's with ``hlb.solver.registry``'s
client; tests give fakes of their own. A service that is not there is a diagnostic where a program
needs it (``hlb run --tree`` has no daemon), never a guess.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, TypeVar, runtime_checkable

from hlb.llb.definition import Definition
from hlb.llb.platform import Platform
from hlb.values import Attachment, Effect


@dataclass(frozen=True, slots=True)
class ResolvedImage:
    ref: str  # the normalised reference that was resolved
    digest: str  # digest of the manifest (or index) the reference points at
    config: bytes  # the image config JSON for the requested platform


class ResolveError(Exception):
    """The daemon or registry could not resolve an image; the message names the reference and the cause."""


class ImageResolver(Protocol):
    def resolve(self, ref: str, platform: Platform) -> ResolvedImage:
        """Resolve ``ref`` for ``platform``; raises :class:`ResolveError`."""
        ...


@dataclass(frozen=True, slots=True)
class ResolvedManifest:
    ref: str  # the normalised reference that was resolved
    digest: str  # digest of the top-level manifest (or index) the reference points at
    manifest: bytes  # the image manifest JSON for the requested platform, as the registry served it
    config: bytes  # the image config JSON that manifest names
    index: bytes | None  # the index (manifest list) JSON the reference points at; None for a single manifest


class ManifestResolver(Protocol):
    def manifest(self, ref: str, platform: Platform) -> ResolvedManifest:
        """Fetch the manifest of ``ref`` for ``platform`` from its registry; raises :class:`ResolveError`."""
        ...


@runtime_checkable
class TagChecker(Protocol):
    """Says whether a tag exists in its registry without fetching the image (a ``HEAD`` of its manifest)."""

    def exists(self, ref: str) -> bool:
        """True when the registry serves ``ref``'s manifest, False when it answers that the tag or the
        repository does not exist (HTTP 404); raises :class:`ResolveError` when it cannot tell."""
        ...


@runtime_checkable
class ImageProber(Protocol):
    """A daemon that says whether it has an image without reporting a missing one as a failed step."""

    def has_image(self, ref: str, platform: Platform) -> bool:
        """Whether the daemon resolves ``ref`` for ``platform``; raises :class:`ResolveError` if it cannot tell."""
        ...


class Presence(enum.Enum):
    """Whether an image a mount is primed from exists, as far as compiling can tell."""

    FOUND = "found"  # the registry (or the daemon, from its own image store) has it
    MISSING = "missing"  # the registry has no such tag and the daemon cannot resolve it either
    NOT_IN_REGISTRY = "not in registry"  # the registry has no such tag; no daemon was asked (`hlb run --tree`)
    UNKNOWN = "unknown"  # no registry client, or the registry could not be asked (offline, refused access)


def presence(
    ref: str, platform: Platform, registry: TagChecker | None, daemon: ImageResolver | None, probe: ImageProber | None
) -> Presence:
    """Whether ``ref`` (a normalised reference with a tag) exists for a build on ``platform``.

    The registry is asked first: it is there without a daemon (``hlb run --tree``)
    and a ``HEAD`` is cheap. Only its 404 counts as missing; then a connected
    daemon has the last word, since its own image store (``docker build``,
    ``docker tag``) and its registry configuration may have the image; it is
    asked through ``probe`` when there is one (a missing image is then no failed step).
    """
    if registry is None:
        return Presence.UNKNOWN
    try:
        if registry.exists(ref):
            return Presence.FOUND
    except ResolveError:
        return Presence.UNKNOWN
    if daemon is None:
        return Presence.NOT_IN_REGISTRY
    try:
        if probe is not None:
            return Presence.FOUND if probe.has_image(ref, platform) else Presence.MISSING
        daemon.resolve(ref, platform)
    except ResolveError as e:
        # Only "not found" is missing; any other failure (access, a broken daemon) cannot tell.
        return Presence.MISSING if not_found(str(e)) else Presence.UNKNOWN
    return Presence.FOUND


def not_found(message: str) -> bool:
    """Whether a daemon's or registry's error says the image does not exist (rather than that it failed)."""
    text = message.lower()
    return "not found" in text or "manifest unknown" in text or "name unknown" in text


# Frontends every BuildKit registers under these names (moby's builder-next and buildkitd alike):
# `frontend "dockerfile.v0"` runs the daemon's own Dockerfile frontend; any other source is an image.
BUILTIN_FRONTENDS = frozenset({"dockerfile.v0", "gateway.v0"})


@dataclass(frozen=True, slots=True)
class FrontendResult:
    definition: bytes | None  # the result ref's serialised ``pb.Definition``; None: no ref (scratch)
    image_config: bytes | None  # the result's ``containerimage.config`` JSON, if the frontend set one


class FrontendError(ResolveError):
    """A frontend failed (or could not be run); the message is one line and names the frontend."""


@runtime_checkable
class FrontendRunner(Protocol):
    def frontend(
        self, source: str, opts: Mapping[str, str], inputs: Mapping[str, Definition], platform: Platform
    ) -> FrontendResult:
        """Run frontend ``source`` (a name of :data:`BUILTIN_FRONTENDS` or an image ref) on the daemon.

        ``opts`` are its frontend options and ``inputs`` its input definitions,
        by key; raises :class:`FrontendError`.
        """
        ...


class EffectFailed(Exception):
    """A solve run while compiling (a push whose digest is bound) failed; its error was already reported."""

    def __init__(self, code: int) -> None:
        super().__init__(f"a solve run while compiling failed (exit {code})")
        self.code = code


@runtime_checkable
class ModuleReader(Protocol):
    """Reads a file out of a filesystem built by the daemon (the ``module.hlb`` of an ``fs`` import)."""

    def read_file(self, definition: Definition, path: str) -> bytes:
        """Build ``definition`` and read ``path`` from its result; raises :class:`ResolveError`."""
        ...


# Runs a push while compiling (`dockerPush ... as digest`): its effect and the attachments known so far -> its digest.
Pusher: TypeAlias = Callable[[Effect, Mapping[str, Attachment]], str]


T = TypeVar("T")


class LocalRuns:
    """The results of the ``localRun`` commands of one build. ``hlb run --platform a,b`` compiles once per
    platform; with one ``LocalRuns`` shared by those compiles, each command (with its options, directory and
    environment) runs once and every platform takes its output: its side effects happen once, and the platforms
    of one image carry one value."""

    def __init__(self) -> None:
        self._results: dict[Hashable, Any] = {}

    def once(self, key: Hashable, run: Callable[[], T]) -> T:
        """The result of ``run()`` for ``key``: made by the first call (an exception is not kept)."""
        if key not in self._results:
            self._results[key] = run()
        result: T = self._results[key]
        return result


@dataclass(frozen=True, slots=True)
class Services:
    """What compiling may ask of the world outside, each None when there is none.

    The daemon's parts: ``images`` (image configs), ``probe`` (whether it has an image, quietly),
    ``frontends`` (the ``frontend`` builtin) and ``modules`` (the ``module.hlb`` of an ``fs`` import);
    the registries': ``manifests`` and ``tags`` (whether a tag exists); ``push`` runs a push while
    compiling (``dockerPush ... as digest``) and returns its digest. ``local_runs`` keeps the output of each
    ``localRun`` for the other compiles of one build (:class:`LocalRuns`; None: each compile runs its own).
    """

    images: ImageResolver | None = None
    probe: ImageProber | None = None
    frontends: FrontendRunner | None = None
    modules: ModuleReader | None = None
    manifests: ManifestResolver | None = None
    tags: TagChecker | None = None
    push: Pusher | None = None
    local_runs: LocalRuns | None = None

    @classmethod
    def of(
        cls, daemon: ImageResolver | None, registry: ManifestResolver | None, push: Pusher | None = None
    ) -> Services:
        """The services of one daemon object and one registry client, each in every slot its methods fill.

        For callers that hand over whole objects (``hlb.api.compile_source(resolver=..., manifests=...)``);
        the CLI names each service itself.
        """
        return cls(
            images=daemon,
            probe=daemon if isinstance(daemon, ImageProber) else None,
            frontends=daemon if isinstance(daemon, FrontendRunner) else None,
            modules=daemon if isinstance(daemon, ModuleReader) else None,
            manifests=registry,
            tags=registry if isinstance(registry, TagChecker) else None,
            push=push,
        )
