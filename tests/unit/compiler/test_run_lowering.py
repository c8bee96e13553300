"""`run` and its options beyond their LLB (snapshotted from tests/cases/compile/run/ by
test_snapshots.py): diagnostics at the offending argument, what the session is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from hlb.api import compile_source
from hlb.diagnostics import Diagnostic
from hlb.diagnostics.diagnostic import HlbError
from hlb.llb import Platform
from hlb.source import SourceFile
from hlb.values import SecretFile, SSHSocket

CASES = Path(__file__).parents[2] / "cases" / "compile"
AMD64 = Platform("linux", "amd64")


def _errors(path: Path, text: str) -> tuple[Diagnostic, ...]:
    path.write_text(text)
    with pytest.raises(HlbError) as e:
        compile_source(SourceFile(str(path), text), ["default"], AMD64)
    return e.value.errors


def _diagnostic(tmp_path: Path, body: str) -> tuple[str, str, str]:
    """Compile `fs default() { image "busybox"; <body> }`: (location, message, the text under the span)."""
    text = 'fs default() {\n\timage "busybox:latest"\n' + body + "\n}\n"
    errors = _errors(tmp_path / "build.hlb", text)
    assert len(errors) == 1, errors
    d = errors[0]
    return d.location(), d.message, text[d.span.start : d.span.end]


RUN = '\trun "true" with '
MISTAKES = [
    ("unbalanced-quote", '\trun "echo \'oops" with shlex', "cannot split the command into words: no closing quotation"),
    ("empty-shlex", '\trun "   " with shlex', "the command has no words to run"),
    ("host-not-ip", RUN + 'host("db", "10.0.0.300")', "`10.0.0.300` is not an IP address"),
    ("host-zone", RUN + 'host("db", "fe80::1%eth0")', "`fe80::1%eth0` is not an IP address"),
    ("tmpfs-input", RUN + 'option { mount fs { image "alpine"; } "/t" with tmpfs; }', "a `tmpfs` mount starts empty"),
    ("missing-secret", RUN + 'secret("nope.txt", "/s")', "cannot read secret `nope.txt`: No such file or directory"),
    ("forward-scheme", RUN + 'forward("http://x", "/s")', "cannot forward `http://x`"),
    (
        "forward-no-port",
        RUN + 'forward("tcp://localhost", "/s")',
        "`tcp://localhost` is not a `tcp://host:port` address",
    ),
    ("shell-empty", '\tshell\n\trun "true"', "`shell` needs a command prefix"),
    ("ssh-missing-key", RUN + 'option { ssh with option { localPaths "nokey"; }; }', "no such socket or key `nokey`"),
    ("secret-mount-root", RUN + 'secretMount("/")', "the mount point `/` has no base name to be the secret's id"),
    ("secret-mount-empty-id", RUN + 'option { secretMount "/s" with id(""); }', "empty secret id"),
    ("secret-mount-comma-id", RUN + 'option { secretMount "/s" with id("a,b"); }', "`a,b` cannot be a secret id"),
    (
        "secret-mount-env-name",
        RUN + 'option { secretMount "/s" with env("A=B"); }',
        "`A=B` cannot be an environment variable name",
    ),
    (
        "secret-mount-env-owner",
        RUN + 'option { secretMount "/s" with option { env "TOKEN"; mode 0o440; }; }',
        "the secret `s` is the environment variable `TOKEN`, which has no `uid`, `gid` or `mode`",
    ),
    ("ssh-empty-id", RUN + 'option { ssh with id(""); }', "empty ssh id"),
    (
        "ssh-id-and-paths",
        RUN + 'option { ssh with option { id "deploy"; localPaths "."; }; }',
        "the ssh id `deploy` is given by `hlb run --ssh deploy=PATH`, so `localPaths` cannot serve it too",
    ),
]


@pytest.mark.parametrize(("body", "message"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_mistakes_are_diagnostics_at_the_argument(tmp_path: Path, body: str, message: str) -> None:
    location, got, under = _diagnostic(tmp_path, body)
    assert got == message
    assert location.startswith(f"{tmp_path / 'build.hlb'}:3:")
    assert under  # the span covers the offending argument or call


def test_an_unbalanced_quote_points_at_the_command(tmp_path: Path) -> None:
    location, _, under = _diagnostic(tmp_path, '\trun "echo \'oops" with shlex')
    assert under == '"echo \'oops"'
    assert location.endswith(":3:6")


def test_a_bound_cache_or_tmpfs_mount_is_a_diagnostic(tmp_path: Path) -> None:
    for opt, kind in (('cache("c", "shared")', "cache"), ("tmpfs", "tmpfs")):
        text = (
            f'fs build() {{\n\timage "busybox:latest"\n\trun "true" with option {{\n'
            f'\t\tmount scratch "/m" with {opt} as out\n\t}}\n}}\n\nfs default() {{\n\tout\n}}\n'
        )
        errors = _errors(tmp_path / "build.hlb", text)
        assert [d.message.split(":")[0] for d in errors] == [f"a `{kind}` mount cannot be bound with `as`"]


def test_secret_ids_are_stable_across_checkouts_and_the_session_gets_the_files(tmp_path: Path) -> None:
    """The same program in two directories compiles to the same ops: ids come from module-relative paths."""
    digests = []
    for clone in ("a", "b"):
        root = tmp_path / clone
        (root / "keys").mkdir(parents=True)
        (root / "keys" / "id").write_text(f"secret of {clone}\n")
        text = 'fs default() {\n\timage "busybox:latest"\n\trun "true" with secret("keys", "/k")\n}\n'
        compiled = compile_source(SourceFile(str(root / "build.hlb"), text), ["default"], AMD64)
        definition = compiled.targets[0].definition
        assert not any(f"secret of {clone}".encode() in op for op in definition.ops)
        secrets = [a for a in compiled.attachments.values() if isinstance(a, SecretFile)]
        assert [s.path for s in secrets] == [str(root / "keys" / "id")]
        digests.append(definition.digests())
    assert digests[0] == digests[1]


def test_ssh_and_forward_attach_what_the_session_serves(tmp_path: Path) -> None:
    (tmp_path / "agent.sock").write_text("")
    text = (
        'fs default() {\n\timage "busybox:latest"\n\trun "true" with option {\n'
        '\t\tssh\n\t\tssh with localPaths("agent.sock")\n'
        '\t\tforward "unix://agent.sock" "/a.sock"\n\t\tforward "tcp://127.0.0.1:80" "/b.sock"\n\t}\n}\n'
    )
    compiled = compile_source(SourceFile(str(tmp_path / "build.hlb"), text), ["default"], AMD64)
    sockets = sorted((a.paths for a in compiled.attachments.values() if isinstance(a, SSHSocket)), key=str)
    assert sockets == sorted(
        [(), (str(tmp_path / "agent.sock"),), (f"unix://{tmp_path / 'agent.sock'}",), ("tcp://127.0.0.1:80",)], key=str
    )
