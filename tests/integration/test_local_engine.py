"""`local` sources on the real engine: patterns, symlinks that point outside, the daemon's incremental cache."""

from __future__ import annotations

import os
import re
from pathlib import Path

from conftest import Engine


def context(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_include_and_exclude_patterns_reach_the_image(engine: Engine, tmp_path: Path, nonce: str) -> None:
    context(
        tmp_path / "ctx",
        {"a.txt": nonce, "b.bin": "bin", "sub/c.txt": "c", "sub/d.txt": "d", "node_modules/m.txt": "m"},
    )
    build = tmp_path / "build.hlb"
    build.write_text(
        "fs default() {\n"
        '\timage "busybox:latest"\n'
        '\tcopy fs { local "ctx" with option { includePatterns "*.txt"; } } "/" "/inc"\n'
        '\tcopy fs { local "ctx" with option { excludePatterns "**/*.bin" "node_modules" "sub/*" "!sub/d.txt"; } } '
        '"/" "/exc"\n'
        f'\trun "test $(cat /inc/a.txt) = {nonce} && ! test -e /inc/b.bin && ! test -e /inc/sub'
        " && test -f /exc/a.txt && test -f /exc/sub/d.txt && ! test -e /exc/sub/c.txt"
        ' && ! test -e /exc/b.bin && ! test -e /exc/node_modules && echo checked-$(stat -c %u:%g /exc/a.txt)"'
        ' with network("none")\n'
        "}\n"
    )
    r = engine.hlb("run", str(build))
    assert r.returncode == 0, r.stderr
    assert "checked-0:0" in r.stderr  # the context's owner is reset to root, as buildx sends it


def test_symlink_to_a_file_outside_arrives_as_a_link_without_its_content(
    engine: Engine, tmp_path: Path, nonce: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(f"do-not-leak-{nonce}")
    ctx = context(tmp_path / "ctx", {"a.txt": "a"})
    os.symlink(secret, ctx / "leak")
    os.symlink("../secret.txt", ctx / "leak-relative")
    os.symlink(tmp_path, ctx / "leak-dir")
    build = tmp_path / "build.hlb"
    build.write_text(
        "fs default() {\n"
        '\timage "busybox:latest"\n'
        '\tcopy fs { local "ctx"; } "/" "/ctx"\n'
        f'\trun "test -L /ctx/leak && test $(readlink /ctx/leak) = {secret} && test -L /ctx/leak-relative'
        " && test -L /ctx/leak-dir && ! test -e /ctx/leak-dir/secret.txt"
        ' && (cat /ctx/leak /ctx/leak-relative 2>&1; grep -r do-not-leak /ctx /tmp /root 2>&1; true)"'
        ' with network("none")\n'
        "}\n"
    )
    r = engine.hlb("run", str(build))
    assert r.returncode == 0, r.stderr
    assert f"do-not-leak-{nonce}" not in r.stderr


def test_unchanged_context_is_cached_and_a_change_rebuilds(engine: Engine, tmp_path: Path, nonce: str) -> None:
    ctx = context(tmp_path / "ctx", {"a.txt": f"first-{nonce}", "b.txt": "b"})
    build = tmp_path / "build.hlb"
    build.write_text(
        'fs default() {\n\timage "busybox:latest"\n\tcopy fs { local "ctx"; } "/" "/ctx"\n'
        '\trun "cat /ctx/a.txt" with network("none")\n}\n'
    )
    first = engine.hlb("run", str(build))
    assert first.returncode == 0, first.stderr
    assert re.search(rf"^#\d+ (\d+\.\d+ )?first-{nonce}$", first.stderr, re.M), first.stderr
    again = engine.hlb("run", str(build))
    assert again.returncode == 0, again.stderr
    assert f"first-{nonce}" not in again.stderr  # the command did not run again
    assert re.search(r"hlb: default: (\d+) of \1 steps cached", again.stderr), again.stderr
    (ctx / "a.txt").write_text(f"second-{nonce}")
    changed = engine.hlb("run", str(build))
    assert changed.returncode == 0, changed.stderr
    assert re.search(rf"^#\d+ (\d+\.\d+ )?second-{nonce}$", changed.stderr, re.M), changed.stderr


def test_dockerignore_keeps_files_from_the_daemon_and_hlbignore_wins(
    engine: Engine, tmp_path: Path, nonce: str
) -> None:
    """Issue 14 item 3: what `.dockerignore` lists is never sent; `.hlbignore` replaces it; `!` re-includes."""
    files = {"a.log": "log", "secret.env": f"token-{nonce}", "keep.log": "kept", "main.go": nonce, "sub/b.log": "b"}
    context(tmp_path / "docker", files | {".dockerignore": "# not for the daemon\n**/*.log\nsecret.env\n!keep.log\n"})
    context(tmp_path / "both", files | {".dockerignore": "main.go\n", ".hlbignore": "secret.env\n"})
    build = tmp_path / "build.hlb"
    build.write_text(
        'fs docker() {\n\tlocal "docker"\n\tdownload "out/docker"\n}\n'
        'fs both() {\n\tlocal "both"\n\tdownload "out/both"\n}\n'
    )
    tree = engine.hlb("run", "--tree", "-t", "docker,both", str(build))
    assert tree.returncode == 0, tree.stderr
    assert f"(applies {tmp_path}/docker/.dockerignore)" in tree.stdout
    assert f"(applies {tmp_path}/both/.hlbignore)" in tree.stdout

    r = engine.hlb("run", "-t", "docker,both", str(build))
    assert r.returncode == 0, r.stderr

    def sent(name: str) -> list[str]:
        root = tmp_path / "out" / name
        return sorted(str(p.relative_to(root)) for p in root.rglob("*"))

    # The local source is downloaded as the daemon received it: exactly what the session sent.
    assert sent("docker") == [".dockerignore", "keep.log", "main.go", "sub"]
    assert sent("both") == [".dockerignore", ".hlbignore", "a.log", "keep.log", "main.go", "sub", "sub/b.log"]
    assert f"token-{nonce}" not in r.stderr
