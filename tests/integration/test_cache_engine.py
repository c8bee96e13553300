"""Per-solve build cache on the real engine: export, prune the engine's build cache, import, step CACHED.

Pruning empties the shared engine's build cache (never its images); other tests tolerate that.
Steps run with `network("none")`: they need no network, and that keeps them off the engine's bridge.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import Engine

from hlb._proto import control_pb2

REGISTRY = "127.0.0.1:5000"
SLOW = 'fs default() {{\n\timage "busybox:latest"\n\trun "sleep 2; echo {nonce} > /x" with network("none")\n}}\n'


def prune(engine: Engine) -> int:
    """Control.Prune(all) through our client; the number of records the engine removed."""
    with engine.client() as client:
        return len(list(client.control.Prune(control_pb2.PruneRequest(all=True), timeout=120)))


def solve_line(stderr: str, label: str = "default") -> str:
    m = re.search(rf"^hlb: {label}: .*$", stderr, re.M)
    assert m, stderr
    return m.group(0)


def step_cached(stderr: str, nonce: str) -> bool:
    """Whether the `sleep` step's vertex ended CACHED in the plain progress."""
    m = re.search(rf"^#(\d+) /bin/sh -c 'sleep 2; echo {nonce} > /x'$", stderr, re.M)
    assert m, stderr
    return re.search(rf"^#{m.group(1)} CACHED$", stderr, re.M) is not None


def test_registry_cache_survives_a_prune(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(SLOW.format(nonce=nonce))
    ref = f"{REGISTRY}/hlb-it/buildcache:{nonce}"
    first = engine.hlb("run", "--cache-to", f"type=registry,ref={ref},mode=max", str(build))
    assert first.returncode == 0, first.stderr
    assert "0 of 1 steps cached" in solve_line(first.stderr)
    assert f"  cache to type=registry,ref={ref},mode=max" in first.stderr
    assert prune(engine) > 0
    second = engine.hlb("run", "--cache-from", f"type=registry,ref={ref}", str(build))
    assert second.returncode == 0, second.stderr
    assert "1 of 1 steps cached" in solve_line(second.stderr), second.stderr
    assert step_cached(second.stderr, nonce), second.stderr
    assert f"  cache from type=registry,ref={ref}" in second.stderr
    assert f"importing cache manifest from {ref}" in second.stderr


def test_local_cache_dir_survives_a_prune(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(SLOW.format(nonce=nonce))
    cache = tmp_path / "cache"
    first = engine.hlb("run", "--cache-to", f"type=local,dest={cache},mode=max", str(build))
    assert first.returncode == 0, first.stderr
    assert f"  cache to type=local,dest={cache},mode=max" in first.stderr
    index = json.loads((cache / "index.json").read_text())
    (entry,) = index["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    assert (cache / "blobs" / "sha256" / entry["digest"].removeprefix("sha256:")).is_file()
    assert json.loads((cache / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert prune(engine) > 0
    second = engine.hlb("run", "--cache-from", f"type=local,src={cache}", str(build))
    assert second.returncode == 0, second.stderr
    assert "1 of 1 steps cached" in solve_line(second.stderr), second.stderr
    assert step_cached(second.stderr, nonce), second.stderr
    assert f"  cache from type=local,src={cache}" in second.stderr


def test_a_missing_local_cache_is_a_miss(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(SLOW.format(nonce=nonce).replace("sleep 2; ", ""))
    src = tmp_path / "nothing"
    r = engine.hlb("run", "--cache-from", f"type=local,src={src}", str(build))
    assert r.returncode == 0, r.stderr
    assert f"  cache from type=local,src={src}: miss: no cache tagged 'latest' in {src} yet" in r.stderr
    assert "  warning: this cache was not found" in r.stderr


def test_cache_context_with_the_local_backend(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(
        f"""
fs default() {{
	cacheContext "./deps-cache" fs {{
		image "busybox:latest"
		run "sleep 2; echo {nonce} > /x" with network("none")
	}} with option {{ backend "local"; mode "max"; }}
	run "cat /x > /y" with network("none")
}}
"""
    )
    first = engine.hlb("run", str(build))
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "deps-cache" / "index.json").is_file(), first.stderr
    assert prune(engine) > 0
    second = engine.hlb("run", str(build))
    assert second.returncode == 0, second.stderr
    assert step_cached(second.stderr.replace("[1] ", "").replace("[2] ", ""), nonce), second.stderr
    assert re.search(r"^hlb: cacheContext .*: 1 of 1 steps cached", second.stderr, re.M), second.stderr


def test_concurrent_local_cache_exports_into_one_directory_keep_every_tag(
    engine: Engine, tmp_path: Path, nonce: str
) -> None:
    """8 `hlb run` processes export different targets' caches into one directory at once, 5 rounds: every run
    succeeds and index.json keeps all 8 tags (the shared base image's blobs are written by all 8 at once)."""
    targets = 8
    NONE = 'network("none")'  # noqa: N806
    build = tmp_path / "build.hlb"
    leftovers: list[str] = []
    for rnd in range(5):
        build.write_text(
            "".join(
                f'fs t{i}() {{\n\timage "busybox:latest"\n\trun "echo {nonce}-{rnd}-{i} > /x" with {NONE}\n}}\n'
                for i in range(targets)
            )
        )
        cache = tmp_path / f"cache{rnd}"
        runs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hlb",
                    "run",
                    "-t",
                    f"t{i}",
                    "--progress",
                    "plain",
                    "--cache-to",
                    f"type=local,dest={cache},tag=t{i},mode=max",
                    str(build),
                ],
                env=engine.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(targets)
        ]
        outs = [p.communicate(timeout=300) for p in runs]
        failed = [
            f"t{i}: {err[-2000:]}" for i, (p, (_, err)) in enumerate(zip(runs, outs, strict=True)) if p.returncode
        ]
        assert failed == [], f"round {rnd}:\n" + "\n".join(failed)
        index = json.loads((cache / "index.json").read_text())
        tags = sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"])
        assert tags == [f"t{i}" for i in range(targets)], f"round {rnd}: index.json kept {tags}"
        for m in index["manifests"]:
            blob = cache / "blobs" / "sha256" / m["digest"].removeprefix("sha256:")
            assert blob.is_file(), f"round {rnd}: {m['digest']} is recorded but missing"
        leftovers += [str(p) for p in (cache / "ingest").glob("*")] if (cache / "ingest").exists() else []
    assert leftovers == []  # every write finished: no half-written ingest left behind
