"""The session services one solve gets: exactly what its plan entry declares.

Each solve of the plan (:class:`hlb.compiler.plan.Solve`) lists the local
directories, secrets and SSH agents its own graph refers to, and the exporters
whose output comes back to this machine. :func:`attachables_for` turns them
into the :class:`hlb.session.Attachable` services its session serves, one
function per kind of service.
"""

from __future__ import annotations

from hlb.compiler.plan import Solve
from hlb.session import Attachable


def attachables_for(solve: Solve) -> list[Attachable]:
    return [
        *filesync_for(solve),
        *filesend_for(solve),
        *content_for(solve),
        *auth_for(solve),
        *secrets_for(solve),
        *ssh_for(solve),
    ]


def filesync_for(solve: Solve) -> list[Attachable]:
    """FileSync.DiffCopy serving the solve's `local` directories."""
    return []


def filesend_for(solve: Solve) -> list[Attachable]:
    """FileSend.DiffCopy receiving `download*` exporter output."""
    return []


def content_for(solve: Solve) -> list[Attachable]:
    """The content store `type=local` cache imports and exports go through."""
    return []


def auth_for(solve: Solve) -> list[Attachable]:
    """Registry credentials from ~/.docker/config.json and credential helpers."""
    return []


def secrets_for(solve: Solve) -> list[Attachable]:
    """The solve's `secret` files."""
    return []


def ssh_for(solve: Solve) -> list[Attachable]:
    """The solve's SSH agents and forwarded sockets."""
    return []
