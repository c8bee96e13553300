"""Options of file operations (``option::mkdir``)."""

from __future__ import annotations

from dataclasses import dataclass

from hlb.builtins.call import Call
from hlb.builtins.registry import builtin


@dataclass(frozen=True, slots=True)
class CreateParents:
    pass


@builtin("option::mkdir createParents()")
def create_parents(call: Call) -> CreateParents:
    """Create missing parent directories, like `mkdir -p`.

    Example: `mkdir "/a/b/c" 0o755 with createParents`
    """
    return CreateParents()
