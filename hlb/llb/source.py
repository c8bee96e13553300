"""Source ops: ``docker-image://``, ``local://``, ``https://``, ``git://``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hlb._proto import ops_pb2 as pb
from hlb.llb.core import Constraints, Output

if TYPE_CHECKING:
    from hlb.llb.definition import Marshaller

# Sources whose content depends on the platform keep it on the op.
_PLATFORM_SPECIFIC = ("docker-image://", "oci-layout://")


@dataclass(frozen=True, eq=False, slots=True)
class SourceOp:
    identifier: str
    attrs: Mapping[str, str] = field(default_factory=dict)
    constraints: Constraints = field(default_factory=Constraints)
    caps: frozenset[str] = frozenset()

    def inputs(self) -> tuple[Output, ...]:
        return ()

    def output(self) -> Output:
        return Output(self, 0)

    def to_pb(self, m: Marshaller) -> tuple[pb.Op, set[str]]:
        op = pb.Op(source=pb.SourceOp(identifier=self.identifier, attrs=dict(self.attrs)))
        if self.identifier.startswith(_PLATFORM_SPECIFIC):
            op.platform.CopyFrom(m.platform_pb(self.constraints))
        return op, set(self.caps)


def image(ref: str, *, resolve_mode: str = "", constraints: Constraints | None = None) -> SourceOp:
    """An image source; ``ref`` must already be normalised (see :mod:`hlb.llb.reference`)."""
    attrs: dict[str, str] = {}
    caps = {"source.image"}
    if resolve_mode and resolve_mode != "default":
        attrs["image.resolvemode"] = resolve_mode
        if resolve_mode == "pull":
            caps.add("source.image.resolvemode")
    return SourceOp("docker-image://" + ref, attrs, constraints or Constraints(), frozenset(caps))
