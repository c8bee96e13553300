"""A module imported from an fs: the daemon builds the fs and hlb reads its module.hlb while compiling."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import Engine, git


def test_a_module_imported_from_an_fs_builds(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(
        f"""
import lib from fs {{
	scratch
	mkfile "/module.hlb" 0o644 <<-EOM
		export greet

		fs greet(string who) {{
			image "busybox:latest"
			run "echo hello \\${{who}} > /greeting"
		}}
	EOM
}}

fs default() {{
	lib.greet "{nonce}"
	run "cat /greeting"
}}
"""
    )
    r = engine.hlb("run", "--progress", "plain", str(build))
    assert r.returncode == 0, r.stderr
    assert re.search(rf"#\d+ \d+\.\d+ hello {nonce}$", r.stderr, re.M), r.stderr


def test_an_fs_without_module_hlb_is_a_diagnostic_at_the_import(engine: Engine, tmp_path: Path) -> None:
    build = tmp_path / "build.hlb"
    build.write_text('import lib from fs { scratch; mkdir "/x" 0o755; }\n\nfs default() {\n\tlib.a\n}\n')
    r = engine.hlb("run", str(build))
    assert r.returncode == 1
    assert f"{build}:1:17: error: cannot read module.hlb of import `lib`" in r.stderr, r.stderr


def test_a_module_imported_from_a_git_uri_builds(
    engine: Engine, tmp_path: Path, git_daemon: tuple[Path, str], nonce: str
) -> None:
    base, url = git_daemon
    repo = base / f"lib-{nonce}"
    (repo / "hlb").mkdir(parents=True)
    (repo / "hlb" / "lib.hlb").write_text(
        'export greet\n\nfs greet(string who) {\n\timage "busybox:latest"\n\trun "echo from-git ${who}"\n}\n'
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "lib")
    git(repo, "tag", "v1")
    build = tmp_path / "build.hlb"
    build.write_text(
        f'import lib from "{url}/lib-{nonce}@v1:hlb/lib.hlb"\n\nfs default() {{\n\tlib.greet "{nonce}"\n}}\n'
    )
    r = engine.hlb("run", "--progress", "plain", str(build))
    assert r.returncode == 0, r.stderr
    assert re.search(rf"#\d+ \d+\.\d+ from-git {nonce}$", r.stderr, re.M), r.stderr


def test_a_fetched_module_is_read_as_utf8_with_crlf_as_lf(
    engine: Engine, tmp_path: Path, git_daemon: tuple[Path, str], nonce: str
) -> None:
    base, url = git_daemon
    repo = base / f"enc-{nonce}"
    repo.mkdir(parents=True)
    lib = (
        'export greet\n\nfs greet() {\n\timage "busybox:latest"\n\tmkfile "/data" 0o644 <<-EOM\n'
        f'\t\tone {nonce}\n\t\ttwo\n\tEOM\n\trun "echo size-{nonce}=$(wc -c < /data)"\n}}\n'
    )
    (repo / "lib.hlb").write_bytes(lib.replace("\n", "\r\n").encode())
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "crlf")
    git(repo, "tag", "v1")
    (repo / "lib.hlb").write_bytes(lib.replace("one ", "caf\xe9 ").encode("latin-1"))
    git(repo, "commit", "-q", "-am", "latin-1")
    git(repo, "tag", "v2")
    build = tmp_path / "build.hlb"
    main = f'import lib from "{url}/enc-{nonce}@TAG:lib.hlb"\n\nfs default() {{\n\tlib.greet\n}}\n'
    build.write_text(main.replace("TAG", "v1"))
    r = engine.hlb("run", "--progress", "plain", str(build))
    assert r.returncode == 0, r.stderr
    size = len(f"one {nonce}\ntwo")  # dedented, LF, no carriage returns
    assert re.search(rf"#\d+ \d+\.\d+ size-{nonce}=\s*{size}$", r.stderr, re.M), r.stderr
    build.write_text(main.replace("TAG", "v2"))
    r = engine.hlb("run", str(build))
    assert r.returncode == 1
    error = "<import lib>/lib.hlb:6:6: error: the file is not valid UTF-8: byte 0xe9 [invalid-utf8]"
    assert error in r.stderr, r.stderr
