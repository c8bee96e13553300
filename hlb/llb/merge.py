"""Merge and diff ops (Go's ``llb.Merge``/``MergeOp`` and ``llb.Diff``/``DiffOp``).

Neither op carries a platform. :func:`merge` and :func:`diff` apply Go's
shortcuts before building an op: scratch inputs of a merge are dropped (one
input left is returned as it is), and a diff from scratch is its upper state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hlb._proto import ops_pb2 as pb
from hlb.llb.core import Constraints, Output
from hlb.llb.state import State

if TYPE_CHECKING:
    from hlb.llb.definition import Marshaller

EMPTY = -1  # pb.Empty: a diff side that is scratch


@dataclass(frozen=True, eq=False, slots=True)
class MergeOp:
    """The layers of ``layers`` stacked in order; Go requires at least two."""

    layers: tuple[Output, ...]
    constraints: Constraints = field(default_factory=Constraints)

    def __post_init__(self) -> None:
        if len(self.layers) < 2:
            raise ValueError("merge must have at least 2 inputs")

    def inputs(self) -> tuple[Output, ...]:
        return self.layers

    def output(self) -> Output:
        return Output(self, 0)

    def to_pb(self, m: Marshaller) -> tuple[pb.Op, set[str]]:
        op = pb.Op()
        body = pb.MergeOp()
        for layer in self.layers:  # not de-duplicated: Go gives every layer its own input
            body.inputs.add(input=len(op.inputs))
            op.inputs.append(m.input_pb(layer))
        op.merge.CopyFrom(body)
        return op, {"mergeop"}


@dataclass(frozen=True, eq=False, slots=True)
class DiffOp:
    """What ``upper`` changed on top of ``lower`` (either may be scratch: None)."""

    lower: Output | None
    upper: Output | None
    constraints: Constraints = field(default_factory=Constraints)

    def inputs(self) -> tuple[Output, ...]:
        return tuple(o for o in (self.lower, self.upper) if o is not None)

    def output(self) -> Output:
        return Output(self, 0)

    def to_pb(self, m: Marshaller) -> tuple[pb.Op, set[str]]:
        op = pb.Op()

        def side(out: Output | None) -> int:
            if out is None:
                return EMPTY
            op.inputs.append(m.input_pb(out))
            return len(op.inputs) - 1

        lower = pb.LowerDiffInput(input=side(self.lower))
        upper = pb.UpperDiffInput(input=side(self.upper))
        op.diff.CopyFrom(pb.DiffOp(lower=lower, upper=upper))
        return op, {"diffop"}


def merge(states: Sequence[State], constraints: Constraints | None = None) -> State:
    """Go's ``llb.Merge``: the result keeps the first non-scratch state's metadata (env, dir, user)."""
    layers = [s for s in states if s.output is not None]
    if not layers:
        return State()
    if len(layers) == 1:
        return layers[0]
    op = MergeOp(tuple(s.output for s in layers if s.output is not None), constraints or Constraints())
    return layers[0].with_output(op.output())


def diff(lower: State, upper: State, constraints: Constraints | None = None) -> State:
    """Go's ``llb.Diff``: the result keeps the lower state's metadata (env, dir, user)."""
    if lower.output is None:
        return State() if upper.output is None else upper
    return lower.with_output(DiffOp(lower.output, upper.output, constraints or Constraints()).output())
