"""Options of ``mkdir`` and ``mkfile`` (``option::mkdir``, ``option::mkfile``).

``createParents`` is compiled; ``chown`` and ``createdTime`` are declared and
type-checked, and compiled from issue #4 on.
"""

from __future__ import annotations

from dataclasses import dataclass

from hlb.builtins.call import Call
from hlb.builtins.registry import builtin, declare


@dataclass(frozen=True, slots=True)
class CreateParents:
    pass


@builtin("option::mkdir createParents()")
def create_parents(call: Call) -> CreateParents:
    """Create missing parent directories, like `mkdir -p`.

    The parents get the same permissions as the directory; an existing
    directory is then no error either.

    Example: `mkdir "/a/b/c" 0o755 with createParents`
    """
    return CreateParents()


declare(
    "option::mkdir chown(string owner)",
    """Give the new directory this owner, `user:group` (names or numeric ids).

    Names are resolved in this filesystem's `/etc/passwd` and `/etc/group`.

    Example: `mkdir "/home/app/data" 0o755 with chown("1000:1000")`
    """,
)

declare(
    "option::mkdir createdTime(string created)",
    """Set the new directory's modification time, written in RFC 3339.

    A fixed time makes the layer reproducible across builds.

    Example: `mkdir "/out" 0o755 with createdTime("2020-01-01T00:00:00Z")`
    """,
)

declare(
    "option::mkfile chown(string owner)",
    """Give the new file this owner, `user:group` (names or numeric ids).

    Names are resolved in this filesystem's `/etc/passwd` and `/etc/group`.

    Example: `mkfile "/home/app/.profile" 0o644 "umask 022" with chown("1000:1000")`
    """,
)

declare(
    "option::mkfile createdTime(string created)",
    """Set the new file's modification time, written in RFC 3339.

    A fixed time makes the layer reproducible across builds.

    Example: `mkfile "/VERSION" 0o644 "1.0.0" with createdTime("2020-01-01T00:00:00Z")`
    """,
)
