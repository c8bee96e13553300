"""Results for scripts on the real engine: `--metadata-file` holds the pushed digest, `--progress rawjson` keeps
stdout pure JSON, and `hlb init` writes a module that checks and builds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import Engine

REGISTRY = "127.0.0.1:5000"
MANIFESTS = ",".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


def registry_digest(repo: str, tag: str) -> str:
    """The digest the registry serves for ``repo:tag`` (its Docker-Content-Digest header), asked with curl."""
    done = subprocess.run(
        ["curl", "-fsSI", "-H", f"Accept: {MANIFESTS}", f"http://{REGISTRY}/v2/{repo}/manifests/{tag}"],
        capture_output=True,
        text=True,
        check=True,
    )
    headers = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    return {k.lower(): v.strip() for k, v in headers.items()}["docker-content-digest"]


def test_metadata_file_holds_the_pushed_digest(engine: Engine, tmp_path: Path, nonce: str) -> None:
    repo = f"hlb-test/metadata-{nonce}"
    build = tmp_path / "build.hlb"
    build.write_text(
        f'fs app() {{\n\timage "busybox:latest"\n\trun "echo {nonce} > /m"\n\tdockerPush "{REGISTRY}/{repo}:v1"\n}}\n'
        'fs plain() {\n\timage "busybox:latest"\n}\n'
    )
    meta = tmp_path / "out" / "metadata.json"
    meta.parent.mkdir()
    r = engine.hlb("run", "-t", "app,plain", "--metadata-file", str(meta), str(build))
    assert r.returncode == 0, r.stderr
    doc = json.loads(meta.read_text())
    pushed = registry_digest(repo, "v1")
    app = doc["app"]
    assert app["containerimage.digest"] == pushed
    assert app["image.name"] == f"{REGISTRY}/{repo}:v1"
    assert app["containerimage.descriptor"]["digest"] == pushed  # base64 JSON embedded, as buildx does
    assert app["containerimage.config.digest"].startswith("sha256:")
    (solve,) = app["hlb.solves"]
    assert solve["kind"] == "dockerPush" and solve["exporter_response"]["containerimage.digest"] == pushed
    assert (solve["steps"], solve["cached_steps"]) == (1, 0) and solve["duration_seconds"] > 0
    assert "containerimage.digest" not in doc["plain"]  # built, nothing exported
    assert [s["kind"] for s in doc["plain"]["hlb.solves"]] == ["target"]
    assert sorted(p.name for p in meta.parent.iterdir()) == ["metadata.json"]  # no temporary file left

    again = engine.hlb("run", "-t", "app", "--metadata-file", str(meta), str(build))
    assert again.returncode == 0, again.stderr
    doc = json.loads(meta.read_text())
    assert list(doc) == ["app"] and doc["app"]["hlb.solves"][0]["cached_steps"] == 1


def test_metadata_file_is_not_written_when_the_build_fails(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(f'fs default() {{\n\timage "busybox:latest"\n\trun "echo {nonce}; exit 3"\n}}\n')
    meta = tmp_path / "metadata.json"
    r = engine.hlb("run", "--metadata-file", str(meta), str(build))
    assert r.returncode == 1 and "exit code: 3" in r.stderr, r.stderr
    assert not meta.exists()  # as buildx: a failed build writes no metadata


def test_rawjson_stdout_is_only_json_lines(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(
        f'fs ok() {{\n\timage "busybox:latest"\n\trun "echo out-{nonce}; echo err-{nonce} >&2"\n}}\n'
        f'fs bad() {{\n\timage "busybox:latest"\n\trun "echo {nonce}; exit 4"\n}}\n'
        "group all() {\n\tparallel ok\n}\n"  # a deprecation warning, printed while compiling
    )
    for target, code in (("all", 0), ("ok", 0), ("bad", 1)):
        r = engine.hlb("run", "--progress", "rawjson", "-t", target, str(build))
        assert r.returncode == code, r.stderr
        lines = r.stdout.splitlines()
        assert lines, r.stderr
        messages = [json.loads(line) for line in lines]  # every line of stdout is a JSON object
        assert all(isinstance(m, dict) for m in messages)
        # The summaries, the warning and the failure report are on stderr.
        assert "warning: type `group` is deprecated" in r.stderr
        assert ("exit code: 4" in r.stderr) if code else ("steps cached" in r.stderr)


def test_init_then_check_then_run(engine: Engine, tmp_path: Path) -> None:
    init = engine.hlb("init", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    check = engine.hlb("check", cwd=tmp_path)
    assert (check.returncode, check.stdout, check.stderr) == (0, "", "")
    run = engine.hlb("run", "--progress", "plain", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "hlb: default: " in run.stderr and "steps cached" in run.stderr
    greet = engine.hlb("run", "-t", "greet", "--arg", "name=you", cwd=tmp_path)
    assert greet.returncode == 0, greet.stderr
    again = engine.hlb("init", cwd=tmp_path)
    assert again.returncode == 1 and "exists" in again.stderr
