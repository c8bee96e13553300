"""Deep nesting is a `too-deep` diagnostic at the place past the limit, never an internal error
(issue 10 item 9): blocks, lists, strings and interpolations nest at most 64 deep, imports 32 modules
deep, calls 100 deep (docs/language.md, "Nesting limits")."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import Run

from hlb.checker.check import MAX_IMPORT_DEPTH, ModuleLoader, check_module
from hlb.compiler.compiler import MAX_CALL_DEPTH, compile_targets
from hlb.llb import Platform
from hlb.source import SourceFile
from hlb.syntax.lexer import MAX_NESTING
from hlb.syntax.parser import parse_module

COMMANDS = [["check"], ["lint"], ["format", "--check"], ["compile"]]


def copies(n: int) -> str:
    return "scratch" if n == 0 else f'copy fs {{ {copies(n - 1)} }} "/" "/"'


def mounts(n: int) -> str:
    inner = mounts(n - 1) if n > 1 else ""
    return f'run "x" with option {{ mount fs {{ image "alpine"; {inner} }} "/m" }}'


def formats(n: int) -> str:
    e = '"a"'
    for _ in range(n):
        e = f'"${{format("%s", {e})}}"'
    return e


def function(body: str) -> str:
    return f'fs default() {{\n\timage "alpine"\n\t{body}\n}}\n'


DEEP = {
    "copy-200": function(copies(200)),
    "mount-100": function(mounts(100)),
    "format-250": function(f"image {formats(250)}"),
    "parens-300": function("image " + "format(" * 300 + '"a"' + ")" * 300),
}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("name", list(DEEP))
def test_deep_nesting_is_a_diagnostic_in_every_command(hlb: Run, tmp_path: Path, name: str, command: list[str]) -> None:
    path = tmp_path / "build.hlb"
    path.write_text(DEEP[name])
    code, _, err = hlb([*command, str(path)])
    assert code == 1, err
    assert "internal error" not in err
    assert f"nest more than {MAX_NESTING} deep [too-deep]" in err


def test_the_diagnostic_is_at_the_opener_past_the_limit() -> None:
    text = function(copies(100))
    parsed = parse_module(SourceFile("t.hlb", text))
    (d,) = parsed.diagnostics
    # the function's own block is level 1: the 64th `copy fs {` opens level 65
    line = text.splitlines()[2]
    col = [i for i, ch in enumerate(line) if ch == "{"][MAX_NESTING - 1] + 1
    assert (d.code.slug, d.span.begin.line, d.span.begin.column, d.span.text) == ("too-deep", 3, col, "{")
    assert d.primary.message == f"level {MAX_NESTING + 1}"


@pytest.mark.parametrize(
    ("text", "opener"),
    [
        (function("image " + "format(" * 80 + '"a"' + ")" * 80), "("),
        # after the function's block, each level opens `"`, `${` and `(`: the 65th opener is a `"`
        (function(f"image {formats(40)}"), '"'),
        (function(f'image format("%s", format("%s", {formats(40)}))'), "${"),
    ],
    ids=["parens", "strings", "interpolations"],
)
def test_every_kind_of_opener_counts(text: str, opener: str) -> None:
    (d,) = parse_module(SourceFile("t.hlb", text)).diagnostics
    assert d.code.slug == "too-deep" and d.span.text == opener


def test_nesting_up_to_the_limit_works_everywhere(hlb: Run, tmp_path: Path) -> None:
    path = tmp_path / "build.hlb"
    path.write_text(function(copies(MAX_NESTING - 1)))  # with the function's block: exactly the limit
    for command in (["check"], ["lint"], ["compile"]):
        code, _, err = hlb([*command, str(path)])
        assert code == 0, err
    code, _, err = hlb(["format", str(path)])
    assert code == 0, err


def test_a_long_import_chain_stops_at_the_import_past_the_limit(hlb: Run, tmp_path: Path) -> None:
    n = 1_500
    for i in range(n):
        body = f'import n from "m{i + 1}.hlb"\nexport f\nfs f() {{ n.f; }}\n' if i < n - 1 else "export f\nfs f() {}\n"
        (tmp_path / f"m{i}.hlb").write_text(body)
    root = tmp_path / "build.hlb"
    root.write_text('import n from "m0.hlb"\nfs default() { n.f; }\n')
    last = MAX_IMPORT_DEPTH - 2  # build.hlb, m0 ... m30: m30's import of m31 is the 33rd module
    for command in (["check"], ["lint"], ["compile"]):
        code, _, err = hlb([*command, str(root)])
        assert code == 1, err
        assert "internal error" not in err
        assert f"m{last}.hlb:1:15: error: imports nest more than {MAX_IMPORT_DEPTH} deep [too-deep]" in err


def test_an_import_chain_up_to_the_limit_compiles(hlb: Run, tmp_path: Path) -> None:
    n = MAX_IMPORT_DEPTH - 1
    for i in range(n):
        body = f'import n from "m{i + 1}.hlb"\nexport f\nfs f() {{ n.f; }}\n' if i < n - 1 else "export f\nfs f() {}\n"
        (tmp_path / f"m{i}.hlb").write_text(body)
    root = tmp_path / "build.hlb"
    root.write_text('import n from "m0.hlb"\nfs default() { n.f; }\n')
    code, _, err = hlb(["compile", str(root)])
    assert code == 0, err


def chain(n: int) -> str:
    """`default` calls f0, which calls f1 ... f<n-1>: n calls, each inside the one before."""
    return (
        "fs default() { f0; }\n"
        + "".join(f"fs f{i}() {{ f{i + 1}; }}\n" for i in range(n - 1))
        + (f"fs f{n - 1}() {{}}\n")
    )


def test_calls_nest_up_to_the_limit_and_no_further(hlb: Run, tmp_path: Path) -> None:
    path = tmp_path / "build.hlb"
    path.write_text(chain(MAX_CALL_DEPTH))
    code, _, err = hlb(["compile", str(path)])
    assert code == 0, err
    path.write_text(chain(1_000))
    code, _, err = hlb(["compile", str(path)])
    assert code == 1 and "internal error" not in err, err
    here = f"build.hlb:{MAX_CALL_DEPTH + 1}:"
    assert f"{here}" in err and f"calls nest more than {MAX_CALL_DEPTH} deep [too-deep]" in err
    code, _, err = hlb(["check", str(path)])
    assert code == 0, err  # a call depth is found when compiling


def test_what_the_limits_cannot_foresee_is_still_a_diagnostic() -> None:
    """Python's stack running out while compiling (e.g. checking a fetched module deep inside the
    evaluation) is a `too-deep` diagnostic at the call being evaluated."""
    text = function(copies(40))
    parsed = parse_module(SourceFile("t.hlb", text))
    assert parsed.module is not None
    checked = check_module(parsed.module, ModuleLoader()).checked
    limit = sys.getrecursionlimit()
    depth = len(__import__("inspect").stack(0))
    sys.setrecursionlimit(depth + 120)
    try:
        result = compile_targets(checked, ["default"], Platform("linux", "amd64"))
    finally:
        sys.setrecursionlimit(limit)
    (d,) = result.diagnostics
    assert (d.code.slug, d.message) == ("too-deep", "calls and blocks nest too deeply to evaluate")
    assert d.span.text == "copy"
