"""`hlb format`: stdin to stdout, -w in place, --check, directories, syntax errors."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from hlb.cli.main import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


UGLY = "fs a(){scratch;}\n\n\n\nfs b(){}"
PRETTY = "fs a() { scratch }\n\nfs b() {}\n"


def test_stdin_to_stdout(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(UGLY))
    assert run(["fmt"], capsys) == (0, PRETTY, "")


def test_write_in_place_keeps_the_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.hlb"
    f.write_text(UGLY)
    os.chmod(f, 0o600)
    assert run(["format", "-w", str(f)], capsys) == (0, "", "")
    assert f.read_text() == PRETTY and (f.stat().st_mode & 0o777) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name != "a.hlb"]  # no temporary left behind


def test_check_lists_files_that_would_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ugly.hlb").write_text(UGLY)
    (tmp_path / "pretty.hlb").write_text(PRETTY)
    code, out, err = run(["format", "--check", str(tmp_path)], capsys)
    assert code == 1 and out == "" and "would reformat" in err and "ugly.hlb" in err and "pretty.hlb" not in err
    assert (tmp_path / "sub" / "ugly.hlb").read_text() == UGLY
    assert run(["format", "--check", str(tmp_path / "pretty.hlb")], capsys)[0] == 0


def test_a_syntax_error_is_a_diagnostic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.hlb"
    f.write_text("fs a() { scratch\n")
    code, out, err = run(["format", "-w", str(f)], capsys)
    assert code == 1 and out == "" and "bad.hlb:1:8: error: unterminated block" in err
    assert f.read_text() == "fs a() { scratch\n"
