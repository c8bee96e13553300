"""hlb.solver.registry against a tiny registry served on 127.0.0.1 by the tests.

The double answers the parts of distribution's HTTP API the client uses:
``/v2/<name>/manifests/<tag|digest>`` and ``/v2/<name>/blobs/<digest>``, a
``401`` Bearer (or Basic) challenge and a token endpoint. It records every
request so the tests can check headers, tokens and what was sent where.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hlb.llb.platform import Platform
from hlb.resolver import ResolveError
from hlb.session.auth import Credentials
from hlb.solver.registry import (
    ACCEPT,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    RegistryClient,
    base_url,
    is_loopback,
    parse_challenge,
    platform_matches,
    registry_host,
)

AMD64 = Platform("linux", "amd64")
REPO = "hlb/app"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def doc(obj: Any) -> bytes:
    return json.dumps(obj, indent=3).encode()  # not the canonical form: digests are of the bytes served


@dataclass
class Seen:
    path: str
    method: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Registry:
    """What the double serves and how it authenticates."""

    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # tag or digest -> (type, body)
    blobs: dict[str, bytes] = field(default_factory=dict)
    auth: str = ""  # "", "bearer" or "basic"
    users: dict[str, str] = field(default_factory=dict)  # user -> password the token endpoint accepts
    refresh_tokens: set[str] = field(default_factory=set)
    redirect_blobs: bool = False  # serve blobs through a 307 to /storage/
    send_content_type: bool = True
    seen: list[Seen] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    port: int = 0

    def add_manifest(self, body: bytes, media_type: str, tag: str = "") -> str:
        digest = sha(body)
        self.manifests[digest] = (media_type, body)
        if tag:
            self.manifests[tag] = (media_type, body)
        return digest

    def add_blob(self, body: bytes) -> str:
        self.blobs[sha(body)] = body
        return sha(body)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.handle_request(b"")

    def do_HEAD(self) -> None:
        self.handle_request(b"")

    def do_POST(self) -> None:
        self.handle_request(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def handle_request(self, body: bytes) -> None:
        reg = self.server.registry
        reg.seen.append(Seen(self.path, self.command, {k.lower(): v for k, v in self.headers.items()}, body))
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/token":
            return self.token(urllib.parse.parse_qs(url.query), urllib.parse.parse_qs(body.decode()))
        if url.path.startswith("/storage/"):
            return self.send(200, reg.blobs[url.path.removeprefix("/storage/")], "application/octet-stream")
        if not self.authorized():
            return
        prefix = f"/v2/{REPO}/"
        if not url.path.startswith(prefix):
            return self.error(404, "NAME_UNKNOWN", "repository name not known to registry")
        kind, _, ref = url.path.removeprefix(prefix).partition("/")
        if kind == "manifests" and ref in reg.manifests:
            media_type, data = reg.manifests[ref]
            self.send(200, data, media_type if reg.send_content_type else "", {"Docker-Content-Digest": sha(data)})
        elif kind == "blobs" and ref in reg.blobs:
            if reg.redirect_blobs:
                self.send(307, b"", "", {"Location": f"http://{reg.host}/storage/{ref}"})
            else:
                self.send(200, reg.blobs[ref], "application/octet-stream")
        else:
            self.error(404, "MANIFEST_UNKNOWN" if kind == "manifests" else "BLOB_UNKNOWN", f"{kind[:-1]} unknown")

    def authorized(self) -> bool:
        reg = self.server.registry
        given = self.headers.get("Authorization", "")
        if reg.auth == "bearer" and given.removeprefix("Bearer ") not in reg.tokens:
            challenge = f'Bearer realm="http://{reg.host}/token",service="test-registry",scope="repository:{REPO}:pull"'
            self.error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge})
            return False
        if reg.auth == "basic" and given != basic("bob", reg.users.get("bob", "")):
            self.error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": 'Basic realm="test"'})
            return False
        return True

    def token(self, query: dict[str, list[str]], form: dict[str, list[str]]) -> None:
        reg = self.server.registry
        given = self.headers.get("Authorization", "")
        if form:
            if form.get("refresh_token", [""])[0] not in reg.refresh_tokens:
                return self.error(401, "UNAUTHORIZED", "invalid refresh token")
        elif given and given not in {basic(u, p) for u, p in reg.users.items()}:
            return self.error(401, "UNAUTHORIZED", "invalid username or password")
        token = f"token-{len(reg.tokens)}"
        reg.tokens.add(token)
        key = "access_token" if form else "token"
        self.send(200, json.dumps({key: token}).encode(), "application/json")

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self.send(status, body, "application/json", headers)

    def send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    registry: Registry


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def registry() -> Iterator[Registry]:
    reg = Registry()
    server = Server(("127.0.0.1", 0), Handler)
    server.registry = reg
    reg.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield reg
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Image:
    index: bytes
    index_digest: str
    manifests: dict[str, bytes]  # platform -> manifest body
    configs: dict[str, bytes]  # platform -> config body


PLATFORMS = {
    "linux/amd64": {"os": "linux", "architecture": "amd64"},
    "linux/arm64/v8": {"os": "linux", "architecture": "arm64", "variant": "v8"},
    "linux/arm/v7": {"os": "linux", "architecture": "arm", "variant": "v7"},
    "linux/arm/v6": {"os": "linux", "architecture": "arm", "variant": "v6"},
}


def push_index(reg: Registry, tag: str = "1.0", media: tuple[str, str] = (OCI_INDEX, OCI_MANIFEST)) -> Image:
    """An index of four platforms and an attestation manifest, as BuildKit pushes them."""
    manifests, configs, entries = {}, {}, []
    for name, platform in PLATFORMS.items():
        config = doc({**platform, "config": {"Env": [f"PLATFORM={name}"]}, "rootfs": {"type": "layers"}})
        configs[name] = config
        body = doc({"schemaVersion": 2, "mediaType": media[1], "config": {"digest": reg.add_blob(config)}})
        manifests[name] = body
        entries.append({"mediaType": media[1], "digest": reg.add_manifest(body, media[1]), "platform": platform})
    attestation = doc({"schemaVersion": 2, "config": {"digest": reg.add_blob(b"{}")}})
    entries.append(
        {
            "mediaType": media[1],
            "digest": reg.add_manifest(attestation, media[1]),
            "platform": {"os": "unknown", "architecture": "unknown"},
        }
    )
    index = doc({"schemaVersion": 2, "mediaType": media[0], "manifests": entries})
    return Image(index, reg.add_manifest(index, media[0], tag), manifests, configs)


def push_single(reg: Registry, tag: str = "single", arch: str = "amd64") -> tuple[str, bytes, bytes]:
    config = doc({"os": "linux", "architecture": arch, "config": {}})
    body = doc({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": {"digest": reg.add_blob(config)}})
    return reg.add_manifest(body, DOCKER_MANIFEST, tag), body, config


def client(**kw: Any) -> RegistryClient:
    kw.setdefault("credentials", lambda host: Credentials())
    kw.setdefault("timeout", 5.0)
    return RegistryClient(**kw)


# -- hosts, platforms, challenges --------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("localhost:5000", "http://localhost:5000"),
        ("localhost", "http://localhost"),
        ("127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("127.1.2.3", "http://127.1.2.3"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("ghcr.io", "https://ghcr.io"),
        ("registry.example.com:5000", "https://registry.example.com:5000"),
        ("10.0.0.1:5000", "https://10.0.0.1:5000"),
        ("localhost.example.com", "https://localhost.example.com"),
    ],
)
def test_loopback_registries_are_plain_http_and_others_https(host: str, url: str) -> None:
    assert base_url(host) == url
    assert is_loopback(host) == url.startswith("http:")


def test_docker_hub_is_served_by_registry_1() -> None:
    assert registry_host("docker.io") == "registry-1.docker.io"
    assert registry_host("ghcr.io") == "ghcr.io"


@pytest.mark.parametrize(
    ("wanted", "accepted"),
    [
        (Platform("linux", "amd64"), ["v1"]),
        (Platform("linux", "arm64"), ["v8"]),
        (Platform("linux", "arm"), ["v7", "v6", "v5"]),
        (Platform("linux", "arm", "v6"), ["v6", "v5"]),
        (Platform("linux", "amd64", "v3"), ["v3", "v2", "v1"]),
        (Platform("linux", "riscv64"), [""]),
    ],
)
def test_platform_variants_default_as_containerd_does(wanted: Platform, accepted: list[str]) -> None:
    assert [v for _, _, v in platform_matches(wanted)] == accepted


def test_challenges_are_parsed_with_quoted_and_bare_parameters() -> None:
    scheme, params = parse_challenge(['Bearer realm="https://auth.example/token",service=registry,scope="a:b:pull"'])
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example/token", "service": "registry", "scope": "a:b:pull"}
    assert parse_challenge([]) == ("", {})


# -- resolving ---------------------------------------------------------------------------


def test_an_index_resolves_to_its_digest_the_platform_manifest_and_config(registry: Registry) -> None:
    image = push_index(registry)
    got = client().manifest(f"{registry.host}/{REPO}:1.0", AMD64)
    assert got.ref == f"{registry.host}/{REPO}:1.0"
    assert got.digest == image.index_digest
    assert got.manifest == image.manifests["linux/amd64"]
    assert got.config == image.configs["linux/amd64"]
    assert got.index == image.index
    first = registry.seen[0]
    assert first.path == f"/v2/{REPO}/manifests/1.0"
    assert first.headers["accept"] == ACCEPT
    for media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST):
        assert media_type in first.headers["accept"]


@pytest.mark.parametrize(
    ("platform", "chosen"),
    [
        (Platform("linux", "arm64"), "linux/arm64/v8"),
        (Platform("linux", "arm"), "linux/arm/v7"),
        (Platform("linux", "arm", "v6"), "linux/arm/v6"),
        (Platform("linux", "arm", "v8"), "linux/arm/v7"),  # a newer arm runs the older variants
    ],
)
def test_the_platform_picks_the_index_entry(registry: Registry, platform: Platform, chosen: str) -> None:
    image = push_index(registry, media=(DOCKER_MANIFEST_LIST, DOCKER_MANIFEST))
    got = client().manifest(f"{registry.host}/{REPO}:1.0", platform)
    assert (got.manifest, got.config) == (image.manifests[chosen], image.configs[chosen])


def test_a_platform_missing_from_the_index_names_the_ones_it_has(registry: Registry) -> None:
    push_index(registry)
    with pytest.raises(ResolveError) as e:
        client().manifest(f"{registry.host}/{REPO}:1.0", Platform("linux", "ppc64le"))
    assert str(e.value) == (
        f"cannot fetch the manifest of `{registry.host}/{REPO}:1.0`: its index has no manifest for "
        "linux/ppc64le (it has linux/amd64, linux/arm64, linux/arm/v7, linux/arm/v6)"
    )


def test_a_single_manifest_has_no_index_and_must_match_the_platform(registry: Registry) -> None:
    digest, body, config = push_single(registry)
    got = client().manifest(f"{registry.host}/{REPO}:single", AMD64)
    assert (got.digest, got.manifest, got.config, got.index) == (digest, body, config, None)
    with pytest.raises(ResolveError, match=r"single-platform image for linux/amd64, not linux/arm64$"):
        client().manifest(f"{registry.host}/{REPO}:single", Platform("linux", "arm64"))


def test_the_media_type_is_read_from_the_document_without_a_content_type(registry: Registry) -> None:
    image = push_index(registry)
    registry.send_content_type = False
    got = client().manifest(f"{registry.host}/{REPO}:1.0", AMD64)
    assert (got.index, got.manifest) == (image.index, image.manifests["linux/amd64"])


def test_a_digest_reference_is_fetched_by_digest_and_checked(registry: Registry) -> None:
    image = push_index(registry)
    got = client().manifest(f"{registry.host}/{REPO}@{image.index_digest}", AMD64)
    assert got.digest == image.index_digest
    assert registry.seen[0].path == f"/v2/{REPO}/manifests/{image.index_digest}"
    # A registry serving other bytes under that digest is caught.
    registry.manifests[image.index_digest] = (OCI_INDEX, image.index + b" ")
    with pytest.raises(ResolveError, match="does not match its digest"):
        client().manifest(f"{registry.host}/{REPO}@{image.index_digest}", AMD64)


def test_a_tampered_config_blob_is_caught(registry: Registry) -> None:
    image = push_index(registry)
    registry.blobs[sha(image.configs["linux/amd64"])] = b'{"os":"linux","architecture":"amd64","evil":1}'
    with pytest.raises(ResolveError, match=r"served a config that does not match its digest sha256:"):
        client().manifest(f"{registry.host}/{REPO}:1.0", AMD64)


def test_answers_are_kept_per_reference_and_platform(registry: Registry) -> None:
    push_index(registry)
    c = client()
    first = c.manifest(f"{registry.host}/{REPO}:1.0", AMD64)
    requests = len(registry.seen)
    assert c.manifest(f"{registry.host}/{REPO}:1.0", AMD64) is first
    assert len(registry.seen) == requests
    c.manifest(f"{registry.host}/{REPO}:1.0", Platform("linux", "arm64"))
    assert len(registry.seen) > requests


# -- failures ----------------------------------------------------------------------------


def test_an_unknown_tag_names_the_reference_and_the_tag(registry: Registry) -> None:
    push_index(registry)
    with pytest.raises(ResolveError) as e:
        client().manifest(f"{registry.host}/{REPO}:nope", AMD64)
    assert (
        str(e.value)
        == f"cannot fetch the manifest of `{registry.host}/{REPO}:nope`: unknown tag `nope` at {registry.host}"
    )


def test_an_unknown_repository_is_named(registry: Registry) -> None:
    with pytest.raises(ResolveError) as e:
        client().manifest(f"{registry.host}/other:1.0", AMD64)
    assert str(e.value).endswith(f"{registry.host} has no repository `other`")


def test_an_unreachable_registry_is_one_line_naming_the_reference() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ResolveError) as e:
        client().manifest(f"127.0.0.1:{port}/{REPO}:1.0", AMD64)
    message = str(e.value)
    assert message.startswith(f"cannot fetch the manifest of `127.0.0.1:{port}/{REPO}:1.0`: cannot reach the registry")
    assert f"http://127.0.0.1:{port}" in message and "\n" not in message


def test_a_registry_that_never_answers_times_out() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)  # connections are accepted by the kernel, never answered
        port = s.getsockname()[1]
        with pytest.raises(ResolveError, match=r"cannot reach the registry at http://127\.0\.0\.1:\d+: timed out$"):
            client(timeout=0.3).manifest(f"127.0.0.1:{port}/{REPO}:1.0", AMD64)


def test_an_invalid_reference_is_reported_without_a_request() -> None:
    with pytest.raises(ResolveError, match="^invalid image reference `Bad/Ref`: repository name must be lowercase$"):
        client().manifest("Bad/Ref", AMD64)


# -- whether a tag exists ----------------------------------------------------------------


def test_exists_asks_with_one_head_of_the_manifest(registry: Registry) -> None:
    push_index(registry)
    assert client().exists(f"{registry.host}/{REPO}:1.0") is True
    assert [(s.method, s.path) for s in registry.seen] == [("HEAD", f"/v2/{REPO}/manifests/1.0")]
    assert registry.seen[0].headers["accept"] == ACCEPT


def test_exists_is_false_for_an_unknown_tag_or_repository(registry: Registry) -> None:
    push_index(registry)
    assert client().exists(f"{registry.host}/{REPO}:nope") is False
    assert client().exists(f"{registry.host}/other:1.0") is False


def test_exists_follows_the_bearer_flow(registry: Registry) -> None:
    push_index(registry)
    registry.auth = "bearer"
    assert client().exists(f"{registry.host}/{REPO}:1.0") is True
    assert client().exists(f"{registry.host}/{REPO}:nope") is False
    assert [s.method for s in registry.seen if s.path.startswith("/v2/")] == ["HEAD", "HEAD", "HEAD", "HEAD"]


def test_exists_cannot_tell_for_an_unreachable_registry_or_a_refusal(registry: Registry) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ResolveError, match="cannot reach the registry"):
        client().exists(f"127.0.0.1:{port}/{REPO}:1.0")
    registry.auth = "basic"
    with pytest.raises(ResolveError, match="needs credentials"):
        client().exists(f"{registry.host}/{REPO}:1.0")


# -- auth --------------------------------------------------------------------------------


def test_the_bearer_flow_fetches_an_anonymous_token_once(registry: Registry) -> None:
    image = push_index(registry)
    registry.auth = "bearer"
    got = client().manifest(f"{registry.host}/{REPO}:1.0", AMD64)
    assert got.digest == image.index_digest
    token_requests = [s for s in registry.seen if s.path.startswith("/token")]
    assert len(token_requests) == 1  # the token is reused for the manifests and the blob
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(token_requests[0].path).query)
    assert query == {"service": ["test-registry"], "scope": [f"repository:{REPO}:pull"]}
    assert "authorization" not in token_requests[0].headers
    authorized = [s for s in registry.seen if s.path.startswith("/v2/") and "authorization" in s.headers]
    assert len(authorized) == 3 and all(s.headers["authorization"] == "Bearer token-0" for s in authorized)


def test_the_bearer_flow_sends_credentials_to_the_token_service(registry: Registry) -> None:
    push_index(registry)
    registry.auth = "bearer"
    registry.users = {"bob": "s3cret"}
    asked: list[str] = []

    def creds(host: str) -> Credentials:
        asked.append(host)
        return Credentials("bob", "s3cret")

    client(credentials=creds).manifest(f"{registry.host}/{REPO}:1.0", AMD64)
    assert asked == [registry.host]
    (token_request,) = [s for s in registry.seen if s.path.startswith("/token")]
    assert token_request.headers["authorization"] == basic("bob", "s3cret")


def test_refused_credentials_are_one_line_naming_the_reference_and_user(registry: Registry) -> None:
    push_index(registry)
    registry.auth = "bearer"
    registry.users = {"bob": "s3cret"}
    with pytest.raises(ResolveError) as e:
        client(credentials=lambda host: Credentials("bob", "wrong")).manifest(f"{registry.host}/{REPO}:1.0", AMD64)
    assert str(e.value) == (
        f"cannot fetch the manifest of `{registry.host}/{REPO}:1.0`: the token service "
        f"http://{registry.host}/token refused access to user `bob`: UNAUTHORIZED invalid username or password"
    )


def test_credentials_come_from_the_docker_config(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    push_index(registry)
    registry.auth = "bearer"
    registry.users = {"bob": "s3cret"}
    auth = base64.b64encode(b"bob:s3cret").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {registry.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    RegistryClient(timeout=5.0).manifest(f"{registry.host}/{REPO}:1.0", AMD64)
    (token_request,) = [s for s in registry.seen if s.path.startswith("/token")]
    assert token_request.headers["authorization"] == basic("bob", "s3cret")


def test_an_identity_token_is_exchanged_as_a_refresh_token(registry: Registry) -> None:
    image = push_index(registry)
    registry.auth = "bearer"
    registry.refresh_tokens = {"refresh-me"}
    got = client(credentials=lambda host: Credentials("", "refresh-me")).manifest(f"{registry.host}/{REPO}:1.0", AMD64)
    assert got.digest == image.index_digest
    (token_request,) = [s for s in registry.seen if s.path.startswith("/token")]
    assert token_request.method == "POST"
    form = urllib.parse.parse_qs(token_request.body.decode())
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["refresh-me"]
    assert form["scope"] == [f"repository:{REPO}:pull"] and form["service"] == ["test-registry"]


def test_basic_auth_uses_the_credentials_and_needs_some(registry: Registry) -> None:
    image = push_index(registry)
    registry.auth = "basic"
    registry.users = {"bob": "s3cret"}
    got = client(credentials=lambda host: Credentials("bob", "s3cret")).manifest(f"{registry.host}/{REPO}:1.0", AMD64)
    assert got.digest == image.index_digest
    with pytest.raises(ResolveError, match="needs credentials and the docker config has none for it$"):
        client().manifest(f"{registry.host}/{REPO}:1.0", AMD64)
    with pytest.raises(ResolveError, match=f"{registry.host} refused access to user `bob`: UNAUTHORIZED"):
        client(credentials=lambda host: Credentials("bob", "nope")).manifest(f"{registry.host}/{REPO}:1.0", AMD64)


def test_the_token_is_not_sent_along_a_blob_redirect(registry: Registry) -> None:
    image = push_index(registry)
    registry.auth = "bearer"
    registry.redirect_blobs = True
    got = client().manifest(f"{registry.host}/{REPO}:1.0", AMD64)
    assert got.config == image.configs["linux/amd64"]
    (storage,) = [s for s in registry.seen if s.path.startswith("/storage/")]
    assert "authorization" not in storage.headers
