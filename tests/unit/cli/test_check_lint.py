"""`hlb check` and `hlb lint`: exit codes, printed findings, and `--fix`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hlb.checker.lint import Edit, Finding, apply
from hlb.diagnostics import catalog as cat
from hlb.source import SourceFile, Span

Run = Callable[[list[str]], tuple[int, str, str]]  # the `hlb` fixture of conftest.py


UTIL = "export build\nfs build(string ref) { image ref; }\n"


def write(tmp_path: Path, **files: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)


def test_check_passes_a_clean_module_and_its_imports(tmp_path: Path, hlb: Run) -> None:
    write(tmp_path, **{"util.hlb": UTIL, "build.hlb": 'import u from "./util.hlb"\nfs default() { u.build "x"; }\n'})
    assert hlb(["check", str(tmp_path / "build.hlb")]) == (0, "", "")


def test_check_reports_errors_in_imported_modules(tmp_path: Path, hlb: Run) -> None:
    util = "export build\nfs build() { imgae 1; }\n"
    write(tmp_path, **{"util.hlb": util, "build.hlb": 'import u from "./util.hlb"\nfs default() { u.build; }\n'})
    code, _, err = hlb(["check", str(tmp_path / "build.hlb")])
    assert code == 1
    assert "util.hlb:2:14: error: `imgae` is undefined or not in scope" in err
    assert "did you mean `image`?" in err


def test_check_prints_warnings_and_exits_0(tmp_path: Path, hlb: Run) -> None:
    write(tmp_path, **{"build.hlb": "group all() {}\n"})
    code, _, err = hlb(["check", str(tmp_path / "build.hlb")])
    assert code == 0 and "warning: type `group` is deprecated" in err


def test_check_searches_directories_and_reports_missing_files(tmp_path: Path, hlb: Run) -> None:
    (tmp_path / "sub").mkdir()
    write(tmp_path, **{"sub/a.hlb": "fs a() { scratch; }\n", "sub/b.hlb": "fs b() { nope; }\n"})
    code, _, err = hlb(["check", str(tmp_path)])
    assert code == 1 and "b.hlb:1:10: error: `nope` is undefined" in err
    code, _, err = hlb(["check", str(tmp_path / "missing.hlb")])
    assert code == 1 and "cannot read" in err


def test_check_reports_syntax_errors_with_a_caret(tmp_path: Path, hlb: Run) -> None:
    write(tmp_path, **{"build.hlb": 'fs a() {\n\timage "x" }}\n'})
    code, _, err = hlb(["check", str(tmp_path / "build.hlb")])
    assert code == 1 and "build.hlb:2:13: error" in err and "^" in err


LINTED = """import util "./util.hlb"
import unused from "./util.hlb"

group all() {
\tparallel default
}

fs default() {
\tutil.build "x"
\trun "a" with option { cacheMount "/c" with option { sharing "locked"; }; }
\trun "b" with option { mount scratch "/m" with cache("/c", "shared") }
}

string helper() { "x"; }
"""


def test_lint_reports_every_finding_and_fails(tmp_path: Path, hlb: Run) -> None:
    write(tmp_path, **{"util.hlb": UTIL, "build.hlb": LINTED})
    code, _, err = hlb(["lint", str(tmp_path / "build.hlb")])
    assert code == 1
    found = [line.split(": ", 2)[1:] for line in err.splitlines() if "build.hlb:" in line and "warning" in line]
    slugs = [f[1].rsplit("[", 1)[1].rstrip("]") for f in found]
    assert slugs == ["deprecated", "unused", "deprecated", "deprecated", "cache-sharing-conflict", "unused"]
    assert "hlb lint --fix" in err


def test_lint_fix_rewrites_mechanical_findings(tmp_path: Path, hlb: Run) -> None:
    write(tmp_path, **{"util.hlb": UTIL, "build.hlb": LINTED})
    code, _, err = hlb(["lint", "--fix", str(tmp_path / "build.hlb")])
    text = (tmp_path / "build.hlb").read_text()
    assert text.startswith('import util from "./util.hlb"\n\npipeline all() {\n\tstage default\n}\n')
    assert "import unused" not in text
    assert "fixed 4 findings" in err
    assert code == 1  # the cache conflict and the unused string function remain; they need a person
    assert "cache-sharing-conflict" in err and "function `helper` is never used" in err


def test_lint_of_a_clean_module_exits_0(tmp_path: Path, hlb: Run) -> None:
    write(tmp_path, **{"build.hlb": 'fs default() { image "busybox"; run "true"; }\n'})
    assert hlb(["lint", str(tmp_path / "build.hlb")]) == (0, "", "")


def test_apply_keeps_the_later_of_overlapping_edits() -> None:
    src = SourceFile("t.hlb", "abcdef")
    d = cat.unused(Span(src, 0, 1), "import", "x")
    findings = [Finding(d, (Edit(1, 3, "X"),)), Finding(d, (Edit(2, 4, "Y"),)), Finding(d, (Edit(5, 5, "!"),))]
    assert apply("abcdef", findings) == "abYe!f"
