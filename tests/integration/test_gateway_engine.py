"""GatewayResolver against the real engine: its image store, the loopback registry, failures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, Engine

from hlb._proto import control_pb2
from hlb.address import Address, resolve
from hlb.llb.platform import Platform
from hlb.resolver import ResolveError
from hlb.solver import GatewayResolver
from hlb.solver.client import BuildkitClient

AMD64 = Platform("linux", "amd64")
BUSYBOX = "docker.io/library/busybox:latest"


def _engine_env() -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "engine"), "env", "--json"], capture_output=True, text=True, check=True
    ).stdout
    env: dict[str, str] = json.loads(out)
    return env


@pytest.fixture(scope="module")
def registry() -> str:
    return _engine_env()["HLB_REGISTRY"]


@pytest.fixture(scope="module")
def docker(engine: Engine) -> Iterator[DockerCli]:
    yield DockerCli(Path(_engine_env()["bin"]) / "docker", engine.env)


class DockerCli:
    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path, self.env = path, env

    def __call__(self, *args: str) -> str:
        done = subprocess.run([str(self.path), *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
        return done.stdout


@pytest.fixture
def address(engine: Engine) -> Address:
    return resolve(env=engine.env)


def manifest_digest(registry: str, repo: str, tag: str) -> str:
    accept = ", ".join(
        f"application/vnd.{t}"
        for t in (
            "oci.image.index.v1+json",
            "oci.image.manifest.v1+json",
            "docker.distribution.manifest.list.v2+json",
            "docker.distribution.manifest.v2+json",
        )
    )
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{tag}", method="HEAD")
    req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(resp.headers["Docker-Content-Digest"])


def active_builds(client: BuildkitClient, ref: str) -> list[str]:
    call = client.control.ListenBuildHistory(
        control_pb2.BuildHistoryRequest(ActiveOnly=True, Ref=ref, EarlyExit=True), timeout=10
    )
    return [ev.record.Ref for ev in call]


def test_busybox_resolves_from_the_engine_image_store(address: Address, docker: DockerCli) -> None:
    start = time.monotonic()
    with GatewayResolver(address) as resolver:
        image = resolver.resolve("busybox", AMD64)
        cold = time.monotonic() - start
        again = time.monotonic()
        assert resolver.resolve(BUSYBOX, AMD64) is image  # cached
        cached = time.monotonic() - again
        caps = resolver.ping()
    print(f"\nbusybox: cold {cold * 1000:.0f} ms, cached {cached * 1e6:.0f} us, {image.digest}")
    print(image.config.decode())
    assert address.kind == "docker" and resolver.resolve_mode == "default"
    assert image.ref == BUSYBOX
    # With the containerd image store the image id is the manifest digest.
    assert image.digest == docker("image", "inspect", "busybox:latest", "--format", "{{.Id}}").strip()
    config = json.loads(image.config)
    # `docker import`ed: platform, rootfs, one history entry and only PATH in the config.
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert config["rootfs"]["type"] == "layers" and len(config["rootfs"]["diff_ids"]) == 1
    assert [h.get("comment") for h in config["history"]] == ["Imported from -"]
    assert config["config"] == {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
    assert caps["source.image"] is True and caps["exec.mount.cache"] is True
    assert "mergeop" in caps and len(caps) > 20


def test_a_pushed_image_resolves_from_the_registry(
    address: Address, docker: DockerCli, registry: str, nonce: str
) -> None:
    pushed = f"{registry}/hlb-test/busybox:gw"
    docker("tag", "busybox:latest", pushed)
    docker("push", pushed)
    want = manifest_digest(registry, "hlb-test/busybox", "gw")
    # An image only in the registry: push a tag, then drop it from the engine's store.
    remote_only = f"{registry}/hlb-test/busybox:gw-{nonce}"
    docker("tag", "busybox:latest", remote_only)
    docker("push", remote_only)
    docker("rmi", remote_only)
    remote_digest = manifest_digest(registry, "hlb-test/busybox", f"gw-{nonce}")
    with GatewayResolver(address, resolve_mode="pull") as pulling:
        start = time.monotonic()
        image = pulling.resolve(pushed, AMD64)
        cold = time.monotonic() - start  # connect, session, gateway build, resolve
        start = time.monotonic()
        assert pulling.resolve(remote_only, AMD64).digest == remote_digest
        warm = time.monotonic() - start  # one more ResolveImageConfig in the open build
    print(f"\nregistry (pull): cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms, {image.digest}")
    assert image.ref == pushed and image.digest == want
    assert json.loads(image.config)["architecture"] == "amd64"
    with GatewayResolver(address) as default:  # prefers the store, falls back to the registry
        assert default.resolve(remote_only, AMD64).digest == remote_digest


def test_default_mode_finds_images_only_in_the_engine_store(
    address: Address, docker: DockerCli, registry: str, nonce: str
) -> None:
    """Why `default` on Docker: `pull` ignores the store and misses local-only images."""
    local_only = f"{registry}/hlb-test/local-only:{nonce}"  # never pushed
    docker("tag", "busybox:latest", local_only)
    try:
        with GatewayResolver(address) as default:
            assert default.resolve(local_only, AMD64).digest.startswith("sha256:")
        with GatewayResolver(address, resolve_mode="pull") as pulling, pytest.raises(ResolveError) as err:
            pulling.resolve(local_only, AMD64)
        assert str(err.value) == f"cannot resolve image {local_only} for linux/amd64: not found"
    finally:
        docker("rmi", local_only)


def test_an_unknown_image_fails_fast_and_leaves_no_build_running(
    engine: Engine, address: Address, registry: str, nonce: str
) -> None:
    missing = f"{registry}/hlb-test/missing-{nonce}:x"
    client = engine.client()
    try:
        resolver = GatewayResolver(client, history=True)  # recorded, so the daemon's history shows it running
        start = time.monotonic()
        with pytest.raises(ResolveError) as err:
            resolver.resolve(missing, AMD64)
        failed = time.monotonic() - start
        message = str(err.value)
        assert message.startswith(f"cannot resolve image {missing} for linux/amd64: ")
        assert "not found" in message and "\n" not in message
        assert failed < 10
        ref = resolver.build_ref
        assert ref is not None and active_builds(client, ref) == [ref]
        start = time.monotonic()
        resolver.close()
        closed = time.monotonic() - start
        assert closed < 5
        assert active_builds(client, ref) == []
        print(f"\nunknown image: failed in {failed * 1000:.0f} ms, closed in {closed * 1000:.0f} ms")
    finally:
        client.close()
    with GatewayResolver(address) as second:
        assert second.resolve("busybox", AMD64).ref == BUSYBOX


def test_resolutions_show_in_the_build_progress(address: Address) -> None:
    names: list[str] = []
    with GatewayResolver(address, on_status=lambda b: names.extend(v.name for v in b.vertexes)) as resolver:
        resolver.resolve("busybox", AMD64)
    assert f"[internal] load metadata for {BUSYBOX}" in names


_INTERRUPTED = """
import os, signal, sys
from hlb.llb.platform import Platform
from hlb.solver import GatewayResolver, resolve
with GatewayResolver(resolve(), history=True) as resolver:  # recorded: the test reads how it ended
    resolver.resolve("busybox", Platform("linux", "amd64"))
    print(resolver.build_ref, flush=True)
    os.kill(os.getpid(), signal.SIGINT)
    signal.pause()
"""


def test_ctrl_c_ends_the_gateway_build(engine: Engine) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED], env=engine.env, capture_output=True, text=True, timeout=60
    )
    assert "KeyboardInterrupt" in done.stderr and done.returncode != 0
    ref = done.stdout.strip()
    client = engine.client()
    try:
        assert ref and active_builds(client, ref) == []
        history = client.control.ListenBuildHistory(
            control_pb2.BuildHistoryRequest(Ref=ref, EarlyExit=True), timeout=10
        )
        records = [ev.record for ev in history]
        assert [r.Ref for r in records] == [ref]
        assert not records[0].HasField("error")  # ended by Return, not by a cancelled connection
    finally:
        client.close()
