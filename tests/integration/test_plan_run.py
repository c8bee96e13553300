"""`hlb run` of a solve plan on the real engine: parallel targets, a push, cache sections."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path

from conftest import Engine, PrivateEngine, engine_script

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


RUN_LINE = re.compile(r"^(?:\[\d+\] )?#\d+ \d+\.\d+ (run-[0-9a-f-]+)$", re.M)
PRIMED_INSTALL = """
fs install() {{
	image "busybox:latest"
	dir "/src/node_modules"
	run "echo run-$(cat /proc/sys/kernel/random/uuid) >> runs; cat runs" with option {{
		mount fs {{ image "{ref}" }} "/src/node_modules"{opts} as nodeModules
	}}
}}

# Run on a schedule: push the primed node_modules back for the next builds.
fs snapshotModules() {{
	nodeModules
	dockerPush "{ref}"
}}
"""


def printed_runs(stderr: str) -> list[str]:
    """The lines of `runs` the step printed, each once (a step shared by two solves prints in both)."""
    return list(dict.fromkeys(RUN_LINE.findall(stderr)))


def test_a_primed_mount_works_on_a_projects_first_run(fresh_engine: PrivateEngine, tmp_path: Path, nonce: str) -> None:
    """The documented pattern from zero: no seed image pushed by hand, on a new machine."""
    repo, tag = f"hlb-it/primed-{nonce}", "latest"
    ref = f"{REGISTRY}/{repo}:{tag}"
    build = tmp_path / "build.hlb"
    build.write_text(PRIMED_INSTALL.format(ref=ref, opts=""))
    starts_empty = f"the mount at /src/node_modules starts empty: `{ref}`"

    tree = fresh_engine.hlb("run", "--tree", "-t", "install", str(build))
    assert tree.returncode == 0, tree.stderr
    assert f"note: {build}:6:3: {starts_empty} is not in its registry" in tree.stdout, tree.stdout

    # The first run: the image does not exist; the mount starts empty and the summary says so.
    first = fresh_engine.hlb("run", "--progress", "plain", "-t", "install", str(build))
    assert first.returncode == 0, first.stderr
    assert f"  note: {build}:6:3: {starts_empty} does not exist yet\n" in first.stderr, first.stderr
    assert len(printed_runs(first.stderr)) == 1, first.stderr  # `runs` was not there before
    assert "ERROR" not in first.stderr, first.stderr  # asking the daemon about the image is no failed step

    snapshot = fresh_engine.hlb("run", "--progress", "plain", "-t", "snapshotModules", str(build))
    assert snapshot.returncode == 0, snapshot.stderr
    assert registry_manifest(repo, tag) is not None, "the snapshot was not pushed"
    pushed = printed_runs(snapshot.stderr)

    # Both at once: the target and the push are one exec, run once, on the pushed snapshot.
    both = fresh_engine.hlb("run", "--progress", "plain", "-t", "install,snapshotModules", str(build))
    assert both.returncode == 0, both.stderr
    assert "starts empty" not in both.stderr, both.stderr
    ran = printed_runs(both.stderr)
    assert len(ran) == len(pushed) + 1 and ran[: len(pushed)] == pushed, (pushed, both.stderr)

    # What that run pushed is exactly what its install used.
    after = fresh_engine.hlb("run", "--progress", "plain", "-t", "install", str(build))
    assert after.returncode == 0, after.stderr
    assert printed_runs(after.stderr)[: len(ran)] == ran, (ran, after.stderr)


def test_a_primed_mount_of_an_image_only_in_the_engines_store_uses_it(
    fresh_engine: PrivateEngine, tmp_path: Path, nonce: str
) -> None:
    """Not in the registry, but `docker build -t`/`docker tag` put it in the engine's store: the daemon has it."""
    script = engine_script()
    tar = script.busybox_rootfs_tar(script.layout_from_env().bin / "busybox")
    repo = f"{REGISTRY}/hlb-it/local-{nonce}"
    query = urllib.parse.urlencode({"fromSrc": "-", "repo": repo, "tag": "latest", "changes": script.IMAGE_PATH})
    lay = script.Layout(fresh_engine.home)
    status, body = script.api(lay, "POST", f"/images/create?{query}", body=tar, timeout=120)
    assert status == 200 and b'"error' not in body, body[-500:]
    build = tmp_path / "build.hlb"
    build.write_text(
        f'fs default() {{\n\timage "busybox:latest"\n\trun "ls /m/bin/busybox" with option {{\n'
        f'\t\tmount fs {{ image "{repo}:latest" }} "/m"\n\t}}\n}}\n'
    )
    r = fresh_engine.hlb("run", "--progress", "plain", str(build))
    assert r.returncode == 0, r.stderr
    assert "starts empty" not in r.stderr and re.search(r"#\d+ \d+\.\d+ /m/bin/busybox$", r.stderr, re.M), r.stderr


def test_require_image_makes_a_missing_primed_image_an_error(engine: Engine, tmp_path: Path, nonce: str) -> None:
    ref = f"{REGISTRY}/hlb-it/required-{nonce}:latest"
    build = tmp_path / "build.hlb"
    build.write_text(PRIMED_INSTALL.format(ref=ref, opts=" with requireImage"))
    r = engine.hlb("run", "-t", "install", str(build))
    assert r.returncode == 1, r.stderr
    assert f"{build}:6:9: error: image `{ref}` does not exist (`requireImage`)" in r.stderr, r.stderr
    assert registry_manifest(f"hlb-it/required-{nonce}", "latest") is None
