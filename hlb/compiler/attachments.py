"""What a build needs from this machine, recorded while compiling: each local directory, secret and SSH
agent once, by its kind and id (a local source's name, a secret's or a socket's id)."""

from __future__ import annotations

from hlb.builtins.call import CompileError
from hlb.diagnostics import catalog as cat
from hlb.source import Span
from hlb.values import Attachment, LocalDir, SecretFile, SSHSocket


def record(known: dict[str, Attachment], item: Attachment, where: Span) -> None:
    """Add ``item`` to ``known``; another attachment under its id is a diagnostic at ``where`` (the call)."""
    key = f"{type(item).__name__}:{item.name if isinstance(item, LocalDir) else item.id}"
    first = known.setdefault(key, item)
    if first != item:
        # One id naming two different things would serve one of them for both.
        raise CompileError(
            cat.invalid_value(
                where,
                f"{_describe(item)} gets the same id as {_describe(first)}",
                hint="ids come from the path as written in each module; "
                "write one of the two paths differently (e.g. `./sub/token` instead of `./token`)",
            )
        )


def _describe(a: Attachment) -> str:
    match a:
        case LocalDir():
            return f"the local directory `{a.path}`"
        case SecretFile():
            return f"the secret `{a.path}`"
        case SSHSocket():
            return f"the socket `{', '.join(a.paths) or '$SSH_AUTH_SOCK'}`"
