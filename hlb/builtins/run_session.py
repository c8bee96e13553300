"""Options of ``run`` that reach the machine running hlb through the session.

``ssh`` (an SSH agent), ``forward`` (a local socket) and ``secret`` (local
files), with their own options. Declared and type-checked here; compiled
from issue #4 on. Relative local paths are relative to the module's directory.
"""

from __future__ import annotations

from hlb.builtins.registry import declare

# -- option::run ----------------------------------------------------------------------

declare(
    "option::run ssh()",
    """Give this `run` an SSH agent socket served by the machine running hlb.

    The agent behind `$SSH_AUTH_SOCK` is forwarded unless `localPaths` names
    other sockets or keys. The socket is mounted at
    `/run/buildkit/ssh_agent.N` (mode 0o600) unless `target` says otherwise.
    Options: `target`, `localPaths`, `uid`, `gid`, `mode`.

    Example: `run "git clone git@github.com:acme/private.git" with ssh`
    """,
)

declare(
    "option::run forward(string src, string dest)",
    """Forward a local socket into this `run` as a unix socket at `dest`.

    `src` is a `unix://path` socket or a `tcp://host:port` address of the
    machine running hlb, proxied through the session for the duration of the
    build. Options: `uid`, `gid`, `mode`.

    Example: `run "docker ps" with forward("unix:///var/run/docker.sock", "/var/run/docker.sock")`
    """,
)

declare(
    "option::run secret(string localPath, string mountPoint)",
    """Mount a local file as a secret at `mountPoint` for this `run`.

    Secrets live in a tmpfs and never enter the image or the build cache. A
    directory gives one secret per file, mounted under `mountPoint` at its
    relative path. Options: `uid`, `gid`, `mode`, `includePatterns`,
    `excludePatterns`.

    Example: `run "cat /run/secrets/npmrc" with secret("./.npmrc", "/run/secrets/npmrc")`
    """,
)

# -- option::ssh --------------------------------------------------------------------

declare(
    "option::ssh target(string mountPoint)",
    """Mount the SSH agent socket at `mountPoint`.

    The default is `/run/buildkit/ssh_agent.N`, N counting the `ssh` options
    of the `run`; `SSH_AUTH_SOCK` points at the first socket.

    Example: `ssh with target("/run/ssh-agent.sock")`
    """,
)

declare(
    "option::ssh localPaths(variadic string path)",
    """Serve these instead of `$SSH_AUTH_SOCK`: one agent socket, or PEM private keys.

    Keys protected by a passphrase are not supported.

    Example: `ssh with localPaths("~/.ssh/id_ed25519")`
    """,
)

declare(
    "option::ssh uid(int id)",
    """Set the numeric owner of the SSH agent socket.

    The default is 0 (root); set it when the command runs as another user.

    Example: `ssh with uid(1000)`
    """,
)

declare(
    "option::ssh gid(int id)",
    """Set the numeric group of the SSH agent socket.

    The default is 0 (root); set it when the command runs as another group.

    Example: `ssh with gid(1000)`
    """,
)

declare(
    "option::ssh mode(int filemode)",
    """Set the permissions of the SSH agent socket.

    The default is 0o600, usable by its owner only.

    Example: `ssh with mode(0o660)`
    """,
)

# -- option::forward ------------------------------------------------------------------

declare(
    "option::forward uid(int id)",
    """Set the numeric owner of the forwarded socket.

    The default is 0 (root); set it when the command runs as another user.

    Example: `forward "unix:///var/run/docker.sock" "/var/run/docker.sock" with uid(1000)`
    """,
)

declare(
    "option::forward gid(int id)",
    """Set the numeric group of the forwarded socket.

    The default is 0 (root); set it when the command runs as another group.

    Example: `forward "unix:///var/run/docker.sock" "/var/run/docker.sock" with gid(999)`
    """,
)

declare(
    "option::forward mode(int filemode)",
    """Set the permissions of the forwarded socket.

    The default is 0o600, usable by its owner only.

    Example: `forward "unix:///var/run/docker.sock" "/var/run/docker.sock" with mode(0o660)`
    """,
)

# -- option::secret -------------------------------------------------------------------

declare(
    "option::secret uid(int id)",
    """Set the numeric owner of the mounted secret files.

    The default is 0 (root); set it when the command runs as another user.

    Example: `secret "./token" "/run/secrets/token" with uid(1000)`
    """,
)

declare(
    "option::secret gid(int id)",
    """Set the numeric group of the mounted secret files.

    The default is 0 (root); set it when the command runs as another group.

    Example: `secret "./token" "/run/secrets/token" with gid(1000)`
    """,
)

declare(
    "option::secret mode(int filemode)",
    """Set the permissions of the mounted secret files.

    BuildKit's default is 0o400, readable by the owner only.

    Example: `secret "./token" "/run/secrets/token" with mode(0o440)`
    """,
)

declare(
    "option::secret includePatterns(variadic string pattern)",
    """For a directory, mount only the files matching one of these patterns.

    Patterns are relative to the directory; a single file ignores them.

    Example: `secret "./certs" "/run/secrets/certs" with includePatterns("*.pem")`
    """,
)

declare(
    "option::secret excludePatterns(variadic string pattern)",
    """For a directory, do not mount the files matching one of these patterns.

    Patterns are relative to the directory; a single file ignores them.

    Example: `secret "./certs" "/run/secrets/certs" with excludePatterns("*.pub")`
    """,
)
