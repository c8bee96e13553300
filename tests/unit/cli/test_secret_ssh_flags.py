"""`hlb run --secret` and `--ssh` as buildx takes them; every value that cannot be served is a usage error
(exit 2, one line naming the flag) before anything is compiled or built (issue 14 item 2)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Run

from hlb.cli.inputs import MAX_SECRET_SIZE, FlagError, parse, parse_secret, parse_ssh

SOURCE = """fs default() {
	scratch
	run "cat /run/secrets/tok" with option {
		secretMount "/run/secrets/tok"
		secretMount "/k" with option { id "key"; required; }
	}
}
"""


# the shape of a private key (never used to sign: the checks read its header only)
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.fixture
def module(tmp_path: Path) -> str:
    f = tmp_path / "build.hlb"
    f.write_text(SOURCE)
    (tmp_path / "tok.txt").write_text("value")
    return str(f)


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    d = tempfile.mkdtemp(prefix="hlbf-")  # unix socket paths must stay short
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def listening(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen()
    return s


# -- --secret: buildx's rules ---------------------------------------------------------------------


def test_src_and_env_name_the_source(tmp_path: Path) -> None:
    f = tmp_path / "t"
    f.write_text("x")
    assert parse_secret(f"id=a,src={f}", {}) == ("a", ("file", str(f)))
    assert parse_secret(f"ID=a,Source={f}", {}) == ("a", ("file", str(f)))  # keys are case-insensitive
    assert parse_secret("id=a,env=V", {"V": ""}) == ("a", ("env", "V"))  # set, even empty
    assert parse_secret("id=a,type=env,src=V", {"V": "x"}) == ("a", ("env", "V"))  # type=env: src is a variable
    assert parse_secret("type=env,id=V", {"V": "x"}) == ("V", ("env", "V"))


def test_an_id_alone_is_the_variable_of_that_name_if_set_else_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tok").write_text("file")
    assert parse_secret("id=tok", {"tok": "x"}) == ("tok", ("env", "tok"))
    assert parse_secret("id=tok", {}) == ("tok", ("file", str(tmp_path / "tok")))
    assert parse_secret("id=tok,type=file", {"tok": "x"}) == ("tok", ("file", str(tmp_path / "tok")))


BAD_SECRETS = [
    ("src=tok.txt", "no id; write --secret id=ID,src=FILE or --secret id=ID,env=VARIABLE"),
    ("id=a,colour=red", "unknown key `colour` (keys: id, type, src, env)"),
    ("id=a,tok.txt", "`tok.txt` is not KEY=VALUE"),
    ("id=a,type=vault", "type must be `file` or `env`, not `vault`"),
    ("id=a,src=tok.txt,env=HOME", "give `src` or `env`, not both"),
    ("id=a,type=file,env=HOME", "type=file reads `src`, not `env`"),
    ("id=a,src=nope.txt", "cannot read the secret file `nope.txt`: No such file or directory"),
    (
        "id=nope",
        "cannot read the secret file `nope`: No such file or directory (and no environment variable `nope` is set)",
    ),
    ("id=a,src=.", "`.` is not a file"),
    ("id=a,env=HLB_TEST_UNSET_VARIABLE", "the environment variable `HLB_TEST_UNSET_VARIABLE` is not set"),
    ("id=a,src=big", "`big` is larger than 500 KiB, BuildKit's limit for a secret"),
    ('"id=a,src=tok.txt', "unexpected end of data"),
]


@pytest.mark.parametrize(("value", "message"), BAD_SECRETS, ids=[b[0] for b in BAD_SECRETS])
def test_a_secret_that_cannot_be_served_is_a_usage_error(
    value: str, message: str, module: str, hlb: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(module).parent)
    monkeypatch.delenv("HLB_TEST_UNSET_VARIABLE", raising=False)
    monkeypatch.delenv("nope", raising=False)
    (Path(module).parent / "big").write_bytes(b"x" * (MAX_SECRET_SIZE + 1))
    code, out, err = hlb(["run", "--tree", "--secret", value, module])
    assert (code, out) == (2, ""), err
    assert err.startswith(f"hlb: error: --secret {value!r}: ") and err.count("\n") == 1, err
    assert message in err, err


def test_a_secret_id_given_twice_is_a_usage_error(module: str, hlb: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(module).parent)
    code, _, err = hlb(["run", "--tree", "--secret", "id=a,src=tok.txt", "--secret", "id=a,src=tok.txt", module])
    assert code == 2 and "the id `a` is given twice" in err, err


# -- --ssh -----------------------------------------------------------------------------------------


def test_ssh_takes_a_socket_or_keys_and_default_is_ssh_auth_sock(sock_dir: Path) -> None:
    with listening(sock_dir / "a.sock"):
        sock = str(sock_dir / "a.sock")
        assert parse_ssh("default", {"SSH_AUTH_SOCK": sock}) == ("default", (sock,))
        assert parse_ssh("", {"SSH_AUTH_SOCK": sock}) == ("default", (sock,))
        assert parse_ssh(f"deploy={sock}", {}) == ("deploy", (sock,))
        assert parse_ssh(f"={sock}", {}) == ("default", (sock,))
    (sock_dir / "k1").write_text(KEY)
    (sock_dir / "k2").write_text(KEY)
    if shutil.which("ssh-agent") and shutil.which("ssh-add"):
        keys = (str(sock_dir / "k1"), str(sock_dir / "k2"))
        assert parse_ssh(f"deploy={keys[0]},{keys[1]}", {}) == ("deploy", keys)


def test_bad_ssh_values_are_usage_errors(sock_dir: Path, module: str, hlb: Run) -> None:
    (sock_dir / "key").write_text(KEY)
    (sock_dir / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (sock_dir / "id.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA me@host\n")
    with listening(sock_dir / "a.sock"), listening(sock_dir / "b.sock"):
        a, b, key = sock_dir / "a.sock", sock_dir / "b.sock", sock_dir / "key"
        bad = [
            (f"x={sock_dir}/nope", "cannot use `" + f"{sock_dir}/nope" + "` as an ssh agent socket or key"),
            (f"x={sock_dir}", "is neither an ssh agent socket nor a private key file"),
            (f"x={a},{b}", "one agent socket or private key files, not both or several sockets"),
            (f"x={a},{key}", "one agent socket or private key files, not both or several sockets"),
            ("x=", "an empty path; write --ssh x=SOCKET or --ssh x=KEY[,KEY]"),
            (f"x={a},", "an empty path"),
            (f"a,b={a}", "`a,b` is not an id"),
            (f"x={sock_dir}/passwd", "is not a private key (no -----BEGIN ... PRIVATE KEY----- line)"),
            (f"x={sock_dir}/id.pub", "is a public key: give the private key (the file without .pub"),
        ]
        for value, message in bad:
            code, out, err = hlb(["run", "--tree", "--ssh", value, module])
            assert (code, out) == (2, ""), (value, err)
            assert err.startswith(f"hlb: error: --ssh {value!r}: ") and err.count("\n") == 1, (value, err)
            assert message in err, (value, err)
        code, _, err = hlb(["run", "--tree", "--ssh", f"x={a}", "--ssh", f"x={b}", module])
        assert code == 2 and "the id `x` is given twice" in err, err


def test_ssh_default_without_an_agent_is_a_usage_error(module: str, hlb: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    code, _, err = hlb(["run", "--tree", "--ssh", "default", module])
    assert code == 2
    assert (
        err == "hlb: error: --ssh 'default': SSH_AUTH_SOCK is not set: start an ssh-agent, "
        "or write --ssh default=SOCKET|KEY\n"
    )


def test_keys_without_ssh_agent_on_path_are_a_usage_error(sock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (sock_dir / "key").write_text(KEY)
    monkeypatch.setenv("PATH", str(sock_dir))
    with pytest.raises(FlagError, match="needs ssh-agent and ssh-add"):
        parse_ssh(f"x={sock_dir / 'key'}", {})


def test_tree_shows_where_each_ssh_id_comes_from(
    sock_dir: Path, tmp_path: Path, hlb: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "build.hlb").write_text(
        'fs default() {\n\timage "busybox"\n\trun "ssh-add -l" with ssh\n}\n'
        'fs paths() {\n\timage "busybox"\n\trun "ssh-add -l" with option { ssh with localPaths("id"); }\n}\n'
    )
    (tmp_path / "id").write_text(KEY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    code, out, err = hlb(["run", "--tree", "build.hlb"])
    assert code == 0, err
    assert "ssh: default (not given: $SSH_AUTH_SOCK is not set; pass --ssh default=SOCKET|KEY)" in out
    with listening(sock_dir / "a.sock"):
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock_dir / "a.sock"))
        code, out, err = hlb(["run", "--tree", "build.hlb"])
        assert code == 0 and f"ssh: default ($SSH_AUTH_SOCK: {sock_dir / 'a.sock'})" in out, out + err
        code, out, err = hlb(["run", "--tree", "--ssh", f"default={sock_dir / 'a.sock'}", "build.hlb"])
        assert code == 0 and f"ssh: default (--ssh: {sock_dir / 'a.sock'})" in out, out + err
    code, out, err = hlb(["run", "--tree", "-t", "paths", "build.hlb"])
    assert code == 0 and "(localPaths: id)" in out, out + err


# -- binding to the build --------------------------------------------------------------------------


def test_tree_shows_what_each_secret_is_given_by_and_warns_of_unused_flags(
    module: str, hlb: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(module).parent)
    monkeypatch.setenv("HLB_TEST_KEY", "the-value-of-the-key")
    code, out, err = hlb(
        ["run", "--tree", "--secret", "id=tok,src=tok.txt", "--secret", "id=key,env=HLB_TEST_KEY",
         "--secret", "id=spare,src=tok.txt", module]
    )  # fmt: skip
    assert code == 0, err
    assert "secret: tok (--secret: file tok.txt)" in out
    assert "secret: key (--secret: env HLB_TEST_KEY)" in out
    assert "the-value-of-the-key" not in out + err
    assert err == (
        "hlb: warning: --secret id=spare is not used: no `secretMount` of the targets built has the id `spare`\n"
    )


def test_a_required_secret_no_flag_gives_is_an_error_at_its_use_naming_the_flag(
    module: str, hlb: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(module).parent)
    monkeypatch.setenv("NO_COLOR", "1")
    # No daemon is needed to say so: the error comes after compiling, before connecting.
    code, out, err = hlb(["run", "--addr", "unix:///nonexistent/buildkitd.sock", module])
    assert (code, out) == (2, ""), err
    assert "build.hlb:5:3: error: the secret `key` is not given on the command line [missing-input]" in err
    assert '5 |         secretMount "/k" with option { id "key"; required; }\n' in err
    assert "\n  |         ^^^^" in err
    assert "hint: pass `--secret id=key,src=FILE` or `--secret id=key,env=VARIABLE` to `hlb run`" in err
    # The optional one is a warning: it is not mounted.
    assert "build.hlb:4:3: the secret `tok` is not given (pass `--secret id=tok,src=FILE`), so it is not mounted" in err


def test_parse_keeps_the_flags_in_order_by_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text("x")
    got = parse(["id=b,src=f", "id=a,env=V"], [], {"V": "1"})
    assert dict(got.secrets) == {"b": ("file", str(tmp_path / "f")), "a": ("env", "V")}
    assert os.path.isabs(got.secrets["b"][1])
