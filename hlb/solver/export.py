"""Exporters and per-solve caches: what the daemon really runs, and what comes back.

:func:`plan_exports` turns a solve's outputs (``image`` push, ``docker`` load
or tarball, ``oci``, ``tar``, ``local``) into the exporters sent in
``SolveRequest.Exporters`` and the FileSend targets the session serves, keyed
by exporter index (the daemon's ``buildkit-attachable-exporter-id``):

* ``docker`` without a destination is "load into the Docker engine": on the
  engine that is its own ``moby`` exporter (the image lands in the engine's
  store, named ``name``); on a standalone buildkitd (``kube-pod://``,
  ``tcp://``...) it is the ``docker`` exporter whose tarball streams into
  ``POST /images/load`` of the engine the docker CLI would use
  (:func:`hlb.address.docker_engine`: ``DOCKER_HOST``, ``DOCKER_CONTEXT``, the
  current docker context), as buildx loads into the current context's engine.
* ``docker``/``oci``/``tar`` with a destination stream one file there;
  ``local`` writes a directory tree.

:func:`plan_caches` prepares ``type=local`` cache imports and exports the way
buildctl does: the directory is an OCI layout served through the session's
content store (id ``local:<dir>``); an import sends the digest ``index.json``
records for its tag; :func:`finish_caches` records an export's manifest there.

:func:`solve` runs one solve. When an image-producing exporter needs the image
config (env, workdir, user, entrypoint...), the Control API has no field for
it with a Definition, so the solve is a gateway-mode build: ``Control.Solve``
with the exporters and no definition, ``LLBBridge.Solve`` of the definition,
then ``LLBBridge.Return`` of its ref with metadata ``containerimage.config``.

A multi-platform solve (``hlb run --platform linux/amd64,linux/arm64``) is a
gateway-mode build too, as an LLB frontend does it: each platform's definition
is solved, and ``Return`` hands back a result with one ref per platform
(``refs``), the platforms in ``refs.platforms`` and each platform's config in
``containerimage.config/<platform>``. The ``image`` exporter makes an index of
it; ``local`` and ``tar`` write a directory per platform.

The file transfer (:mod:`hlb.session.filesend`), the content store (:mod:`hlb.session.content`) and the HTTP
client of an image load are imported by the functions that use them: a solve whose output stays on the daemon
and that has no ``type=local`` cache (a warm no-op ``hlb run``) never loads them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc

from hlb._proto import gateway_pb2, status_pb2
from hlb.address import Address, docker_engine
from hlb.llb import Definition, Platform
from hlb.session import Attachable, Session
from hlb.solver.client import BuildkitClient, CacheEntry, SolveOptions, SolveResult, StatusHandler
from hlb.solver.connhelper import check_docker_api, docker_api
from hlb.solver.errors import SolveError, SolveFailure, decode
from hlb.solver.gateway import Bridge, describe_rpc_error, unregistered
from hlb.transport import DockerHost, TransportError
from hlb.values import IMAGE_EXPORTERS, Exporter

if TYPE_CHECKING:
    from hlb.session.filesend import FileTarget, Target

IMAGE_CONFIG_KEY = "containerimage.config"
PLATFORMS_KEY = "refs.platforms"  # BuildKit's exptypes.ExporterPlatformsKey
DIGEST_KEY = "containerimage.digest"
CACHE_MANIFEST_KEY = "cache.manifest"


@dataclass
class Exports:
    exporters: list[CacheEntry]  # type + attrs, in SolveRequest.Exporters order
    targets: dict[int, Target]  # exporter index -> where FileSend writes its output
    image: bool  # an exporter produces an image (it should carry the image config)
    described: list[str]  # per exporter, for the summary: "pushed", "loaded", "wrote DIR"...
    # the Docker engine a standalone daemon's image load streams into (None: no load, or the daemon is the engine)
    load: Address | None = None
    loads: list[str] = field(default_factory=list)  # the names of the images loaded there

    def filesend(self) -> list[Attachable]:
        """The FileSend service the session needs (none when nothing comes back here)."""
        if not self.targets:
            return []
        from hlb.session.filesend import FileSend

        return [FileSend(self.targets)]


def plan_exports(outputs: Sequence[Exporter], address: Address, env: Mapping[str, str] | None = None) -> Exports:
    """The exporters the daemon at ``address`` runs for ``outputs``, and the session's FileSend targets.

    A load into Docker from a daemon that is not a Docker engine goes to :func:`load_engine` (raises
    :class:`hlb.address.AddressError` when its docker context is broken)."""
    exporters: list[CacheEntry] = []
    described: list[str] = []
    load: Address | None = None
    loads: list[str] = []
    for out in outputs:
        attrs = {k: v for k, v in out.attrs.items() if k != "dest"}
        name = attrs.get("name", "")
        if out.type == "docker" and not out.dest:
            # On the engine, its own exporter stores the image; elsewhere the tarball goes to /images/load.
            if address.kind == "docker":
                exporters.append(CacheEntry("moby", {"name": name} if name else {}))
                described.append(f"loaded {name} into the Docker engine")
            else:
                load = load or load_engine(env)
                exporters.append(out_entry(out))
                described.append(f"loaded {name} into the Docker engine at {load.url}")
                loads.append(name)
        elif out.type in ("local", "tar", "oci", "docker"):
            if not out.dest:
                raise ValueError(f"the {out.type} exporter needs a local destination")
            exporters.append(out_entry(out))
            described.append(f"wrote {out.dest}")
        else:
            exporters.append(out_entry(out))
            pushed = out.type == "image" and attrs.get("push") in ("true", "")
            described.append(f"pushed {name}" if pushed else f"exported {out.type}")
    targets = file_targets(outputs, docker_host_of(load) if load is not None else None)
    image = any(x.type in IMAGE_EXPORTERS for x in exporters)
    return Exports(exporters, targets, image, described, load, loads)


def out_entry(out: Exporter) -> CacheEntry:
    return CacheEntry(out.type, {k: v for k, v in out.attrs.items() if k != "dest"})


def file_targets(outputs: Sequence[Exporter], load: DockerHost | None = None) -> dict[int, Target]:
    """Exporter index -> where FileSend writes its output.

    A load into Docker (``docker`` without a destination) gets a target streaming into ``POST /images/load``
    of ``load`` when one is given (a standalone daemon's ``docker`` exporter calls FileSend); the engine's
    own ``moby`` exporter never does.
    """
    targets: dict[int, Target] = {}
    if not any(out.dest or (out.type == "docker" and load is not None) for out in outputs):
        return targets  # nothing comes back here
    from hlb.session.filesend import DirTarget, file_target

    for i, out in enumerate(outputs):
        if out.type == "local" and out.dest:
            targets[i] = DirTarget(out.dest)
        elif out.type in ("tar", "oci", "docker") and out.dest:
            targets[i] = file_target(out.dest)
        elif out.type == "docker" and load is not None:
            targets[i] = docker_load_target(load)
    return targets


def load_engine(env: Mapping[str, str] | None = None) -> Address:
    """The Docker engine an image is loaded into when the build's daemon is not one: the engine ``docker``
    would use (``DOCKER_HOST``, ``DOCKER_CONTEXT``, the current docker context, the default socket)."""
    return docker_engine(os.environ if env is None else env)


def docker_host_of(address: Address) -> DockerHost:
    """How to reach the Docker engine API at ``address`` (``ssh://``: a ``docker system dial-stdio`` each time)."""
    return docker_api(address)[0]


def docker_host(env: Mapping[str, str] | None = None) -> DockerHost:
    """The Docker engine images are loaded into (:func:`load_engine`)."""
    return docker_host_of(load_engine(env))


def check_load_engine(address: Address) -> None:
    """Fail fast, naming the engine and where its address came from, when it cannot take a load."""
    check_docker_api(*docker_api(address))


class DockerLoadSink:
    """A docker image tarball streamed into ``POST /images/load`` (chunked, never buffered whole)."""

    def __init__(self, host: DockerHost) -> None:
        self.host = host
        self._sock = host.connect()
        head = (
            "POST /images/load?quiet=1 HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        self._sock.sendall(head.encode())

    def write(self, data: bytes) -> None:
        if data:
            self._sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")

    def commit(self) -> None:
        import http.client

        try:
            self._sock.sendall(b"0\r\n\r\n")
            resp = http.client.HTTPResponse(self._sock)
            resp.begin()
            body = resp.read().decode("utf-8", "replace")
        finally:
            self._sock.close()
        message = _docker_load_error(resp.status, body)
        if message:
            raise OSError(f"{self.host.what} refused the image: {message}")

    def abort(self) -> None:
        self._sock.close()


def _docker_load_error(status: int, body: str) -> str:
    """The engine's error for a load (HTTP status, or an ``error`` line of its JSON stream), or ``""``."""
    if status != 200:
        try:
            return str(json.loads(body).get("message", body)).strip()
        except (ValueError, AttributeError):
            return f"HTTP {status}: {body.strip()[:300]}"
    for line in body.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get("error"):
            return str(msg["error"]).strip()
    return ""


def docker_load_target(host: DockerHost) -> FileTarget:
    from hlb.session.filesend import FileTarget

    return FileTarget(lambda _md: DockerLoadSink(host), host.what)


# ---------------------------------------------------------------- caches


@dataclass
class Caches:
    imports: list[CacheEntry]
    exports: list[CacheEntry]
    stores: dict[str, str]  # content store id (local:<dir>) -> directory
    tags: dict[str, str]  # local export directory -> tag to record in its index.json
    # index of an import not sent -> (whether it is a miss: nothing there yet, why); the others are sent in order
    skipped: dict[int, tuple[bool, str]] = field(default_factory=dict)

    def attachables(self) -> list[Attachable]:
        if not self.stores:
            return []
        from hlb.session.content import ContentStore

        return [ContentStore(self.stores)]


def plan_caches(imports: Sequence[CacheEntry], exports: Sequence[CacheEntry]) -> Caches:
    """Cache options as buildctl sends them; ``type=local`` ones go through the session's content store."""
    out = Caches([], [], {}, {})
    for e in exports:
        attrs = dict(e.attrs)
        if e.type == "local":
            dest = attrs.get("dest", "")
            if not dest:
                raise ValueError("a type=local cache export needs dest=DIR")
            out.stores[f"local:{dest}"] = dest
            out.tags[dest] = attrs.get("tag") or "latest"
        out.exports.append(CacheEntry(e.type, attrs))
    for i, e in enumerate(imports):
        attrs = dict(e.attrs)
        if e.type == "local":
            src = attrs.get("src", "")
            if not src:
                raise ValueError("a type=local cache import needs src=DIR")
            if not attrs.get("digest"):
                from hlb.session.content import tagged_digest

                tag = attrs.get("tag") or "latest"
                try:
                    digest = tagged_digest(src, tag) if os.path.isdir(src) else None
                except OSError as err:  # index.json unreadable: this import fails, the build goes on
                    out.skipped[i] = (False, f"{err.filename or src}: cannot be read: {err.strerror or err}")
                    continue
                except ValueError as err:  # index.json not JSON or not an OCI index (the message names it)
                    out.skipped[i] = (False, str(err))
                    continue
                if digest is None:
                    out.skipped[i] = (True, f"no cache tagged {tag!r} in {src} yet")
                    continue
                attrs["digest"] = digest
            out.stores[f"local:{src}"] = src
        out.imports.append(CacheEntry(e.type, attrs))
    return out


def finish_caches(caches: Caches, exporter_response: Mapping[str, str]) -> list[str]:
    """Record a local cache export's manifest in each destination's ``index.json``; returns notes."""
    desc_json = exporter_response.get(CACHE_MANIFEST_KEY, "")
    if not caches.tags:
        return []
    if not desc_json:
        return [f"the daemon exported no cache manifest for {', '.join(caches.tags)}"]
    from hlb.session.content import tag_descriptor

    desc = json.loads(desc_json)
    for dest, tag in caches.tags.items():
        tag_descriptor(dest, tag, desc)
    return []


# ---------------------------------------------------------------- solving


def solve(
    client: BuildkitClient,
    definition: Definition,
    *,
    session: Session | None,
    options: SolveOptions,
    image_config: bytes | None = None,
    on_status: StatusHandler | None = None,
    platforms: Sequence[tuple[Platform, Definition, bytes | None]] = (),
) -> SolveResult:
    """One solve; a gateway-mode build when ``image_config`` must reach an image exporter, or when
    ``platforms`` (platform, definition, image config) make one multi-platform result."""
    image = any(x.type in IMAGE_EXPORTERS for x in options.exporters)
    if not platforms and (image_config is None or not image):
        return client.solve(definition, session=session, on_status=on_status, options=options)
    parts: list[tuple[Platform | None, Definition, bytes | None]] = [*platforms] or [(None, definition, image_config)]
    frontend = _ConfigFrontend(client, parts, options.cache_imports, image)
    return client.solve(None, session=session, on_status=on_status, options=options, frontend=frontend)


def platforms_metadata(platforms: Sequence[Platform]) -> bytes:
    """``refs.platforms``: BuildKit's ``exptypes.Platforms`` as JSON (Go field names, an OCI platform each)."""
    entries = []
    for p in platforms:
        oci = {"architecture": p.architecture, "os": p.os, **({"variant": p.variant} if p.variant else {})}
        entries.append({"ID": str(p), "Platform": oci})
    return json.dumps({"Platforms": entries}, separators=(",", ":")).encode()


class _ConfigFrontend:
    """Drives a gateway-mode build: solve the definition (one per platform), return the ref (or one ref per
    platform) with the image config."""

    def __init__(
        self,
        client: BuildkitClient,
        parts: Sequence[tuple[Platform | None, Definition, bytes | None]],
        cache_imports: Sequence[CacheEntry],
        image: bool = True,
    ) -> None:
        self.client = client
        self.parts = parts  # (None, definition, config) for a single-platform solve
        self.cache_imports = cache_imports
        self.image = image  # an image exporter takes the result: it needs each platform's config

    @property
    def definition(self) -> Definition:
        """The (first platform's) graph."""
        return self.parts[0][1]

    @property
    def config(self) -> bytes | None:
        """The (first platform's) image config."""
        return self.parts[0][2]

    def __call__(self, ref: str, register_timeout: float = 5.0) -> None:
        bridge = Bridge(self.client.channel, ref, register_timeout)

        def one(definition: Definition) -> gateway_pb2.SolveResponse:
            req = gateway_pb2.SolveRequest(
                Definition=definition.to_pb(), allowResultReturn=True, allowResultArrayRef=True
            )
            for c in self.cache_imports:  # sub-solves do not inherit Control's cache imports
                req.CacheImports.add(Type=c.type, Attrs=dict(c.attrs))
            resp: gateway_pb2.SolveResponse = bridge.call("Solve", req)
            return resp

        try:
            if len(self.parts) == 1:
                responses = [one(self.parts[0][1])]
            else:  # the platforms build at once, as buildx builds them
                with ThreadPoolExecutor(max_workers=len(self.parts)) as pool:
                    responses = list(pool.map(one, [d for _, d, _ in self.parts]))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNAVAILABLE:
                what = self.client.address.describe()
                raise TransportError(str(describe_rpc_error(e, "LLBBridge.Solve", what))) from e
            if e.code() == grpc.StatusCode.CANCELLED or unregistered(e):
                raise SolveError(decode(e)) from e
            # The build failed: hand the daemon's error (typed details and all) back through Return,
            # so Control.Solve fails with it and the history records it.
            self._return(bridge, gateway_pb2.ReturnRequest(error=_status_of(e)))
            return
        result = gateway_pb2.Result()
        if len(self.parts) == 1 and self.parts[0][0] is None:
            config = self.parts[0][2]
            if config is not None:
                result.metadata[IMAGE_CONFIG_KEY] = config
            result.ref.id = _ref_id(responses[0])
        else:
            platforms = [p for p, _, _ in self.parts if p is not None]
            result.refs.SetInParent()
            for (platform, _, config), resp in zip(self.parts, responses, strict=True):
                result.refs.refs[str(platform)].id = _ref_id(resp)
                if config is not None and self.image:
                    result.metadata[f"{IMAGE_CONFIG_KEY}/{platform}"] = config
            result.metadata[PLATFORMS_KEY] = platforms_metadata(platforms)
        self._return(bridge, gateway_pb2.ReturnRequest(result=result))

    def _return(self, bridge: Bridge, req: gateway_pb2.ReturnRequest) -> None:
        try:
            bridge.once("Return", req, timeout=60)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNAVAILABLE:
                what = self.client.address.describe()
                raise TransportError(str(describe_rpc_error(e, "LLBBridge.Return", what))) from e
            raise SolveError(decode(e)) from e


def _ref_id(resp: gateway_pb2.SolveResponse) -> str:
    """The solved ref: ``result.ref`` (array refs allowed) or the older ``refDeprecated``/``ref`` forms."""
    which = resp.result.WhichOneof("result")
    if which == "ref":
        return resp.result.ref.id
    if which == "refDeprecated":
        return resp.result.refDeprecated
    if resp.ref:
        return resp.ref
    raise SolveError(SolveFailure(f"the daemon's gateway solve returned no single result ({which or 'none'})"))


def _status_of(err: grpc.RpcError) -> status_pb2.Status:
    """The failed call's ``google.rpc.Status`` (details kept), from its trailers or its code and text."""
    trailers: Any = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    code = err.code().value[0] if hasattr(err, "code") else grpc.StatusCode.UNKNOWN.value[0]
    return status_pb2.Status(code=code, message=err.details() if hasattr(err, "details") else str(err))


def pushed_digest(exporter_response: Mapping[str, str], ref: str) -> str:
    digest = exporter_response.get(DIGEST_KEY, "")
    if not digest:
        raise SolveError(SolveFailure(f"the daemon pushed {ref} but reported no digest"))
    return digest


__all__ = [
    "Caches",
    "DockerLoadSink",
    "Exports",
    "finish_caches",
    "plan_caches",
    "plan_exports",
    "pushed_digest",
    "solve",
]
