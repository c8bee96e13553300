"""Exporters on the real engine: each download* checked on disk, dockerLoad then docker run, dockerPush.

Steps run with `network("none")`: they need no network, and that keeps them off the engine's bridge.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import pytest
from conftest import Engine

from hlb.solver.export import DockerLoadSink, docker_host

REGISTRY = "127.0.0.1:5000"
DOCKER = "/var/lib/hlb-engine/prefix/usr/bin/docker"
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def registry_get(path: str, accept: str = ACCEPT) -> tuple[bytes, dict[str, str]]:
    req = urllib.request.Request(f"http://{REGISTRY}{path}", headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read(), dict(r.headers)


def image_config(repo: str, tag: str) -> tuple[str, dict[str, object]]:
    """(manifest digest, image config) of a pushed image, through the registry HTTP API."""
    body, headers = registry_get(f"/v2/{repo}/manifests/{tag}")
    manifest = json.loads(body)
    digest = headers.get("Docker-Content-Digest", "")
    if "manifests" in manifest:  # an index: the linux/amd64 (or only) manifest
        body, _ = registry_get(f"/v2/{repo}/manifests/{manifest['manifests'][0]['digest']}")
        manifest = json.loads(body)
    config, _ = registry_get(f"/v2/{repo}/blobs/{manifest['config']['digest']}", "*/*")
    return digest, json.loads(config)


BASE = """
fs base() {{
	image "busybox:latest"
	run "mkdir -p /out/sub && echo {nonce} > /out/sub/a.txt" with network("none")
	run "ln -s sub/a.txt /out/link && chmod 0750 /out/sub" with network("none")
}}
"""


def test_download_writes_the_tree(engine: Engine, tmp_path: Path, nonce: str) -> None:
    (tmp_path / "build.hlb").write_text(BASE.format(nonce=nonce) + 'fs default() {\n\tbase\n\tdownload "./dist"\n}\n')
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "kept.txt").write_text("mine")  # download merges: other files stay
    r = engine.hlb("run", str(tmp_path / "build.hlb"))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "dist" / "out"
    assert (out / "sub" / "a.txt").read_text() == f"{nonce}\n"
    assert os.readlink(out / "link") == "sub/a.txt"
    assert stat.S_IMODE(os.stat(out / "sub").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(tmp_path / "dist" / "bin" / "busybox").st_mode) == 0o755
    assert (tmp_path / "dist" / "kept.txt").read_text() == "mine"
    assert not [f for _, _, fs in os.walk(tmp_path / "dist") for f in fs if f.endswith(".partial")]
    assert f"wrote {tmp_path / 'dist'}" in r.stderr or f"to {tmp_path / 'dist'}" in r.stderr, r.stderr


def test_download_tarball_is_a_tar_of_the_tree(engine: Engine, tmp_path: Path, nonce: str) -> None:
    (tmp_path / "build.hlb").write_text(
        BASE.format(nonce=nonce) + 'fs default() {\n\tbase\n\tdownloadTarball "./out/rootfs.tar"\n}\n'
    )
    r = engine.hlb("run", str(tmp_path / "build.hlb"))
    assert r.returncode == 0, r.stderr
    with tarfile.open(tmp_path / "out" / "rootfs.tar") as tf:
        names = set(tf.getnames())
        assert {"out/sub/a.txt", "out/link", "bin/busybox"} <= names
        a = tf.extractfile("out/sub/a.txt")
        assert a is not None and a.read() == f"{nonce}\n".encode()
        assert tf.getmember("out/link").issym() and tf.getmember("out/link").linkname == "sub/a.txt"
    assert os.listdir(tmp_path / "out") == ["rootfs.tar"]


def test_download_oci_tarball_carries_layers_and_config(engine: Engine, tmp_path: Path, nonce: str) -> None:
    (tmp_path / "build.hlb").write_text(
        BASE.format(nonce=nonce)
        + 'fs default() {\n\tbase\n\tenv "A" "1"\n\tdir "/app"\n\tdownloadOCITarball "./oci.tar"\n}\n'
    )
    r = engine.hlb("run", str(tmp_path / "build.hlb"))
    assert r.returncode == 0, r.stderr
    with tarfile.open(tmp_path / "oci.tar") as tf:
        assert "oci-layout" in tf.getnames()
        index = json.load(tf.extractfile("index.json"))  # type: ignore[arg-type]
        manifest_digest = index["manifests"][0]["digest"].removeprefix("sha256:")
        manifest = json.load(tf.extractfile(f"blobs/sha256/{manifest_digest}"))  # type: ignore[arg-type]
        config = json.load(tf.extractfile(f"blobs/sha256/{manifest['config']['digest'][7:]}"))  # type: ignore[arg-type]
        assert len(manifest["layers"]) >= 2  # busybox's layer and the run's
        for layer in manifest["layers"]:
            assert f"blobs/sha256/{layer['digest'][7:]}" in tf.getnames()
    assert "A=1" in config["config"]["Env"] and config["config"]["WorkingDir"] == "/app"


def test_download_docker_tarball_loads_into_docker(engine: Engine, tmp_path: Path, nonce: str) -> None:
    ref = f"hlb-it/dtar:{nonce}"
    (tmp_path / "build.hlb").write_text(
        BASE.format(nonce=nonce)
        + f'fs default() {{\n\tbase\n\tenv "A" "{nonce}"\n\tdownloadDockerTarball "./d.tar" "{ref}"\n}}\n'
    )
    r = engine.hlb("run", str(tmp_path / "build.hlb"))
    assert r.returncode == 0, r.stderr
    with tarfile.open(tmp_path / "d.tar") as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [ref]  # docker familiarises docker.io/ names
    try:
        load = subprocess.run([DOCKER, "load", "-i", str(tmp_path / "d.tar")], env=engine.env, capture_output=True)
        assert load.returncode == 0, load.stderr
        inspect = subprocess.run(
            [DOCKER, "image", "inspect", ref, "--format", "{{json .Config.Env}}"], env=engine.env, capture_output=True
        )
        assert f"A={nonce}" in inspect.stdout.decode(), inspect.stderr
    finally:
        subprocess.run([DOCKER, "image", "rm", ref], env=engine.env, capture_output=True)


def test_docker_load_then_docker_run(engine: Engine, tmp_path: Path, nonce: str) -> None:
    ref = f"hlb-it/load:{nonce}"
    (tmp_path / "build.hlb").write_text(
        BASE.format(nonce=nonce)
        + f'fs default() {{\n\tbase\n\tenv "GREETING" "hi-{nonce}"\n\tdir "/out"\n\tdockerLoad "{ref}"\n}}\n'
    )
    r = engine.hlb("run", str(tmp_path / "build.hlb"))
    assert r.returncode == 0, r.stderr
    assert re.search(rf"loaded docker.io/{ref}@sha256:[0-9a-f]{{64}}", r.stderr), r.stderr
    try:
        run = subprocess.run(
            [DOCKER, "run", "--rm", "--network", "none", ref, "sh", "-c", 'echo "$GREETING $(pwd) $(cat sub/a.txt)"'],
            env=engine.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == f"hi-{nonce} /out {nonce}"
    finally:
        subprocess.run([DOCKER, "image", "rm", ref], env=engine.env, capture_output=True)


def test_docker_push_with_config_and_digest(engine: Engine, tmp_path: Path, nonce: str) -> None:
    (tmp_path / "build.hlb").write_text(
        BASE.format(nonce=nonce)
        + 'fs default() {\n\tbase\n\tenv "A" "1"\n\tdir "/app"\n\tuser "nobody"\n'
        + f'\tentrypoint "/bin/sh" "-c"\n\tdockerPush "{REGISTRY}/hlb-it/push:{nonce}"\n}}\n'
    )
    r = engine.hlb("run", str(tmp_path / "build.hlb"))
    assert r.returncode == 0, r.stderr
    digest, config = image_config("hlb-it/push", nonce)
    assert re.match(r"^sha256:[0-9a-f]{64}$", digest)
    assert f"pushed {REGISTRY}/hlb-it/push:{nonce}@{digest}" in r.stderr, r.stderr  # the summary names the digest
    cfg = config["config"]
    assert isinstance(cfg, dict)
    assert "A=1" in cfg["Env"] and cfg["WorkingDir"] == "/app" and cfg["User"] == "nobody"
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"]
    rootfs = config["rootfs"]
    assert isinstance(rootfs, dict) and len(rootfs["diff_ids"]) >= 2


def test_a_refused_push_names_the_step(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "build.hlb").write_text(
        'fs default() {\n\timage "busybox:latest"\n\tenv "A" "1"\n\tdockerPush "127.0.0.1:1/hlb-it/refused:1"\n}\n'
    )
    r = engine.hlb("run", str(tmp_path / "build.hlb"), timeout=120)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert re.search(r"build\.hlb:4:\d+: error: failed to push 127\.0\.0\.1:1/hlb-it/refused:1", r.stderr), r.stderr
    assert 'dockerPush "127.0.0.1:1/hlb-it/refused:1"' in r.stderr


def test_the_docker_load_sink_streams_a_tarball_into_the_engine(engine: Engine, tmp_path: Path, nonce: str) -> None:
    """What a standalone buildkitd's dockerLoad goes through (its `docker` exporter's stream, chunk by chunk)."""
    ref = f"hlb-it/sink:{nonce}"
    (tmp_path / "build.hlb").write_text(
        BASE.format(nonce=nonce) + f'fs default() {{\n\tbase\n\tdownloadDockerTarball "./d.tar" "{ref}"\n}}\n'
    )
    r = engine.hlb("run", str(tmp_path / "build.hlb"))
    assert r.returncode == 0, r.stderr
    host = docker_host(engine.env)
    sink = DockerLoadSink(host)
    try:
        with open(tmp_path / "d.tar", "rb") as f:
            while chunk := f.read(64 * 1024):
                sink.write(chunk)
        sink.commit()
        inspect = subprocess.run([DOCKER, "image", "inspect", ref], env=engine.env, capture_output=True)
        assert inspect.returncode == 0, inspect.stderr
    finally:
        subprocess.run([DOCKER, "image", "rm", ref], env=engine.env, capture_output=True)
    bad = DockerLoadSink(host)
    bad.write(b"not a tarball" * 100)
    with pytest.raises(OSError, match="refused the image"):
        bad.commit()


def test_download_never_deletes_a_directory_for_a_file(engine: Engine, tmp_path: Path, nonce: str) -> None:
    """Merging into ./dist does not rm -rf a directory of the user's where the build has a symlink."""
    (tmp_path / "build.hlb").write_text(BASE.format(nonce=nonce) + 'fs default() {\n\tbase\n\tdownload "./dist"\n}\n')
    mine = tmp_path / "dist" / "out" / "link"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    r = engine.hlb("run", str(tmp_path / "build.hlb"))
    assert r.returncode == 1, r.stderr
    assert f"refusing 'out/link': {mine} is a directory and the export has a symlink there" in r.stderr, r.stderr
    assert (mine / "notes.txt").read_text() == "mine"
    assert not [f for _, _, fs in os.walk(tmp_path / "dist") for f in fs if f.endswith(".partial")]
