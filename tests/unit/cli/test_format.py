"""`hlb format`: stdin to stdout, -w in place, --check, directories, syntax errors."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[[list[str]], tuple[int, str, str]]  # the `hlb` fixture of conftest.py


UGLY = "fs a(){scratch;}\n\n\n\nfs b(){}"
PRETTY = "fs a() { scratch }\n\nfs b() {}\n"


def test_stdin_to_stdout(hlb: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(UGLY))
    assert hlb(["fmt"]) == (0, PRETTY, "")


def test_write_in_place_keeps_the_mode(tmp_path: Path, hlb: Run) -> None:
    f = tmp_path / "a.hlb"
    f.write_text(UGLY)
    os.chmod(f, 0o600)
    assert hlb(["format", "-w", str(f)]) == (0, "", "")
    assert f.read_text() == PRETTY and (f.stat().st_mode & 0o777) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name != "a.hlb"]  # no temporary left behind


def test_check_lists_files_that_would_change(tmp_path: Path, hlb: Run) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ugly.hlb").write_text(UGLY)
    (tmp_path / "pretty.hlb").write_text(PRETTY)
    code, out, err = hlb(["format", "--check", str(tmp_path)])
    assert code == 1 and out == "" and "would reformat" in err and "ugly.hlb" in err and "pretty.hlb" not in err
    assert (tmp_path / "sub" / "ugly.hlb").read_text() == UGLY
    assert hlb(["format", "--check", str(tmp_path / "pretty.hlb")])[0] == 0


def test_a_syntax_error_is_a_diagnostic(tmp_path: Path, hlb: Run) -> None:
    f = tmp_path / "bad.hlb"
    f.write_text("fs a() { scratch\n")
    code, out, err = hlb(["format", "-w", str(f)])
    assert code == 1 and out == "" and "bad.hlb:1:8: error: unterminated block" in err
    assert f.read_text() == "fs a() { scratch\n"
