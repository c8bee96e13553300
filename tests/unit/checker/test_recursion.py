"""Call cycles are checker diagnostics (issue 10 item 7): `check` fails, `compile` never recurses.

The primary label is at the call that closes the cycle, a secondary label at each other call
along it, and the message names the cycle (`a` calls `b` calls `a`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hlb.api import compile_source
from hlb.checker.check import ModuleLoader, check_module
from hlb.diagnostics import Diagnostic, HlbError
from hlb.llb import Platform
from hlb.source import SourceFile
from hlb.syntax.parser import parse_module

AMD64 = Platform("linux", "amd64")


def check(text: str) -> list[Diagnostic]:
    parsed = parse_module(SourceFile("t.hlb", text))
    assert parsed.ok and parsed.module is not None, [str(d) for d in parsed.diagnostics]
    return [d for d in check_module(parsed.module, ModuleLoader()).diagnostics if d.is_error]


def at(d: Diagnostic) -> str:
    return f"{d.span.begin.line}:{d.span.begin.column}"


def secondary(d: Diagnostic) -> list[tuple[str, str]]:
    return [(f"{lb.span.begin.line}:{lb.span.begin.column}", lb.message) for lb in d.secondary]


def test_mutual_recursion_shows_the_cycle() -> None:
    (d,) = check("fs default() { a; }\nfs a() { b; }\nfs b() { a; }\n")
    assert d.code.slug == "recursion"
    assert d.message == "recursive call: `a` calls `b` calls `a`"
    assert at(d) == "3:10"  # the call that closes the cycle
    assert secondary(d) == [("2:10", "`a` calls `b`")]


def test_a_longer_cycle_labels_every_call_along_it() -> None:
    (d,) = check("fs default() { a; }\nfs a() { b; }\nfs b() {\n\tscratch\n\tc\n}\nfs c() { a; }\n")
    assert d.message == "recursive call: `a` calls `b` calls `c` calls `a`"
    assert at(d) == "7:10"
    assert secondary(d) == [("2:10", "`a` calls `b`"), ("5:2", "`b` calls `c`")]


@pytest.mark.parametrize(
    ("text", "where", "name"),
    [
        ("fs default() { default; }", "1:16", "default"),
        ('string s() { format "%s" s; }\nfs default() { image s; }', "1:26", "s"),
        ('option::run o() { o; }\nfs default() { image "a"; run "x" with o; }', "1:19", "o"),
        ("fs f(fs x) { f x; }\nfs default() { f scratch; }", "1:14", "f"),  # with an argument
        ('string f(string x) { format "%s" "${f(x)}"; }\nfs default() { image f("a"); }', "1:37", "f"),  # interpolated
        ('fs f() { copy fs { f; } "/" "/"; }\nfs default() { f; }', "1:20", "f"),  # in a block argument
    ],
    ids=["fs", "string", "option", "parameter", "interpolation", "block-argument"],
)
def test_a_function_calling_itself(text: str, where: str, name: str) -> None:
    (d,) = check(text)
    assert (d.code.slug, at(d), d.message) == ("recursion", where, f"recursive call: `{name}` calls itself")
    assert d.secondary == ()


def test_a_bind_called_inside_its_own_function_recurses() -> None:
    """Calling a bind evaluates its function again: inside that function, that never ends."""
    text = (
        'fs f(string s) {\n\timage s\n\trun "x" with option {\n'
        '\t\tmount out("a") "/m"\n\t\tmount scratch "/out" as out\n\t}\n}\nfs default() { f "alpine"; }\n'
    )
    (d,) = check(text)
    assert (d.code.slug, at(d)) == ("recursion", "4:9")
    assert d.message == "recursive call: `f` calls `out` (which evaluates `f`)"


def test_a_pushed_digest_used_after_its_push_is_not_recursion() -> None:
    """Evaluating `digest` stops at the push (the compiler unwinds there), so a later use is fine."""
    text = (
        'fs f() {\n\timage "alpine"\n\tdockerPush "localhost:5000/x" as digest\n\tg\n}\n'
        'fs g() { run "echo ${digest}"; }\nfs default() { f; }\n'
    )
    assert check(text) == []
    (d,) = check('fs h() {\n\timage "alpine"\n\tdockerPush "localhost:5000/${d}" as d\n}\nfs default() { h; }\n')
    assert (d.code.slug, at(d), d.message) == (
        "recursion",
        "3:31",
        "recursive call: `h` calls `d` (which evaluates `h`)",
    )


def test_a_cycle_through_an_fs_import() -> None:
    (d,) = check("import u from fs {\n\tf\n}\nfs f() { u.g; }\nfs default() { f; }\n")
    assert d.message == "recursive call: import `u` calls `f` calls `u.g` (which evaluates import `u`)"
    assert at(d) == "4:10"


def test_each_call_closing_a_cycle_is_reported_once_per_caller() -> None:
    diags = check("fs a() { a; a; b; }\nfs b() { a; }\nfs default() { a; }\n")
    assert [(at(d), d.message) for d in diags] == [
        ("1:10", "recursive call: `a` calls itself"),
        ("2:10", "recursive call: `a` calls `b` calls `a`"),
    ]


def test_a_long_chain_without_a_cycle_is_checked_without_recursing() -> None:
    n = 5_000
    text = "".join(f"fs f{i}() {{ f{i + 1}; }}\n" for i in range(n)) + f"fs f{n}() {{ scratch; }}\n"
    assert check(text) == []
    (d,) = check(text.replace(f"fs f{n}() {{ scratch; }}", f"fs f{n}() {{ f0; }}"))
    assert d.code.slug == "recursion" and len(d.secondary) == n


def test_compile_reports_recursion_instead_of_crashing() -> None:
    with pytest.raises(HlbError) as info:
        compile_source(SourceFile("t.hlb", "fs default() { a; }\nfs a() { b; }\nfs b() { a; }\n"), ["default"], AMD64)
    assert [d.code.slug for d in info.value.diagnostics] == ["recursion"]


def test_recursion_in_an_imported_module_is_reported_in_that_module(tmp_path: Path) -> None:
    (tmp_path / "lib.hlb").write_text("export g\nfs g() { h; }\nfs h() { g; }\n")
    main = tmp_path / "build.hlb"
    main.write_text('import lib from "lib.hlb"\nfs default() { lib.g; }\n')
    parsed = parse_module(SourceFile.read(main))
    assert parsed.module is not None
    diags = check_module(parsed.module, ModuleLoader()).diagnostics
    assert [(d.code.slug, Path(d.span.file.name).name, at(d)) for d in diags] == [("recursion", "lib.hlb", "3:10")]


def test_an_import_calling_a_function_with_a_broken_signature_is_a_diagnostic() -> None:
    """The import expression is checked after the signatures (it used to fail an assertion)."""
    diags = check('import u from x\nfoo x() { "a"; }\n')
    assert [d.code.slug for d in diags] == ["undefined-name"]
    assert "unknown type `foo`" in [d.message for d in diags]
