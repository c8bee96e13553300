"""Options of ``run`` that reach the machine running hlb through the session.

``ssh`` (an SSH agent), ``forward`` (a local socket), ``secret`` (local
files) and ``secretMount`` (a secret the command line gives, as Dockerfile's
``RUN --mount=type=secret``), with their own options. Relative local paths are relative to the
module's directory. Each lowering records what the session must serve with
``call.ctx.attach``; the LLB names it by an id and never holds file contents.

Ids are derived from the paths as written (a relative path stays relative to
its module, ``~`` stays ``~``), so the exec ops, and so the cache keys, are the
same across runs and across clones in different directories. A forwarded
socket is attached as an :class:`~hlb.values.SSHSocket` whose one path is a
URL (``unix:///abs/path`` or ``tcp://host:port``): plain paths are SSH agent
sockets or keys, URLs are raw sockets to proxy.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from hlb.builtins.call import Call, Patterns, patterns_of
from hlb.builtins.owner import Owned, Owner, declare_owner_options, owner_of
from hlb.builtins.registry import builtin, flag
from hlb.diagnostics import catalog as cat
from hlb.llb.exec import SecretMount, SSHMount
from hlb.llb.state import join_dir
from hlb.source import client_path
from hlb.values import InputUse, SecretFile, SecretInput, SSHInput, SSHSocket

# -- option values -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunSecret:
    """The secret mounts of one ``secret`` option (one per file), in mount order."""

    mounts: tuple[SecretMount, ...]


@dataclass(frozen=True, slots=True)
class RunSSH:
    """One SSH socket mount of a ``run`` (from ``ssh`` or ``forward``)."""

    mount: SSHMount


@dataclass(frozen=True, slots=True)
class SecretId:
    id: str


@dataclass(frozen=True, slots=True)
class SecretEnv:
    name: str


@dataclass(frozen=True, slots=True)
class SSHId:
    id: str


@dataclass(frozen=True, slots=True)
class SocketTarget:
    path: str


@dataclass(frozen=True, slots=True)
class LocalPaths:
    paths: tuple[tuple[str, str], ...]  # (absolute path, id key)


def mount_point(call: Call, text: str, arg: int) -> str:
    """The absolute mount point, cleaned as Go's ``path.Clean`` does; ``arg`` locates errors.

    A relative one joins the working dir. ``//x`` becomes ``/x`` (``normpath``
    keeps POSIX's two leading slashes), so a cache's default id, the mount
    point, is the one Dockerfile's frontend gives it.
    """
    if not text:
        call.fail(cat.invalid_value(call.arg_span(arg), "empty mount point"))
    cleaned = posixpath.normpath(join_dir(call.fs.state.cwd, text))
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def local_path(call: Call, path: str, arg: int) -> tuple[str, str]:
    """``path`` of the client machine: (its absolute path, the key its ids derive from)."""
    if not path:
        call.fail(cat.invalid_value(call.arg_span(arg), "empty path"))
    return client_path(call.host_text(path, arg), call.module_dir), posixpath.normpath(path)


SSH_SOCKET = Owned("the SSH agent socket", 0o600, "usable by its owner only", "ssh", 0o660)
FORWARDED = Owned(
    "the forwarded socket",
    0o600,
    "usable by its owner only",
    'forward "unix:///var/run/docker.sock" "/var/run/docker.sock"',
    0o660,
)
SECRET = Owned(
    "the mounted secret files", 0o400, "readable by its owner only", 'secret "./token" "/run/secrets/token"', 0o440
)
SECRET_MOUNT = Owned(
    "the secret file",
    0o400,
    "readable by its owner only",
    'secretMount "/run/secrets/token"',
    0o440,
    note="A secret given with `env` is no file and takes none of them.",
)


def derived_id(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


# -- option::run ----------------------------------------------------------------------


@builtin("option::run ssh()")
def ssh(call: Call) -> RunSSH:
    """Give this `run` an SSH agent socket served by the machine running hlb.

    The agent of `$SSH_AUTH_SOCK` is forwarded unless `localPaths` names sockets
    or keys, or `id` takes what `hlb run --ssh ID=PATH` gives (`--ssh default=PATH`
    replaces `$SSH_AUTH_SOCK`). It is mounted at `/run/buildkit/ssh_agent.N` (mode
    0o600) unless `target` says otherwise; the first is the `run`'s `SSH_AUTH_SOCK`.

    Example: `run "git clone git@github.com:acme/private.git" with ssh`
    """
    paths = sorted({p for lp in call.options.of(LocalPaths) for p in lp.paths}, key=lambda p: p[1])
    named = call.options.last(SSHId)
    if named is not None and named.id != "default":
        if paths:
            call.fail(
                cat.invalid_value(
                    call.span,
                    f"the ssh id `{named.id}` is given by `hlb run --ssh {named.id}=PATH`, so `localPaths` cannot "
                    "serve it too",
                    hint="drop `localPaths`, or drop `id` to serve the paths under an id of their own",
                )
            )
        sock_id = named.id
        call.ctx.attach(SSHInput(sock_id, (InputUse(call.span),)))
    else:
        sock_id = derived_id("\x00".join(key for _, key in paths)) if paths else "default"
        call.ctx.attach(SSHSocket(sock_id, tuple(abs_path for abs_path, _ in paths)))
    target = call.options.last(SocketTarget)
    uid, gid, mode = owner_of(call.options, SSH_SOCKET.default_mode)
    return RunSSH(SSHMount(sock_id, target.path if target else "", uid=uid, gid=gid, mode=mode))


@builtin("option::run forward(string src, string dest)")
def forward(call: Call, src: str, dest: str) -> RunSSH:
    """Forward a local socket into this `run` as a unix socket at `dest`.

    `src` is a `unix://path` socket (relative to the module) or a
    `tcp://host:port` address of the machine running hlb, proxied through the
    session for the duration of the build.

    Example: `run "docker ps" with forward("unix:///var/run/docker.sock", "/var/run/docker.sock")`
    """
    target = mount_point(call, dest, 1)
    if src.startswith("unix://"):
        abs_path, key = local_path(call, src[len("unix://") :], 0)
        if not os.path.isdir(os.path.dirname(abs_path)):
            call.fail(cat.invalid_value(call.arg_span(0), f"no directory `{os.path.dirname(abs_path)}` for the socket"))
        sock_id, url = derived_id("unix://" + key), "unix://" + abs_path
    elif src.startswith("tcp://"):
        try:
            parts = urlsplit(src)
            port = parts.port
        except ValueError:  # an unclosed `[` of an IPv6 host, a port that is no number
            call.fail(cat.invalid_value(call.arg_span(0), f"`{src}` is not a `tcp://host:port` address"))
        if not parts.hostname or port is None or parts.path not in ("", "/"):
            call.fail(cat.invalid_value(call.arg_span(0), f"`{src}` is not a `tcp://host:port` address"))
        sock_id, url = derived_id(src), src
    else:
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                f"cannot forward `{src}`",
                hint="forward a `unix://path` socket or a `tcp://host:port` address",
            )
        )
    call.ctx.attach(SSHSocket(sock_id, (url,)))
    uid, gid, mode = owner_of(call.options, FORWARDED.default_mode)
    return RunSSH(SSHMount(sock_id, target, uid=uid, gid=gid, mode=mode))


@builtin("option::run secret(string localPath, string mountPoint)")
def secret(call: Call, local_path_: str, mount_point_: str) -> RunSecret:
    """Mount a local file as a secret at `mountPoint` for this `run`.

    Secrets live in a tmpfs and never enter the image or the build cache. A
    directory gives one secret per file, mounted under `mountPoint` at its
    relative path.

    Example: `run "cat /run/secrets/npmrc" with secret("./.npmrc", "/run/secrets/npmrc")`
    """
    target = mount_point(call, mount_point_, 1)
    abs_path, key = local_path(call, local_path_, 0)
    try:
        st = os.stat(abs_path)
    except OSError as e:
        call.fail(cat.invalid_value(call.arg_span(0), f"cannot read secret `{local_path_}`: {e.strerror}"))
    if stat.S_ISREG(st.st_mode):
        files = [""]
    elif stat.S_ISDIR(st.st_mode):
        include, exclude = patterns_of(call.options)
        try:
            found = walk_files(abs_path)
        except OSError as e:  # a directory under it that cannot be listed
            call.fail(
                cat.invalid_value(call.arg_span(0), f"cannot read secret `{local_path_}`: {e.strerror}: {e.filename}")
            )
        files = [rel for rel in found if selected(rel, include, exclude)]
        if not files:
            call.fail(cat.invalid_value(call.arg_span(0), f"no files to mount as secrets in `{local_path_}`"))
    else:
        call.fail(cat.invalid_value(call.arg_span(0), f"secret `{local_path_}` is not a file or a directory"))
    uid, gid, mode = owner_of(call.options, SECRET.default_mode)
    mounts = []
    for rel in files:
        file_key = posixpath.join(key, rel) if rel else key
        secret_id = derived_id(file_key)
        call.ctx.attach(SecretFile(secret_id, os.path.join(abs_path, rel) if rel else abs_path))
        dest = posixpath.join(target, rel) if rel else target
        mounts.append(SecretMount(dest, secret_id, uid=uid, gid=gid, mode=mode))
    return RunSecret(tuple(mounts))


SECRET_REQUIRED = flag(
    "option::secretMount required()",
    """Fail the build when the command line gives no such secret.

    Without it a secret that no `hlb run --secret id=ID,...` gives is not
    mounted (hlb warns), as Dockerfile's `--mount=type=secret` without `required`.

    Example: `secretMount "/run/secrets/token" with required`
    """,
)


@builtin("option::run secretMount(string mountPoint)")
def secret_mount(call: Call, mount_point_: str) -> RunSecret:
    """Mount the secret that `hlb run --secret id=ID,...` gives as a file at `mountPoint`.

    As Dockerfile's `RUN --mount=type=secret`: the id is the mount point's base
    name unless `id` names it; a tmpfs file (0o400, root's) never in the image,
    the cache or the LLB. A secret no flag gives is not mounted (hlb warns) unless
    it is `required`; `env` gives it as an environment variable instead.

    Example: `run "cat /run/secrets/token" with secretMount("/run/secrets/token")`
    """
    target = mount_point(call, mount_point_, 0)
    opts = call.options
    named = opts.last(SecretId)
    secret_id = named.id if named is not None else posixpath.basename(target)
    if not secret_id:
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                f"the mount point `{target}` has no base name to be the secret's id",
                hint='add `id "NAME"`',
            )
        )
    required = SECRET_REQUIRED.given(opts)
    call.ctx.attach(SecretInput(secret_id, (InputUse(call.span, required),)))
    env = opts.last(SecretEnv)
    if env is not None:
        if opts.has(Owner):
            call.fail(
                cat.invalid_value(
                    call.span,
                    f"the secret `{secret_id}` is the environment variable `{env.name}`, which has no `uid`, `gid` or "
                    "`mode`",
                    hint="drop them, or drop `env` to mount the secret as a file",
                )
            )
        return RunSecret((SecretMount(env.name, secret_id, optional=not required, env=True),))
    uid, gid, mode = owner_of(opts, SECRET_MOUNT.default_mode)
    return RunSecret((SecretMount(target, secret_id, uid=uid, gid=gid, mode=mode, optional=not required),))


# -- local files and patterns ---------------------------------------------------------


def walk_files(root: str) -> list[str]:
    """Regular files under ``root`` as slash-separated relative paths, each directory in name order."""
    out: list[str] = []

    def visit(rel: str) -> None:
        with os.scandir(os.path.join(root, rel)) as it:
            entries = sorted(it, key=lambda e: e.name.encode("utf-8", "surrogateescape"))
        for e in entries:
            child = f"{rel}/{e.name}" if rel else e.name
            if e.is_dir(follow_symlinks=False):
                visit(child)
            elif e.is_file(follow_symlinks=False):
                out.append(child)

    visit("")
    return out


def selected(rel: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """fsutil's filter: an include pattern matches the file or a parent; excludes apply in order, `!` re-includes."""
    if include and not any(_matches_or_parent(p, rel) for p in include):
        return False
    excluded = False
    for p in exclude:
        negate = p.startswith("!")
        if _matches_or_parent(p[1:] if negate else p, rel):
            excluded = not negate
    return not excluded


def _matches_or_parent(pattern: str, rel: str) -> bool:
    rx = _pattern_regex(pattern)
    parts = rel.split("/")
    return any(rx.fullmatch("/".join(parts[:i])) for i in range(len(parts), 0, -1))


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A Docker-style pattern (`*`, `?`, `[...]` within a path element, `**` across) as a regex."""
    p = posixpath.normpath(pattern).lstrip("/")
    out, i = [], 0
    while i < len(p):
        c = p[i]
        if p.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif p.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and "]" in p[i + 1 :]:
            end = p.index("]", i + 2 if p[i + 1 : i + 2] in ("!", "^", "]") else i + 1)
            body = p[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body[:1] in ("!", "^") else body).replace("\\", "\\\\") + "]")
            i = end + 1
        elif c == "\\" and i + 1 < len(p):
            out.append(re.escape(p[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out))


# -- option::ssh --------------------------------------------------------------------


@builtin("option::ssh target(string mountPoint)")
def ssh_target(call: Call, mount_point_: str) -> SocketTarget:
    """Mount the SSH agent socket at `mountPoint`.

    The default is `/run/buildkit/ssh_agent.N`, N counting the `ssh` and
    `forward` options of the `run`; `SSH_AUTH_SOCK` points at the first socket.

    Example: `ssh with target("/run/ssh-agent.sock")`
    """
    return SocketTarget(mount_point(call, mount_point_, 0))


@builtin("option::ssh localPaths(variadic string path)")
def ssh_local_paths(call: Call, *paths: str) -> LocalPaths:
    """Serve these instead of `$SSH_AUTH_SOCK`: one agent socket, or PEM private keys.

    Keys protected by a passphrase are not supported.

    Example: `ssh with localPaths("~/.ssh/id_ed25519")`
    """
    resolved = []
    for i, p in enumerate(paths):
        abs_path, key = local_path(call, p, i)
        if not os.path.exists(abs_path):
            call.fail(cat.invalid_value(call.arg_span(i), f"no such socket or key `{p}`"))
        resolved.append((abs_path, key))
    return LocalPaths(tuple(resolved))


@builtin("option::ssh id(string sshid)")
def ssh_id(call: Call, sshid: str) -> SSHId:
    """Serve the socket or keys that `hlb run --ssh ID=PATH` gives under this id.

    A build that uses an id the command line does not give fails before it
    starts, naming the flag; `default` is the plain `ssh` (`$SSH_AUTH_SOCK`).

    Example: `ssh with id("deploy")`
    """
    _check_id(call, sshid, "ssh")
    return SSHId(sshid)


def _check_id(call: Call, value: str, what: str) -> None:
    """An id the command line can name: not empty, no `,` or `=` (buildx's flags split on them)."""
    if not value or any(c in value for c in ",=\n"):
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                f"`{value}` cannot be a {what} id" if value else f"empty {what} id",
                hint=f"name it so that `--{what} id=NAME` can give it: no `,`, `=` or newline",
            )
        )


declare_owner_options("ssh", SSH_SOCKET)

# -- option::forward ------------------------------------------------------------------

declare_owner_options("forward", FORWARDED)

# -- option::secret -------------------------------------------------------------------

declare_owner_options("secret", SECRET)

# -- option::secretMount --------------------------------------------------------------


@builtin("option::secretMount id(string secretid)")
def secret_mount_id(call: Call, secretid: str) -> SecretId:
    """Mount the secret that `hlb run --secret id=ID,...` gives with this id.

    Without it the id is the mount point's base name.

    Example: `secretMount "/root/.npmrc" with id("npmrc")`
    """
    _check_id(call, secretid, "secret")
    return SecretId(secretid)


@builtin("option::secretMount env(string name)")
def secret_mount_env(call: Call, name: str) -> SecretEnv:
    """Give the secret to the command as the environment variable `name` instead of a file.

    The variable is set for this `run` only and is not in the image's
    environment or the LLB (BuildKit's `secretenv`).

    Example: `secretMount "/run/secrets/token" with env("TOKEN")`
    """
    if not name or "=" in name or "\x00" in name:
        call.fail(cat.invalid_value(call.arg_span(0), f"`{name}` cannot be an environment variable name"))
    return SecretEnv(name)


declare_owner_options("secretMount", SECRET_MOUNT)


@builtin("option::secret includePatterns(variadic string pattern)")
def secret_include(call: Call, *patterns: str) -> Patterns:
    """For a directory, mount only the files matching one of these patterns.

    Patterns are relative to the directory (`*` within a name, `**` across
    directories); a pattern matching a directory takes all of it. A single file ignores them.

    Example: `secret "./certs" "/run/secrets/certs" with includePatterns("*.pem")`
    """
    return Patterns(include=patterns)


@builtin("option::secret excludePatterns(variadic string pattern)")
def secret_exclude(call: Call, *patterns: str) -> Patterns:
    """For a directory, do not mount the files matching one of these patterns.

    Patterns are relative to the directory and apply in order; `!pattern`
    takes back files an earlier pattern excluded. A single file ignores them.

    Example: `secret "./certs" "/run/secrets/certs" with excludePatterns("*.pub")`
    """
    return Patterns(exclude=patterns)
