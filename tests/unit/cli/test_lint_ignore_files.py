"""`hlb lint` reads the ignore file of each `local` whose path is a literal: a line `hlb run` would refuse is an
error before the run (the checker evaluates nothing, so `hlb check` cannot know it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[[list[str]], tuple[int, str, str]]  # the `hlb` fixture of conftest.py

MODULE = """\
fs default() {
	image "busybox:latest"
	run "ls /ctx" with option {
		mount fs { local "ctx"; } "/ctx"
	}
	copy local("ctx") "." "/again"
}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "build.hlb").write_text(MODULE)
    return tmp_path


def test_a_refused_dockerignore_line_is_a_lint_error_at_the_local(project: Path, hlb: Run) -> None:
    (project / "ctx" / ".dockerignore").write_text("*.log\n[abc\n")
    assert hlb(["check", "build.hlb"])[0] == 0  # the checker reads no files
    code, _, err = hlb(["lint", "build.hlb"])
    assert code == 1
    assert err.startswith(
        "build.hlb:4:20: error: `[abc` in ctx/.dockerignore: a `[` is never closed [invalid-value]\n"
    ), err
    assert "= this line: ctx/.dockerignore:2:1" in err
    assert err.count("never closed") == 1  # one directory, reported once
    code, out, _ = hlb(["lint", "--format", "json", "build.hlb"])
    (found,) = json.loads(out)
    assert found["file"] == "build.hlb" and found["labels"][0]["file"] == "ctx/.dockerignore"


def test_the_hlbignore_is_the_one_read(project: Path, hlb: Run) -> None:
    (project / "ctx" / ".dockerignore").write_text("[abc\n")
    (project / "ctx" / ".hlbignore").write_text("*.log\n!\n")
    code, _, err = hlb(["lint", "build.hlb"])
    assert code == 1
    assert "`!` in ctx/.hlbignore: `!` excepts nothing" in err
    assert "[abc" not in err  # the .dockerignore does not apply


def test_a_good_ignore_file_or_a_path_that_is_not_literal_is_no_finding(project: Path, hlb: Run) -> None:
    (project / "ctx" / ".dockerignore").write_text("*.log\n!keep.log\n")
    assert hlb(["lint", "build.hlb"]) == (0, "", "")
    (project / "ctx" / ".dockerignore").write_text("[abc\n")
    (project / "build.hlb").write_text('string where() { "ctx"; }\n\nfs default() {\n\tlocal "${where}"\n}\n')
    assert hlb(["lint", "build.hlb"])[0] == 0  # evaluated only by `hlb run`, which reports it
