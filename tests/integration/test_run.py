"""`hlb run` end to end on the real engine."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import Engine

from hlb.api import compile_source, load
from hlb.llb import default_platform
from hlb.progress.events import StatusBatch

ROOT = Path(__file__).resolve().parents[2]


def blocks(stderr: str) -> dict[str, list[str]]:
    """Plain progress grouped by vertex name: {name: [lines...]}."""
    names: dict[str, str] = {}
    out: dict[str, list[str]] = {}
    for line in stderr.splitlines():
        m = re.match(r"#(\d+) (.*)$", line)
        if not m:
            continue
        num, rest = m.groups()
        if num not in names:
            names[num] = rest
            out.setdefault(rest, [])
        elif rest != names[num]:  # a header repeats when output switches between vertices
            out[names[num]].append(rest)
    return out


def test_cache_mount_written_by_one_solve_is_read_by_the_next(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(
        f"""
fs write() {{
	image "busybox:latest"
	run "echo token-{nonce} > /cache/token" with option {{
		cacheMount "/cache" with option {{ id "it-{nonce}"; sharing "locked"; }}
	}}
}}

# The classic form names the same cache by its id.
fs read() {{
	image "busybox:latest"
	run "cat /c/token; echo read-{nonce}" with option {{
		mount scratch "/c" with cache("it-{nonce}", "shared")
	}}
}}
"""
    )
    first = engine.hlb("run", "-t", "write", str(build))
    assert first.returncode == 0, first.stderr
    second = engine.hlb("run", "-t", "read", str(build))
    assert second.returncode == 0, second.stderr
    assert re.search(rf"#\d+ \d+\.\d+ token-{nonce}$", second.stderr, re.M), second.stderr


def test_second_identical_run_reports_every_step_cached(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(
        f"""
fs default() {{
	image "busybox:latest"
	mkdir "/work-{nonce}" 0o755
	dir "/work-{nonce}"
	mkfile "nonce" 0o644 "{nonce}\n"
	run "cat nonce; echo built" with option {{
		cacheMount "/cache"
	}}
	run "ls -l /work-{nonce} > /listing"
}}
"""
    )
    first = engine.hlb("run", str(build))
    assert first.returncode == 0, first.stderr
    assert "0 of 4 steps cached" in first.stderr, first.stderr
    second = engine.hlb("run", str(build))
    assert second.returncode == 0, second.stderr
    assert "4 of 4 steps cached, 1 source resolved" in second.stderr, second.stderr
    steps = {name: lines for name, lines in blocks(second.stderr).items() if not name.startswith("docker-image://")}
    assert len(steps) == 4
    for name, lines in steps.items():
        assert lines == ["CACHED"], (name, lines)
    assert not re.search(r"^#\d+ \d+\.\d+ ", second.stderr, re.M)  # nothing ran, so no log lines


def test_failing_run_exits_non_zero_and_names_the_hlb_line(engine: Engine, tmp_path: Path) -> None:
    build = tmp_path / "fail.hlb"
    build.write_text(
        'fs base() {\n\timage "busybox:latest"\n}\n\nfs default() {\n\tbase\n\trun "echo about to fail; exit 3"\n}\n'
    )
    result = engine.hlb("run", str(build))
    assert result.returncode == 1
    err = result.stderr
    command = '"/bin/sh -c echo about to fail; exit 3"'
    assert f"{build}:7:2: error: process {command} did not complete successfully: exit code: 3" in err
    assert '7 |     run "echo about to fail; exit 3"' in err
    assert "in target `default`" in err
    assert "about to fail" in err.split("error:", 1)[1]  # the step's last log lines are in the report
    assert "Traceback" not in err


def test_daemon_sees_exactly_our_op_digests(engine: Engine) -> None:
    compiled = compile_source(load(ROOT / "examples" / "hello.hlb"), ["default"], default_platform())
    definition = compiled.targets[0].definition
    seen: set[str] = set()

    def collect(batch: StatusBatch) -> None:
        seen.update(v.digest for v in batch.vertexes)

    with engine.client() as client:
        session = client.open_session()
        try:
            client.solve(definition, session=session, on_status=collect)
        finally:
            if session is not None:
                session.close()
    assert set(definition.op_kinds) == seen


def test_hello_example_runs(engine: Engine) -> None:
    result = engine.hlb("run", str(ROOT / "examples" / "hello.hlb"))
    assert result.returncode == 0, result.stderr
    assert re.search(r"hlb: default: \d of 3 steps cached, 1 source resolved", result.stderr)


def test_the_daemon_calls_back_into_our_session(engine: Engine) -> None:
    """The /session hijack works: the daemon health-checks our session server (every 5 s)."""
    with engine.client() as client:
        session = client.open_session()
        assert session is not None
        try:
            assert session.wait_ready(timeout=15), "no health check from the daemon within 15 s"
        finally:
            session.close()
