"""`local` patterns that can never match a path inside the synced directory are diagnostics at the pattern.

Issue 10 item 15: `includePatterns("../outside/*")` used to sync nothing, silently. Patterns are cleaned as
Go's filepath.Clean does (`./src` is `src`) and matched against relative paths, so only what stays
unmatchable after cleaning is flagged; the session's matcher (hlb.session.patterns) agrees on each case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hlb.cli.main import main
from hlb.session.patterns import PatternMatcher

PATHS = ["src", "src/main.go", "a", "a/b", "x/y.txt", "keep.txt"]  # what a walk of the directory visits

NEVER = [
    ("../outside/*", "it climbs out of the synced directory with `..`"),
    ("..", "it climbs out of the synced directory with `..`"),
    ("src/../../x", "it climbs out of the synced directory with `..`"),
    ("!../a", "it climbs out of the synced directory with `..`"),
    ("/src", "it is absolute, and patterns match paths relative to the synced directory"),
    ("/**", "it is absolute, and patterns match paths relative to the synced directory"),
    ("//src/*.go", "it is absolute, and patterns match paths relative to the synced directory"),
    (".", "`.` is the synced directory itself"),
    ("src/..", "`.` is the synced directory itself"),
    ("", "it is empty"),
    ("  ", "it is empty"),
    ("!", "`!` excepts nothing"),
]
FINE = ["./src", "src/", "./**/*.go", "**", "a/../src", "x/./y.txt", "*", "..foo", "!./a", "**/../x"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")


def compile_with(
    tmp_path: Path, option: str, patterns: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    (tmp_path / "src").mkdir(exist_ok=True)
    args = ", ".join(f'"{p}"' for p in patterns)
    (tmp_path / "build.hlb").write_text(f'fs default() {{\n\tlocal "." with {option}({args})\n}}\n')
    try:
        code = main(["compile", "build.hlb"])
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("option", ["includePatterns", "excludePatterns"])
@pytest.mark.parametrize(("pattern", "reason"), NEVER, ids=[p or "empty" for p, _ in NEVER])
def test_a_pattern_that_can_never_match_is_a_diagnostic_at_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, pattern: str, reason: str
) -> None:
    code, err = compile_with(tmp_path, option, ["src", pattern], capsys)
    assert code == 1
    column = len(f'\tlocal "." with {option}("src", ') + 1
    first = err.splitlines()[0]
    assert first.startswith(f"build.hlb:2:{column}: error: the pattern `{pattern}` can never match: {reason}"), err
    assert "^" * (len(pattern) + 2) in err


@pytest.mark.parametrize("pattern", [p for p, _ in NEVER if p.strip() and p != "!"])
def test_the_session_matches_nothing_with_them(pattern: str) -> None:
    """What the diagnostic claims: the matcher the session uses agrees (fsutil's patternmatcher rules)."""
    m = PatternMatcher.new([pattern.removeprefix("!")])
    assert not any(m.matches(p)[0] for p in PATHS)


@pytest.mark.parametrize("option", ["includePatterns", "excludePatterns"])
@pytest.mark.parametrize("pattern", FINE)
def test_patterns_cleaned_into_the_directory_are_fine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, pattern: str
) -> None:
    code, err = compile_with(tmp_path, option, [pattern], capsys)
    assert code == 0, err


def test_the_fine_ones_match_something() -> None:
    for pattern in FINE:
        if pattern.startswith("!"):
            continue
        m = PatternMatcher.new([pattern])
        assert any(m.matches(p)[0] for p in [*PATHS, "x", "x/y.txt", "..foo"]), pattern
