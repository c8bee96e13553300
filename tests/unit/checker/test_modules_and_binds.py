"""Imports across files, exports, `mod.name` references, binds, variadics and deprecated forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from hlb.checker.check import ModuleLoader, check_module
from hlb.diagnostics import Diagnostic, Severity
from hlb.source import SourceFile
from hlb.syntax.parser import parse_module


def check_file(path: Path) -> list[Diagnostic]:
    parsed = parse_module(SourceFile.read(path))
    assert parsed.ok and parsed.module is not None, [str(d) for d in parsed.diagnostics]
    return check_module(parsed.module, ModuleLoader()).diagnostics


def check(text: str, tmp_path: Path, **files: str) -> list[Diagnostic]:
    for name, body in files.items():
        (tmp_path / f"{name}.hlb").write_text(body)
    main = tmp_path / "build.hlb"
    main.write_text(text)
    return check_file(main)


def kinds(diags: list[Diagnostic]) -> list[tuple[str, str, str]]:
    """(slug, file:line:col, severity) of each diagnostic."""
    return [
        (d.code.slug, f"{Path(d.span.file.name).name}:{d.span.begin.line}:{d.span.begin.column}", d.severity.value)
        for d in diags
    ]


UTIL = "export build\nfs build(string ref) { image ref; }\nfs hidden() { scratch; }\n"


def test_a_local_import_and_its_exported_function(tmp_path: Path) -> None:
    text = 'import util from "./util.hlb"\nfs default() { util.build "busybox"; }\n'
    assert check(text, tmp_path, util=UTIL) == []


def test_paths_are_relative_to_the_importing_module(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.hlb").write_text('import b from "./b.hlb"\nexport f\nfs f() { b.g; }\n')
    (tmp_path / "lib" / "b.hlb").write_text("export g\nfs g() { scratch; }\n")
    assert check('import a from "./lib/a.hlb"\nfs default() { a.f; }\n', tmp_path) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('import util from "./util.hlb"\nfs default() { util.hidden; }\n', ("call-unexported", "build.hlb:2:21")),
        ('import util from "./util.hlb"\nfs default() { util.nope; }\n', ("undefined-name", "build.hlb:2:21")),
        ('import util from "./util.hlb"\nfs default() { util; }\n', ("call-import", "build.hlb:2:16")),
        ("fs default() { default.x; }\n", ("dot-on-non-import", "build.hlb:1:23")),
        ('import util from "./nope.hlb"\n', ("import-not-found", "build.hlb:1:18")),
        ('import util from "s3://bucket/x.hlb"\n', ("invalid-module-uri", "build.hlb:1:18")),
        ("import util from 1\n", ("type-mismatch", "build.hlb:1:18")),
        ("export nothing\n", ("undefined-name", "build.hlb:1:8")),
        ('import util from "./util.hlb"\nfs default() { util.build; }\n', ("wrong-arg-count", "build.hlb:2:16")),
    ],
)
def test_import_errors(tmp_path: Path, text: str, expected: tuple[str, str]) -> None:
    (found,) = kinds(check(text, tmp_path, util=UTIL))
    assert found[:2] == expected


def test_an_import_cycle_is_reported_not_looped_on(tmp_path: Path) -> None:
    a = 'import b from "./b.hlb"\nexport f\nfs f() { scratch; }\n'
    b = 'import a from "./a.hlb"\nexport g\nfs g() { scratch; }\n'
    diags = check('import a from "./a.hlb"\nfs default() { a.f; }\n', tmp_path, a=a, b=b)
    assert [k[:2] for k in kinds(diags)] == [("import-cycle", "b.hlb:1:15")]
    assert diags[0].message == "import cycle: a.hlb -> b.hlb -> a.hlb"


def test_a_module_importing_the_root_is_a_cycle(tmp_path: Path) -> None:
    diags = check('import a from "./a.hlb"\nfs default() { scratch; }\n', tmp_path, a='import r from "./build.hlb"\n')
    assert [k[0] for k in kinds(diags)] == ["import-cycle"]


def test_errors_in_an_imported_module_carry_its_file_and_its_warnings_are_dropped(tmp_path: Path) -> None:
    util = 'import x "./other.hlb"\nexport build\nfs build() { imgae "x"; }\n'
    diags = check('import util from "./util.hlb"\nfs default() { util.build; }\n', tmp_path, util=util, other="")
    assert [k[:2] for k in kinds(diags)] == [("undefined-name", "util.hlb:3:14")]


def test_fs_and_git_imports_are_checked_when_built(tmp_path: Path) -> None:
    text = (
        'import go from image("openllb/go.hlb")\n'
        'import lib from fs { git "https://x/y.git" "main"; }\n'
        'import repo from "git://github.com/org/repo@main:path/file.hlb"\n'
        'fs default() { go.build "x"; lib.anything; repo.f 1 2; }\n'
    )
    assert check(text, tmp_path) == []


def test_a_module_is_loaded_once(tmp_path: Path) -> None:
    reads: list[str] = []

    def read(path: Path, name: str) -> SourceFile:
        reads.append(name)
        return SourceFile.read(path, name)

    (tmp_path / "util.hlb").write_text(UTIL)
    (tmp_path / "a.hlb").write_text('import u from "./util.hlb"\nexport f\nfs f() { u.build "x"; }\n')
    main = tmp_path / "build.hlb"
    main.write_text('import a from "./a.hlb"\nimport u from "./util.hlb"\nfs default() { a.f; u.build "y"; }\n')
    parsed = parse_module(SourceFile.read(main))
    assert parsed.module is not None
    assert check_module(parsed.module, ModuleLoader(read)).diagnostics == []
    assert sorted(Path(r).name for r in reads) == ["a.hlb", "util.hlb"]


# -- binds --------------------------------------------------------------------------


def test_a_bound_mount_is_a_module_level_function_with_the_enclosing_parameters(tmp_path: Path) -> None:
    text = (
        "fs npmInstall(fs src) {\n"
        '\timage "node:alpine"\n'
        '\trun "npm install" with option {\n'
        '\t\tmount src "/src"\n'
        '\t\tmount fs { scratch; } "/src/node_modules" as nodeModules\n'
        "\t}\n"
        "}\n"
        'fs remote() { nodeModules fs { image "x"; }; }\n'
        "fs wrong() { nodeModules; }\n"
    )
    assert [k[:2] for k in kinds(check(text, tmp_path))] == [("wrong-arg-count", "build.hlb:9:14")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('fs a() { run "x" as; }', ("no-bind-target", "build.hlb:1:18")),
        ('fs a() { run "x" as y; }', ("no-bind-effects", "build.hlb:1:18")),
        ('fs a() { dockerPush "x" as (nope d); }', ("undefined-bind-effect", "build.hlb:1:29")),
        ('option::run o() { mount scratch "/x" as y; }', ("no-bind-closure", "build.hlb:1:38")),
        ('fs a() { run "x" with b(option::run { mount scratch "/x" as y; }); }\nfs b(option::run o) {}', None),
        ('fs a() { dockerPush "x" as d; }\nfs a2() { dockerPush "y" as d; }', ("duplicate-decl", "build.hlb:1:28")),
        ('fs a() { dockerPush "x" as image; }', ("duplicate-decl", "build.hlb:1:28")),
    ],
)
def test_bind_errors(tmp_path: Path, text: str, expected: tuple[str, str] | None) -> None:
    found = kinds(check(text, tmp_path))
    if expected is None:
        assert found and found[0][0] in ("no-bind-closure", "type-mismatch", "invalid-value")
    else:
        assert found[0][:2] == expected


def test_binds_of_every_effect(tmp_path: Path) -> None:
    text = (
        'fs push() { image "busybox"; dockerPush "127.0.0.1:5000/x" as digest; }\n'
        'string m() { manifest "busybox" as (digest d, config c, index i, ); }\n'
        'fs use() { mkfile "/d" 0o644 digest; mkfile "/c" 0o644 c; }\n'
    )
    assert check(text, tmp_path) == []


# -- types and deprecated forms -----------------------------------------------------


def test_variadic_user_parameters_and_pipelines(tmp_path: Path) -> None:
    text = (
        "fs all(variadic string cmds) { scratch; }\n"
        'fs a() { all; all "x"; all "x" "y"; }\n'
        'pipeline p() { stage a fs { image "x"; } "str"; stage; }\n'
    )
    assert check(text, tmp_path) == []


def test_deprecated_forms_warn_and_are_accepted(tmp_path: Path) -> None:
    text = 'import u "./util.hlb"\ngroup all() { parallel u.build("x"); }\n'
    diags = check(text, tmp_path, util=UTIL)
    assert [(k[0], k[2]) for k in kinds(diags)] == [("deprecated", "warning")] * 3
    assert all(d.severity is Severity.WARNING for d in diags)


def test_enum_arguments_are_checked_when_constant(tmp_path: Path) -> None:
    text = 'fs a() { run "x" with option { cacheMount "/c" with option { sharing "lockd"; }; }; }\n'
    (d,) = check(text, tmp_path)
    assert d.code.slug == "invalid-value" and d.hint is not None and "did you mean `locked`?" in d.hint


def test_cache_context_forms(tmp_path: Path) -> None:
    text = (
        'fs a() { cacheContext fs { image "127.0.0.1:5000/cache:a"; } fs { image "busybox"; }; }\n'
        'fs b() { cacheContext "127.0.0.1:5000/cache:b" fs { image "busybox"; } with option {\n'
        '\tmode "max"; ignoreError; backend "registry"\n}\n}\n'
    )
    assert check(text, tmp_path) == []
