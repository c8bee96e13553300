"""Registry credentials for the daemon: ``/moby.filesync.v1.Auth``.

The daemon asks for the credentials of a registry *host* when a pull or push
meets an auth challenge. We answer the way the Docker CLI reads its config
(``$DOCKER_CONFIG/config.json``, default ``~/.docker/config.json``):

* ``credHelpers[host]`` names a helper for that host, else ``credsStore`` one
  for every host; a helper is ``docker-credential-NAME get`` with the server
  address on stdin, answering ``{"ServerURL", "Username", "Secret"}`` JSON
  (``Username == "<token>"`` means an identity token). When a helper is
  configured its answer is final, as in Docker: "credentials not found" is
  anonymous, any other failure is an error the daemon reports.
* otherwise ``auths``: the entry keyed by the host, or by a key whose host
  part is the host (``https://ghcr.io/v1/`` serves ``ghcr.io``), with
  ``auth`` (base64 ``user:password``), ``username``/``password`` or
  ``identitytoken``.

Docker Hub is asked for as ``registry-1.docker.io`` and stored under
``https://index.docker.io/v1/``. A missing config is anonymous; a malformed one
is reported once as a warning and read as empty (the Docker CLI does the same).

Client-side tokens (``GetTokenAuthority``, ``VerifyTokenAuthority``) answer
UNAVAILABLE, which is what BuildKit's own client answers with
``BUILDKIT_NO_CLIENT_TOKEN=1``: the daemon then fetches registry tokens itself
with the credentials from ``Credentials``, and never calls ``FetchToken``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from hlb._proto import auth_pb2, auth_pb2_grpc

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
DOCKER_HUB_HOSTS = ("registry-1.docker.io", "docker.io", "index.docker.io")
HELPER_TIMEOUT = 30.0  # seconds a credential helper may take (a keychain may prompt)
_NOT_FOUND = "credentials not found in native keychain"

Warn = Callable[[str], None]


class CredentialError(Exception):
    """Credentials cannot be read (a helper is missing, fails or hangs); the message names the cause."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the daemon gets for a host: a username and secret, or an identity token as the secret."""

    username: str = ""
    secret: str = ""

    def __repr__(self) -> str:  # never show a secret in logs or tracebacks
        return f"Credentials(username={self.username!r}, secret={'***' if self.secret else ''!r})"


@dataclass(frozen=True, slots=True)
class DockerConfig:
    """The parts of a Docker CLI config.json that hold credentials."""

    path: str = ""
    auths: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    creds_store: str = ""
    cred_helpers: Mapping[str, str] = field(default_factory=dict)


def config_dir(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def load_config(directory: str | None = None, warn: Warn | None = None) -> DockerConfig:
    """Read ``config.json`` of ``directory`` (default: ``config_dir()``); problems are warnings, never errors."""
    path = os.path.join(directory if directory is not None else config_dir(), "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return DockerConfig(path)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        if warn:
            warn(f"cannot read the docker config {path} ({_reason(e)}); registries are accessed anonymously")
        return DockerConfig(path)
    if not isinstance(data, dict):
        if warn:
            warn(f"the docker config {path} is not a JSON object; registries are accessed anonymously")
        return DockerConfig(path)
    auths = data.get("auths")
    helpers = data.get("credHelpers")
    store = data.get("credsStore")
    return DockerConfig(
        path,
        auths={k: v for k, v in auths.items() if isinstance(v, dict)} if isinstance(auths, dict) else {},
        creds_store=store if isinstance(store, str) else "",
        cred_helpers={k: v for k, v in helpers.items() if isinstance(v, str)} if isinstance(helpers, dict) else {},
    )


def _reason(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}"
    if isinstance(e, OSError):
        return e.strerror or str(e)
    return str(e)


def server_address(host: str) -> str:
    """The config key the daemon's ``host`` is stored under (Docker Hub's is a URL)."""
    return DOCKER_HUB_KEY if host in DOCKER_HUB_HOSTS else host


def hostname_of(key: str) -> str:
    """Docker's ConvertToHostname: ``https://ghcr.io/v2/`` -> ``ghcr.io``."""
    for scheme in ("http://", "https://"):
        if key.startswith(scheme):
            key = key[len(scheme) :]
            break
    return key.split("/", 1)[0]


def lookup(config: DockerConfig, host: str, timeout: float = HELPER_TIMEOUT) -> Credentials:
    """The credentials for the registry ``host``, as the Docker CLI would use them."""
    address = server_address(host)
    helper = config.cred_helpers.get(address) or config.creds_store
    if helper:
        return run_helper(helper, address, timeout, source=config.path)
    return from_auths(config, address)


def from_auths(config: DockerConfig, address: str) -> Credentials:
    entry = config.auths.get(address)
    if entry is None:
        host = hostname_of(address)
        entry = next((v for k, v in config.auths.items() if hostname_of(k) == host), None)
    if entry is None:
        return Credentials()
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return Credentials("", token)
    username, password = entry.get("username"), entry.get("password")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            username, sep, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            sep = ""
        if not sep:
            raise CredentialError(f"the `auth` entry for {address} in {config.path} is not base64 of user:password")
    return Credentials(
        username if isinstance(username, str) else "",
        password if isinstance(password, str) else "",
    )


def run_helper(name: str, address: str, timeout: float = HELPER_TIMEOUT, source: str = "") -> Credentials:
    """``docker-credential-NAME get`` for ``address``; a missing, failing or hanging helper is an error."""
    program = f"docker-credential-{name}"
    where = f" (configured in {source})" if source else ""
    exe = shutil.which(program)
    if exe is None:
        raise CredentialError(f"credential helper {program}{where} is not installed: no such program on PATH")
    try:
        proc = subprocess.run(
            [exe, "get"],
            input=address.encode(),
            capture_output=True,
            timeout=timeout,
            start_new_session=True,  # a helper must not read the terminal the build's progress is drawn on
        )
    except subprocess.TimeoutExpired:
        msg = f"credential helper {program}{where} gave no answer for {address} in {timeout:g}s"
        raise CredentialError(msg) from None
    except OSError as e:
        raise CredentialError(f"cannot run credential helper {program}{where}: {e.strerror or e}") from None
    out = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        if _NOT_FOUND in out or "credentials not found" in out.lower():
            return Credentials()
        detail = out or proc.stderr.decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"
        raise CredentialError(f"credential helper {program}{where} failed for {address}: {detail}")
    try:
        data = json.loads(out)
    except ValueError:
        raise CredentialError(f"credential helper {program}{where} answered for {address} with invalid JSON") from None
    if not isinstance(data, dict):
        raise CredentialError(f"credential helper {program}{where} answered for {address} with invalid JSON")
    username, secret = data.get("Username"), data.get("Secret")
    username = username if isinstance(username, str) else ""
    secret = secret if isinstance(secret, str) else ""
    if username == "<token>":
        return Credentials("", secret)
    return Credentials(username, secret)


class DockerAuth(auth_pb2_grpc.AuthServicer):
    """The Auth service of a session, serving the credentials of one Docker config."""

    def __init__(self, config: DockerConfig, timeout: float = HELPER_TIMEOUT) -> None:
        self.config = config
        self.timeout = timeout
        self._cache: dict[str, Credentials] = {}
        self._lock = threading.Lock()  # one helper run per host, and helpers never run concurrently

    def methods(self) -> Sequence[str]:
        names = ("Credentials", "FetchToken", "GetTokenAuthority", "VerifyTokenAuthority")
        return [f"/moby.filesync.v1.Auth/{m}" for m in names]

    def register(self, server: grpc.Server) -> None:
        auth_pb2_grpc.add_AuthServicer_to_server(self, server)

    def credentials(self, host: str) -> Credentials:
        with self._lock:
            creds = self._cache.get(host)
            if creds is None:
                creds = self._cache[host] = lookup(self.config, host, self.timeout)
            return creds

    def Credentials(
        self, request: auth_pb2.CredentialsRequest, context: grpc.ServicerContext
    ) -> auth_pb2.CredentialsResponse:
        try:
            creds = self.credentials(request.Host)
        except CredentialError as e:
            context.abort(grpc.StatusCode.UNKNOWN, f"registry credentials for {request.Host}: {e}")
        return auth_pb2.CredentialsResponse(Username=creds.username, Secret=creds.secret)

    def FetchToken(
        self, request: auth_pb2.FetchTokenRequest, context: grpc.ServicerContext
    ) -> auth_pb2.FetchTokenResponse:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "client-side token fetching is not offered by hlb")

    def GetTokenAuthority(
        self, request: auth_pb2.GetTokenAuthorityRequest, context: grpc.ServicerContext
    ) -> auth_pb2.GetTokenAuthorityResponse:
        context.abort(grpc.StatusCode.UNAVAILABLE, "client side tokens disabled")

    def VerifyTokenAuthority(
        self, request: auth_pb2.VerifyTokenAuthorityRequest, context: grpc.ServicerContext
    ) -> auth_pb2.VerifyTokenAuthorityResponse:
        context.abort(grpc.StatusCode.UNAVAILABLE, "client side tokens disabled")
