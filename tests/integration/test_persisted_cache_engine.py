"""Persisted cache mounts on real engines: a cache filled on engine A (a new machine) is warm on engine B's first
build (another new machine that shares only the registry), the project's first run is a cold start with a note,
and a failed build pushes nothing.

The build is examples/caching/persisted.hlb: an npm-like step that sleeps 1 s per package its download cache
does not have and logs what it fetched. Refs are under a prefix unique to the test.
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT, Engine, PrivateEngine, private_engine_running

from hlb.solver.registry import RegistryClient

BUILD = str(ROOT / "examples" / "caching" / "persisted.hlb")
PACKAGES = ["left-pad 1.3.0", "is-even 1.0.0", "is-odd 3.0.1", "chalk 5.3.0", "ms 2.1.3"]


def hlb_run(machine: PrivateEngine | Engine, registry: str, *args: str) -> str:
    env = machine.env | {"HLB_REGISTRY": registry}
    done = Engine(env).hlb("run", "--progress", "plain", *args, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr


def logged(stderr: str, prefix: str) -> list[str]:
    """The lines a step printed that start with ``prefix`` (plain progress: `[solve] #N 0.123 text`), once each."""
    return list(dict.fromkeys(re.findall(rf"^(?:\[\d+\] )?#\d+ [\d.]+ ({re.escape(prefix)}.*)$", stderr, re.M)))


def pushed_digest(stderr: str, ref: str) -> str:
    m = re.search(rf"^  pushed {re.escape(ref)}@(sha256:[0-9a-f]{{64}})$", stderr, re.M)
    assert m, stderr
    return m.group(1)


def test_a_cache_filled_on_engine_a_is_warm_on_engine_b_first_build(nonce: str) -> None:
    r = f"127.0.0.1:5000/{nonce}"
    ref = f"{r}/example/npm-cache:latest"
    with private_engine_running() as a:
        # The project's very first run, on the scheduled job's machine: a cold start, then the push.
        first = hlb_run(a, r, "-t", "install", "--persist-caches", BUILD)
        assert f"the cache mount at /root/.npm starts empty: `{ref}` does not exist yet" in first, first
        assert logged(first, "fetching") == [f"fetching {p}" for p in PACKAGES], first
        digest = pushed_digest(first, ref)
        assert re.search(r"^  cache pushed: [\d.]+ k?B in 1 layer, [\d.]+s$", first, re.M), first
        # The push came after the build: its summary follows the target's.
        assert first.index("hlb: install:") < first.index(f"hlb: persist {ref}:"), first
    with private_engine_running() as b:
        # Another machine's first build: seeded from the pushed image, nothing to fetch.
        warm = hlb_run(b, r, "-t", "install", BUILD)
        assert f"the cache mount at /root/.npm is seeded from {ref}@{digest}" in warm, warm
        assert logged(warm, "fetching") == [], warm
        assert logged(warm, "in cache") == [f"in cache {p}" for p in PACKAGES], warm
        assert f"is not pushed to {ref} (hlb run --persist-caches pushes it after the build)" in warm, warm
        assert f"hlb: persist {ref}" not in warm, warm
        # Pushing a cache that did not change gives the same image: the seed, and so the step, stay cached.
        again = hlb_run(b, r, "-t", "install", "--persist-caches", BUILD)
        assert pushed_digest(again, ref) == digest, again
        assert re.search(r"^hlb: install: (\d+) of \1 steps cached", again, re.M), again


def failing_build(tmp: Path, ref: str, nonce: str) -> Path:
    lines = [
        "fs default() {",
        '\timage "busybox:latest"',
        f'\trun "echo {nonce} > /root/.cache/x" with option {{',
        '\t\tcacheMount "/root/.cache" with option {',
        f'\t\t\tid "persist-{nonce}"',
        f'\t\t\tpersist "{ref}"',
        "\t\t}",
        "\t}",
        '\trun "echo the tests failed; exit 3"',
        "}",
    ]
    text = "\n".join(lines) + "\n"
    path = tmp / "build.hlb"
    path.write_text(text)
    return path


def test_a_failed_build_pushes_nothing(engine: Engine, nonce: str, tmp_path: Path) -> None:
    ref = f"127.0.0.1:5000/{nonce}/cache/failing:latest"
    build = failing_build(tmp_path, ref, nonce)
    done = engine.hlb("run", "--progress", "plain", "--persist-caches", str(build), timeout=300)
    assert done.returncode == 1, done.stderr
    assert "exit code: 3" in done.stderr or "exit 3" in done.stderr, done.stderr
    assert f"persist {ref}" not in done.stderr, done.stderr  # the push solve never started
    assert RegistryClient().exists(ref) is False
