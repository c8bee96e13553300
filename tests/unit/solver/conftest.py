"""TLS material for the address tests: a CA, and a client certificate it signed, made with the openssl CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ca.pem``/``ca-key.pem``, ``cert.pem``/``key.pem`` (signed by the CA) and ``encrypted-key.pem``."""
    d = tmp_path_factory.mktemp("certs")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hlb-test-ca",
             "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=d)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=client",
             "-keyout", "key.pem", "-out", "client.csr", cwd=d)  # fmt: skip
    _openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
             "-days", "1", "-out", "cert.pem", cwd=d)  # fmt: skip
    _openssl("pkey", "-in", "key.pem", "-aes256", "-passout", "pass:secret", "-out", "encrypted-key.pem", cwd=d)
    return d


@pytest.fixture(autouse=True)
def _no_docker_cli_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The address tests never read this machine's ~/.docker (its current docker context would change them)."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    for name in ("DOCKER_CONFIG", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
