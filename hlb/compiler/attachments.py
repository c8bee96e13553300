"""What a build needs from this machine, recorded while compiling: each local directory, secret and SSH
agent once, by its kind and id (a local source's name, a secret's or a socket's id); and the secrets and
ssh ids the command line gives (``hlb run --secret``/``--ssh``), bound to the uses that name them."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from hlb.builtins.call import CompileError
from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.source import Span
from hlb.values import Attachment, InputUse, LocalDir, SecretFile, SecretInput, SSHInput, SSHSocket


def record(known: dict[str, Attachment], item: Attachment, where: Span) -> None:
    """Add ``item`` to ``known``; another attachment under its id is a diagnostic at ``where`` (the call)."""
    key = f"{type(item).__name__}:{item.name if isinstance(item, LocalDir) else item.id}"
    first = known.setdefault(key, item)
    if isinstance(first, (SecretInput, SSHInput)) and isinstance(item, type(first)):
        # One id the command line gives, used in several places: one attachment that knows them all.
        uses = first.uses + tuple(u for u in item.uses if u not in first.uses)
        known[key] = replace(first, uses=uses)
        return
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
        case SecretInput():
            return f"the secret `{a.id}`"
        case SSHInput():
            return f"the ssh id `{a.id}`"


# -- the command line's secrets and ssh ids ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Inputs:
    """What ``hlb run --secret``/``--ssh`` give: secret id -> ("file", path) or ("env", VARIABLE), and
    ssh id -> agent socket or key paths (empty: ``$SSH_AUTH_SOCK``). Paths are absolute."""

    secrets: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    ssh: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Bound:
    """The attachments with the command line's inputs bound; ``errors`` (a required input no flag gives)
    stop the build, ``warnings`` (an input given but unused, an optional secret not given) do not."""

    attachments: dict[str, Attachment]
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def bind(attachments: Mapping[str, Attachment], inputs: Inputs, *, warn_unused: bool = True) -> Bound:
    """Give each secret and ssh id the build names its source from ``inputs``.

    A ``secretMount`` with ``required`` and an ``ssh`` with ``id`` that no flag gives are errors at their
    first use; an optional secret no flag gives is a warning (it is not mounted); a flag that nothing
    uses is a warning (with ``warn_unused``). ``--ssh default=PATH`` serves the plain ``ssh``.
    """
    out = Bound({})
    used_secrets: set[str] = set()
    used_ssh: set[str] = set()
    for key, a in attachments.items():
        match a:
            case SecretInput():
                used_secrets.add(a.id)
                source = inputs.secrets.get(a.id)
                if source is None:
                    flags = (f"--secret id={a.id},src=FILE", f"--secret id={a.id},env=VARIABLE")
                    _missing(out, f"the secret `{a.id}`", flags, a.uses, "is not mounted")
                out.attachments[key] = replace(a, source=source)
            case SSHInput():
                used_ssh.add(a.id)
                paths = inputs.ssh.get(a.id)
                if paths is None:
                    _missing(out, f"the ssh id `{a.id}`", (f"--ssh {a.id}=SOCKET", f"--ssh {a.id}=KEY"), a.uses, "")
                out.attachments[key] = a if paths is None else SSHSocket(a.id, paths, given=True)
            case SSHSocket(id="default", paths=()) if "default" in inputs.ssh:
                used_ssh.add(a.id)
                out.attachments[key] = SSHSocket(a.id, inputs.ssh["default"], given=True)
            case _:
                out.attachments[key] = a
    if warn_unused:
        for sid in inputs.secrets:
            if sid not in used_secrets:
                out.warnings.append(
                    f"--secret id={sid} is not used: no `secretMount` of the targets built has the id `{sid}`"
                )
        for sid in inputs.ssh:
            if sid not in used_ssh:
                what = "plain `ssh`" if sid == "default" else f'`ssh with id("{sid}")`'
                out.warnings.append(f"--ssh {sid} is not used: the targets built have no {what}")
    return out


def _missing(out: Bound, what: str, flags: Sequence[str], uses: Sequence[InputUse], otherwise: str) -> None:
    spans = [u.span for u in uses]
    required = [u.span for u in uses if u.required]
    if required:
        others = [s for s in spans if s != required[0]]
        out.errors.append(cat.missing_input(required[0], what, flags, others))
    elif spans:
        where = ", ".join(str(s) for s in spans)
        out.warnings.append(f"{where}: {what} is not given (pass `{flags[0]}`), so it {otherwise}")


def ssh_source(a: SSHSocket, shown: Callable[[str], str], env: Mapping[str, str] | None = None) -> str:
    """Where an ssh id's agent, keys or socket come from, as ``--tree`` shows it (like a secret's
    ``--secret: file tok.txt``): ``--ssh: socket S``, ``localPaths: K``, ``forward: URL``, or
    ``$SSH_AUTH_SOCK: S`` (``not set``: the build would fail, so it says what to pass)."""
    env = os.environ if env is None else env
    paths = ", ".join(p if "://" in p else shown(p) for p in a.paths)
    if a.given:
        return f"--ssh: {paths}"
    if len(a.paths) == 1 and a.paths[0].startswith(("unix://", "tcp://")):
        return f"forward: {a.paths[0]}"
    if a.paths:
        return f"localPaths: {paths}"
    sock = env.get("SSH_AUTH_SOCK", "")
    if sock:
        return f"$SSH_AUTH_SOCK: {sock}"
    return f"not given: $SSH_AUTH_SOCK is not set; pass --ssh {a.id}=SOCKET|KEY"
