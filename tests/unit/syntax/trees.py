"""What the parser tests compare: every .hlb file of the repository, and syntax trees as plain values."""

from __future__ import annotations

from pathlib import Path

from hlb.source import SourceFile

ROOT = Path(__file__).resolve().parents[3]
HLB_FILES = sorted(
    p for p in ROOT.rglob("*.hlb") if ".venv" not in p.parts and ".git" not in p.parts and p.stat().st_size < 1 << 20
)


def shape(node: object) -> object:
    """A node tree as plain values (spans as offsets), to compare trees of two source file objects."""
    if isinstance(node, tuple | list):
        return tuple(shape(n) for n in node)
    slots = [s for c in type(node).__mro__ for s in getattr(c, "__slots__", ())]
    if not slots or isinstance(node, SourceFile):
        return node if not isinstance(node, SourceFile) else node.text
    if type(node).__name__ == "Span":
        return ("span", node.start, node.end)  # type: ignore[attr-defined]
    return (type(node).__name__, *(shape(getattr(node, s)) for s in slots))
