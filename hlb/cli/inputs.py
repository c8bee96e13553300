"""``hlb run --secret`` and ``--ssh``, parsed as buildx parses them.

``--secret`` is CSV: ``id`` (required), ``type`` (``file`` or ``env``),
``src``/``source`` and ``env``; keys are case-insensitive. ``type=env`` reads
the variable ``src`` names; with neither ``src`` nor ``env`` the variable named
like the id is used when it is set, else the file named like it. ``--ssh`` is
``default|ID[=SOCKET|KEY[,KEY...]]``: an empty id is ``default``, no path is
``$SSH_AUTH_SOCK``. Everything is checked before compiling (a missing file, an
unset variable, a path that is no socket or key) so that a mistake is a usage
error (exit 2), never a build that fails later or silently lacks its secret.
Values are never read here beyond a file's size: the session reads them when
the daemon asks.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import stat
from collections.abc import Mapping, Sequence

from hlb.compiler.attachments import Inputs

MAX_SECRET_SIZE = 500 * 1024  # as BuildKit's client (hlb.session.secrets serves at most this)
SECRET_KEYS = {"type", "id", "src", "source", "env"}


class FlagError(ValueError):
    """A ``--secret`` or ``--ssh`` value that cannot be served; the message says why and what to write."""


def parse(secrets: Sequence[str], ssh: Sequence[str], environ: Mapping[str, str] | None = None) -> Inputs:
    """The sources the flags give; raises :class:`FlagError`."""
    env = os.environ if environ is None else environ
    out_secrets: dict[str, tuple[str, str]] = {}
    for value in secrets:
        sid, source = parse_secret(value, env)
        if sid in out_secrets:
            raise FlagError(f"--secret {value!r}: the id `{sid}` is given twice")
        out_secrets[sid] = source
    out_ssh: dict[str, tuple[str, ...]] = {}
    for value in ssh:
        sid, paths = parse_ssh(value, env)
        if sid in out_ssh:
            raise FlagError(f"--ssh {value!r}: the id `{sid}` is given twice")
        out_ssh[sid] = paths
    return Inputs(out_secrets, out_ssh)


def parse_secret(value: str, env: Mapping[str, str]) -> tuple[str, tuple[str, str]]:
    """One ``--secret``: (id, ("file", absolute path) or ("env", VARIABLE))."""
    flag = f"--secret {value!r}"
    usage = "write --secret id=ID,src=FILE or --secret id=ID,env=VARIABLE"
    try:
        fields = next(csv.reader([value], strict=True), [])
    except csv.Error as e:
        raise FlagError(f"{flag}: {e}; {usage}") from None
    kind = sid = src = var = ""
    for f in fields:
        key, eq, v = f.partition("=")
        key = key.strip().lower()
        if not eq:
            raise FlagError(f"{flag}: `{f}` is not KEY=VALUE; {usage}")
        if key not in SECRET_KEYS:
            raise FlagError(f"{flag}: unknown key `{key}` (keys: id, type, src, env); {usage}")
        if key == "type":
            if v not in ("file", "env"):
                raise FlagError(f"{flag}: type must be `file` or `env`, not `{v}`")
            kind = v
        elif key == "id":
            sid = v
        elif key in ("src", "source"):
            src = v
        else:
            var = v
    if not sid:
        raise FlagError(f"{flag}: no id; {usage}")
    if src and var:
        raise FlagError(f"{flag}: give `src` or `env`, not both")
    if kind == "env" and src:
        var, src = src, ""  # type=env: src names the variable
    if kind == "file" and var:
        raise FlagError(f"{flag}: type=file reads `src`, not `env`")
    if not src and not var:
        if kind == "env" or (kind != "file" and sid in env):
            var = sid
        else:
            src = sid
    if var:
        if var not in env:
            raise FlagError(f"{flag}: the environment variable `{var}` is not set")
        if len(env[var].encode("utf-8", "surrogateescape")) > MAX_SECRET_SIZE:
            raise FlagError(f"{flag}: the environment variable `{var}` is larger than {MAX_SECRET_SIZE // 1024} KiB")
        return sid, ("env", var)
    path = os.path.abspath(os.path.expanduser(src))
    try:
        st = os.stat(path)
    except OSError as e:
        named = "" if src != sid or kind else f" (and no environment variable `{sid}` is set)"
        raise FlagError(f"{flag}: cannot read the secret file `{src}`: {e.strerror}{named}") from None
    if not stat.S_ISREG(st.st_mode):
        raise FlagError(f"{flag}: `{src}` is not a file")
    if st.st_size > MAX_SECRET_SIZE:
        raise FlagError(f"{flag}: `{src}` is larger than {MAX_SECRET_SIZE // 1024} KiB, BuildKit's limit for a secret")
    if not os.access(path, os.R_OK):
        raise FlagError(f"{flag}: cannot read the secret file `{src}`: Permission denied")
    return sid, ("file", path)


def parse_ssh(value: str, env: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """One ``--ssh``: (id, the agent socket or the private key files, absolute)."""
    flag = f"--ssh {value!r}"
    sid, eq, rest = value.partition("=")
    sid = sid.strip() or "default"
    if "," in sid:
        raise FlagError(f"{flag}: `{sid}` is not an id; write --ssh default, --ssh ID=SOCKET or --ssh ID=KEY[,KEY]")
    given = [p for p in rest.split(",")] if eq else []
    if eq and not all(given):
        raise FlagError(f"{flag}: an empty path; write --ssh {sid}=SOCKET or --ssh {sid}=KEY[,KEY]")
    if not given:
        sock = env.get("SSH_AUTH_SOCK", "")
        if not sock:
            raise FlagError(f"{flag}: SSH_AUTH_SOCK is not set: start an ssh-agent, or write --ssh {sid}=SOCKET|KEY")
        given = [sock]
    paths: list[str] = []
    sockets = keys = 0
    for p in given:
        path = os.path.abspath(os.path.expanduser(p))
        try:
            st = os.stat(path)
        except OSError as e:
            raise FlagError(f"{flag}: cannot use `{p}` as an ssh agent socket or key: {e.strerror}") from None
        if stat.S_ISSOCK(st.st_mode):
            sockets += 1
        elif stat.S_ISREG(st.st_mode):
            keys += 1
            why = _not_a_private_key(path)
            if why:
                raise FlagError(f"{flag}: `{p}` {why}")
        else:
            raise FlagError(f"{flag}: `{p}` is neither an ssh agent socket nor a private key file")
        paths.append(path)
    if sockets and (keys or sockets > 1):
        raise FlagError(f"{flag}: an ssh id is one agent socket or private key files, not both or several sockets")
    if keys and (shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None):
        raise FlagError(
            f"{flag}: serving private key files needs ssh-agent and ssh-add (OpenSSH) on PATH; "
            "give an agent socket instead"
        )
    return sid, tuple(paths)


_PRIVATE_KEY = re.compile(rb"^-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\s*$", re.M)  # OpenSSH, RSA, EC, PKCS#8
_PUBLIC_KEY = re.compile(rb"^\s*(?:ssh-|ecdsa-|sk-)[a-z0-9@.-]+ AAAA")
_MAX_KEY = 64 * 1024  # a private key is a few KiB


def _not_a_private_key(path: str) -> str:
    """Why the file at ``path`` is no private key ssh-add takes (no PEM/OpenSSH header), or ``""``."""
    try:
        with open(path, "rb") as f:
            head = f.read(_MAX_KEY)
    except OSError as e:
        return f"cannot be read: {(e.strerror or str(e)).lower()}"
    if _PRIVATE_KEY.search(head):
        return ""
    if _PUBLIC_KEY.match(head):
        return "is a public key: give the private key (the file without .pub, e.g. ~/.ssh/id_ed25519)"
    return (
        "is not a private key (no -----BEGIN ... PRIVATE KEY----- line): give an ssh private key file such as "
        "~/.ssh/id_ed25519, or an agent socket"
    )
