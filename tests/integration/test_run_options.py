"""`run` options and mounts on the real engine, checked from inside the commands.

Secrets, SSH sockets and forwarded sockets need the session services of issue #5;
their LLB is covered by tests/unit/compiler/test_snapshots.py.
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import Engine
from test_run import blocks


def run_hlb(engine: Engine, tmp_path: Path, text: str, *args: str) -> str:
    build = tmp_path / "build.hlb"
    build.write_text(text)
    result = engine.hlb("run", *args, str(build))
    assert result.returncode == 0, result.stderr
    return result.stderr


def logged(stderr: str, text: str) -> bool:
    """Whether a step logged ``text`` as a whole line of its output."""
    return re.search(rf"^#\d+ \d+\.\d+ {re.escape(text)}$", stderr, re.M) is not None


def test_each_mount_type_is_seen_by_the_command(engine: Engine, tmp_path: Path, nonce: str) -> None:
    script = "; ".join(
        [
            "set -e",
            "echo ro=$(cat /ro/data/f)",
            "if touch /ro/x 2>/dev/null; then echo ro-writable; fi",
            "echo sub=$(cat /sub/f)",
            "echo c > /c/x",
            "echo cache=$(cat /c/x)",
            "grep -q ' /t tmpfs ' /proc/mounts && echo tmpfs=yes",
        ]
    )
    stderr = run_hlb(
        engine,
        tmp_path,
        f"""
fs src() {{
	image "busybox:latest"
	mkdir "/data" 0o755
	mkfile "/data/f" 0o644 "hello-{nonce}"
}}

fs default() {{
	image "busybox:latest"
	run "{script}; echo done-{nonce}" with option {{
		mount src "/ro" with readonly
		mount src "/sub" with sourcePath("/data")
		cacheMount "/c" with id("it-{nonce}")
		mount scratch "/t" with tmpfs
	}}
}}
""",
    )
    for line in (f"ro=hello-{nonce}", f"sub=hello-{nonce}", "cache=c", "tmpfs=yes", f"done-{nonce}"):
        assert logged(stderr, line), (line, stderr)
    assert not logged(stderr, "ro-writable")


def test_a_readonly_rootfs_cannot_be_written(engine: Engine, tmp_path: Path, nonce: str) -> None:
    script = f"if touch /x 2>/dev/null; then echo writable; else echo root-readonly-{nonce}; fi >/out/r; cat /out/r"
    stderr = run_hlb(
        engine,
        tmp_path,
        f"""
fs check() {{
	image "busybox:latest"
	run "{script}" with option {{
		readonlyRootfs
		mount scratch "/out" as result
	}}
}}

fs default() {{
	result
}}
""",
    )
    assert logged(stderr, f"root-readonly-{nonce}"), stderr


def test_network_none_has_only_loopback(engine: Engine, tmp_path: Path, nonce: str) -> None:
    stderr = run_hlb(
        engine,
        tmp_path,
        f"""
fs default() {{
	image "busybox:latest"
	run "echo nets-{nonce}: $(ls /sys/class/net)" with network("none")
}}
""",
    )
    assert logged(stderr, f"nets-{nonce}: lo"), stderr


def test_host_entries_are_in_etc_hosts(engine: Engine, tmp_path: Path, nonce: str) -> None:
    stderr = run_hlb(
        engine,
        tmp_path,
        f"""
fs default() {{
	image "busybox:latest"
	run "grep -E 'db-{nonce}|v6-{nonce}' /etc/hosts | tr '\\t' ' '" with option {{
		host "db-{nonce} db.local" "10.0.0.2"
		host "v6-{nonce}" "fd00::2"
	}}
}}
""",
    )
    assert logged(stderr, f"10.0.0.2 db-{nonce} db.local"), stderr
    assert logged(stderr, f"fd00::2 v6-{nonce}"), stderr


def test_shlex_runs_the_words_without_a_shell(engine: Engine, tmp_path: Path, nonce: str) -> None:
    stderr = run_hlb(
        engine,
        tmp_path,
        f"""
fs default() {{
	image "busybox:latest"
	run "echo '$HOME  {nonce}' $PATH" with shlex
}}
""",
    )
    assert logged(stderr, f"$HOME  {nonce} $PATH"), stderr  # no shell: nothing expanded


def test_shell_prefix_runs_one_argument_commands(engine: Engine, tmp_path: Path, nonce: str) -> None:
    stderr = run_hlb(
        engine,
        tmp_path,
        f"""
fs default() {{
	image "busybox:latest"
	shell "/bin/sh" "-c" "echo prefixed-$0-$1" "arg0"
	run "{nonce}"
}}
""",
    )
    assert logged(stderr, f"prefixed-arg0-{nonce}"), stderr


def test_ignore_cache_runs_the_step_again(engine: Engine, tmp_path: Path, nonce: str) -> None:
    text = f"""
fs default() {{
	image "busybox:latest"
	run "echo always-{nonce}" with ignoreCache
	run "echo after-{nonce}"
}}
"""
    first = run_hlb(engine, tmp_path, text)
    assert logged(first, f"always-{nonce}"), first
    second = run_hlb(engine, tmp_path, text)
    steps = blocks(second)
    always = next(lines for name, lines in steps.items() if f"always-{nonce}" in name)
    assert "CACHED" not in always, second
    assert logged(second, f"always-{nonce}"), second


def test_a_failing_step_in_a_function_names_its_line_and_the_call(engine: Engine, tmp_path: Path) -> None:
    build = tmp_path / "fail.hlb"
    build.write_text(
        'fs base() {\n\timage "busybox:latest"\n}\n\n'
        'fs failing() {\n\trun "echo inside; exit 4"\n}\n\n'
        "fs default() {\n\tbase\n\tfailing\n}\n"
    )
    result = engine.hlb("run", str(build))
    assert result.returncode == 1
    err = result.stderr
    assert f"{build}:6:2: error: process " in err, err
    assert "exit code: 4" in err
    assert '6 |     run "echo inside; exit 4"' in err
    assert re.search(r"^11 \|     failing\n +\| +-+ called from here$", err, re.M), err  # the call stack
    assert "in target `default`" in err
    assert "Traceback" not in err
