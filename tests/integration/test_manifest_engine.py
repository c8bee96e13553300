"""`manifest` and hlb.solver.registry against the real loopback registry of the engine (127.0.0.1:5000).

The engine's docker CLI pushes busybox there under a fresh tag; the client's
answers are compared with what the registry itself says (`Docker-Content-Digest`).
An index over that manifest is put beside it through the registry's API, so the
index path runs against a real registry too. distribution 2.8, plain http, no auth.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Engine

from hlb.api import compile_source
from hlb.compiler import compiler as compiler_module
from hlb.diagnostics import HlbError
from hlb.llb import Platform
from hlb.llb.dump import to_json_obj
from hlb.resolver import ResolveError
from hlb.solver.registry import ACCEPT, OCI_INDEX, RegistryClient
from hlb.source import SourceFile

REGISTRY = "127.0.0.1:5000"
REPO = "hlb-test/manifest"
PREFIX = Path(os.environ.get("HLB_ENGINE_PREFIX", "/var/lib/hlb-engine/prefix"))
DOCKER = str(PREFIX / "usr" / "bin" / "docker")
AMD64 = Platform("linux", "amd64")


def docker(engine: Engine, *args: str) -> str:
    r = subprocess.run([DOCKER, *args], env=engine.env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"docker {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def registry_get(path: str, accept: str = ACCEPT) -> tuple[bytes, str]:
    """The body and Docker-Content-Digest of a registry GET."""
    req = urllib.request.Request(f"http://{REGISTRY}/v2/{REPO}/{path}", headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read(), r.headers.get("Docker-Content-Digest", "")


@pytest.fixture
def pushed(engine: Engine, nonce: str) -> Iterator[str]:
    """busybox pushed to the loopback registry as hlb-test/manifest:NONCE."""
    ref = f"{REGISTRY}/{REPO}:{nonce}"
    docker(engine, "tag", "busybox:latest", ref)
    try:
        docker(engine, "push", ref)
        yield ref
    finally:
        docker(engine, "rmi", ref)


def arch_of(engine: Engine) -> str:
    return docker(engine, "image", "inspect", "--format", "{{.Architecture}}", "busybox:latest").strip()


def test_the_client_gives_the_registry_digest_manifest_and_config(engine: Engine, pushed: str) -> None:
    platform = Platform("linux", arch_of(engine))
    got = RegistryClient(timeout=10).manifest(pushed, platform)
    body, digest = registry_get(f"manifests/{pushed.rpartition(':')[2]}")
    assert digest.startswith("sha256:")
    assert got.digest == digest
    assert got.manifest == body
    assert got.index is None  # the engine pushed a single manifest
    config_digest = json.loads(body)["config"]["digest"]
    config, _ = registry_get(f"blobs/{config_digest}", "*/*")
    assert got.config == config
    assert json.loads(got.config)["architecture"] == platform.architecture


def test_an_index_over_the_pushed_manifest_is_followed(engine: Engine, pushed: str, nonce: str) -> None:
    platform = Platform("linux", arch_of(engine))
    body, digest = registry_get(f"manifests/{pushed.rpartition(':')[2]}")
    entry = {
        "mediaType": json.loads(body)["mediaType"],
        "digest": digest,
        "size": len(body),
        "platform": {"os": platform.os, "architecture": platform.architecture},
    }
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()
    tag = f"{nonce}-index"
    put = urllib.request.Request(
        f"http://{REGISTRY}/v2/{REPO}/manifests/{tag}", data=index, method="PUT", headers={"Content-Type": OCI_INDEX}
    )
    with urllib.request.urlopen(put, timeout=10) as r:
        index_digest = r.headers["Docker-Content-Digest"]
    got = RegistryClient(timeout=10).manifest(f"{REGISTRY}/{REPO}:{tag}", platform)
    assert (got.digest, got.index, got.manifest) == (index_digest, index, body)
    with pytest.raises(ResolveError, match=r"its index has no manifest for linux/s390x \(it has linux/"):
        RegistryClient(timeout=10).manifest(f"{REGISTRY}/{REPO}:{tag}", Platform("linux", "s390x"))


def test_an_unknown_tag_of_the_real_registry_is_named() -> None:
    with pytest.raises(ResolveError) as e:
        RegistryClient(timeout=10).manifest(f"{REGISTRY}/{REPO}:no-such-tag", AMD64)
    assert str(e.value) == (
        f"cannot fetch the manifest of `{REGISTRY}/{REPO}:no-such-tag`: unknown tag `no-such-tag` at {REGISTRY}"
    )


def test_manifest_compiles_with_the_registry_digest(
    engine: Engine, pushed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Until the compiler offers its own registry client as `manifests`, put one where the lowering looks.
    monkeypatch.setattr(compiler_module._Compiler, "manifests", RegistryClient(timeout=10), raising=False)
    platform = Platform("linux", arch_of(engine))
    text = (
        f'string busybox() {{ manifest "{pushed}" as (digest busyboxDigest, index busyboxIndex); }}\n'
        'fs default() { mkfile "/digest" 0o644 busyboxDigest; mkfile "/manifest" 0o644 busybox; }\n'
        'fs index() { mkfile "/index" 0o644 busyboxIndex; }\n'
    )
    compiled = compile_source(SourceFile("manifest.hlb", text), ["default"], platform)
    files = {}
    for entry in to_json_obj(compiled.targets[0].definition, with_sources=False)["ops"]:
        for action in entry["op"].get("file", {}).get("actions", []):
            files[action["mkfile"]["path"]] = action["mkfile"]["data"]
    body, digest = registry_get(f"manifests/{pushed.rpartition(':')[2]}")
    assert base64.b64decode(files["/digest"]).decode() == digest
    assert base64.b64decode(files["/manifest"]) == body
    # busybox was pushed as a single manifest: binding its index is an error, as in openllb/hlb.
    with pytest.raises(HlbError) as e:
        compile_source(SourceFile("manifest.hlb", text), ["index"], platform)
    assert [d.message for d in e.value.diagnostics] == [f"`{pushed}` has no manifest index"]
