"""Where the plan puts cache imports and exports, proven the way users meet it: build on the shared engine,
then build again on another machine (`fresh_engine`: a private engine with an empty build cache), which must
find every step in the registry cache.

Each test names the item of issue 9 it covers. Steps run with `network("none")`: they need no network.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

from conftest import Engine, PrivateEngine

REGISTRY = "127.0.0.1:5000"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def in_registry(ref: str) -> bool:
    """Whether the loopback registry has a manifest for ``ref`` (``127.0.0.1:5000/repo:tag``)."""
    repo, tag = ref.removeprefix(f"{REGISTRY}/").rsplit(":", 1)
    req = urllib.request.Request(f"http://{REGISTRY}/v2/{repo}/manifests/{tag}", method="HEAD")
    req.add_header("Accept", MANIFEST_TYPES)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return False
        raise


def summary(stderr: str, label: str) -> str:
    """The first line of a solve's summary: `hlb: LABEL: N of M steps cached...`."""
    m = re.search(rf"^hlb: {re.escape(label)}: .*$", stderr, re.M)
    assert m, stderr
    return m.group(0)


def section_then_target(ref: str, nonce: str, option: str) -> str:
    """`deps`, a cacheContext section with ``option``, and `default`, a step built on it."""
    return (
        "fs deps() {\n"
        f'\tcacheContext "{ref}" fs {{\n'
        '\t\timage "busybox:latest"\n'
        f'\t\trun "sleep 1; echo {nonce} > /d" with network("none")\n'
        f"\t}} with {option}\n"
        "}\n"
        "fs default() {\n"
        "\tdeps\n"
        '\trun "cat /d > /app" with network("none")\n'
        "}\n"
    )


def run_ok(where: Engine | PrivateEngine, *args: str) -> str:
    done = where.hlb("run", "--progress", "plain", *args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


def test_cli_cache_to_on_a_target_that_ends_in_a_push_is_exported(
    engine: Engine, fresh_engine: PrivateEngine, tmp_path: Path, nonce: str
) -> None:
    """Item 1: `--cache-to` on a target folded into its push solve was dropped (exit 0, nothing exported)."""
    image, cache = f"{REGISTRY}/hlb-it/{nonce}/app:x", f"{REGISTRY}/hlb-it/{nonce}/cache:release"
    build = tmp_path / "build.hlb"
    build.write_text(
        "fs release() {\n"
        '\timage "busybox:latest"\n'
        f'\trun "sleep 1; echo {nonce} > /x" with network("none")\n'
        f'\tdockerPush "{image}"\n'
        "}\n"
    )
    tree = engine.hlb("run", "--tree", "-t", "release", "--cache-to", f"type=registry,ref={cache},mode=max", str(build))
    assert tree.returncode == 0, tree.stderr
    assert f"cache export: type=registry,ref={cache},mode=max" in tree.stdout
    first = run_ok(engine, "-t", "release", "--cache-to", f"type=registry,ref={cache},mode=max", str(build))
    assert f"  cache to type=registry,ref={cache},mode=max" in first
    assert in_registry(cache), first
    # Another machine, warm from the registry: the push solve finds every step.
    second = run_ok(fresh_engine, "-t", "release", "--cache-from", cache, str(build))
    assert "1 of 1 steps cached" in summary(second, f"dockerPush {image}"), second


def test_cache_context_warms_what_builds_on_it_on_a_fresh_machine(
    engine: Engine, fresh_engine: PrivateEngine, tmp_path: Path, nonce: str
) -> None:
    """Item 2: the target's solve must import the section's cache itself (a daemon keeps no earlier import)."""
    ref = f"{REGISTRY}/hlb-it/{nonce}/c:deps"
    build = tmp_path / "build.hlb"
    build.write_text(section_then_target(ref, nonce, 'mode("max")'))
    run_ok(engine, str(build))
    assert in_registry(ref)
    warm = run_ok(fresh_engine, str(build))
    assert "1 of 1 steps cached" in summary(warm, f"cacheContext {ref}"), warm
    # The sleep comes from the section's cache; only `cat` runs.
    assert "1 of 2 steps cached" in summary(warm, "default"), warm


def test_one_cache_ref_for_several_targets_keeps_each_target_warm(
    engine: Engine, fresh_engine: PrivateEngine, tmp_path: Path, nonce: str
) -> None:
    """Item 3: with one --cache-to ref for -t api,web,worker only the last writer was kept."""
    ref = f"{REGISTRY}/hlb-it/{nonce}/cache:ci"
    build = tmp_path / "build.hlb"
    build.write_text(
        "".join(
            f'fs {t}() {{\n\timage "busybox:latest"\n\trun "sleep 1; echo {t}-{nonce} > /o" with network("none")\n}}\n'
            for t in ("api", "web", "worker")
        )
    )
    flags = ["-t", "api,web,worker", "--cache-from", ref, "--cache-to", f"type=registry,ref={ref},mode=max"]
    first = run_ok(engine, *flags, str(build))
    for t in ("api", "web", "worker"):
        assert f"  cache to type=registry,ref={ref}-{t},mode=max" in first, first
        assert in_registry(f"{ref}-{t}")
    warm = run_ok(fresh_engine, *flags, str(build))
    for t in ("api", "web", "worker"):
        assert "1 of 1 steps cached" in summary(warm, t), warm


def test_image_and_cache_are_exported_by_two_concurrent_solves_that_build_once(
    engine: Engine, tmp_path: Path, nonce: str
) -> None:
    """Item 5: the push and the cache export overlap, and the daemon runs the shared step once."""
    image, cache = f"{REGISTRY}/hlb-it/{nonce}/app:o", f"{REGISTRY}/hlb-it/{nonce}/cache:o"
    build = tmp_path / "build.hlb"
    build.write_text(
        "fs release() {\n"
        '\timage "busybox:latest"\n'
        f'\trun "echo ran >> /c/log; sleep 2; echo {nonce} > /x" with option {{\n'
        '\t\tnetwork "none"\n'
        f'\t\tcacheMount "/c" with id("{nonce}")\n'
        "\t}\n"
        f'\tdockerPush "{image}"\n'
        "}\n"
        "fs count() {\n"
        '\timage "busybox:latest"\n'
        f'\trun "cat /c/log; echo {nonce}-count" with option {{\n'
        '\t\tnetwork "none"\n'
        f'\t\tcacheMount "/c" with id("{nonce}")\n'
        "\t}\n"
        "}\n"
    )
    flags = ["-t", "release", "--cache-to", f"type=registry,ref={cache},mode=max", str(build)]
    tree = engine.hlb("run", "--tree", *flags)
    assert tree.returncode == 0, tree.stderr
    assert tree.stdout.startswith("parallel\n"), tree.stdout
    assert "image and cache are exported concurrently" in tree.stdout
    out = run_ok(engine, *flags)
    assert f"pushed {image}@sha256:" in out and f"cache to type=registry,ref={cache},mode=max" in out
    assert in_registry(image) and in_registry(cache)
    counted = run_ok(engine, "-t", "count", str(build))
    # The cache mount's log has one line: both solves ran the step together, once.
    assert len(re.findall(r"^#\d+ [\d.]+ ran$", counted, re.M)) == 1, counted


def test_a_cache_setting_no_solve_can_honour_is_an_error_before_building(engine: Engine, tmp_path: Path) -> None:
    """Item 1's invariant: inline cache with nothing exporting an image is refused up front."""
    build = tmp_path / "build.hlb"
    build.write_text('fs default() {\n\timage "busybox:latest"\n\trun "echo never" with network("none")\n}\n')
    done = engine.hlb("run", "--progress", "plain", "--cache-to", "type=inline", str(build))
    assert done.returncode == 2, done.stderr
    assert "hlb: error: --cache-to type=inline: inline cache travels in an exported image" in done.stderr
    assert "echo never" not in done.stderr


def test_a_step_shared_by_concurrent_solves_fails_once(engine: Engine, tmp_path: Path, nonce: str) -> None:
    """A section and the target building on it run together; a failing shared step is reported once."""
    build = tmp_path / "build.hlb"
    build.write_text(
        "fs default() {\n"
        f'\tcacheContext "{REGISTRY}/hlb-it/{nonce}/c:fail" fs {{\n'
        '\t\timage "busybox:latest"\n'
        f'\t\trun "echo {nonce}; exit 3" with network("none")\n'
        "\t}\n"
        '\trun "echo after" with network("none")\n'
        "}\n"
    )
    done = engine.hlb("run", "--progress", "plain", str(build))
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("build.hlb:4:3: error:") == 1, done.stderr
    assert re.search(r"^hlb: .*: failed at the same step as solve \d \(above\)$", done.stderr, re.M), done.stderr


def test_an_inline_cache_section_warms_what_builds_on_it_on_a_fresh_machine(
    engine: Engine, fresh_engine: PrivateEngine, tmp_path: Path, nonce: str
) -> None:
    """Item 2, backend("inline"): the section pushes its image once, with the cache metadata in it."""
    ref = f"{REGISTRY}/hlb-it/{nonce}/c:inline"
    build = tmp_path / "build.hlb"
    build.write_text(section_then_target(ref, nonce, 'backend("inline")'))
    first = run_ok(engine, str(build))
    assert len(re.findall(rf"^  pushed {re.escape(ref)}@sha256:", first, re.M)) == 1, first
    warm = run_ok(fresh_engine, str(build))
    assert "1 of 1 steps cached" in summary(warm, f"cacheContext {ref}"), warm
    assert "1 of 2 steps cached" in summary(warm, "default"), warm
