"""The error corpus: malformed and ill-typed programs, each with the diagnostic it must produce.

``tests/cases/errors/NNN-name.hlb`` (or ``NNN-name/build.hlb`` next to the modules it imports)
starts with ``# expect: <slug> [<file>:]<line>:<col>``: the kind and primary position of the
first error of parse + check. Positions count the ``# expect`` line itself; ``<file>`` (relative
to the case directory) is given when the first error is in an imported module. A second line
``# hint: <text>`` says what that error's hint must contain.

The expectations are openllb/hlb's verdicts (its parser and checker were run on every
single-file case; multi-file cases were reasoned from its checker and module resolver), with
this project's documented refinements. Those refinements keep our diagnostic and say what
openllb/hlb reports in parentheses after the expectation, e.g.
``# expect: unterminated 2:14  (openllb/hlb: syntax error at the end of the file)``:

* lexical problems have their own kinds (``unterminated`` at the opener, ``invalid-escape``,
  ``invalid-number``, ``unexpected-character``) where openllb/hlb says ``syntax``;
* escape sequences are checked when parsing (openllb/hlb only fails when evaluating them),
  enum values (sharing, network, security modes) when checking (it fails when compiling);
* unknown type names are reported at the type (openllb/hlb has no such check);
* a redefined builtin is reported at the user's name (openllb/hlb points into ``<builtin>``);
* a variadic call below its minimum and an empty ``${}`` are errors (openllb/hlb crashes);
* ``with`` on a call that takes no options says so (openllb/hlb reports a type mismatch);
* a syntax error points at the offending token (openllb/hlb, backtracking, sometimes points at
  the start of the list item or clause that failed, on the same line);
* import cycles are reported (openllb/hlb resolves imports lazily, without a cycle check);
* a decimal with a leading zero (``0755``, which both lex as a name) is ``invalid-number`` with the
  hint ``0o755`` (openllb/hlb: ``undefined-name``).

Where hlb disagrees with openllb/hlb otherwise, the case keeps openllb/hlb's expectation and is
a strict xfail below with the reason; fixing the checker turns it into a pass.

``tests/cases/valid/`` holds programs openllb/hlb accepts: they must produce no error (warnings,
e.g. for deprecated forms, are fine).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from hlb.checker.check import ModuleLoader, check_module
from hlb.diagnostics import Diagnostic, render
from hlb.source import SourceFile
from hlb.syntax.parser import parse_module

CASES = Path(__file__).resolve().parents[1] / "cases"
ERRORS = CASES / "errors"
VALID = CASES / "valid"
EXPECT = re.compile(r"# expect: (?P<slug>[a-z-]+) (?:(?P<file>\S+):)?(?P<line>\d+):(?P<col>\d+)(?:\s+\(.*\))?$")

# openllb/hlb's expectation is kept; hlb differs (see the module doc).
XFAIL = {
    "020-interpolation-newline": (
        "both reject it on the same line; openllb/hlb points at the `${`, hlb at the newline that follows"
    ),
    "225-bind-error-before-earlier-type-error": (
        "openllb/hlb reports bind errors (found in its semantic pass) before type errors and stops there; "
        "hlb orders all errors by position"
    ),
    "224-export-typo-then-call": (
        "openllb/hlb checks an imported module before the references into it and stops at its errors; "
        "hlb lists the importer's own errors first"
    ),
}

# Programs openllb/hlb accepts and hlb rejects.
VALID_XFAIL = {
    "statement-after-with-without-separator": (
        "openllb/hlb needs no `;` or newline after a with clause (StmtEnd is optional); hlb's grammar requires one"
    ),
}


@dataclass(frozen=True)
class Expected:
    slug: str
    file: str | None
    line: int
    col: int
    hint: str | None = None


def main_file(case: Path) -> Path:
    return case / "build.hlb" if case.is_dir() else case


def expectation(case: Path) -> Expected:
    first, second = ([*main_file(case).read_text(encoding="utf-8").splitlines()[:2], ""])[:2]
    m = EXPECT.match(first)
    assert m, f"{case.name}: the first line must be `# expect: <slug> <line>:<col>`, not {first!r}"
    hint = second.removeprefix("# hint: ") if second.startswith("# hint: ") else None
    return Expected(m["slug"], m["file"], int(m["line"]), int(m["col"]), hint)


def diagnose(path: Path) -> list[Diagnostic]:
    """Parse and check ``path`` as `hlb check` does: parse errors stop before checking."""
    parsed = parse_module(SourceFile.read(path))
    diags = list(parsed.diagnostics)
    if parsed.module is not None and not any(d.is_error for d in diags):
        diags += check_module(parsed.module, ModuleLoader()).diagnostics
    return diags


def relative(d: Diagnostic, case_dir: Path) -> str:
    return os.path.relpath(Path(d.span.file.name).resolve(), case_dir.resolve())


def params(root: Path, xfail: dict[str, str]) -> list[object]:
    """One pytest param per case file or case directory, strict xfail where listed."""
    cases = sorted(p for p in root.iterdir() if p.suffix == ".hlb" or (p.is_dir() and (p / "build.hlb").is_file()))
    out: list[object] = []
    for p in cases:
        name = p.stem
        marks = [pytest.mark.xfail(strict=True, reason=xfail[name])] if name in xfail else []
        out.append(pytest.param(p, id=name, marks=marks))
    assert set(xfail) <= {p.stem for p in cases}, set(xfail) - {p.stem for p in cases}
    return out


ERROR_CASES = params(ERRORS, XFAIL)
VALID_CASES = params(VALID, VALID_XFAIL)


def test_the_corpus_is_large_enough() -> None:
    assert len(ERROR_CASES) >= 120
    assert len(VALID_CASES) >= 30
    assert len({p.stem.split("-", 1)[0] for p in ERRORS.iterdir()}) == len(ERROR_CASES), "case numbers are unique"


@pytest.mark.parametrize("case", ERROR_CASES)
def test_error_program(case: Path) -> None:
    want = expectation(case)
    path = main_file(case)
    errors = [d for d in diagnose(path) if d.is_error]
    assert errors, f"{case.name}: no error, expected {want}"
    first = errors[0]
    got_file = relative(first, path.parent)
    p = first.span.begin
    found = (first.code.slug, got_file, p.line, p.column)
    wanted = (want.slug, want.file or path.name, want.line, want.col)
    assert found == wanted, f"{case.name}: {first}"
    if want.hint is not None:
        assert want.hint in (first.hint or ""), f"{case.name}: {render(first)}"
    for d in errors:
        text = render(d)
        q = d.span.begin
        assert f"{d.span.file.name}:{q.line}:{q.column}" in text.splitlines()[0]
        assert any(re.fullmatch(r"\s*\|\s*\^+.*", line) for line in text.splitlines()), text


@pytest.mark.parametrize("case", VALID_CASES)
def test_valid_program(case: Path) -> None:
    diags = diagnose(main_file(case))
    assert [str(d) for d in diags if d.is_error] == []
    for d in diags:
        render(d)
