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
