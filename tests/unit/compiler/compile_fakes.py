"""Stand-ins for what the compiler asks the daemon or a registry, shared by the compiler's tests.

Each answers from fixed data and records what it was asked, so the LLB built from its
answers can be snapshotted and the requests checked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from hlb.llb import Constraints, Definition, Platform, Position, Range, SourceLocation, SourceMap, State, image
from hlb.llb.state import RunOptions
from hlb.resolver import FrontendResult, ResolvedImage, ResolvedManifest, ResolveError

# -- frontends ------------------------------------------------------------------------------

DOCKERFILE = SourceMap("Dockerfile", b"FROM busybox:latest\nRUN echo built > /built\n", "Dockerfile")
CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "config": {"Env": ["PATH=/bin", "FROM_DOCKERFILE=1"], "WorkingDir": "/work", "Cmd": ["sh"]},
}


def line(n: int) -> Constraints:
    return Constraints(locations=(SourceLocation(DOCKERFILE, (Range(Position(n, 0), Position(n, 0)),)),))


def frontend_definition() -> Definition:
    base = State(image("docker.io/library/busybox:latest", constraints=line(1)).output())
    step = Constraints(description={"llb.customname": "[2/2] RUN echo built > /built"}, locations=line(2).locations)
    return (
        base.run(["/bin/sh", "-c", "echo built > /built"], RunOptions(constraints=step))
        .root()
        .marshal(Platform("linux", "amd64"))
    )


class FakeFrontends:
    """Answers every frontend with frontend_definition() and CONFIG; records what it was asked."""

    def __init__(self, definition: Definition | None = None, config: bytes | None = None, fail: str = "") -> None:
        self.calls: list[tuple[str, dict[str, str], dict[str, Definition], Platform]] = []
        self.definition = frontend_definition() if definition is None else definition
        self.config = json.dumps(CONFIG).encode() if config is None else config
        self.fail = fail

    def resolve(self, ref: str, platform: Platform) -> ResolvedImage:
        raise ResolveError(f"this fake resolves no images ({ref})")

    def frontend(
        self, source: str, opts: Mapping[str, str], inputs: Mapping[str, Definition], platform: Platform
    ) -> FrontendResult:
        self.calls.append((source, dict(opts), dict(inputs), platform))
        if self.fail:
            raise ResolveError(self.fail)
        serialized = None if self.definition.empty else self.definition.serialize()
        return FrontendResult(serialized, self.config or None)


# -- registries -----------------------------------------------------------------------------


class FakeManifests:
    """A registry client answering from fixed documents; records what it was asked."""

    def __init__(self, single: bool = False, fail: str = "") -> None:
        self.calls: list[tuple[str, Platform]] = []
        self.single = single
        self.fail = fail

    def manifest(self, ref: str, platform: Platform) -> ResolvedManifest:
        self.calls.append((ref, platform))
        if self.fail:
            raise ResolveError(self.fail)
        config = json.dumps({"architecture": platform.architecture, "os": platform.os}).encode()
        manifest = json.dumps({"schemaVersion": 2, "config": {"digest": _sha(config)}, "arch": platform.architecture})
        index = None if self.single else json.dumps({"schemaVersion": 2, "manifests": [], "of": ref}).encode()
        digest = _sha(index or manifest.encode())
        return ResolvedManifest(ref, digest, manifest.encode(), config, index)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- image resolution -----------------------------------------------------------------------


class FakeResolver:
    """Answers with a fixed config per platform and records what it was asked."""

    def __init__(self, fail: str = "") -> None:
        self.calls: list[tuple[str, Platform]] = []
        self.fail = fail

    def config(self, platform: Platform) -> bytes:
        image = {
            "architecture": platform.architecture,
            "os": platform.os,
            **({"variant": "v8"} if platform.architecture == "arm64" else {}),
            "config": {
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/app", "EMPTY="],
                "WorkingDir": "/home/app",
                "User": "app:app",
                "Entrypoint": ["/entrypoint.sh"],
                "Cmd": ["serve", "--port", "8080"],
                "Labels": {"org.opencontainers.image.title": "app", "maintainer": "me"},
                "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
                "Volumes": {"/data": {}},
                "StopSignal": "SIGQUIT",
                "Healthcheck": {"Test": ["CMD", "true"]},
            },
            "rootfs": {"type": "layers", "diff_ids": []},
        }
        return json.dumps(image).encode()

    def resolve(self, ref: str, platform: Platform) -> ResolvedImage:
        self.calls.append((ref, platform))
        if self.fail:
            raise ResolveError(self.fail)
        config = self.config(platform)
        digest = "sha256:" + hashlib.sha256(ref.encode()).hexdigest()  # the index digest, platform independent
        return ResolvedImage(ref, digest, config)
