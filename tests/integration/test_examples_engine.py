"""The caching stories of examples/caching/, run the way each one's header says: on one new machine (cold), then
on another new machine (a fresh CI runner) that must be warm from the registry alone.

Each machine is a private engine with an empty build cache; the registry is shared, under a prefix unique to the
test (`HLB_REGISTRY=127.0.0.1:5000/<nonce>`), so nothing is found that this test did not write.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from conftest import ROOT, Engine, PrivateEngine, private_engine_running

EXAMPLES = ROOT / "examples" / "caching"


def run_story(machine: PrivateEngine, registry: str, *args: str) -> str:
    env = machine.env | {"HLB_REGISTRY": registry}
    done = Engine(env).hlb("run", "--progress", "plain", *args, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr


def cached(stderr: str, label: str) -> tuple[int, int]:
    """(cached, total) steps of the solve labelled ``label`` in its summary line."""
    m = re.search(rf"^hlb: {re.escape(label)}: (\d+) of (\d+) steps cached", stderr, re.M)
    assert m, stderr
    return int(m.group(1)), int(m.group(2))


def logged(stderr: str, prefix: str) -> list[str]:
    """The lines a step printed that start with ``prefix`` (plain progress: `#N 0.123 text`), once each."""
    lines = re.findall(rf"^(?:\[\d+\] )?#\d+ [\d.]+ ({re.escape(prefix)}.*)$", stderr, re.M)  # [N]: solve N of several
    return list(dict.fromkeys(lines))


def cold_then_warm(registry: str, *args: str) -> tuple[str, str]:
    with private_engine_running() as first:
        cold = run_story(first, registry, *args)
    with private_engine_running() as second:
        warm = run_story(second, registry, *args)
    assert "warning" not in warm.lower(), warm  # a cold run may miss caches; a warm one finds every one
    return cold, warm


def test_release_image_and_cache_in_one_run(nonce: str) -> None:
    r = f"127.0.0.1:5000/{nonce}"
    cache = f"{r}/example/release-cache:main"
    args = ["-t", "release", "--cache-from", cache, "--cache-to", f"type=registry,ref={cache},mode=max"]
    cold, warm = cold_then_warm(r, *args, str(EXAMPLES / "release.hlb"))
    push = f"dockerPush {r}/example/app:latest"
    assert cached(cold, push) == (0, 1) and cached(cold, "release") == (0, 1)
    assert f"pushed {r}/example/app:latest@sha256:" in cold
    assert cached(warm, push) == (1, 1) and cached(warm, "release") == (1, 1)


def test_services_each_with_its_own_cache_from_one_flag(nonce: str) -> None:
    r = f"127.0.0.1:5000/{nonce}"
    cache = f"{r}/example/services-cache:ci"
    args = ["-t", "api,web,worker", "--cache-from", cache, "--cache-to", f"type=registry,ref={cache},mode=max"]
    cold, warm = cold_then_warm(r, *args, str(EXAMPLES / "services.hlb"))
    for service in ("api", "web", "worker"):
        assert f"cache to type=registry,ref={cache}-{service},mode=max" in cold
        assert cached(cold, service) == (0, 2)
        assert cached(warm, service) == (2, 2), warm
        assert cached(warm, f"dockerPush {r}/example/{service}:latest") == (2, 2), warm


def test_ci_build_warm_on_a_new_runner(nonce: str) -> None:
    r = f"127.0.0.1:5000/{nonce}"
    cache = f"{r}/example/ci-cache:main"
    args = ["--cache-from", cache, "--cache-to", f"type=registry,ref={cache},mode=max"]
    cold, warm = cold_then_warm(r, *args, str(EXAMPLES / "ci.hlb"))
    section = f"cacheContext {r}/example/ci-deps:cache"
    assert cached(cold, section) == (0, 1) and cached(cold, "default") == (0, 3)
    assert cached(warm, section) == (1, 1) and cached(warm, "default") == (3, 3), warm


def test_ci_build_warm_from_the_section_cache_alone(nonce: str) -> None:
    """Without --cache-from, the dependency section still comes from its own cache on a new runner."""
    r = f"127.0.0.1:5000/{nonce}"
    cold, warm = cold_then_warm(r, str(EXAMPLES / "ci.hlb"))
    section = f"cacheContext {r}/example/ci-deps:cache"
    assert cached(warm, section) == (1, 1)
    assert cached(warm, "default") == (1, 3), warm  # the download cached; the project's own steps run


def test_publish_local_iteration_and_a_versioned_release(nonce: str) -> None:
    r = f"127.0.0.1:5000/{nonce}"
    build = str(EXAMPLES / "publish.hlb")
    cache = f"{r}/example/publish-cache:main"
    release = ["-t", "release", "--arg", f"version=1.{nonce}"]
    with private_engine_running() as laptop:
        local = run_story(laptop, r, build)
        assert "loaded docker.io/example/app:dev@sha256:" in local, local
        assert r not in local  # a local build talks to no registry
        again = run_story(laptop, r, build)
        assert cached(again, "dockerLoad docker.io/example/app:dev") == (1, 1), again
    with private_engine_running() as ci:
        published = run_story(ci, r, *release, "--cache-to", f"type=registry,ref={cache},mode=max", build)
        assert f"pushed {r}/example/app:1.{nonce}@sha256:" in published, published
    with private_engine_running() as next_runner:
        warm = run_story(next_runner, r, *release, "--cache-from", cache, build)
        assert "warning" not in warm.lower(), warm
        assert cached(warm, f"dockerPush {r}/example/app:1.{nonce}") == (1, 1), warm


def test_dependencies_start_from_nothing_then_from_the_snapshot_then_from_the_registry(nonce: str) -> None:
    r = f"127.0.0.1:5000/{nonce}"
    build = str(EXAMPLES / "dependencies.hlb")
    section = f"cacheContext {r}/example/deps-cache:install"
    with private_engine_running() as first:
        # The project's very first run: no snapshot yet, the mount starts empty and says so.
        zero = run_story(first, r, "-t", "install", build)
        assert f"the mount at /src/node_modules starts empty: `{r}/example/node-modules:latest`" in zero, zero
        assert logged(zero, "fetching") == ["fetching left-pad 1.3.0", "fetching is-even 1.0.0"], zero
        # The scheduled job: one install, its result pushed.
        scheduled = run_story(first, r, "-t", "install,snapshotModules", build)
        assert f"pushed {r}/example/node-modules:latest@sha256:" in scheduled, scheduled
    with private_engine_running() as second:
        # A new machine starts from the snapshot: nothing left to fetch.
        primed = run_story(second, r, "-t", "install", build)
        assert "starts empty" not in primed and logged(primed, "fetching") == [], primed
        assert logged(primed, "installed") == ["installed: is-even left-pad "], primed
    with private_engine_running() as third:
        # Another new machine finds the install step itself in the registry.
        warm = run_story(third, r, "-t", "install", build)
        assert "warning" not in warm.lower(), warm
        done, total = cached(warm, section)
        assert done == total, warm


def workflow_commands(name: str, cache: str) -> list[list[str]]:
    """The `hlb run` command lines of examples/ci/NAME, as its shell runs them with `$CACHE` set."""
    text = (ROOT / "examples" / "ci" / name).read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("hlb run ")]
    assert lines, name
    return [[word.replace("$CACHE", cache) for word in shlex.split(line)[2:]] for line in lines]


def test_ci_workflows_nightly_on_one_runner_then_commits_on_others(nonce: str, tmp_path: Path) -> None:
    """examples/ci: the nightly job on a new runner fills and pushes the caches; the next push to main, on another
    new runner, reruns the install on the new seed without fetching anything; a pull request on a third is warm
    from the registry, and once it adds a package it fetches only that one."""
    r = f"127.0.0.1:5000/{nonce}"
    cache = f"{r}/example/ci/build-cache:main"
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "ci", project)
    (nightly,) = workflow_commands("scheduled.yml", cache)
    on_main, on_pull_request = workflow_commands("build.yml", cache)
    assert "--persist-caches" in nightly and "--cache-to" not in on_pull_request

    def run(machine: PrivateEngine, args: list[str]) -> str:
        env = machine.env | {"HLB_REGISTRY": r}
        done = Engine(env).hlb("run", "--progress", "plain", *args, cwd=project, timeout=600)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        return done.stderr

    with private_engine_running() as first:
        cold = run(first, nightly)
        assert logged(cold, "fetching") == ["fetching left-pad 1.3.0", "fetching is-even 1.0.0"], cold
        assert f"pushed {r}/example/ci/npm-cache:latest@sha256:" in cold, cold
    with private_engine_running() as second:
        # The seed is the mount's input, so a new seed reruns the install once; it finds every package.
        main = run(second, on_main)
        assert "is seeded from" in main and logged(main, "fetching") == [], main
        assert "warning" not in main.lower(), main
    with private_engine_running() as third:
        # main's export has the step on today's seed: a pull request skips it.
        pull_request = run(third, on_pull_request)
        assert cached(pull_request, "app") == (4, 4), pull_request
        (project / "packages.txt").write_text("left-pad 1.3.0\nis-even 1.0.0\nis-odd 3.0.1\n")
        added = run(third, on_pull_request)
        assert logged(added, "fetching") == ["fetching is-odd 3.0.1"], added
