"""A small client of a registry's HTTP API (distribution's ``/v2/``): image manifests and configs.

This is option B of the protocol notes' image resolution: the client asks the
registry itself, without a daemon round trip. For a reference it

* normalises it as Docker does (``busybox`` is ``docker.io/library/busybox:latest``;
  Docker Hub is served by ``registry-1.docker.io``);
* speaks ``https://``, except plain ``http://`` to loopback registries
  (``localhost``, ``127.0.0.0/8``, ``::1``), which the Docker engine treats as insecure;
* answers a ``401`` challenge: ``Bearer`` by fetching a pull token from the
  challenge's realm (anonymously, or with the Docker CLI's credentials for the
  host: ``auths``, ``credHelpers`` and ``credsStore`` of ``$DOCKER_CONFIG/config.json``
  as ``hlb.session.auth`` reads them; an identity token is exchanged as an
  OAuth2 refresh token), ``Basic`` with those credentials;
* asks for the OCI index and manifest and the Docker manifest list and v2
  manifest, picks the requested platform's manifest from an index, and fetches
  the config blob that manifest names, checking every digest it was given.

:meth:`RegistryClient.exists` only asks whether a tag exists (a ``HEAD``), for
mounts primed from an image that may not be pushed yet.

What it does not know is the daemon's own registry configuration (mirrors,
extra insecure registries, certificates), nor images only in the engine's store.
Every request has a timeout; failures are :class:`~hlb.resolver.ResolveError`
with a one-line message naming the reference.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hlb.llb.platform import Platform, normalize_arch
from hlb.llb.reference import Reference
from hlb.llb.reference import parse as parse_ref
from hlb.resolver import ResolvedManifest, ResolveError
from hlb.session.auth import CredentialError, Credentials, load_config, lookup

if TYPE_CHECKING:
    from email.message import Message
    from urllib.request import OpenerDirector

TIMEOUT = 30.0  # seconds for each request (connecting and each read)
MAX_DOCUMENT = 8 << 20  # bytes: a manifest, index or config larger than this is refused

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))
DOCKER_HUB_HOST = "registry-1.docker.io"
CLIENT_ID = "hlb"  # the client_id of OAuth2 token requests

CredentialLookup = Callable[[str], Credentials]

_DIGEST = re.compile(r"(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})\Z")
_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')
_ARM_VARIANTS = ("v8", "v7", "v6", "v5")
_AMD64_VARIANTS = ("v4", "v3", "v2", "v1")


def docker_credentials(host: str) -> Credentials:
    """The Docker CLI's credentials for a registry host (anonymous when it has none)."""
    return lookup(load_config(), host)


def registry_host(domain: str) -> str:
    """The host serving a reference's domain (``docker.io`` is served by ``registry-1.docker.io``)."""
    return DOCKER_HUB_HOST if domain == "docker.io" else domain


def is_loopback(host: str) -> bool:
    """Whether ``host`` (``name[:port]``) is this machine, which registries are spoken to in plain HTTP."""
    if host.startswith("["):
        name = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        name = host.partition(":")[0]
    else:
        name = host  # no port, or a bare IPv6 address
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def base_url(host: str) -> str:
    return f"{'http' if is_loopback(host) else 'https'}://{host}"


def platform_matches(wanted: Platform) -> list[tuple[str, str, str]]:
    """The (os, arch, variant) an index entry may have for ``wanted``, best first.

    Variants default as containerd's do (``arm64`` is ``v8``, ``arm`` is ``v7``,
    ``amd64`` is ``v1``); an arm or amd64 machine also runs the older variants.
    """
    os_, arch, variant = _normalized(wanted.os, wanted.architecture, wanted.variant)
    older: tuple[str, ...] = ()
    if arch == "arm" and variant in _ARM_VARIANTS:
        older = _ARM_VARIANTS[_ARM_VARIANTS.index(variant) + 1 :]
    elif arch == "amd64" and variant in _AMD64_VARIANTS:
        older = _AMD64_VARIANTS[_AMD64_VARIANTS.index(variant) + 1 :]
    return [(os_, arch, v) for v in (variant, *older)]


def _normalized(os_: str, arch: str, variant: str) -> tuple[str, str, str]:
    arch = normalize_arch(arch.lower())
    variant = variant.lower()
    if not variant:
        variant = {"arm64": "v8", "arm": "v7", "amd64": "v1"}.get(arch, "")
    return os_.lower(), arch, variant


def _platform_of(obj: Any) -> tuple[str, str, str] | None:
    if not isinstance(obj, dict):
        return None
    os_, arch, variant = obj.get("os"), obj.get("architecture"), obj.get("variant", "")
    if not (isinstance(os_, str) and isinstance(arch, str) and isinstance(variant, str)) or not os_ or not arch:
        return None
    return _normalized(os_, arch, variant)


def _spell(p: tuple[str, str, str]) -> str:
    os_, arch, variant = p
    default = {"arm64": "v8", "amd64": "v1"}.get(arch)
    return f"{os_}/{arch}" if variant in ("", default) else f"{os_}/{arch}/{variant}"


def select_manifest(index: Mapping[str, Any], wanted: Platform) -> Mapping[str, Any] | None:
    """The descriptor of ``index``'s manifest for ``wanted``, or None."""
    entries = [m for m in index.get("manifests") or () if isinstance(m, dict)]
    for p in platform_matches(wanted):
        for m in entries:
            if _platform_of(m.get("platform")) == p:
                return m
    return None


def index_platforms(index: Mapping[str, Any]) -> list[str]:
    """The platforms an index offers (attestations, ``unknown/unknown``, left out)."""
    found = []
    for m in index.get("manifests") or ():
        p = _platform_of(m.get("platform")) if isinstance(m, dict) else None
        if p and p[0] != "unknown" and _spell(p) not in found:
            found.append(_spell(p))
    return found


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    headers: Message
    body: bytes


@dataclass(frozen=True, slots=True)
class _Repository:
    ref: Reference
    host: str  # the registry's host[:port]
    base: str  # scheme://host

    @classmethod
    def of(cls, ref: Reference) -> _Repository:
        host = registry_host(ref.domain)
        return cls(ref, host, base_url(host))

    @property
    def scope(self) -> str:
        return f"repository:{self.ref.path}:pull"

    def fail(self, reason: str) -> ResolveError:
        return ResolveError(f"cannot fetch the manifest of `{self.ref}`: {reason}")


class RegistryClient:
    """Resolves manifests from registries; a :class:`~hlb.resolver.ManifestResolver`.

    Answers are kept per reference and platform for the client's life (one
    compilation evaluates a bound ``manifest`` once per bind), and so are tokens.
    """

    def __init__(self, *, timeout: float = TIMEOUT, credentials: CredentialLookup = docker_credentials) -> None:
        self.timeout = timeout
        self._credentials = credentials
        self._lock = threading.Lock()
        self._authorization: dict[tuple[str, str], str] = {}  # (host, scope) -> Authorization header
        self._answers: dict[tuple[str, Platform], ResolvedManifest] = {}
        self._openers: tuple[OpenerDirector, OpenerDirector] | None = None  # (direct, proxied): on the first request

    def manifest(self, ref: str, platform: Platform) -> ResolvedManifest:
        try:
            parsed = parse_ref(ref)
        except ValueError as e:
            raise ResolveError(f"invalid image reference `{ref}`: {e}") from None
        key = (str(parsed), platform)
        with self._lock:
            known = self._answers.get(key)
        if known is None:
            known = self._resolve(_Repository.of(parsed), platform)
            with self._lock:
                self._answers[key] = known
        return known

    def exists(self, ref: str) -> bool:
        """Whether the registry has ``ref``'s tag (or digest): a ``HEAD`` of its manifest, which fetches nothing
        and which Docker Hub does not count as a pull.

        False only when the registry answers 404 (no such tag, or no such repository); raises
        :class:`~hlb.resolver.ResolveError` for any other answer, when it cannot be reached, or when it
        refuses access.
        """
        try:
            repo = _Repository.of(parse_ref(ref))
        except ValueError as e:
            raise ResolveError(f"invalid image reference `{ref}`: {e}") from None
        url = f"{repo.base}/v2/{repo.ref.path}/manifests/{repo.ref.digest or repo.ref.tag}"
        resp = self._get(repo, url, ACCEPT, "HEAD")
        if resp.status == 404:
            return False
        if resp.status != 200:
            raise repo.fail(f"{repo.host} answered HTTP {resp.status}{_detail(resp)}")
        return True

    # -- the resolution -------------------------------------------------------------------

    def _resolve(self, repo: _Repository, platform: Platform) -> ResolvedManifest:
        ref = repo.ref
        top = self._fetch(repo, f"manifests/{ref.digest or ref.tag}", ACCEPT, ref.digest, "manifest")
        digest = ref.digest or _digest_of(top.body)
        kind, doc = _document(repo, top)
        index: bytes | None = None
        manifest = top.body
        if kind in INDEX_TYPES:
            index = top.body
            chosen = select_manifest(doc, platform)
            if chosen is None:
                offered = ", ".join(index_platforms(doc)) or "none"
                raise repo.fail(f"its index has no manifest for {platform} (it has {offered})")
            child_digest = _descriptor_digest(repo, chosen)
            child = self._fetch(repo, f"manifests/{child_digest}", ACCEPT, child_digest, "manifest")
            kind, doc = _document(repo, child)
            if kind not in MANIFEST_TYPES:
                raise repo.fail(f"the index entry for {platform} is a `{kind}`, not an image manifest")
            manifest = child.body
        config_digest = _descriptor_digest(repo, doc.get("config"))
        config = self._fetch(repo, f"blobs/{config_digest}", "*/*", config_digest, "config").body
        if index is None:
            _check_platform(repo, config, platform)
        return ResolvedManifest(str(ref), digest, manifest, config, index)

    def _fetch(self, repo: _Repository, path: str, accept: str, digest: str, what: str) -> _Response:
        resp = self._get(repo, f"{repo.base}/v2/{repo.ref.path}/{path}", accept)
        if resp.status == 404:
            raise repo.fail(_not_found(repo, resp, what, path.rpartition("/")[2]))
        if resp.status != 200:
            raise repo.fail(f"{repo.host} answered HTTP {resp.status}{_detail(resp)}")
        if len(resp.body) > MAX_DOCUMENT:
            raise repo.fail(f"the {what} at {repo.host} is larger than {MAX_DOCUMENT >> 20} MiB")
        if digest and _digest_of(resp.body, digest.partition(":")[0]) != digest:
            raise repo.fail(f"{repo.host} served a {what} that does not match its digest {digest}")
        return resp

    # -- HTTP and auth ----------------------------------------------------------------------

    def _get(self, repo: _Repository, url: str, accept: str, method: str = "GET") -> _Response:
        key = (repo.host, repo.scope)
        with self._lock:
            authorization = self._authorization.get(key)
        resp = self._send(repo, url, {"Accept": accept}, authorization, method=method)
        if resp.status != 401:
            return resp
        authorization, how = self._authorize(repo, resp)
        resp = self._send(repo, url, {"Accept": accept}, authorization, method=method)
        if resp.status in (401, 403):
            raise repo.fail(f"{repo.host} refused access {how}{_detail(resp)}")
        with self._lock:
            self._authorization[key] = authorization
        return resp

    def _authorize(self, repo: _Repository, challenged: _Response) -> tuple[str, str]:
        """The Authorization header answering a 401's challenge, and how it authenticates (for messages)."""
        scheme, params = parse_challenge(challenged.headers.get_all("WWW-Authenticate") or [])
        try:
            creds = self._credentials(repo.host)
        except CredentialError as e:
            raise repo.fail(str(e)) from None
        if creds.username:
            how = f"to user `{creds.username}`"
        else:
            how = "to the identity token of the docker config" if creds.secret else "to anonymous requests"
        if scheme == "basic":
            if not (creds.username or creds.secret):
                raise repo.fail(f"{repo.host} needs credentials and the docker config has none for it")
            return _basic(creds), how
        if scheme != "bearer" or not params.get("realm"):
            raise repo.fail(f"{repo.host} asks for an authentication hlb does not speak: `{scheme or 'none'}`")
        token = self._token(repo, params, creds, how)
        return f"Bearer {token}", how

    def _token(self, repo: _Repository, params: Mapping[str, str], creds: Credentials, how: str) -> str:
        realm = params["realm"]
        query = {"scope": params.get("scope") or repo.scope}
        if params.get("service"):
            query["service"] = params["service"]
        headers: dict[str, str] = {"Accept": "application/json"}
        data: bytes | None = None
        if creds.secret and not creds.username:  # an identity token is an OAuth2 refresh token
            form = {**query, "grant_type": "refresh_token", "refresh_token": creds.secret, "client_id": CLIENT_ID}
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            url = realm
        else:
            url = f"{realm}{'&' if '?' in realm else '?'}{urllib.parse.urlencode(query)}"
        auth = _basic(creds) if creds.username else None
        resp = self._send(repo, url, headers, auth, data=data, where=f"the token service {realm}")
        if resp.status in (401, 403):
            raise repo.fail(f"the token service {realm} refused access {how}{_detail(resp)}")
        if resp.status != 200:
            raise repo.fail(f"the token service {realm} answered HTTP {resp.status}{_detail(resp)}")
        try:
            answer = json.loads(resp.body)
        except ValueError:
            answer = None
        token = answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise repo.fail(f"the token service {realm} answered without a token")
        return token

    def _send(
        self,
        repo: _Repository,
        url: str,
        headers: Mapping[str, str],
        authorization: str | None,
        *,
        data: bytes | None = None,
        where: str = "",
        method: str | None = None,
    ) -> _Response:
        # The HTTP client (http.client, urllib.request, email: ~10 ms) loads with the first request: a compile
        # that asks no registry (most do not) never loads it.
        import http.client
        import urllib.error
        import urllib.request

        req = urllib.request.Request(url, data=data, headers={"User-Agent": "hlb", **headers}, method=method)
        if authorization:
            # Not sent on along redirects: blob storage behind a redirect has its own signed URLs.
            req.add_unredirected_header("Authorization", authorization)
        host = urllib.parse.urlsplit(url).netloc
        with self._lock:
            if self._openers is None:
                direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
                self._openers = (direct, urllib.request.build_opener())
            direct, proxied = self._openers
        opener = direct if is_loopback(host) else proxied
        where = where or f"the registry at {repo.base}"
        try:
            with opener.open(req, timeout=self.timeout) as r:
                return _Response(r.status, r.headers, r.read(MAX_DOCUMENT + 1))
        except urllib.error.HTTPError as e:
            try:
                body = e.read(64 << 10)
            except (OSError, http.client.HTTPException):
                body = b""
            return _Response(e.code, e.headers, body)
        except urllib.error.URLError as e:
            raise repo.fail(f"cannot reach {where}: {_reason(e.reason)}") from None
        except (OSError, http.client.HTTPException) as e:
            raise repo.fail(f"cannot reach {where}: {_reason(e)}") from None


def parse_challenge(headers: Sequence[str]) -> tuple[str, dict[str, str]]:
    """The scheme (lower case) and parameters of the first ``WWW-Authenticate`` challenge."""
    for header in headers:
        scheme, _, rest = header.strip().partition(" ")
        if not scheme:
            continue
        params: dict[str, str] = {}
        for m in _CHALLENGE_PARAM.finditer(rest):
            value = m[2] if m[2] is not None else m[3]
            params[m[1].lower()] = re.sub(r"\\(.)", r"\1", value)
        return scheme.lower(), params
    return "", {}


def _basic(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.secret}".encode()).decode()


def _digest_of(body: bytes, algorithm: str = "sha256") -> str:
    if algorithm not in ("sha256", "sha512"):
        return ""
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


def _descriptor_digest(repo: _Repository, desc: Any) -> str:
    digest = desc.get("digest") if isinstance(desc, dict) else None
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise repo.fail(f"{repo.host} served a manifest with a missing or invalid digest ({digest!r})")
    return digest


def _document(repo: _Repository, resp: _Response) -> tuple[str, Mapping[str, Any]]:
    """The media type and JSON of a manifest or index."""
    try:
        doc = json.loads(resp.body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise repo.fail(f"{repo.host} served a manifest that is not a JSON object")
    kind = (resp.headers.get("Content-Type") or "").partition(";")[0].strip()
    if kind not in (*INDEX_TYPES, *MANIFEST_TYPES):
        declared = doc.get("mediaType")
        if isinstance(declared, str) and declared:
            kind = declared
        elif "manifests" in doc:
            kind = OCI_INDEX
        elif "config" in doc:
            kind = OCI_MANIFEST
    if kind not in (*INDEX_TYPES, *MANIFEST_TYPES):
        raise repo.fail(f"{repo.host} served a manifest of the unsupported type `{kind or 'unknown'}`")
    return kind, doc


def _check_platform(repo: _Repository, config: bytes, wanted: Platform) -> None:
    """A single-platform image must be for ``wanted``, as BuildKit's resolver requires."""
    try:
        image = json.loads(config)
    except ValueError:
        raise repo.fail(f"{repo.host} served an image config that is not JSON") from None
    actual = _platform_of(image)
    if actual is not None and actual not in platform_matches(wanted):
        raise repo.fail(f"it is a single-platform image for {_spell(actual)}, not {wanted}")


def _not_found(repo: _Repository, resp: _Response, what: str, name: str) -> str:
    codes = {e.get("code") for e in _errors(resp)}
    if "NAME_UNKNOWN" in codes:
        return f"{repo.host} has no repository `{repo.ref.path}`"
    if what == "config":
        return f"{repo.host} has no config blob {name}"
    if _DIGEST.match(name):
        return f"{repo.host} has no manifest {name}"
    return f"unknown tag `{name}` at {repo.host}"


def _errors(resp: _Response) -> list[dict[str, Any]]:
    try:
        doc = json.loads(resp.body)
    except ValueError:
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _detail(resp: _Response) -> str:
    """``: CODE message`` from a registry's error body, or nothing."""
    for e in _errors(resp):
        message = " ".join(str(part) for part in (e.get("code"), e.get("message")) if part)
        if message:
            return ": " + message.replace("\n", " ")[:200]
    return ""


def _reason(e: object) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, OSError) and e.strerror:
        return str(e.strerror)
    return str(e) or type(e).__name__
