"""The secrets and ssh ids a build names, bound to what `hlb run --secret`/`--ssh` give
(hlb.compiler.attachments.bind): one attachment per id with all its uses, errors for the required ones
no flag gives, warnings for optional ones and for flags nothing uses; the value never enters the plan."""

from __future__ import annotations

from pathlib import Path

from hlb.api import compile_source
from hlb.build.attachments import secrets_for, ssh_for
from hlb.compiler.attachments import Inputs, bind
from hlb.llb import Platform
from hlb.source import SourceFile
from hlb.values import SecretInput, SSHInput, SSHSocket

AMD64 = Platform("linux", "amd64")
SOURCE = """fs default() {
	scratch
	run "a" with secretMount("/run/secrets/tok")
	run "b" with option {
		secretMount "/t" with option { id "tok"; required; }
		secretMount "/o" with id("opt")
		ssh with id("deploy")
		ssh
	}
}
"""


def compiled(tmp_path: Path, text: str = SOURCE):  # type: ignore[no-untyped-def]
    path = tmp_path / "build.hlb"
    path.write_text(text)
    return compile_source(SourceFile(str(path), text), ["default"], AMD64)


def test_one_attachment_per_id_knows_every_use(tmp_path: Path) -> None:
    c = compiled(tmp_path)
    inputs = {a.id: a for a in c.attachments.values() if isinstance(a, SecretInput)}
    assert sorted(inputs) == ["opt", "tok"]
    assert [(u.span.begin.line, u.required) for u in inputs["tok"].uses] == [(3, False), (5, True)]
    assert [a.id for a in c.attachments.values() if isinstance(a, SSHInput)] == ["deploy"]


def test_missing_inputs_required_are_errors_optional_are_warnings(tmp_path: Path) -> None:
    b = bind(compiled(tmp_path).attachments, Inputs())
    assert [(d.span.begin.line, d.message) for d in b.errors] == [
        (5, "the secret `tok` is not given on the command line"),
        (7, "the ssh id `deploy` is not given on the command line"),
    ]
    assert b.errors[0].secondary[0].span.begin.line == 3  # the other use of `tok`
    assert b.errors[1].hint == "pass `--ssh deploy=SOCKET` or `--ssh deploy=KEY` to `hlb run`"
    assert len(b.warnings) == 1 and "the secret `opt` is not given" in b.warnings[0]


def test_flags_bind_to_the_ids_and_the_session_serves_them(tmp_path: Path) -> None:
    c = compiled(tmp_path)
    inputs = Inputs(
        {"tok": ("file", "/abs/tok"), "opt": ("env", "OPT_VAR"), "spare": ("file", "/x")},
        {"deploy": ("/run/deploy.sock",), "default": ("/run/other.sock",), "unused": ("/k",)},
    )
    b = bind(c.attachments, inputs)
    assert b.errors == []
    assert b.warnings == [
        "--secret id=spare is not used: no `secretMount` of the targets built has the id `spare`",
        '--ssh unused is not used: the targets built have no `ssh with id("unused")`',
    ]
    c.attachments = b.attachments
    plan = c.plan(AMD64)
    (solve,) = plan.solves
    (served,) = secrets_for(solve)
    assert served.files == {"tok": "/abs/tok"} and served.env == {"opt": "OPT_VAR"}  # type: ignore[attr-defined]
    (ssh,) = ssh_for(solve)
    assert ssh.sockets == {"deploy": ("/run/deploy.sock",), "default": ("/run/other.sock",)}  # type: ignore[attr-defined]
    assert not any(isinstance(a, SSHInput) for a in solve.attachments)
    assert SSHSocket("deploy", ("/run/deploy.sock",)) in solve.attachments


def test_without_flags_a_plain_ssh_stays_ssh_auth_sock_and_nothing_warns(tmp_path: Path) -> None:
    text = 'fs default() {\n\tscratch\n\trun "a" with ssh\n}\n'
    b = bind(compiled(tmp_path, text).attachments, Inputs())
    assert (b.errors, b.warnings) == ([], [])
    assert list(b.attachments.values()) == [SSHSocket("default", ())]
