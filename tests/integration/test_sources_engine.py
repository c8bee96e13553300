"""`http` and `git` sources on the real engine, served from loopback servers started by the tests.

The daemon fetches sources itself, from the host network, so 127.0.0.1 reaches the servers here.
`local` needs the session's filesync (issue #5); its LLB is covered by the unit tests.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, Engine, git


def logs(stderr: str) -> list[str]:
    """The log lines the `run` steps printed (`#N 0.123 text` under a `#N /bin/sh -c ...` header)."""
    names: dict[str, str] = {}
    out = []
    for num, rest in re.findall(r"^#(\d+) (.*)$", stderr, re.M):
        names.setdefault(num, rest)
        line = re.match(r"\d+\.\d+ (.*)$", rest)
        if line and names[num].startswith("/bin/sh -c "):
            out.append(line.group(1))
    return out


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory and the http://127.0.0.1:PORT URL serving it."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_http_download_has_its_checksum_name_and_mode(
    engine: Engine, tmp_path: Path, served: tuple[Path, str], nonce: str
) -> None:
    root, url = served
    content = f"#!/bin/sh\necho tool-{nonce}\n".encode()
    (root / "download").write_bytes(content)
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    build = tmp_path / "build.hlb"
    build.write_text(
        f"""
fs tool() {{
	http "{url}/download" with option {{
		checksum "{digest}"
		chmod 0o755
		filename "tool"
	}}
}}

fs default() {{
	image "busybox:latest"
	run "stat -c 'mode=%a' /dl/tool; ls /dl; /dl/tool" with option {{
		mount tool "/dl" with readonly
	}}
}}
"""
    )
    result = engine.hlb("run", str(build))
    assert result.returncode == 0, result.stderr
    assert logs(result.stderr) == ["mode=755", "tool", f"tool-{nonce}"], result.stderr


def test_http_download_without_options_is_named_after_the_url(
    engine: Engine, tmp_path: Path, served: tuple[Path, str], nonce: str
) -> None:
    root, url = served
    (root / "data.txt").write_text(f"data-{nonce}\n")
    build = tmp_path / "build.hlb"
    build.write_text(
        f"""
fs default() {{
	image "busybox:latest"
	run "stat -c 'mode=%a' /dl/data.txt; cat /dl/data.txt" with option {{
		mount fs {{ http "{url}/data.txt"; }} "/dl" with readonly
	}}
}}
"""
    )
    result = engine.hlb("run", str(build))
    assert result.returncode == 0, result.stderr
    assert logs(result.stderr) == ["mode=600", f"data-{nonce}"], result.stderr


def test_http_download_with_a_wrong_checksum_fails_the_build(
    engine: Engine, tmp_path: Path, served: tuple[Path, str], nonce: str
) -> None:
    root, url = served
    (root / "download").write_text(f"not what was pinned {nonce}\n")
    wrong = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    build = tmp_path / "build.hlb"
    build.write_text(
        f"""
fs default() {{
	image "busybox:latest"
	run "cat /dl/download" with option {{
		mount fs {{ http "{url}/download" with checksum("{wrong}"); }} "/dl" with readonly
	}}
}}
"""
    )
    result = engine.hlb("run", str(build))
    assert result.returncode == 1, result.stderr
    assert f"{build}:5:14: error: digest mismatch" in result.stderr, result.stderr  # at the `http` call
    assert wrong in result.stderr
    assert "Traceback" not in result.stderr


# -- image with resolve ----------------------------------------------------------------------


def _docker(engine: Engine) -> str:
    """The engine's docker CLI (scripts/engine installs it under its prefix)."""
    exported = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "engine"), "env", "--json"], capture_output=True, text=True
    )
    dirs = [json.loads(exported.stdout)["bin"]] if exported.returncode == 0 else []
    found = shutil.which("docker", path=os.pathsep.join([*dirs, engine.env.get("PATH", "")]))
    if found is None:
        pytest.fail("no docker CLI next to the engine (scripts/engine up installs it)")
    return found


def test_resolve_applies_the_image_config_and_pins_the_digest(engine: Engine, tmp_path: Path, nonce: str) -> None:
    docker = _docker(engine)
    tag = f"hlb-sources-test:{nonce}"
    context = tmp_path / "image"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM busybox:latest\nENV GREETING=hello-{nonce}\nWORKDIR /srv/app\nUSER 1234:5678\n"
    )
    built = subprocess.run(
        [docker, "build", "-q", "-t", tag, str(context)], env=engine.env, capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stderr
    image_id = built.stdout.strip().splitlines()[-1]
    try:
        build = tmp_path / "build.hlb"
        build.write_text(
            f"""
fs default() {{
	image "{tag}" with resolve
	run "echo $GREETING; pwd; id -u; id -g"
}}
"""
        )
        result = engine.hlb("run", str(build))
        assert result.returncode == 0, result.stderr
        assert logs(result.stderr) == [f"hello-{nonce}", "/srv/app", "1234", "5678"], result.stderr
        # With the containerd image store the image id is the manifest digest the source is pinned to.
        assert f"docker-image://docker.io/library/{tag}@{image_id}" in result.stderr, result.stderr
    finally:
        subprocess.run([docker, "image", "rm", "-f", tag], env=engine.env, capture_output=True)


# -- git ------------------------------------------------------------------------------------


def _repo(base: Path, nonce: str) -> str:
    repo = base / f"repo-{nonce}"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "file").write_text(f"v1-{nonce}\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "guide").write_text(f"guide-{nonce}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "tag", "v1")
    (repo / "file").write_text(f"v2-{nonce}\n")
    git(repo, "commit", "-q", "-am", "second")
    return git(repo, "rev-parse", "HEAD")


def test_git_checks_out_a_tag_and_keeps_the_git_dir(
    engine: Engine, tmp_path: Path, git_daemon: tuple[Path, str], nonce: str
) -> None:
    base, url = git_daemon
    _repo(base, nonce)
    build = tmp_path / "build.hlb"
    build.write_text(
        f"""
fs default() {{
	image "busybox:latest"
	run "cat /src/file; test -d /src/.git && echo has-git-dir" with option {{
		mount fs {{ git "{url}/repo-{nonce}" "v1" with keepGitDir; }} "/src" with readonly
	}}
}}
"""
    )
    result = engine.hlb("run", str(build))
    assert result.returncode == 0, result.stderr
    assert logs(result.stderr) == [f"v1-{nonce}", "has-git-dir"], result.stderr


def test_git_checks_out_a_branch_without_the_git_dir(
    engine: Engine, tmp_path: Path, git_daemon: tuple[Path, str], nonce: str
) -> None:
    base, url = git_daemon
    _repo(base, nonce)
    build = tmp_path / "build.hlb"
    build.write_text(
        f"""
fs default() {{
	image "busybox:latest"
	run "cat /src/file; test -e /src/.git || echo no-git-dir; cat /docs/guide" with option {{
		mount fs {{ git "{url}/repo-{nonce}" "main"; }} "/src" with readonly
		mount fs {{ git "{url}/repo-{nonce}" "main:docs"; }} "/docs" with readonly
	}}
}}
"""
    )
    result = engine.hlb("run", str(build))
    assert result.returncode == 0, result.stderr
    assert logs(result.stderr) == [f"v2-{nonce}", "no-git-dir", f"guide-{nonce}"], result.stderr


def test_git_with_an_unknown_ref_fails_the_build(
    engine: Engine, tmp_path: Path, git_daemon: tuple[Path, str], nonce: str
) -> None:
    base, url = git_daemon
    _repo(base, nonce)
    build = tmp_path / "build.hlb"
    build.write_text(
        f"""
fs default() {{
	image "busybox:latest"
	run "ls /src" with option {{
		mount fs {{ git "{url}/repo-{nonce}" "no-such-ref"; }} "/src" with readonly
	}}
}}
"""
    )
    result = engine.hlb("run", str(build))
    assert result.returncode == 1, result.stderr
    assert "no-such-ref" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
