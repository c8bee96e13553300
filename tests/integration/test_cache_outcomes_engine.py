"""What the run summary says happened to each cache, on the real engine (BuildKit v0.13.2 in Docker 26).

The engine imports registry, local and gha caches and exports registry, local, gha and inline ones; it knows
no s3. A failed import never fails the build; an export failure fails it unless the entry says ignore-error.
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import Engine, free_port

REGISTRY = "127.0.0.1:5000"
BUILD = 'fs default() {{\n\timage "busybox:latest"\n\trun "echo {nonce} > /x" with network("none")\n}}\n'


def build_file(tmp_path: Path, nonce: str) -> Path:
    build = tmp_path / "build.hlb"
    build.write_text(BUILD.format(nonce=nonce))
    return build


def summary_lines(stderr: str) -> list[str]:
    """The solve's summary: its `hlb: default: ...` line and the indented lines after it."""
    m = re.search(r"^hlb: default: .*(?:\n  .*)*", stderr, re.M)
    assert m, stderr
    return m.group(0).splitlines()


def test_an_s3_import_the_engine_does_not_know_is_reported_not_imported(
    engine: Engine, tmp_path: Path, nonce: str
) -> None:
    r = engine.hlb(
        "run",
        "--progress",
        "plain",
        "--cache-from",
        "type=s3,bucket=b,region=us-east-1",
        str(build_file(tmp_path, nonce)),
    )
    assert r.returncode == 0, r.stderr
    lines = summary_lines(r.stderr)
    assert "  cache from type=s3,bucket=b,region=us-east-1: not imported: unknown cache importer: s3" in lines, lines


def test_a_missing_registry_cache_is_a_miss_with_a_warning(engine: Engine, tmp_path: Path, nonce: str) -> None:
    ref = f"{REGISTRY}/hlb-it/never-written:{nonce}"
    r = engine.hlb("run", "--progress", "plain", "--cache-from", ref, str(build_file(tmp_path, nonce)))
    assert r.returncode == 0, r.stderr
    lines = summary_lines(r.stderr)
    assert f"  cache from type=registry,ref={ref}: miss: not found" in lines, lines
    assert any(line.startswith("  warning: this cache was not found") for line in lines), lines


def test_a_written_registry_cache_is_imported_and_exported(engine: Engine, tmp_path: Path, nonce: str) -> None:
    ref = f"{REGISTRY}/hlb-it/outcomes:{nonce}"
    build = str(build_file(tmp_path, nonce))
    first = engine.hlb("run", "--progress", "plain", "--cache-to", f"type=registry,ref={ref},mode=max", build)
    assert first.returncode == 0, first.stderr
    assert f"  cache to type=registry,ref={ref},mode=max: exported" in summary_lines(first.stderr)
    second = engine.hlb("run", "--progress", "plain", "--cache-from", ref, build)
    assert second.returncode == 0, second.stderr
    assert f"  cache from type=registry,ref={ref}: imported" in summary_lines(second.stderr)


def test_an_ignored_export_failure_is_reported_failed_with_the_daemons_reason(
    engine: Engine, tmp_path: Path, nonce: str
) -> None:
    closed = free_port()  # nothing listens there
    bad = f"127.0.0.1:{closed}/hlb-it/refused:{nonce}"
    good = f"{REGISTRY}/hlb-it/ok:{nonce}"
    r = engine.hlb(
        "run",
        "--progress",
        "plain",
        "--cache-to",
        f"type=registry,ref={bad},ignore-error=true",
        "--cache-to",
        f"type=registry,ref={good}",
        str(build_file(tmp_path, nonce)),
    )
    assert r.returncode == 0, r.stderr
    lines = summary_lines(r.stderr)
    failed = [
        line for line in lines if line.startswith(f"  cache to type=registry,ref={bad},ignore-error=true: failed")
    ]
    assert failed and "connection refused" in failed[0], lines
    assert f"  cache to type=registry,ref={good}: exported" in lines, lines


def test_a_gha_cache_is_reported_with_its_token_hidden(engine: Engine, tmp_path: Path, nonce: str) -> None:
    token = f"tok-{nonce}"
    env = {"ACTIONS_RUNTIME_TOKEN": token, "ACTIONS_CACHE_URL": "http://127.0.0.1:1/"}
    build = str(build_file(tmp_path, nonce))
    engine.env.update(env)
    try:
        r = engine.hlb("run", "--progress", "plain", "--cache-from", "type=gha,scope=it", build)
        tree = engine.hlb("run", "--tree", "--cache-from", "type=gha", "--cache-to", "type=gha,mode=max", build)
    finally:
        for k in env:
            engine.env.pop(k)
    assert r.returncode == 0, r.stderr
    lines = summary_lines(r.stderr)
    line = "  cache from type=gha,scope=it,token=***,url=http://127.0.0.1:1/: not imported: "
    assert any(x.startswith(line + "failed to configure gha cache importer") for x in lines), lines
    assert tree.returncode == 0, tree.stderr
    assert "cache import: type=gha,token=***,url=http://127.0.0.1:1/,scope=buildkit" in tree.stdout
    assert "cache export: type=gha,mode=max,token=***,url=http://127.0.0.1:1/,scope=buildkit" in tree.stdout
    assert token not in r.stderr + tree.stdout + tree.stderr


def test_bad_cache_flags_exit_2_before_anything_is_built(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = str(build_file(tmp_path, nonce))
    work = tmp_path / "cwd"
    work.mkdir()
    bogus = f"type=registry,ref={REGISTRY}/hlb-it/x:{nonce},mode=bogus"
    for flag, value, message in [
        ("--cache-to", bogus, "`mode=bogus` is not one of min, max"),
        ("--cache-to", "type=local,dest=", "`dest=` is empty (an unset variable?); give a value or leave the key out"),
    ]:
        r = engine.hlb("run", "--progress", "plain", flag, value, build, cwd=work)
        assert r.returncode == 2, r.stderr
        # One line, and no progress: nothing reached the daemon.
        assert r.stderr.strip().splitlines() == [f"hlb: error: {flag} {value}: {message}"], r.stderr
        assert list(work.iterdir()) == []  # no cache written into the current directory
