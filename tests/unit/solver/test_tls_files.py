"""TLS files and ports that can never work are usage errors before any connection (issue 10 item 14).

A CA file that is missing or not PEM used to surface as gRPC's handshake error about its internal relay
socket; `tcp://127.0.0.1:0` was dialled as port 2375.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hlb.address import AddressError, TLSConfig, resolve
from hlb.cli.main import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().err


@pytest.fixture
def module(tmp_path: Path) -> str:
    f = tmp_path / "build.hlb"
    f.write_text('fs default() {\n  scratch\n  mkfile "/a" 0o644 "x"\n}\n')
    return str(f)


@pytest.fixture
def junk(tmp_path: Path) -> dict[str, str]:
    """Files that are not what a TLS flag wants."""
    (tmp_path / "text.pem").write_text("hello\n")
    (tmp_path / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    os.mkfifo(tmp_path / "fifo.pem")
    return {
        "missing": str(tmp_path / "missing.pem"),
        "text": str(tmp_path / "text.pem"),
        "broken": str(tmp_path / "broken.pem"),
        "fifo": str(tmp_path / "fifo.pem"),
        "dir": str(tmp_path),
    }


def cases(certs: Path, junk: dict[str, str]) -> list[tuple[list[str], str]]:
    ca, cert, key = f"{certs}/ca.pem", f"{certs}/cert.pem", f"{certs}/key.pem"
    return [
        (["--tlscacert", junk["missing"]], f"--tlscacert: cannot read CA file {junk['missing']}: no such file"),
        (["--tlscacert", junk["dir"]], f"--tlscacert: cannot read CA file {junk['dir']}: is a directory"),
        (["--tlscacert", junk["fifo"]], f"--tlscacert: cannot read CA file {junk['fifo']}: not a regular file"),
        (["--tlscacert", junk["text"]], f"--tlscacert: cannot read CA file {junk['text']}: no PEM certificate in it"),
        (["--tlscacert", key], f"--tlscacert: cannot read CA file {key}: no PEM certificate in it"),
        (["--tlscacert", junk["broken"]], f"--tlscacert: cannot read CA file {junk['broken']}: not a valid PEM"),
        (
            ["--tlscacert", ca, "--tlscert", junk["missing"], "--tlskey", key],
            f"--tlscert: cannot read certificate file {junk['missing']}: no such file",
        ),
        (
            ["--tlscacert", ca, "--tlscert", cert, "--tlskey", junk["text"]],
            f"--tlskey: cannot read key file {junk['text']}: no PEM private key in it",
        ),
        (
            ["--tlscacert", ca, "--tlscert", cert, "--tlskey", f"{certs}/encrypted-key.pem"],
            f"--tlskey: cannot read key file {certs}/encrypted-key.pem: an encrypted key",
        ),
        (
            ["--tlscacert", ca, "--tlscert", cert, "--tlskey", f"{certs}/ca-key.pem"],
            f"--tlscert, --tlskey: {cert} and {certs}/ca-key.pem are not a certificate and its key",
        ),
    ]


def test_bad_tls_files_are_usage_errors_naming_the_file(
    certs: Path, junk: dict[str, str], module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for flags, message in cases(certs, junk):
        code, err = run(["run", "--addr", "tcp://127.0.0.1:9", *flags, module], capsys)
        assert code == 2, (flags, err)
        assert err.startswith(f"hlb: error: {message}") and err.count("\n") == 1, (flags, err)
        assert "cannot reach" not in err


def test_good_tls_files_pass(certs: Path) -> None:
    tls = TLSConfig(f"{certs}/ca.pem", f"{certs}/cert.pem", f"{certs}/key.pem", "buildkitd")
    assert resolve("tcp://127.0.0.1:1234", env={}, tls=tls).tls == tls
    ca_only = TLSConfig(ca=f"{certs}/ca.pem")
    assert resolve("tcp://127.0.0.1:1234", env={}, tls=ca_only).tls == ca_only


@pytest.mark.parametrize(
    ("flag", "env", "source"),
    [
        ("tcp://127.0.0.1:0", {}, "--addr"),
        (None, {"BUILDKIT_HOST": "tcp://localhost:0"}, "BUILDKIT_HOST"),
        (None, {"DOCKER_HOST": "tcp://127.0.0.1:0"}, "DOCKER_HOST"),
        ("docker://tcp://127.0.0.1:0", {}, "--addr"),
    ],
)
def test_port_zero_is_named(flag: str | None, env: dict[str, str], source: str) -> None:
    with pytest.raises(AddressError, match=f"^{source} '.*:0': port 0 is not a port a daemon listens on"):
        resolve(flag, env=env)


def test_port_zero_on_the_command_line(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["run", "--addr", "tcp://127.0.0.1:0", module], capsys)
    assert code == 2
    assert err == (
        "hlb: error: --addr 'tcp://127.0.0.1:0': port 0 is not a port a daemon listens on; "
        "give its port (tcp://HOST:PORT)\n"
    )
