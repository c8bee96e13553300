"""What the compiler asks of a daemon or a registry while it compiles: image configs and manifests.

The compiler never talks to BuildKit or a registry itself; the CLI hands it an
:class:`ImageResolver` backed by the solver (a gateway-mode solve calling
``LLBBridge.ResolveImageConfig``) and a :class:`ManifestResolver` backed by
``hlb.solver.registry``'s client, and tests hand it fakes of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hlb.llb.platform import Platform


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


class EffectFailed(Exception):
    """A solve run while compiling (a push whose digest is bound) failed; its error was already reported."""

    def __init__(self, code: int) -> None:
        super().__init__(f"a solve run while compiling failed (exit {code})")
        self.code = code
