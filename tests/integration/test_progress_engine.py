"""`hlb run --progress=rawjson|plain|tty` on the real engine."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

from conftest import Engine

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def build_file(tmp_path: Path, nonce: str) -> Path:
    build = tmp_path / "build.hlb"
    build.write_text(f'fs default() {{\n\timage "busybox:latest"\n\trun "echo out-{nonce}; echo err-{nonce} >&2"\n}}\n')
    return build


def json_lines(stdout: str) -> list[dict[str, Any]]:
    """rawjson's messages: every line of stdout (the summaries and errors are on stderr)."""
    return [json.loads(line) for line in stdout.splitlines()]


def test_rawjson_then_plain_shows_the_step_and_then_cached(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = build_file(tmp_path, nonce)
    step = f"/bin/sh -c 'echo out-{nonce}; echo err-{nonce} >&2'"
    first = engine.hlb("run", "--progress=rawjson", str(build))
    assert first.returncode == 0, first.stderr
    messages = json_lines(first.stdout)
    assert messages, first.stderr
    vertexes = [v for m in messages for v in m.get("vertexes", [])]
    ours = [v for v in vertexes if v.get("name") == step]
    assert ours and any("completed" in v and not v.get("cached") for v in ours), vertexes
    assert all(v["digest"].startswith("sha256:") for v in vertexes)
    logs = [lg for m in messages for lg in m.get("logs", []) if lg.get("vertex") == ours[0]["digest"]]
    out = b"".join(base64.b64decode(lg["data"]) for lg in logs if lg.get("stream") == 1)
    err = b"".join(base64.b64decode(lg["data"]) for lg in logs if lg.get("stream") == 2)
    assert f"out-{nonce}".encode() in out and f"err-{nonce}".encode() in err, logs
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", lg["timestamp"]) for lg in logs)
    assert "hlb: default: 0 of 1 steps cached, 1 source resolved in" in first.stderr

    second = engine.hlb("run", "--progress=plain", str(build))
    assert second.returncode == 0, second.stderr
    assert re.search(rf"^#(\d+) {re.escape(step)}\n#\1 CACHED$", second.stderr, re.M), second.stderr
    assert "hlb: default: 1 of 1 steps cached, 1 source resolved in" in second.stderr

    again = engine.hlb("run", "--progress=rawjson", str(build))
    cached = [v for m in json_lines(again.stdout) for v in m.get("vertexes", []) if v.get("name") == step]
    assert any(v.get("cached") for v in cached), again.stderr


def test_rawjson_of_several_solves_prefixes_vertex_names(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(
        f'fs a() {{\n\timage "busybox:latest"\n\trun "echo a-{nonce}"\n}}\n'
        f'fs b() {{\n\timage "busybox:latest"\n\trun "echo b-{nonce}"\n}}\n'
    )
    env = dict(engine.env, BUILDKIT_PROGRESS="rawjson")  # auto takes BUILDKIT_PROGRESS, as buildx does
    r = subprocess.run(
        [sys.executable, "-m", "hlb", "run", "-t", "a,b", str(build)], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    names = {v.get("name") for m in json_lines(r.stdout) for v in m.get("vertexes", [])}
    assert f"[1] /bin/sh -c 'echo a-{nonce}'" in names and f"[2] /bin/sh -c 'echo b-{nonce}'" in names, names


def run_in_pty(engine: Engine, *args: str, cols: int = 120, rows: int = 40, timeout: float = 120) -> tuple[int, str]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = dict(engine.env, TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hlb", *args], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=10)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_tty_final_frame_has_cached_steps_and_the_summary(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(
        f'fs default() {{\n\timage "busybox:latest"\n\trun "echo one-{nonce}"\n'
        f'\trun "for i in 1 2 3; do echo tick-{nonce}-$i; sleep 0.4; done"\n}}\n'
    )
    code, raw = run_in_pty(engine, "run", "--progress=tty", str(build))
    assert code == 0, raw
    text = ANSI.sub("", raw).replace("\r", "")
    assert "\x1b[" in raw  # a live display, not plain lines
    assert not re.search(r"^#\d+ ", text, re.M), text  # and not the plain format
    assert f"tick-{nonce}-1" in text, text  # a running step's log lines were shown while it ran
    final = text[text.rindex("[+] Building") :]
    assert re.match(r"\[\+\] Building \d+\.\ds \(\d+/\d+\) FINISHED", final), final
    assert re.search(rf"=> \[\d+\] /bin/sh -c 'echo one-{nonce}' +\d+\.\ds$", final, re.M), final
    assert "hlb: default: 0 of 2 steps cached" in final

    code, raw = run_in_pty(engine, "run", "--progress=tty", str(build))
    assert code == 0, raw
    text = ANSI.sub("", raw).replace("\r", "")
    final = text[text.rindex("[+] Building") :]
    assert re.search(rf"=> CACHED \[\d+\] /bin/sh -c 'echo one-{nonce}' +\d+\.\ds$", final, re.M), final
    assert re.search(rf"=> CACHED \[\d+\] /bin/sh -c 'for i in 1 2 3; do echo tick-{nonce}", final), final
    summary = final.index("hlb: default: 2 of 2 steps cached, 1 source resolved in")
    assert summary > final.index("CACHED")  # the summary comes after the final frame


def test_tty_refused_without_a_terminal(engine: Engine, tmp_path: Path, nonce: str) -> None:
    r = engine.hlb("run", "--progress=tty", str(build_file(tmp_path, nonce)))
    assert r.returncode == 2
    assert "hlb: error: --progress=tty: stderr is not a terminal" in r.stderr
