"""Which BuildKit to talk to, and how.

``--addr`` (or ``BUILDKIT_HOST``) names a BuildKit daemon and wins; otherwise
hlb uses the embedded BuildKit of the Docker engine the docker CLI would use
(:func:`docker_engine`): ``--context NAME``, else ``DOCKER_HOST``, else the
context ``DOCKER_CONTEXT`` names, else the ``currentContext`` of
``$DOCKER_CONFIG/config.json`` (default ``~/.docker``), else the default socket
``unix:///var/run/docker.sock``. A context's endpoint and TLS files are read
from that directory's ``contexts/meta`` and ``contexts/tls`` stores.

Schemes, as buildctl spells them: ``unix:///path``, ``tcp://host:port`` (TLS
with ``--tlscacert``/``--tlscert``/``--tlskey``/``--tlsservername``),
``docker-container://NAME[?context=CTX]`` (``docker exec -i NAME buildctl
dial-stdio``). hlb adds ``docker://`` for a Docker engine: bare, it means
``DOCKER_HOST`` (or the default socket); ``docker://unix:///path`` and
``docker://tcp://host:port`` name one. A ``tcp://`` Docker engine uses TLS when
``DOCKER_TLS_VERIFY`` is set, with ``ca.pem``/``cert.pem``/``key.pem`` from
``DOCKER_CERT_PATH`` (default ``~/.docker``), as the docker CLI does.

Remote daemons through a helper process, as buildctl and the docker CLI run them:
``kube-pod://POD[?namespace=NS&context=CTX&container=C]`` (``kubectl exec -i POD --
buildctl dial-stdio``) and ``ssh://[USER@]HOST[:PORT][/SOCKET]`` (the Docker engine on
that host: ``ssh ... -- HOST docker system dial-stdio``). Several addresses (``--addr``
repeated or comma-separated, or a comma-separated ``BUILDKIT_HOST``) make a fleet:
:func:`several`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
_CONTAINER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
Kind = Literal["docker", "buildkit"]


class AddressError(ValueError):
    """An address hlb cannot use; the message names it and where it came from."""


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """Client TLS material, as buildctl's ``--tls*`` flags give it (file paths)."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    server_name: str | None = None
    skip_verify: bool = False  # a docker context's SkipTLSVerify: encrypt, but trust any server certificate

    def read(self) -> tuple[bytes | None, bytes | None, bytes | None]:
        """(CA, key, certificate chain) bytes for ``grpc.ssl_channel_credentials``; raises OSError."""

        def load(path: str | None) -> bytes | None:
            if path is None:
                return None
            with open(path, "rb") as f:
                return f.read()

        return load(self.ca), load(self.key), load(self.cert)


@dataclass(frozen=True, slots=True)
class Address:
    kind: Kind
    url: str  # docker: the engine's unix:// or tcp:// URL; buildkit: unix://, tcp:// or docker-container://
    source: str  # where it came from, for error messages: "BUILDKIT_HOST", "--addr", ...
    tls: TLSConfig | None = None

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    def describe(self) -> str:
        what = "the Docker engine" if self.kind == "docker" else "BuildKit"
        return f"{what} at {self.url} (from {self.source})"

    @property
    def socket_path(self) -> str:
        """The path of a ``unix://`` address (``unix:///abs`` or ``unix://relative``)."""
        return self.url.partition("://")[2]

    @property
    def host_port(self) -> tuple[str, int]:
        """``(host, port)`` of a ``tcp://`` address (2375 for a Docker engine without a port)."""
        parts = urlsplit(self.url)
        try:
            port = parts.port
        except ValueError:
            port = None
        return parts.hostname or "localhost", port or 2375

    @property
    def kube_pod(self) -> KubePod:
        """The pod and its namespace, kubectl context and container of a ``kube-pod://`` address."""
        parts = urlsplit(self.url)
        query = parse_qs(parts.query)
        ns, ctx, ctr = (query.get(k, [None])[0] for k in ("namespace", "context", "container"))
        return KubePod(parts.netloc, ns, ctx, ctr)

    @property
    def ssh(self) -> SSHHost:
        """The user, host, port and Docker socket path of an ``ssh://`` address."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        return SSHHost(parts.username, host, parts.port, unquote(parts.path) if parts.path not in ("", "/") else None)

    @property
    def container(self) -> tuple[str, str | None]:
        """``(name, docker context)`` of a ``docker-container://`` address."""
        parts = urlsplit(self.url)
        context = parse_qs(parts.query).get("context", [None])[0]
        return parts.netloc, context


@dataclass(frozen=True, slots=True)
class KubePod:
    pod: str
    namespace: str | None = None
    context: str | None = None
    container: str | None = None


@dataclass(frozen=True, slots=True)
class SSHHost:
    user: str | None
    host: str
    port: int | None = None
    socket: str | None = None  # the Docker engine's socket on that host (docker's default when None)


def resolve(
    flag: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    tls: TLSConfig | None = None,
    context: str | None = None,
) -> Address:
    """The address to use (``context``: the ``--context`` flag); raises :class:`AddressError` for one hlb
    cannot use."""
    env = os.environ if env is None else env
    if flag:
        _no_context(context, f"--addr {flag}")
        return parse(flag, "--addr", env, tls)
    if env.get("BUILDKIT_HOST") and context is None:  # the flag beats the variable, as --context beats DOCKER_HOST
        return parse(env["BUILDKIT_HOST"], "BUILDKIT_HOST", env, tls)
    if tls is not None:
        raise AddressError("the --tls* flags need a tcp:// BuildKit address (--addr or BUILDKIT_HOST)")
    return docker_engine(env, context)


def parse(url: str, source: str, env: Mapping[str, str], tls: TLSConfig | None = None) -> Address:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise AddressError(f"{source} {url!r} is not an address: use unix://PATH, tcp://HOST:PORT, "
                           "docker-container://NAME, kube-pod://POD, ssh://USER@HOST or docker://")  # fmt: skip
    if scheme == "docker":
        if tls is not None:
            raise AddressError(f"the --tls* flags do not apply to {url} (from {source}); use DOCKER_TLS_VERIFY")
        if not rest:
            return docker_engine(env, via=f"{source} {url}")
        return docker(rest, source, env)
    if scheme == "unix":
        _need(bool(rest), f"{source} {url!r} names no socket path")
        _no_tls(tls, url, source)
        return Address("buildkit", url, source)
    if scheme == "tcp":
        _check_tcp(url, source)
        return Address("buildkit", url, source, _checked_tls(tls, url, source))
    if scheme == "docker-container":
        name = _split(url, source).netloc
        _need(bool(_CONTAINER_NAME.match(name)), f"{source} {url!r}: {name!r} is not a container name")
        _no_tls(tls, url, source)
        return Address("buildkit", url, source)
    if scheme == "kube-pod":
        return _kube_pod(url, source, tls)
    if scheme == "ssh":
        return _ssh(url, source, tls)
    raise AddressError(
        f"unsupported address scheme `{scheme}://` in {url} (from {source}): use unix://, tcp://, "
        "docker-container://, kube-pod://, ssh:// or docker://"
    )


# Kubernetes names: a pod is a DNS subdomain, a namespace and a container a DNS label (RFC 1123).
_KUBE_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KUBE_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_KUBE_PARAMS = ("namespace", "context", "container")


def _kube_pod(url: str, source: str, tls: TLSConfig | None) -> Address:
    """``kube-pod://POD[?namespace=NS&context=CTX&container=C]``: buildctl dial-stdio in a pod, via kubectl."""
    parts = _split(url, source)
    usage = "kube-pod://POD?namespace=NS&context=CTX&container=C"
    pod = parts.netloc
    _need(bool(pod), f"{source} {url!r} names no pod ({usage})")
    _need(len(pod) <= 253 and bool(_KUBE_SUBDOMAIN.match(pod)), f"{source} {url!r}: {pod!r} is not a pod name "
          "(lower-case letters, digits, '-' and '.')")  # fmt: skip
    _need(parts.path in ("", "/") and not parts.fragment, f"{source} {url!r}: a kube-pod address has no path ({usage})")
    query = parse_qs(parts.query, keep_blank_values=True)
    for key, values in query.items():
        _need(key in _KUBE_PARAMS, f"{source} {url!r}: unknown parameter {key!r} ({usage})")
        _need(len(values) == 1, f"{source} {url!r}: {key} is given {len(values)} times")
        _need(bool(values[0]), f"{source} {url!r}: {key} is empty")
    for key in ("namespace", "container"):
        value = query.get(key, [""])[0]
        _need(not value or (len(value) <= 63 and bool(_KUBE_LABEL.match(value))),
              f"{source} {url!r}: {value!r} is not a {key} name (lower-case letters, digits and '-')")  # fmt: skip
    _need(not query.get("context", [""])[0].startswith("-"), f"{source} {url!r}: a context name cannot start with '-'")
    _no_tls(tls, url, source)
    return Address("buildkit", url, source)


def _ssh(url: str, source: str, tls: TLSConfig | None) -> Address:
    """``ssh://[USER@]HOST[:PORT][/SOCKET]``: the Docker engine on HOST, through ``docker system dial-stdio``."""
    parts = _split(url, source)
    _need(parts.password is None, f"{source}: an ssh:// address cannot hold a password; use an ssh key or agent")
    _need(not parts.query and not parts.fragment, f"{source} {url!r}: an ssh:// address takes no ?query or #fragment")
    try:
        port = parts.port
    except ValueError:
        raise AddressError(f"{source} {url!r}: the port is not a number from 1 to 65535") from None
    _need(port != 0, f"{source} {url!r}: port 0 is not an ssh port")
    host = parts.hostname or ""
    _need(bool(host), f"{source} {url!r} names no host (ssh://USER@HOST[:PORT])")
    for what, value in (("host", host), ("user", parts.username or "")):
        _need(not value.startswith("-"), f"{source} {url!r}: a {what} cannot start with '-'")
    _need(parts.path in ("", "/") or parts.path.startswith("/"), f"{source} {url!r}: bad socket path")
    _no_tls(tls, url, source)
    return Address("docker", url, source)


def several(
    flags: Sequence[str], env: Mapping[str, str] | None = None, *, tls: TLSConfig | None = None
) -> list[Address]:
    """The daemons of a fleet: ``--addr`` repeated or comma-separated, else a comma-separated
    ``BUILDKIT_HOST``; ``[]`` when they name one daemon or none (:func:`resolve` finds it then).

    A comma is taken as a separator only before another ``SCHEME://`` (a socket path may hold one);
    an empty part and a daemon named twice are errors.
    """
    env = os.environ if env is None else env
    if flags:
        urls, source = split_addresses(flags, "--addr"), "--addr"
    elif env.get("BUILDKIT_HOST"):
        urls, source = split_addresses([env["BUILDKIT_HOST"]], "BUILDKIT_HOST"), "BUILDKIT_HOST"
    else:
        return []
    if len(urls) < 2:
        return []
    fleet: list[Address] = []
    spelled: dict[str, str] = {}  # resolved URL -> how the flag spelled it first
    for url in urls:
        address = parse(url, source, env, tls)
        first = spelled.setdefault(address.url, url)
        if first != url:  # `docker://` and `docker://$DOCKER_HOST`, say: one daemon, two fleet members
            raise AddressError(f"{source} names the same daemon twice: {first} and {url} are both "
                               f"{address.url}; give each daemon once")  # fmt: skip
        fleet.append(address)
    return fleet


_NEXT_ADDRESS = re.compile(r",(?=\s*[A-Za-z][A-Za-z0-9+.-]*://)")


def split_addresses(values: Sequence[str], source: str) -> list[str]:
    """The addresses of ``values`` (each one or several, comma-separated), in order; raises :class:`AddressError`."""
    urls: list[str] = []
    for value in values:
        parts = [p.strip() for p in _NEXT_ADDRESS.split(value)]
        if not all(p and not p.startswith(",") and not p.endswith(",") for p in parts):
            raise AddressError(f"{source} {value!r} has an empty address: give one or more, comma-separated")
        for url in parts:
            if url in urls:
                raise AddressError(f"{source} names {url} twice: give each daemon once")
            urls.append(url)
    return urls


def docker(url: str, source: str, env: Mapping[str, str]) -> Address:
    """A Docker engine at ``unix://PATH``, ``tcp://HOST:PORT`` (TLS from DOCKER_TLS_VERIFY/DOCKER_CERT_PATH) or
    ``ssh://[USER@]HOST[:PORT]`` (through ``docker system dial-stdio`` there, as the docker CLI does)."""
    scheme = _split(url, source).scheme
    if scheme == "ssh":
        return _ssh(url, source, None)
    if scheme == "unix":
        _need(bool(url.partition("://")[2]), f"{source} {url!r} names no socket path")
        return Address("docker", url, source)
    if scheme in ("tcp", "http", "https"):
        _check_tcp(url, source, default_port=True)
        tls = None
        if env.get("DOCKER_TLS_VERIFY") or scheme == "https":
            certs = env.get("DOCKER_CERT_PATH") or os.path.join(os.path.expanduser("~"), ".docker")
            ca, cert, key = (os.path.join(certs, f) for f in ("ca.pem", "cert.pem", "key.pem"))
            tls = TLSConfig(ca, cert, key)
        return Address("docker", url, source, tls)
    raise AddressError(f"unsupported Docker engine address {url} (from {source}): use unix://, tcp:// or ssh://")


# -- the Docker engine the docker CLI would use: its contexts ----------------------------------


def docker_engine(env: Mapping[str, str], context: str | None = None, via: str = "") -> Address:
    """The Docker engine ``docker`` would talk to, resolved in the docker CLI's order: the ``--context``
    flag, ``DOCKER_HOST``, ``DOCKER_CONTEXT``, the ``currentContext`` of ``config.json``, the default
    socket. ``via`` prefixes the source (``--addr docker://``)."""
    name, why = context_choice(env, context)
    prefix = f"{via}: " if via else ""
    if name == "default":  # never stored: DOCKER_HOST, else the default socket (with DOCKER_TLS_VERIFY)
        host = env.get("DOCKER_HOST")
        source = "DOCKER_HOST" if host else "the default Docker socket"
        if why:
            source += f", docker context `default` {why}"
        return docker(host or DEFAULT_DOCKER_HOST, prefix + source, env)
    return context_endpoint(name, why, env, prefix)


def context_choice(env: Mapping[str, str], flag: str | None = None) -> tuple[str, str]:
    """``(context name, why it was chosen)``; why is ``""`` for the implicit ``default``."""
    if flag is not None:
        _need(bool(flag.strip()), f"--context {flag!r} names no docker context (`docker context ls` lists them)")
        return flag, "chosen by --context"
    if env.get("DOCKER_HOST"):
        return "default", ""
    if env.get("DOCKER_CONTEXT"):
        name = env["DOCKER_CONTEXT"]
        _need(bool(name.strip()), f"DOCKER_CONTEXT {name!r} names no docker context (`docker context ls` lists them)")
        return name, "set by DOCKER_CONTEXT"
    path = os.path.join(docker_config_dir(env), "config.json")
    current = _current_context(path)
    if current:
        return current, f"the currentContext of {_show(path, env)}"
    return "default", ""


def docker_config_dir(env: Mapping[str, str]) -> str:
    """``$DOCKER_CONFIG``, else ``~/.docker``: where the docker CLI keeps config.json and its contexts."""
    return env.get("DOCKER_CONFIG") or os.path.join(_home(env), ".docker")


def _home(env: Mapping[str, str]) -> str:
    return env.get("HOME") or os.path.expanduser("~")


def _show(path: str, env: Mapping[str, str]) -> str:
    """``path`` with the home directory written ``~``, as users know it."""
    home = _home(env).rstrip("/")
    return "~" + path[len(home) :] if home and path.startswith(home + "/") else path


def _current_context(path: str) -> str | None:
    """The ``currentContext`` of the docker CLI's config.json; None without the file or the key."""
    try:
        with open(path, "rb") as f:
            config = json.loads(f.read(_MAX_JSON))
    except FileNotFoundError:
        return None
    except OSError as e:
        raise AddressError(f"cannot read {path} (for its currentContext): {(e.strerror or str(e)).lower()}") from None
    except ValueError as e:  # not JSON, or not UTF-8
        raise AddressError(
            f"{path} is not valid JSON ({e}), so the current docker context is unknown: fix the file, "
            "or choose the engine with --context NAME, DOCKER_CONTEXT or DOCKER_HOST"
        ) from None
    if not isinstance(config, dict):
        raise AddressError(f"{path} is not a JSON object, so the current docker context is unknown: fix the file")
    current = config.get("currentContext")
    if current is None:
        return None
    _need(isinstance(current, str), f"{path}: currentContext is not a string (a docker context name)")
    return str(current) or None


def context_store(env: Mapping[str, str], name: str) -> tuple[str, str]:
    """``(meta.json, TLS directory)`` of the context ``name``: both are named by sha256 of the name."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    store = os.path.join(docker_config_dir(env), "contexts")
    return os.path.join(store, "meta", digest, "meta.json"), os.path.join(store, "tls", digest, "docker")


def context_endpoint(name: str, why: str, env: Mapping[str, str], prefix: str = "") -> Address:
    """The Docker endpoint of the stored context ``name`` (``Endpoints.docker``) with its TLS files; ``why``
    it was chosen (``set by DOCKER_CONTEXT``) goes into the address's source."""
    source = f"{prefix}docker context `{name}`, {why}"
    meta_path, tls_dir = context_store(env, name)
    shown = _show(meta_path, env)
    try:
        with open(meta_path, "rb") as f:
            meta = json.loads(f.read(_MAX_JSON))
    except FileNotFoundError:
        raise AddressError(
            f"docker context `{name}` ({why}) does not exist (no {shown}): `docker context ls` lists the contexts"
        ) from None
    except OSError as e:
        raise AddressError(f"docker context `{name}`: cannot read {shown}: {(e.strerror or str(e)).lower()}") from None
    except ValueError as e:
        raise AddressError(f"docker context `{name}`: {shown} is not valid JSON ({e})") from None
    endpoints = meta.get("Endpoints") if isinstance(meta, dict) else None
    endpoint = endpoints.get("docker") if isinstance(endpoints, dict) else None
    host = endpoint.get("Host") if isinstance(endpoint, dict) else None
    if not isinstance(host, str) or not host:
        raise AddressError(f"docker context `{name}` names no Docker engine: {shown} has no Endpoints.docker.Host")
    assert isinstance(endpoint, dict)
    skip = endpoint.get("SkipTLSVerify", False)
    _need(isinstance(skip, bool), f"docker context `{name}`: SkipTLSVerify in {shown} is not true or false")
    scheme = _split(host, source).scheme
    if scheme == "unix":
        _need(bool(host.partition("://")[2]), f"{source}: {host!r} names no socket path")
        return Address("docker", host, source)
    if scheme in ("tcp", "http", "https"):
        _check_tcp(host, source, default_port=True)
        return Address("docker", host, source, context_tls(name, tls_dir, bool(skip)))
    if scheme == "ssh":
        return parse(host, source, env)  # a transport of its own
    raise AddressError(f"unsupported Docker engine address {host} (from {source}): use unix://, tcp:// or ssh://")


def context_tls(name: str, directory: str, skip_verify: bool) -> TLSConfig | None:
    """A context's ``ca.pem``/``cert.pem``/``key.pem`` (those present), checked before dialing; None when it
    has none and verifies the server (plain TCP, as the docker CLI does)."""
    ca, cert, key = (os.path.join(directory, f) for f in ("ca.pem", "cert.pem", "key.pem"))
    present = [p if os.path.exists(p) else None for p in (ca, cert, key)]
    tls = TLSConfig(ca=present[0], cert=present[1], key=present[2], skip_verify=skip_verify)
    if not (tls.ca or tls.cert or tls.key or skip_verify):
        return None
    if bool(tls.cert) != bool(tls.key):
        have, missing = ("cert.pem", "key.pem") if tls.cert else ("key.pem", "cert.pem")
        raise AddressError(f"docker context `{name}`: {directory} has {have} but no {missing} (they go together)")
    check_tls_files(tls, who=f"docker context `{name}`")
    return tls


def unreachable_hint(address: Address, load: bool = False) -> str:
    """What to try when nothing answers at ``address``: for someone who installed hlb with pip, too.
    ``load``: the engine an image is loaded into from a BuildKit daemon elsewhere (``--addr`` stays)."""
    if load:
        other = (
            "the image goes to the Docker engine `docker` uses: point DOCKER_HOST or DOCKER_CONTEXT (or "
            "`docker context use NAME`) at a running one, or write the image to a file (-o type=docker,dest=FILE) "
            "or push it (-o type=image,name=REF,push=true)"
        )
    else:
        other = "`docker context ls` lists the engines; choose one with --context NAME, or pass --addr ADDRESS"
    if address.scheme == "ssh":
        ssh = address.ssh
        login = f"{ssh.user}@{ssh.host}" if ssh.user else ssh.host
        port = f" -p {ssh.port}" if ssh.port else ""
        return (
            f"check that `ssh{port} {login}` logs in without a prompt (a key in ssh-agent or ~/.ssh/config) and "
            f"that the Docker engine runs there for that user (`ssh{port} {login} docker version`); {other}"
        )
    if address.kind == "buildkit":
        return (
            f"is buildkitd running there? check {address.source}, or leave out --addr and BUILDKIT_HOST to build "
            "on the Docker engine of the current docker context (`docker context ls`)"
        )
    if "docker context `" in address.source and "docker context `default`" not in address.source:
        return f"is that engine running (start Docker Desktop, `colima start`, ...)? {other}"
    if "DOCKER_HOST" in address.source:
        return f"is the engine at DOCKER_HOST running? unset DOCKER_HOST to use the current docker context; {other}"
    if load:
        return f"start Docker (Docker Engine, Docker Desktop, colima...); {other}"
    return (
        "start Docker (Docker Engine 23 or later, or Docker Desktop), or choose another engine: --context NAME "
        "(`docker context ls` lists them), DOCKER_HOST, or --addr ADDRESS for a BuildKit daemon; in a checkout "
        "of hlb, `scripts/engine up` starts a private engine"
    )


def _no_context(context: str | None, other: str) -> None:
    if context is not None:
        raise AddressError(f"conflicting options: --context {context} and {other}: give one of them")


_MAX_JSON = 1 << 22  # config.json and meta.json are a few KiB


def _split(url: str, source: str) -> SplitResult:
    """``urlsplit``, its errors (an unclosed `[` of an IPv6 host) as :class:`AddressError`."""
    try:
        return urlsplit(url)
    except ValueError as e:
        raise AddressError(f"{source} {url!r} is not a valid address: {e}") from None


def _check_tcp(url: str, source: str, default_port: bool = False) -> None:
    parts = _split(url, source)
    try:
        port = parts.port
    except ValueError:
        raise AddressError(f"{source} {url!r}: the port is not a number from 0 to 65535") from None
    _need(bool(parts.hostname), f"{source} {url!r} names no host")
    _need(port is not None or default_port, f"{source} {url!r} names no port (tcp://HOST:PORT)")
    _need(port != 0, f"{source} {url!r}: port 0 is not a port a daemon listens on; give its port (tcp://HOST:PORT)")


def _checked_tls(tls: TLSConfig | None, url: str, source: str) -> TLSConfig | None:
    if tls is None:
        return None
    if not (tls.ca or tls.cert or tls.key):
        raise AddressError("--tlsservername needs --tlscacert (or --tlscert and --tlskey)")
    if bool(tls.cert) != bool(tls.key):
        raise AddressError("--tlscert and --tlskey go together (a client certificate and its key)")
    check_tls_files(tls)
    return tls


def check_tls_files(tls: TLSConfig, who: str | None = None) -> None:
    """Each TLS file can be read and holds what its flag says, before any connection is made (gRPC's own
    errors name none of them); raises :class:`AddressError` ("--tlscacert: cannot read CA file F: why").
    ``who`` names where the files came from instead of the flags (a docker context)."""
    ca = _pem_file(tls.ca, "CA file", who or "--tlscacert", _CERTIFICATE)
    cert = _pem_file(tls.cert, "certificate file", who or "--tlscert", _CERTIFICATE)
    key = _pem_file(tls.key, "key file", who or "--tlskey", _PRIVATE_KEY)
    if ca is not None:
        try:
            ssl.create_default_context(cadata=ca.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as e:
            raise AddressError(
                f"{who or '--tlscacert'}: cannot read CA file {tls.ca}: not a valid PEM certificate{_ssl_reason(e)}"
            ) from None
    if key is not None and b"ENCRYPTED" in key:
        raise AddressError(
            f"{who or '--tlskey'}: cannot read key file {tls.key}: an encrypted key (give it unencrypted)"
        )
    if cert is not None and key is not None:
        assert tls.cert is not None and tls.key is not None
        try:
            ssl.create_default_context().load_cert_chain(tls.cert, tls.key, password=lambda: b"")
        except (OSError, ssl.SSLError) as e:
            raise AddressError(
                f"{who or '--tlscert, --tlskey'}: {tls.cert} and {tls.key} are not a certificate and its key"
                f"{_ssl_reason(e)}"
            ) from None


_CERTIFICATE = (re.compile(rb"-----BEGIN CERTIFICATE-----"), "no PEM certificate in it (-----BEGIN CERTIFICATE-----)")
_PRIVATE_KEY = (
    re.compile(rb"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    "no PEM private key in it (-----BEGIN PRIVATE KEY-----)",
)


def _pem_file(path: str | None, what: str, flag: str, expect: tuple[re.Pattern[bytes], str]) -> bytes | None:
    if path is None:
        return None
    try:
        if not stat.S_ISREG(os.stat(path).st_mode) and not os.path.isdir(path):
            raise AddressError(f"{flag}: cannot read {what} {path}: not a regular file")  # a FIFO would block
        with open(path, "rb") as f:
            data = f.read(_MAX_PEM)
    except OSError as e:
        raise AddressError(f"{flag}: cannot read {what} {path}: {(e.strerror or str(e)).lower()}") from None
    pattern, missing = expect
    if not pattern.search(data):
        raise AddressError(f"{flag}: cannot read {what} {path}: {missing}")
    return data


_MAX_PEM = 1 << 20  # certificates and keys are a few KiB; a larger file is not one


def _ssl_reason(e: Exception) -> str:
    """`` (why)`` when OpenSSL says why (``key values mismatch``), else ``""``."""
    reason = e.reason if isinstance(e, ssl.SSLError) else None
    return f" ({reason.lower().replace('_', ' ')})" if reason else ""


def _no_tls(tls: TLSConfig | None, url: str, source: str) -> None:
    if tls is not None:
        raise AddressError(f"the --tls* flags apply to tcp:// addresses, not {url} (from {source})")


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise AddressError(message)
