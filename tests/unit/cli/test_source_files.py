"""Source files are UTF-8 and never mangled: bad bytes are diagnosed, symlinks written through, line endings kept."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[[list[str]], tuple[int, str, str]]  # the `hlb` fixture of conftest.py

UGLY = "fs a(){scratch;}\n\n\n\nfs b(){}"
PRETTY = "fs a() { scratch }\n\nfs b() {}\n"
OLD = 1_000_000_000  # an mtime (seconds) long past, so a rewrite is visible


def put(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    os.utime(path, (OLD, OLD))
    return path


def untouched(path: Path, data: bytes) -> bool:
    return path.read_bytes() == data and path.stat().st_mtime_ns == OLD * 10**9


# -- invalid UTF-8 ---------------------------------------------------------------------------------

MID_LINE = b'fs default() {\n\tscratch\n\tmkfile "/a" 0o644 "caf\xe9"\n}\n'


def test_format_w_rejects_invalid_utf8_at_the_byte_and_leaves_the_file(tmp_path: Path, hlb: Run) -> None:
    f = put(tmp_path / "a.hlb", MID_LINE.replace(b"\tscratch\n", b"  scratch;\n"))  # needs formatting too
    code, out, err = hlb(["format", "-w", str(f)])
    assert (code, out) == (1, "")
    assert f"{f}:3:24: error: the file is not valid UTF-8: byte 0xe9 [invalid-utf8]" in err
    lines = err.splitlines()
    assert lines[2] == '3 |     mkfile "/a" 0o644 "caf\\xe9"'
    assert lines[3] == "  |                           ^^^^"
    assert "hint: hlb source files are UTF-8" in err
    assert untouched(f, MID_LINE.replace(b"\tscratch\n", b"  scratch;\n"))
    assert hlb(["format", "--check", str(f)])[0] == 1


def test_format_of_stdin_rejects_invalid_utf8(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "hlb", "format"], input=MID_LINE, capture_output=True, check=False)
    assert (r.returncode, r.stdout) == (1, b"")
    assert b"<stdin>:3:24: error: the file is not valid UTF-8: byte 0xe9" in r.stderr


def test_lint_fix_does_not_rewrite_a_file_with_invalid_utf8(tmp_path: Path, hlb: Run) -> None:
    data = b'group all() { parallel default; }\nfs default() { image "caf\xc3("; }\n'  # fixable; a bad string
    f = put(tmp_path / "build.hlb", data)
    code, _, err = hlb(["lint", "--fix", str(f)])
    assert code == 1
    assert f"{f}:2:26: error: the file is not valid UTF-8: byte 0xc3" in err and "fixed" not in err
    assert untouched(f, data)


def test_check_rejects_a_bad_first_byte_at_1_1(tmp_path: Path, hlb: Run) -> None:
    f = put(tmp_path / "build.hlb", b"\xff\xfefs default() { scratch; }\n")
    code, _, err = hlb(["check", str(f)])
    assert code == 1 and f"{f}:1:1: error: the file is not valid UTF-8: byte 0xff" in err
    assert "1 | \\xff\\xfefs default() { scratch; }" in err


def test_check_rejects_invalid_utf8_in_a_heredoc(tmp_path: Path, hlb: Run) -> None:
    f = put(tmp_path / "build.hlb", b'fs default() {\n\timage "busybox"\n\trun <<-EOM\n\t\techo \x80\n\tEOM\n}\n')
    code, _, err = hlb(["check", str(f)])
    assert code == 1 and f"{f}:4:8: error: the file is not valid UTF-8: byte 0x80" in err


def test_check_rejects_invalid_utf8_in_an_imported_module(tmp_path: Path, hlb: Run) -> None:
    put(tmp_path / "util.hlb", b'export build\nfs build() { image "\xa0"; }\n')
    (tmp_path / "build.hlb").write_text('import u from "./util.hlb"\nfs default() { u.build; }\n')
    code, _, err = hlb(["check", str(tmp_path / "build.hlb")])
    assert code == 1 and "util.hlb:2:21: error: the file is not valid UTF-8: byte 0xa0" in err


def test_compile_rejects_invalid_utf8_in_mkfile_content(tmp_path: Path, hlb: Run) -> None:
    f = put(tmp_path / "build.hlb", MID_LINE)
    code, out, err = hlb(["compile", str(f)])
    assert (code, out) == (1, "") and f"{f}:3:24: error: the file is not valid UTF-8" in err


def test_run_rejects_invalid_utf8_from_a_file_and_from_stdin(tmp_path: Path, hlb: Run) -> None:
    f = put(tmp_path / "build.hlb", MID_LINE)
    code, _, err = hlb(["run", "--tree", str(f)])
    assert code == 1 and f"{f}:3:24: error: the file is not valid UTF-8" in err

    def stdin(data: bytes, io_encoding: str) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "PYTHONIOENCODING": io_encoding}  # as a terminal in another locale would set it
        argv = [sys.executable, "-m", "hlb", "run", "--tree", "-"]
        return subprocess.run(argv, input=data, capture_output=True, check=False, env=env)

    for io_encoding in ("utf-8:strict", "latin-1"):
        r = stdin(MID_LINE, io_encoding)
        assert r.returncode == 1 and b"<stdin>:3:24: error: the file is not valid UTF-8: byte 0xe9" in r.stderr
    r = stdin(MID_LINE.replace(b'\xe9"', b'\xc3\xa9"; imgae "x"'), "latin-1")  # valid, read as UTF-8: é is 1 column
    assert r.returncode == 1 and b"<stdin>:3:28: error: `imgae` is undefined" in r.stderr


# -- symlinks, modes, mtimes -----------------------------------------------------------------------


def test_format_w_writes_through_a_symlink_and_a_symlink_to_a_symlink(tmp_path: Path, hlb: Run) -> None:
    (tmp_path / "real").mkdir()
    target = put(tmp_path / "real" / "a.hlb", UGLY.encode())
    os.chmod(target, 0o640)
    link = tmp_path / "link.hlb"
    link.symlink_to("real/a.hlb")
    link2 = tmp_path / "link2.hlb"
    link2.symlink_to("link.hlb")
    assert hlb(["format", "-w", str(link2)]) == (0, "", "")
    assert link.is_symlink() and os.readlink(link) == "real/a.hlb"
    assert link2.is_symlink() and os.readlink(link2) == "link.hlb"
    assert target.read_text() == PRETTY and (target.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.hlb", "link.hlb", "link2.hlb", "real"]  # no temp

    target.write_text(UGLY)
    assert hlb(["format", "-w", str(link)]) == (0, "", "")
    assert link.is_symlink() and target.read_text() == PRETTY


def test_format_w_keeps_mode_0640_and_as_root_the_owner(tmp_path: Path, hlb: Run) -> None:
    f = put(tmp_path / "a.hlb", UGLY.encode())
    os.chmod(f, 0o640)
    root = os.geteuid() == 0
    if root:
        os.chown(f, 4321, 4322)
    assert hlb(["format", "-w", str(f)]) == (0, "", "")
    st = f.stat()
    assert f.read_text() == PRETTY and (st.st_mode & 0o7777) == 0o640
    if root:
        assert (st.st_uid, st.st_gid) == (4321, 4322)


def test_lint_fix_writes_through_a_symlink(tmp_path: Path, hlb: Run) -> None:
    target = put(tmp_path / "real.hlb", b"group all() { parallel default; }\nfs default() { scratch; }\n")
    os.chmod(target, 0o640)
    link = tmp_path / "build.hlb"
    link.symlink_to("real.hlb")
    code, _, err = hlb(["lint", "--fix", str(link)])
    assert code == 0 and "fixed 2 findings" in err  # group -> pipeline, parallel -> stage
    assert link.is_symlink() and target.read_text().startswith("pipeline all() {")
    assert (target.stat().st_mode & 0o777) == 0o640


def test_a_file_that_cannot_be_written_is_an_error_not_a_crash(
    tmp_path: Path, hlb: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = put(tmp_path / "a.hlb", UGLY.encode())
    lint = put(tmp_path / "b.hlb", b"group all() { parallel default; }\nfs default() { scratch; }\n")

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    code, _, err = hlb(["format", "-w", str(f)])
    assert (code, err) == (1, f"hlb: error: cannot write {f}: Read-only file system; it is unchanged\n")
    code, _, err = hlb(["lint", "--fix", str(lint)])
    assert (code, err) == (1, f"hlb: error: cannot write {lint}: Read-only file system; it is unchanged\n")
    assert untouched(f, UGLY.encode())


def test_an_unchanged_file_is_not_rewritten(tmp_path: Path, hlb: Run) -> None:
    lf = put(tmp_path / "lf.hlb", PRETTY.encode())
    crlf = put(tmp_path / "crlf.hlb", PRETTY.replace("\n", "\r\n").encode())
    assert hlb(["format", "-w", str(lf), str(crlf)]) == (0, "", "")
    assert untouched(lf, PRETTY.encode()) and untouched(crlf, PRETTY.replace("\n", "\r\n").encode())
    assert hlb(["format", "--check", str(lf), str(crlf)]) == (0, "", "")
    assert hlb(["lint", "--fix", str(crlf)])[0] == 0 and untouched(crlf, PRETTY.replace("\n", "\r\n").encode())


# -- newlines and the byte order mark --------------------------------------------------------------


def test_format_w_keeps_a_crlf_file_crlf(tmp_path: Path, hlb: Run) -> None:
    f = put(tmp_path / "a.hlb", UGLY.replace("\n", "\r\n").encode())
    assert hlb(["format", "--check", str(f)])[0] == 1
    assert hlb(["format", "-w", str(f)]) == (0, "", "")
    assert f.read_bytes() == PRETTY.replace("\n", "\r\n").encode()
    r = subprocess.run(
        [sys.executable, "-m", "hlb", "format"], input=UGLY.replace("\n", "\r\n").encode(), capture_output=True
    )
    assert (r.returncode, r.stdout) == (0, PRETTY.replace("\n", "\r\n").encode())  # stdin to stdout: the same rule


def test_format_of_a_crlf_heredoc_keeps_its_body(tmp_path: Path, hlb: Run) -> None:
    text = 'fs default() {\n\tscratch\n\tmkfile "/a" 0o644 <<-EOM\n\t\tone\n\t\ttwo\n\tEOM\n}\n'
    f = put(tmp_path / "a.hlb", text.replace("\n", "\r\n").encode())
    assert hlb(["format", "-w", str(f)]) == (0, "", "")
    assert untouched(f, text.replace("\n", "\r\n").encode())


def test_format_w_drops_a_bom_and_turns_lone_crs_into_lf(tmp_path: Path, hlb: Run) -> None:
    bom = put(tmp_path / "bom.hlb", b"\xef\xbb\xbf" + PRETTY.encode())
    cr = put(tmp_path / "cr.hlb", PRETTY.replace("\n", "\r").encode())
    assert hlb(["check", str(bom), str(cr)]) == (0, "", "")
    assert hlb(["format", "-w", str(bom), str(cr)]) == (0, "", "")
    assert bom.read_bytes() == PRETTY.encode() and cr.read_bytes() == PRETTY.encode()


@pytest.mark.parametrize(
    ("prefix", "newline"), [(b"", b"\r\n"), (b"\xef\xbb\xbf", b"\n"), (b"\xef\xbb\xbf", b"\r\n"), (b"", b"\r")]
)
def test_diagnostics_keep_line_and_column_in_crlf_cr_and_bom_files(
    tmp_path: Path, hlb: Run, prefix: bytes, newline: bytes
) -> None:
    text = b'fs a() { imgae "x"; }\nfs default() {\n\timgae "busybox"\n}\n'
    f = put(tmp_path / "build.hlb", prefix + text.replace(b"\n", newline))
    code, _, err = hlb(["check", str(f)])
    assert code == 1
    assert f"{f}:1:10: error: `imgae` is undefined" in err and f"{f}:3:2: error: `imgae` is undefined" in err
    assert '1 | fs a() { imgae "x"; }\n  |          ^^^^^\n' in err
    assert "\r" not in err and "\ufeff" not in err
