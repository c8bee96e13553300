"""A `local` directory's `.dockerignore` (or `.hlbignore`, which wins) is honoured as buildx honours it.

Issue 14 item 3: the files an ignore file lists were sent to the daemon. The Dockerfile frontend reads a
context's `.dockerignore` itself and hands the patterns to `llb.Local(..., llb.ExcludePatterns(...))`; hlb
reads the file at the directory's root and does the same, so the LLB carries them as
`local.excludepatterns` (the cache key follows the file's patterns) and the session sends nothing they
exclude. The file's patterns come first and the `excludePatterns` option's after them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hlb.api import check, parse
from hlb.cli.main import main
from hlb.compiler import CompileResult, compile_targets
from hlb.ignorefile import parse as parse_ignore
from hlb.llb import Platform
from hlb.llb.dump import to_json_obj
from hlb.session.filesync import summarize
from hlb.source import SourceFile
from hlb.values import LocalDir

AMD64 = Platform("linux", "amd64")


@pytest.mark.parametrize(
    ("text", "patterns"),
    [
        ("a.log\nsecret.env\n", ["a.log", "secret.env"]),
        ("\ufeff*.log", ["*.log"]),  # the BOM of the first line
        ("# a comment\n  # indented: a pattern\n", ["# indented: a pattern"]),
        ("  spaced  \n\n\t\n", ["spaced"]),
        ("! keep.txt\n!/keep\n", ["!keep.txt", "!keep"]),
        ("/root.txt\n./dir/\na/../b\n//x\n", ["root.txt", "dir", "b", "x"]),
        ("a\r\nb\r\n", ["a", "b"]),  # CRLF
        ("/\n!\n", ["/", "!"]),  # kept as written: the matcher (or the check) decides
    ],
)
def test_the_file_reads_as_patternmatchers_readall(text: str, patterns: list[str]) -> None:
    assert list(parse_ignore(text)[0]) == patterns


def test_each_pattern_keeps_its_line() -> None:
    assert parse_ignore("# c\n\na\n b\n")[1] == (3, 4)


# -- compiling: the LLB Go's llb.Local(name, llb.ExcludePatterns(...)) builds ----------------------------------


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    d = tmp_path / "ctx"
    (d / "sub").mkdir(parents=True)
    for name in ("a.log", "secret.env", "keep.log", "main.go", "sub/b.log"):
        (d / name).write_text(name)
    return d


def compile_local(options: str = "") -> CompileResult:
    text = f'fs default() {{\n\tlocal "ctx"{options}\n}}\n'
    checked = check(parse(SourceFile("build.hlb", text)))
    return compile_targets(checked.checked, ["default"], AMD64)


def local_attrs(result: CompileResult) -> dict[str, str]:
    assert [d.message for d in result.diagnostics] == []
    first = to_json_obj(result.targets[0].definition, with_sources=False)["ops"][0]["op"]
    return dict(first["source"]["attrs"])


def local_dir(result: CompileResult) -> LocalDir:
    (local,) = [a for a in result.attachments.values() if isinstance(a, LocalDir)]
    return local


def test_the_patterns_reach_the_llb_as_local_excludepatterns(ctx: Path) -> None:
    (ctx / ".dockerignore").write_text("# not sent\n*.log\nsecret.env\n!keep.log\n")
    attrs = local_attrs(compile_local())
    assert json.loads(attrs["local.excludepatterns"]) == ["*.log", "secret.env", "!keep.log"]
    assert "local.includepattern" not in attrs
    metadata = to_json_obj(compile_local().targets[0].definition, with_sources=False)["ops"][0]["metadata"]
    assert metadata["caps"]["source.local.excludepatterns"] is True


def test_without_an_ignore_file_nothing_changes(ctx: Path) -> None:
    attrs = local_attrs(compile_local())
    assert "local.excludepatterns" not in attrs
    assert local_dir(compile_local()).ignore_file == ""


def test_the_options_patterns_follow_the_files(ctx: Path) -> None:
    (ctx / ".dockerignore").write_text("*.log\n")
    result = compile_local(' with option {\n\t\texcludePatterns "main.go" "!a.log"\n\t\tincludePatterns "**"\n\t}')
    attrs = local_attrs(result)
    assert json.loads(attrs["local.excludepatterns"]) == ["*.log", "main.go", "!a.log"]
    assert json.loads(attrs["local.includepattern"]) == ["**"]
    local = local_dir(result)
    assert local.exclude_patterns == ("*.log", "main.go", "!a.log")
    assert local.ignore_file == str(ctx / ".dockerignore")


def test_hlbignore_wins_over_dockerignore(ctx: Path) -> None:
    (ctx / ".dockerignore").write_text("*.log\n")
    (ctx / ".hlbignore").write_text("secret.env\n")
    result = compile_local()
    assert json.loads(local_attrs(result)["local.excludepatterns"]) == ["secret.env"]
    assert local_dir(result).ignore_file == str(ctx / ".hlbignore")


def test_the_files_patterns_are_part_of_the_cache_key(ctx: Path) -> None:
    (ctx / ".dockerignore").write_text("*.log\n")
    first = local_attrs(compile_local())
    (ctx / ".dockerignore").write_text("# a comment changes no pattern\n*.log\n")
    assert local_attrs(compile_local()) == first
    (ctx / ".dockerignore").write_text("*.log\nsecret.env\n")
    second = local_attrs(compile_local())
    assert second["local.unique"] != first["local.unique"]
    assert second["local.sharedkeyhint"] != first["local.sharedkeyhint"]


def test_a_single_file_is_synced_alone_whatever_the_file_says(ctx: Path) -> None:
    (ctx / ".dockerignore").write_text("*.log\n")
    text = 'fs default() {\n\tlocal "ctx/a.log"\n}\n'
    result = compile_targets(check(parse(SourceFile("build.hlb", text))).checked, ["default"], AMD64)
    assert "local.excludepatterns" not in local_attrs(result)
    assert local_dir(result).ignore_file == ""


@pytest.mark.parametrize(
    ("line", "reason"),
    [("!", "`!` excepts nothing"), ("  ! ", "`!` excepts nothing"), ("src/[ab", "a `[` is never closed")],
)
def test_a_pattern_the_matcher_refuses_is_a_diagnostic_in_the_file(
    ctx: Path, capsys: pytest.CaptureFixture[str], line: str, reason: str
) -> None:
    (ctx / ".dockerignore").write_text(f"*.log\n# why\n{line}\n")
    Path("build.hlb").write_text('fs default() {\n\tlocal "ctx"\n}\n')
    assert main(["compile", "build.hlb"]) == 1
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    # Named from the working directory, as the module is (not /tmp/.../ctx/.dockerignore).
    assert first.startswith(f"ctx/.dockerignore:3:1: error: `{line.strip()}` in .dockerignore: {reason}"), err
    assert f"3 | {line}" in err and "^" in err
    assert "read by `local` at build.hlb:2:2" in err


def test_the_tree_says_which_file_was_applied(ctx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ctx / ".hlbignore").write_text("*.log\n")
    Path("build.hlb").write_text('fs default() {\n\tlocal "ctx"\n}\n')
    assert main(["run", "--tree", "build.hlb"]) == 0
    out = capsys.readouterr()
    assert "(applies ctx/.hlbignore)" in out.out + out.err


# -- what the session sends -------------------------------------------------------------------------------------


def test_the_session_sends_nothing_the_file_excludes_and_an_exception_comes_back(ctx: Path) -> None:
    (ctx / ".dockerignore").write_text("**/*.log\nsecret.env\n!keep.log\n")
    sent = sorted(summarize(local_dir(compile_local())).files)
    assert sent == [".dockerignore", "keep.log", "main.go", "sub"]


def test_an_option_exception_reincludes_what_the_file_excludes(ctx: Path) -> None:
    (ctx / ".dockerignore").write_text("*.log\n")
    sent = sorted(summarize(local_dir(compile_local(' with excludePatterns("!a.log")'))).files)
    assert sent == [".dockerignore", "a.log", "main.go", "secret.env", "sub", "sub/b.log"]
