"""`hlb run` of a solve plan on the real engine: parallel targets, a push, cache sections."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

from conftest import Engine

REGISTRY = "127.0.0.1:5000"


def registry_manifest(repo: str, tag: str) -> dict[str, object] | None:
    req = urllib.request.Request(
        f"http://{REGISTRY}/v2/{repo}/manifests/{tag}",
        headers={
            "Accept": ", ".join(
                [
                    "application/vnd.oci.image.index.v1+json",
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                ]
            )
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return dict(json.loads(r.read()))
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def test_two_targets_run_concurrently(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(
        f'fs a() {{\n\timage "busybox:latest"\n\trun "sleep 3; echo a-{nonce}"\n}}\n'
        f'fs b() {{\n\timage "busybox:latest"\n\trun "sleep 3; echo b-{nonce}"\n}}\n'
    )
    start = time.monotonic()
    r = engine.hlb("run", "-t", "a,b", str(build))
    took = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    assert re.search(rf"^\[1\] #\d+ \d+\.\d+ a-{nonce}$", r.stderr, re.M), r.stderr
    assert re.search(rf"^\[2\] #\d+ \d+\.\d+ b-{nonce}$", r.stderr, re.M), r.stderr
    # Each solve reports its own duration; one after the other they would take their sum, and the
    # whole command (interpreter start and compile included) took much less: the solves overlapped.
    durations = [float(d) for d in re.findall(r"^hlb: [ab]: .* in ([\d.]+)s$", r.stderr, re.M)]
    assert len(durations) == 2 and min(durations) >= 3.0, r.stderr
    assert sum(durations) - took > 2.0, (durations, took)


def test_push_and_cache_section_reach_the_registry(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(
        f"""
fs release() {{
	cacheContext "{REGISTRY}/hlb-it/cache:{nonce}" fs {{
		image "busybox:latest"
		run "echo dep-{nonce} > /dep"
	}} with option {{ mode "max"; }}
	run "cat /dep > /app"
	dockerPush "{REGISTRY}/hlb-it/app:{nonce}"
}}
"""
    )
    tree = engine.hlb("run", "--tree", "-t", "release", str(build))
    assert tree.returncode == 0, tree.stderr
    assert f"cache export: type=registry,ref={REGISTRY}/hlb-it/cache:{nonce},mode=max" in tree.stdout
    r = engine.hlb("run", "-t", "release", str(build))
    assert r.returncode == 0, r.stderr
    assert registry_manifest("hlb-it/cache", nonce) is not None, "the section's cache was not exported"
    assert registry_manifest("hlb-it/app", nonce) is not None, "the image was not pushed"


def test_a_pushed_digest_bound_with_as_is_used_by_another_target(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(
        f"""
fs app() {{
	image "busybox:latest"
	run "echo app-{nonce} > /app"
	dockerPush "{REGISTRY}/hlb-it/digest:{nonce}" as appDigest
}}

# Builds on exactly the image that was pushed, pulled back by its digest.
fs default() {{
	image "{REGISTRY}/hlb-it/digest@${{appDigest}}"
	run "cat /app"
}}
"""
    )
    r = engine.hlb("run", str(build))
    assert r.returncode == 0, r.stderr
    req = urllib.request.Request(
        f"http://{REGISTRY}/v2/hlb-it/digest/manifests/{nonce}",
        method="HEAD",
        headers={
            "Accept": "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json"
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        digest = resp.headers["Docker-Content-Digest"]
    assert f"{REGISTRY}/hlb-it/digest@{digest}" in r.stderr, r.stderr
    assert re.search(rf"#\d+ \d+\.\d+ app-{nonce}$", r.stderr, re.M), r.stderr


def test_a_primed_mount_is_pushed_back_and_primes_the_next_build(engine: Engine, tmp_path: Path, nonce: str) -> None:
    """The brief's node_modules story: a mount primed from an image, pushed back by a scheduled target."""
    ref = f"{REGISTRY}/hlb-it/modules:{nonce}"
    build = tmp_path / "build.hlb"
    build.write_text(
        f"""
fs seed() {{
	scratch
	mkfile "/log" 0o644 "seed {nonce}\\n"
	dockerPush "{ref}"
}}

fs install() {{
	image "busybox:latest"
	dir "/src"
	run "echo install >> /src/node_modules/log; cat /src/node_modules/log | wc -l" with option {{
		mount fs {{ image "{ref}"; }} "/src/node_modules" as nodeModules
	}}
}}

fs snapshotModules() {{
	nodeModules
	dockerPush "{ref}"
}}
"""
    )
    for target in ("seed", "snapshotModules", "snapshotModules"):
        r = engine.hlb("run", "--progress", "plain", "-t", target, str(build))
        assert r.returncode == 0, (target, r.stderr)
    # The second snapshot ran on the modules the first one pushed: the log has seed + two installs.
    r = engine.hlb("run", "--progress", "plain", "-t", "install", str(build))
    assert r.returncode == 0, r.stderr
    assert re.search(r"#\d+ \d+\.\d+ 4$", r.stderr, re.M), r.stderr
