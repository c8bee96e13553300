"""`hlb run -t release --arg tag=...` on the real engine: one build.hlb, a local build or a publish."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from conftest import Engine

REGISTRY = "127.0.0.1:5000"
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)

BUILD = """\
fs app() {
	image "busybox:latest"
	run "echo built > /app"
}

fs default() {
	app
}

fs release(string tag) {
	app
	dockerPush "127.0.0.1:5000/{nonce}/app:${tag}"
}
"""


def manifest(repo: str, tag: str) -> dict[str, object]:
    req = urllib.request.Request(f"http://{REGISTRY}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT})
    with urllib.request.urlopen(req, timeout=10) as r:
        return dict(json.loads(r.read()))


def test_release_pushes_the_tag_given_on_the_command_line(engine: Engine, tmp_path: Path, nonce: str) -> None:
    (tmp_path / "build.hlb").write_text(BUILD.replace("{nonce}", nonce))
    r = engine.hlb("run", "-t", "release", "--arg", f"tag={nonce}", "--progress", "plain", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"pushed 127.0.0.1:5000/{nonce}/app:{nonce}@sha256:" in r.stderr, r.stderr
    found = manifest(f"{nonce}/app", nonce)
    assert found.get("manifests") or found.get("layers"), found


def test_release_without_its_tag_is_refused_before_anything_is_built(
    engine: Engine, tmp_path: Path, nonce: str
) -> None:
    (tmp_path / "build.hlb").write_text(BUILD.replace("{nonce}", nonce))
    r = engine.hlb("run", "-t", "release", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("<command line>:1:12: error: target `release` takes parameters [invalid-target]\n")
    assert "hint: give it on the command line: `--arg tag=VALUE`" in r.stderr
    assert "#1 " not in r.stderr  # nothing reached the daemon
