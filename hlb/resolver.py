"""What the compiler asks of a daemon while it compiles: image configs.

The compiler never talks to BuildKit itself; the CLI hands it an
:class:`ImageResolver` backed by the solver (a gateway-mode solve calling
``LLBBridge.ResolveImageConfig``), and tests hand it a fake of their own.
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
    """The daemon could not resolve an image; the message names the reference and the cause."""


class ImageResolver(Protocol):
    def resolve(self, ref: str, platform: Platform) -> ResolvedImage:
        """Resolve ``ref`` for ``platform``; raises :class:`ResolveError`."""
        ...
