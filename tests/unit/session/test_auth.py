"""Registry credentials: Docker's config.json, credential helpers, and the Auth service over real gRPC."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from hlb._proto import auth_pb2, auth_pb2_grpc
from hlb.session import Session
from hlb.session.auth import (
    CredentialError,
    Credentials,
    DockerAuth,
    config_dir,
    hostname_of,
    load_config,
    lookup,
    run_helper,
)


def write_config(tmp_path: Path, data: object) -> Path:
    d = tmp_path / "docker"
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text(data if isinstance(data, str) else json.dumps(data))
    return d


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


HELPER = """#!/bin/sh
# a docker credential helper: `get` reads the server URL on stdin
[ "$1" = get ] || exit 2
read -r url
echo "$url" >> "{log}"
case "$url" in
  https://index.docker.io/v1/) echo '{{"ServerURL":"'$url'","Username":"hubuser","Secret":"hubpass"}}' ;;
  tokenhost) echo '{{"ServerURL":"tokenhost","Username":"<token>","Secret":"idtoken"}}' ;;
  broken) echo 'not json' ;;
  slow) sleep 30 ;;
  failing) echo 'keychain locked' >&2; exit 1 ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
"""


@pytest.fixture
def helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`docker-credential-test` on PATH; returns the file it logs each asked-for URL to."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "helper.log"
    exe = bindir / "docker-credential-test"
    exe.write_text(HELPER.format(log=log))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_config_dir_is_docker_config_or_home(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config_dir({"DOCKER_CONFIG": "/x/y"}) == "/x/y"
    monkeypatch.setenv("HOME", "/home/someone")
    assert config_dir({}) == "/home/someone/.docker"


def test_auths_entries_base64_username_password_and_identity_token(tmp_path: Path) -> None:
    d = write_config(
        tmp_path,
        {
            "auths": {
                "127.0.0.1:5001": {"auth": b64("alice:pa:ss")},  # the password may hold colons
                "https://ghcr.io/v1/": {"username": "bob", "password": "pw"},
                "quay.io": {"identitytoken": "tok", "auth": b64("ignored:x")},
                "https://index.docker.io/v1/": {"auth": b64("hub:hubpw")},
            }
        },
    )
    cfg = load_config(str(d))
    assert lookup(cfg, "127.0.0.1:5001") == Credentials("alice", "pa:ss")
    assert lookup(cfg, "ghcr.io") == Credentials("bob", "pw")  # a URL key serves its host
    assert lookup(cfg, "quay.io") == Credentials("", "tok")  # identity tokens go as the secret alone
    assert lookup(cfg, "registry-1.docker.io") == Credentials("hub", "hubpw")  # Docker Hub's key
    assert lookup(cfg, "docker.io") == Credentials("hub", "hubpw")
    assert lookup(cfg, "other.example:443") == Credentials()  # anonymous


def test_hostname_of_strips_scheme_and_path() -> None:
    assert hostname_of("https://index.docker.io/v1/") == "index.docker.io"
    assert hostname_of("http://localhost:5000/v2/") == "localhost:5000"
    assert hostname_of("ghcr.io") == "ghcr.io"


def test_a_bad_auth_entry_is_an_error_naming_the_host(tmp_path: Path) -> None:
    cfg = load_config(str(write_config(tmp_path, {"auths": {"r.example": {"auth": "%%%not-base64"}}})))
    with pytest.raises(CredentialError, match="r.example"):
        lookup(cfg, "r.example")


@pytest.mark.parametrize(
    ("text", "why"),
    [("{not json", "invalid JSON at line 1"), ("[1, 2]", "not a JSON object"), (b"\xff\xfe", "cannot read")],
)
def test_a_malformed_config_warns_and_is_anonymous(tmp_path: Path, text: str | bytes, why: str) -> None:
    d = tmp_path / "docker"
    d.mkdir()
    (d / "config.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    warnings: list[str] = []
    cfg = load_config(str(d), warn=warnings.append)
    assert len(warnings) == 1 and why in warnings[0] and str(d / "config.json") in warnings[0]
    assert lookup(cfg, "127.0.0.1:5000") == Credentials()


def test_a_missing_config_is_anonymous_without_a_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    cfg = load_config(str(tmp_path / "nowhere"), warn=warnings.append)
    assert warnings == [] and lookup(cfg, "ghcr.io") == Credentials()


def test_creds_store_runs_the_helper_with_the_server_url(tmp_path: Path, helper: Path) -> None:
    cfg = load_config(str(write_config(tmp_path, {"credsStore": "test", "auths": {"x.example": {}}})))
    assert lookup(cfg, "registry-1.docker.io") == Credentials("hubuser", "hubpass")
    assert lookup(cfg, "tokenhost") == Credentials("", "idtoken")  # Username "<token>" is an identity token
    assert lookup(cfg, "x.example") == Credentials()  # "credentials not found" is anonymous
    assert helper.read_text().splitlines() == ["https://index.docker.io/v1/", "tokenhost", "x.example"]


def test_cred_helpers_take_precedence_per_host(tmp_path: Path, helper: Path) -> None:
    cfg = load_config(
        str(
            write_config(
                tmp_path,
                {
                    "credHelpers": {"tokenhost": "test"},
                    "auths": {"tokenhost": {"auth": b64("file:pw")}, "plain.example": {"auth": b64("u:p")}},
                },
            )
        )
    )
    assert lookup(cfg, "tokenhost") == Credentials("", "idtoken")
    assert lookup(cfg, "plain.example") == Credentials("u", "p")  # no helper for this host: auths
    assert helper.read_text().splitlines() == ["tokenhost"]


def test_helper_failures_are_clear_errors(helper: Path) -> None:
    with pytest.raises(CredentialError, match="docker-credential-nosuch .*not installed"):
        run_helper("nosuch", "ghcr.io")
    with pytest.raises(CredentialError, match="failed for failing: keychain locked"):
        run_helper("test", "failing")
    with pytest.raises(CredentialError, match="invalid JSON"):
        run_helper("test", "broken")


def test_a_hanging_helper_times_out(helper: Path) -> None:
    with pytest.raises(CredentialError, match=r"gave no answer for slow in 0\.5s"):
        run_helper("test", "slow", timeout=0.5)


def test_credentials_never_show_their_secret() -> None:
    assert "hunter2" not in repr(Credentials("me", "hunter2"))


@pytest.fixture
def auth_stub(tmp_path: Path, helper: Path) -> Iterator[auth_pb2_grpc.AuthStub]:
    cfg = load_config(
        str(
            write_config(
                tmp_path,
                {"credHelpers": {"failing": "test", "gone": "absent"}, "auths": {"r:5001": {"auth": b64("a:b")}}},
            )
        )
    )
    with Session([DockerAuth(cfg)]) as s, grpc.insecure_channel(f"unix:{s.path}") as ch:
        yield auth_pb2_grpc.AuthStub(ch)


def test_the_auth_service_answers_as_the_daemon_expects(auth_stub: auth_pb2_grpc.AuthStub) -> None:
    got = auth_stub.Credentials(auth_pb2.CredentialsRequest(Host="r:5001"), timeout=10)
    assert (got.Username, got.Secret) == ("a", "b")
    got = auth_stub.Credentials(auth_pb2.CredentialsRequest(Host="unknown:1"), timeout=10)
    assert (got.Username, got.Secret) == ("", "")
    with pytest.raises(grpc.RpcError) as e:
        auth_stub.Credentials(auth_pb2.CredentialsRequest(Host="failing"), timeout=10)
    assert e.value.code() == grpc.StatusCode.UNKNOWN and "keychain locked" in str(e.value.details())
    with pytest.raises(grpc.RpcError) as e:
        auth_stub.Credentials(auth_pb2.CredentialsRequest(Host="gone"), timeout=10)
    assert "docker-credential-absent" in str(e.value.details())
    # the daemon falls back to its own token fetching on UNAVAILABLE (BuildKit's BUILDKIT_NO_CLIENT_TOKEN answer)
    with pytest.raises(grpc.RpcError) as e:
        auth_stub.GetTokenAuthority(auth_pb2.GetTokenAuthorityRequest(Host="r:5001", Salt=b"s"), timeout=10)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE


def test_helper_answers_are_asked_once_per_host_and_session(tmp_path: Path, helper: Path) -> None:
    auth = DockerAuth(load_config(str(write_config(tmp_path, {"credsStore": "test"}))))
    assert auth.credentials("tokenhost") == auth.credentials("tokenhost") == Credentials("", "idtoken")
    assert helper.read_text().splitlines() == ["tokenhost"]
