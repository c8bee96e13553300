"""``GatewayResolver``: image configs from the daemon, through one gateway-mode build.

A gateway ("client-side frontend") build is a ``Control.Solve`` with a ref, a
session, no frontend and no definition: the daemon registers the build and
waits for ``LLBBridge`` calls carrying metadata ``buildkit-controlapi-buildid``
until ``LLBBridge.Return`` ends it. One such build is started lazily on the
first :meth:`GatewayResolver.resolve` and serves every resolution (and
:meth:`GatewayResolver.ping`) of one ``hlb run``; :meth:`GatewayResolver.close`
returns an empty result so the Solve finishes instead of waiting forever.

Frontends. :meth:`GatewayResolver.frontend` runs a frontend inside the same
build (``LLBBridge.Solve`` with ``Frontend``, its options and its input
definitions, evaluated so that its failures surface while compiling) and
returns the result ref's definition and image config. A name of
:data:`hlb.resolver.BUILTIN_FRONTENDS` runs the daemon's own frontend; any
other source is an image run through ``gateway.v0`` with ``source=<ref>``, as
openllb/hlb does. The gateway build's session serves no local directories,
secrets or SSH agents, so a frontend input cannot read them.

Existence. :meth:`GatewayResolver.has_image` resolves like :meth:`resolve`, for
a mount primed from an image that may not exist yet: a missing image is then
an answer, not an error, so the progress of that resolution is not shown (its
vertex is named with :data:`PROBE_PREFIX` and filtered out of the status).

Resolve mode. ``ResolveImageConfigRequest.ResolveMode`` is always sent
explicitly. On the Docker engine it is ``default``, which the engine takes as
"prefer the engine's image store, else the registry": an image that exists only
locally (``docker import``, ``docker build``, ``docker tag``) resolves, as
``docker build`` would resolve it. ``pull`` there would ignore the store and
fail for such images (verified: ``busybox:latest`` imported offline fails in
``pull`` mode with a registry DNS error and resolves in ``default`` mode). On a
standalone buildkitd there is no image store to prefer, and ``pull`` is what
openllb/hlb sends so that a tag is always looked up in the registry.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import grpc
from google.protobuf.message import Message

from hlb._proto import control_pb2, gateway_pb2, gateway_pb2_grpc, ops_pb2
from hlb.address import Address
from hlb.llb.definition import Definition
from hlb.llb.platform import Platform
from hlb.llb.reference import parse as parse_ref
from hlb.progress.events import StatusBatch
from hlb.progress.timeline import mark
from hlb.resolver import BUILTIN_FRONTENDS, FrontendError, FrontendResult, ResolvedImage, ResolveError, not_found
from hlb.session import Session, new_id
from hlb.solver.client import BuildkitClient, StatusHandler, _StatusStream, wait_future
from hlb.solver.errors import decode
from hlb.transport import TransportError

ResolveMode = Literal["default", "pull", "local"]
BUILD_ID_KEY = "buildkit-controlapi-buildid"
_UNKNOWN_JOB = "no such job"
PROBE_PREFIX = "[internal] check whether the engine has "
_R = TypeVar("_R", bound=Message)


def default_resolve_mode(address: Address) -> ResolveMode:
    """``default`` (prefer the engine's image store) on Docker, ``pull`` on buildkitd."""
    return "default" if address.kind == "docker" else "pull"


def log_name(ref: str) -> str:
    """The progress vertex the daemon shows for a resolution."""
    return f"[internal] load metadata for {ref}"


def resolve_request(
    ref: str, platform: Platform, mode: ResolveMode, session_id: str, name: str = ""
) -> gateway_pb2.ResolveImageConfigRequest:
    return gateway_pb2.ResolveImageConfigRequest(
        Ref=ref,
        Platform=ops_pb2.Platform(OS=platform.os, Architecture=platform.architecture, Variant=platform.variant),
        ResolveMode=mode,
        LogName=name or log_name(ref),
        SessionID=session_id,
    )


def without_probes(handler: StatusHandler) -> StatusHandler:
    """``handler`` without the progress of :meth:`GatewayResolver.has_image` (vertices named with PROBE_PREFIX)."""
    hidden: set[str] = set()

    def handle(batch: StatusBatch) -> None:
        hidden.update(v.digest for v in batch.vertexes if v.name.startswith(PROBE_PREFIX))
        if hidden:
            batch = StatusBatch(
                tuple(v for v in batch.vertexes if v.digest not in hidden),
                tuple(x for x in batch.statuses if x.vertex not in hidden),
                tuple(x for x in batch.logs if x.vertex not in hidden),
                tuple(x for x in batch.warnings if x.vertex not in hidden),
            )
            if not (batch.vertexes or batch.statuses or batch.logs or batch.warnings):
                return
        handler(batch)

    return handle


def return_request() -> gateway_pb2.ReturnRequest:
    """Ends the gateway build with an empty result (the daemon dereferences ``result``: always set it)."""
    return gateway_pb2.ReturnRequest(result=gateway_pb2.Result())


def frontend_request(
    source: str, opts: Mapping[str, str], inputs: Mapping[str, Definition], platform: Platform
) -> gateway_pb2.SolveRequest:
    """``LLBBridge.Solve`` running ``source``; raises ValueError for a source that is no image ref.

    The build's platform is the frontend's ``platform`` option unless ``opts``
    names one (the Dockerfile frontend's convention, which others follow).
    """
    frontend_opts = {"platform": str(platform), **opts}
    if source in BUILTIN_FRONTENDS:
        frontend = source
    else:
        frontend = "gateway.v0"
        frontend_opts["source"] = str(parse_ref(source))
    req = gateway_pb2.SolveRequest(
        Frontend=frontend,
        FrontendOpt=frontend_opts,
        allowResultReturn=True,
        allowResultArrayRef=True,  # without it the daemon answers a bare ref id, without its definition
        Evaluate=True,  # build now: a failing step is an error of the `frontend` call, not of a later solve
    )
    for key, definition in inputs.items():
        req.FrontendInputs[key].CopyFrom(definition.to_pb())
    return req


def frontend_result(result: gateway_pb2.Result, platform: Platform) -> FrontendResult:
    """The ref of a frontend's result (one ref, or the ``platform`` one of a map) and its image config.

    Raises ValueError for a result hlb cannot use.
    """
    kind = result.WhichOneof("result")
    config_key = "containerimage.config"
    if kind is None:
        return FrontendResult(None, None)
    if kind == "ref":
        ref = result.ref
    elif kind == "refs":
        refs = result.refs.refs
        key = str(platform) if str(platform) in refs else next(iter(refs), "") if len(refs) == 1 else ""
        if not key:
            raise ValueError(f"it returned results for {', '.join(sorted(refs))} and none for {platform}")
        ref = refs[key]
        if f"{config_key}/{key}" in result.metadata:
            config_key = f"{config_key}/{key}"
    else:
        raise ValueError("the daemon returned the result without its definition (an old result form)")
    config = result.metadata.get(config_key)
    if config is not None:
        try:
            json.loads(config)
        except ValueError as e:
            raise ValueError(f"its image config is not JSON: {e}") from None
    definition = None
    ref_def = getattr(ref, "def")  # `def` is a Python keyword
    if ref.id and list(getattr(ref_def, "def")):  # no id: a nil ref; no ops: scratch
        definition = ref_def.SerializeToString(deterministic=True)
    return FrontendResult(definition, bytes(config) if config is not None else None)


def llb_caps(pong: gateway_pb2.PongResponse) -> dict[str, bool]:
    return {cap.ID: cap.Enabled for cap in pong.LLBCaps}


class GatewayError(Exception):
    """A gateway call failed; the message is one line, without the ref (the caller adds it)."""

    def __init__(self, message: str, *, fatal: bool) -> None:
        super().__init__(message)
        self.fatal = fatal  # the build (or the daemon) is gone, not just this one request


def describe_rpc_error(err: grpc.RpcError, method: str, daemon: str) -> GatewayError:
    """Map a failed LLBBridge/Control call to a one-line :class:`GatewayError`."""
    code = err.code() if hasattr(err, "code") else None
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return GatewayError(f"{daemon} is too old for gateway builds ({method} is not implemented)", fatal=True)
    message = " ".join(decode(err).message.split())
    if code == grpc.StatusCode.UNAVAILABLE:
        return GatewayError(f"cannot reach {daemon}: {message}", fatal=True)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return GatewayError(f"{method} timed out on {daemon}", fatal=False)
    if code == grpc.StatusCode.CANCELLED:
        return GatewayError(f"{method} was cancelled", fatal=True)
    return GatewayError(message or f"{method} failed: {code}", fatal=_UNKNOWN_JOB in message)


def _one_line(ref: str, message: str) -> str:
    """Drop the daemon's own ``failed to resolve ... for REF:`` prefixes; the caller names the ref."""
    for prefix in (f"failed to resolve source metadata for {ref}: ", f"failed to resolve image config for {ref}: "):
        message = message.removeprefix(prefix)
    return message.removeprefix(f"{ref}: ")


class Bridge:
    """The LLBBridge of one gateway-mode build: every call carries the build's id, and a call the daemon
    answers with "no such job" (it has not registered the build's ``Control.Solve`` yet) is sent again
    until ``register_timeout`` has passed. ``before_each`` runs before every attempt (it may raise)."""

    def __init__(
        self,
        channel: grpc.Channel,
        ref: str,
        register_timeout: float,
        before_each: Callable[[], None] | None = None,
    ) -> None:
        self._stub = gateway_pb2_grpc.LLBBridgeStub(channel)
        self._metadata = ((BUILD_ID_KEY, ref),)
        self.register_timeout = register_timeout
        self._before_each = before_each

    def call(self, method: str, request: Message, timeout: float | None = None) -> Any:
        """``LLBBridge.<method>(request)``; raises the last :class:`grpc.RpcError` (see :func:`unregistered`)."""
        deadline = time.monotonic() + self.register_timeout
        while True:
            if self._before_each is not None:
                self._before_each()
            try:
                return self.once(method, request, timeout)
            except grpc.RpcError as e:
                if not unregistered(e) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def once(self, method: str, request: Message, timeout: float | None = None) -> Any:
        """``LLBBridge.<method>(request)``, one attempt (``Return``, which ends the build)."""
        return wait_future(getattr(self._stub, method).future(request, metadata=self._metadata, timeout=timeout))


def unregistered(err: grpc.RpcError) -> bool:
    """Whether the daemon refused a bridge call because it does not know the build (yet, or any more)."""
    return _UNKNOWN_JOB in decode(err).message


@dataclass(frozen=True, slots=True)
class _Key:
    ref: str
    platform: Platform
    mode: ResolveMode


class _Build:
    """One open gateway-mode build: its session, its ``Control.Solve`` and its LLBBridge stub."""

    def __init__(
        self,
        client: BuildkitClient,
        on_status: StatusHandler | None,
        register_timeout: float,
        call_timeout: float,
        history: bool = False,
    ) -> None:
        self._daemon = client.address.describe()
        self._register_timeout = register_timeout
        self._call_timeout = call_timeout
        self.session: Session | None = client.open_session()
        self.ref = new_id()
        self._bridge = Bridge(client.channel, self.ref, register_timeout, self._check_solve)
        # Internal: the daemon keeps no build-history record of it (the user's builds are the solves that follow;
        # a record costs the daemon a database write, 15-30 ms on the engine, before the build ends).
        req = control_pb2.SolveRequest(
            Ref=self.ref, Session=self.session.id if self.session else "", Frontend="", Internal=not history
        )
        self._status = _StatusStream(client.control, self.ref, on_status) if on_status else None
        self._solve: Any = client.control.Solve.future(req)
        mark(f"gateway build {self.ref} sent")

    @property
    def session_id(self) -> str:
        return self.session.id if self.session else ""

    def call(self, method: str, request: Message, response: type[_R], *, timeout: float | None = None) -> _R:
        """Call ``LLBBridge.<method>``, retrying while the daemon has not registered the build yet."""
        try:
            result = self._bridge.call(method, request, timeout or self._call_timeout)
        except grpc.RpcError as e:
            err = describe_rpc_error(e, f"LLBBridge.{method}", self._daemon)
            if not unregistered(e):
                raise err from e
            self._check_solve()
            waited = f"{self._register_timeout:g} s"
            raise GatewayError(
                f"{self._daemon} did not register the gateway build in {waited} ({err})", fatal=True
            ) from e
        if not isinstance(result, response):
            raise GatewayError(f"LLBBridge.{method} answered {type(result).__name__}", fatal=True)
        return result

    def _check_solve(self) -> None:
        """A gateway Solve only ends early when something went wrong: report that instead."""
        if not self._solve.done():
            return
        try:
            self._solve.result()
        except grpc.RpcError as e:
            raise describe_rpc_error(e, "Control.Solve", self._daemon) from e
        raise GatewayError(f"the gateway build on {self._daemon} ended early", fatal=True)

    def finish(self, timeout: float = 10.0) -> None:
        """``Return`` an empty result and wait for the Solve; cancel it if that does not end it."""
        mark(f"gateway build {self.ref} returning")
        try:
            if not self._solve.done():
                self._bridge.once("Return", return_request(), timeout)
                self._solve.result(timeout=timeout)
                mark(f"gateway build {self.ref} done")
        except (grpc.RpcError, grpc.FutureTimeoutError, grpc.FutureCancelledError):
            pass  # the build failed or the daemon is gone: cancelling below is all that is left
        finally:
            self._solve.cancel()
            if self._status is not None:
                self._status.finish(grace=2.0)
                mark(f"gateway build {self.ref} status drained")
            if self.session is not None:
                self.session.close()


class GatewayResolver:
    """An :class:`~hlb.resolver.ImageResolver` backed by the daemon; a context manager.

    ``GatewayResolver(client)`` borrows an open :class:`BuildkitClient` (the
    caller closes it, after the resolver); ``GatewayResolver(address)`` connects
    on first use and closes the client it made. Nothing touches the daemon until
    the first :meth:`resolve` or :meth:`ping`. Results (and the daemon's
    refusals, e.g. an unknown image) are cached per (ref, platform, mode) for
    the resolver's lifetime; calls are serialised by a lock.
    """

    def __init__(
        self,
        target: BuildkitClient | Address,
        *,
        resolve_mode: ResolveMode | None = None,
        on_status: StatusHandler | None = None,
        register_timeout: float = 5.0,
        call_timeout: float = 300.0,
        frontend_timeout: float = 3600.0,
        history: bool = False,
    ) -> None:
        self._history = history  # the daemon records the gateway build in its build history (to watch it)
        if isinstance(target, BuildkitClient):
            self._client: BuildkitClient | None = target
            self._address = target.address
            self._owns_client = False
        else:
            self._client, self._address, self._owns_client = None, target, True
        self.resolve_mode: ResolveMode = resolve_mode or default_resolve_mode(self._address)
        self._on_status = without_probes(on_status) if on_status is not None else None
        self._register_timeout = register_timeout
        self._call_timeout = call_timeout
        self._frontend_timeout = frontend_timeout  # a frontend builds while it answers: allow a long build
        self._lock = threading.RLock()
        self._build: _Build | None = None
        self.build_ref: str | None = None  # the Control.Solve ref of the gateway build, once started
        self._broken: GatewayError | None = None
        self._closed = False
        self._cache: dict[_Key, ResolvedImage | ResolveError] = {}
        self._caps: dict[str, bool] | None = None
        self._frontends: dict[bytes, FrontendResult | FrontendError] = {}

    def resolve(self, ref: str, platform: Platform) -> ResolvedImage:
        cached = self._lookup(ref, platform, probe=False)
        if isinstance(cached, ResolveError):
            raise ResolveError(str(cached))
        return cached

    def has_image(self, ref: str, platform: Platform) -> bool:
        """Whether the daemon resolves ``ref`` (on the Docker engine: its image store, else the registry).

        The resolution's progress is not shown: a missing image is an answer here. Raises
        :class:`ResolveError` when the daemon cannot be asked.
        """
        cached = self._lookup(ref, platform, probe=True)
        if isinstance(cached, ResolveError):
            if not_found(str(cached)):
                return False
            raise ResolveError(str(cached))  # auth, rate limits, a broken connection: it cannot tell
        return True

    def _lookup(self, ref: str, platform: Platform, *, probe: bool) -> ResolvedImage | ResolveError:
        """``ref`` resolved once per platform and mode (a failure is remembered as its error)."""
        try:
            normalized = str(parse_ref(ref))
        except ValueError as e:
            raise ResolveError(f"invalid image reference {ref!r}: {e}") from None
        key = _Key(normalized, platform, self.resolve_mode)
        with self._lock:
            cached = self._cache.get(key)
            if cached is None:
                name = f"{PROBE_PREFIX}{normalized}" if probe else ""
                cached = self._cache[key] = self._resolve(self._open(normalized), key, name)
        return cached

    def _resolve(self, build: _Build, key: _Key, name: str = "") -> ResolvedImage | ResolveError:
        req = resolve_request(key.ref, key.platform, key.mode, build.session_id, name)
        try:
            resp = build.call("ResolveImageConfig", req, gateway_pb2.ResolveImageConfigResponse)
        except GatewayError as e:
            if e.fatal:
                self._broken = e
                raise ResolveError(f"cannot resolve image {key.ref}: {e}") from None
            return ResolveError(f"cannot resolve image {key.ref} for {key.platform}: {_one_line(key.ref, str(e))}")
        mark(f"resolved {key.ref}")
        if not resp.Digest or not resp.Config:
            return ResolveError(f"cannot resolve image {key.ref} for {key.platform}: the daemon returned no config")
        return ResolvedImage(key.ref, resp.Digest, bytes(resp.Config))

    def frontend(
        self, source: str, opts: Mapping[str, str], inputs: Mapping[str, Definition], platform: Platform
    ) -> FrontendResult:
        """Run frontend ``source`` in the gateway build (a :class:`~hlb.resolver.FrontendRunner`).

        The same request (source, options, inputs, platform) runs once per
        resolver; its result or failure is kept. Raises FrontendError.
        """
        what = f"frontend `{source}`"
        try:
            req = frontend_request(source, opts, inputs, platform)
        except ValueError as e:
            raise FrontendError(f"{what} is neither a frontend of the daemon nor an image reference: {e}") from None
        key = req.SerializeToString(deterministic=True)
        with self._lock:
            cached = self._frontends.get(key)
            if cached is None:
                try:
                    build = self._open("")
                except ResolveError as e:
                    raise FrontendError(f"cannot run {what}: {e}") from None
                cached = self._run_frontend(build, req, what, platform)
                self._frontends[key] = cached
        if isinstance(cached, FrontendError):
            raise FrontendError(str(cached))
        return cached

    def _run_frontend(
        self, build: _Build, req: gateway_pb2.SolveRequest, what: str, platform: Platform
    ) -> FrontendResult | FrontendError:
        try:
            resp = build.call("Solve", req, gateway_pb2.SolveResponse, timeout=self._frontend_timeout)
        except GatewayError as e:
            if e.fatal:  # the build is gone: later calls say so instead of waiting on it
                self._broken = e
                raise FrontendError(f"cannot run {what}: {e}") from None
            image = req.FrontendOpt.get("source", "") if req.Frontend == "gateway.v0" else ""
            return FrontendError(f"{what} failed: {_one_line(image, str(e)) if image else e}")
        try:
            return frontend_result(resp.result, platform)
        except ValueError as e:
            return FrontendError(f"cannot use the result of {what}: {e}")

    def read_file(self, definition: Definition, path: str) -> bytes:
        """Build ``definition`` in the gateway build and read ``path`` from its result (a ModuleReader).

        Used for modules imported from an fs: the import's filesystem is built
        and its ``module.hlb`` read without exporting anything. Raises ResolveError.
        """
        req = gateway_pb2.SolveRequest(
            Definition=definition.to_pb(), allowResultReturn=True, allowResultArrayRef=True, Evaluate=True
        )
        with self._lock:
            build = self._open("")
            try:
                resp = build.call("Solve", req, gateway_pb2.SolveResponse, timeout=self._frontend_timeout)
                kind = resp.result.WhichOneof("result")
                ref = resp.result.ref.id if kind == "ref" else resp.ref
                if not ref:
                    raise ResolveError("the filesystem is empty")
                read = gateway_pb2.ReadFileRequest(Ref=ref, FilePath=path)
                data = build.call("ReadFile", read, gateway_pb2.ReadFileResponse).Data
            except GatewayError as e:
                if e.fatal:
                    self._broken = e
                raise ResolveError(str(e)) from None
        return bytes(data)

    def ping(self) -> dict[str, bool]:
        """The daemon's LLB caps (``PongResponse.LLBCaps``): cap id -> enabled. Raises ResolveError."""
        with self._lock:
            if self._caps is None:
                build = self._open("")
                try:
                    pong = build.call("Ping", gateway_pb2.PingRequest(), gateway_pb2.PongResponse)
                except GatewayError as e:
                    self._broken = e
                    raise ResolveError(f"cannot ask the daemon for its capabilities: {e}") from None
                self._caps = llb_caps(pong)
            return dict(self._caps)

    def _open(self, ref: str) -> _Build:
        what = f"cannot resolve image {ref}" if ref else "cannot start a gateway build"
        if self._closed:
            raise ResolveError(f"{what}: the resolver is closed")
        if self._broken is not None:
            raise ResolveError(f"{what}: {self._broken}")
        if self._build is not None:
            return self._build
        try:
            if self._client is None:
                self._client = BuildkitClient(self._address)
            self._build = _Build(
                self._client, self._on_status, self._register_timeout, self._call_timeout, self._history
            )
            self.build_ref = self._build.ref
        except TransportError as e:
            self._broken = GatewayError(str(e), fatal=True)
            raise ResolveError(f"{what}: {e}") from None
        return self._build

    def close(self) -> None:
        """End the gateway build (``Return`` with an empty result); idempotent, never raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            build, self._build = self._build, None
            try:
                if build is not None:
                    build.finish()
            finally:
                if self._owns_client and self._client is not None:
                    self._client.close()

    def __enter__(self) -> GatewayResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Bridge", "GatewayError", "GatewayResolver", "ResolveMode", "default_resolve_mode"]
