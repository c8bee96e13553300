"""An import that cannot be read says what the path is (issue 10 item 14), at the path with a caret.

A directory, a FIFO, a device or an unreadable file used to be reported as "no such file".
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from conftest import Run

from hlb.checker.check import ModuleLoader, check_module
from hlb.source import SourceFile
from hlb.syntax.parser import parse_module

MODULE = "export f\nfs f() { scratch; }\n"


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    (tmp_path / "dir.hlb").mkdir()
    os.mkfifo(tmp_path / "fifo.hlb")
    (tmp_path / "file.hlb").write_text(MODULE)
    return tmp_path


CASES = [
    ("./dir.hlb", 'cannot import "./dir.hlb": is a directory'),
    ("./fifo.hlb", 'cannot import "./fifo.hlb": not a regular file (a FIFO)'),
    ("/dev/null", 'cannot import "/dev/null": not a regular file (a character device)'),
    ("./file.hlb/x.hlb", 'cannot import "./file.hlb/x.hlb": Not a directory'),
    ("./nope.hlb", 'no such file "./nope.hlb"'),
]


@pytest.mark.parametrize("command", [["check"], ["compile"], ["run", "--tree"]])
@pytest.mark.parametrize(("path", "message"), CASES, ids=[c[0] for c in CASES])
def test_an_unreadable_import_says_what_it_is(
    command: list[str], path: str, message: str, tree: Path, hlb: Run
) -> None:
    (tree / "build.hlb").write_text(f'import u from "{path}"\nfs default() {{ u.f; }}\n')
    code, _, err = hlb([*command, "build.hlb"])
    assert code == 1
    first = err.splitlines()[0]
    assert first == f"build.hlb:1:15: error: {message} [import-not-found]", err
    caret = "^" * (len(path) + 2)
    assert f'1 | import u from "{path}"' in err and f"  |               {caret}\n" in err


@pytest.mark.parametrize(("path", "message"), CASES[:2], ids=[c[0] for c in CASES[:2]])
def test_a_computed_import_path_too(path: str, message: str, tree: Path, hlb: Run) -> None:
    (tree / "build.hlb").write_text(f'import u from format("%s", "{path}")\nfs default() {{ u.f; }}\n')
    code, _, err = hlb(["compile", "build.hlb"])
    assert code == 1
    assert err.splitlines()[0] == f"build.hlb:1:15: error: {message} [import-not-found]", err


def test_an_unreadable_file_is_permission_denied(tree: Path) -> None:
    # As root every file is readable, so the read fails the way it does for anyone else without the permission.
    def read(path: Path, name: str) -> SourceFile:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    (tree / "build.hlb").write_text('import u from "./file.hlb"\nfs default() { u.f; }\n')
    parsed = parse_module(SourceFile.read(tree / "build.hlb", "build.hlb"))
    assert parsed.module is not None
    (d,) = check_module(parsed.module, ModuleLoader(read)).diagnostics
    assert (d.code.slug, d.message, str(d.span)) == (
        "import-not-found",
        'cannot import "./file.hlb": permission denied',
        "build.hlb:1:15",
    )
    assert d.hint == "the file must be readable by the user running hlb"
