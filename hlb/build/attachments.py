"""The session services one solve gets: exactly what its plan entry declares.

Each solve of the plan (:class:`hlb.compiler.plan.Solve`) lists the local
directories, secrets and SSH agents its own graph refers to, and the exporters
whose output comes back to this machine. :func:`attachables_for` turns them
into the :class:`hlb.session.Attachable` services its session serves, one
function per kind of service. The services every solve gets (registry
credentials, secrets) are imported here; the `local` transfer and the SSH
forwarding are imported by the function that makes them, when a solve has one:
a plan without `local` or `ssh` never loads them.
"""

from __future__ import annotations

import sys
import threading

from hlb.compiler.plan import Solve
from hlb.session import Attachable
from hlb.session.auth import DockerAuth, load_config
from hlb.session.secrets import SecretFiles
from hlb.solver import export
from hlb.values import LocalDir, SecretFile, SecretInput, SSHSocket


def attachables_for(solve: Solve, caches: export.Caches, exports: export.Exports) -> list[Attachable]:
    """The services of ``solve``'s session; ``caches`` and ``exports`` are its cache entries and exporters as
    prepared for the solve's daemon."""
    return [
        *filesync_for(solve),
        *exports.filesend(),  # `download*` output, and dockerLoad's tarball from a standalone daemon
        *caches.attachables(),  # the content store local cache imports and exports go through
        *auth_for(solve),
        *secrets_for(solve),
        *ssh_for(solve),
    ]


def filesync_for(solve: Solve) -> list[Attachable]:
    """FileSync.DiffCopy serving the solve's `local` directories (and no other)."""
    dirs = [a for a in solve.attachments if isinstance(a, LocalDir)]
    if not dirs:
        return []
    from hlb.session.filesync import FileSync

    return [FileSync(dirs)]


def caches_of(solve: Solve) -> export.Caches:
    """The solve's cache imports/exports as sent (a `type=local` import gets its digest from index.json)."""
    return export.plan_caches(solve.cache_imports, solve.cache_exports)


def auth_for(solve: Solve) -> list[Attachable]:
    """Registry credentials from ~/.docker/config.json and credential helpers (every solve may pull)."""
    return [DockerAuth(load_config(warn=_warn_once))]


def secrets_for(solve: Solve) -> list[Attachable]:
    """The solve's `secret` files and the `--secret`s its `secretMount`s use, by id (other ids, like git's
    GIT_AUTH_TOKEN lookups, and a `secretMount` no flag gives, are not found)."""
    files = {a.id: a.path for a in solve.attachments if isinstance(a, SecretFile)}
    env: dict[str, str] = {}
    for a in solve.attachments:
        if isinstance(a, SecretInput) and a.source is not None:
            kind, where = a.source
            (env if kind == "env" else files)[a.id] = where
    return [SecretFiles(files, env)]


def ssh_for(solve: Solve) -> list[Attachable]:
    """The solve's SSH agents and forwarded sockets (a private ssh-agent for keys starts on first use)."""
    sockets = {a.id: a.paths for a in solve.attachments if isinstance(a, SSHSocket)}
    if not sockets:
        return []
    from hlb.session.sshforward import SSHForward

    return [SSHForward(sockets)]


_warned: set[str] = set()
_warn_lock = threading.Lock()


def _warn_once(message: str) -> None:
    with _warn_lock:
        if message in _warned:
            return
        _warned.add(message)
    print(f"hlb: warning: {message}", file=sys.stderr)
