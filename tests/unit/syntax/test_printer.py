"""The formatter: openllb/hlb's layout rules, comments kept, idempotent, and the AST unchanged."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hlb.source import SourceFile
from hlb.syntax import ast
from hlb.syntax.parser import parse_module
from hlb.syntax.printer import format_module

ROOT = Path(__file__).resolve().parents[3]


def fmt(text: str) -> str:
    r = parse_module(SourceFile("t.hlb", text))
    assert r.module is not None and r.ok, [str(d) for d in r.diagnostics]
    return format_module(r.module)


VECTORS = [
    ("empty file", "", "\n"),
    ("inline block", "fs foo(){scratch;}", "fs foo() { scratch }\n"),
    ("blanks collapse", "\n\n\nfs foo   () \t{    scratch; }\n\n\n", "fs foo() { scratch }\n"),
    (
        "statement newline is not a line break",
        'fs a() { image "a"\n env "k" "v" }',
        'fs a() { image "a"; env "k" "v" }\n',
    ),
    ("newline before brace", "fs a() { scratch\n}", "fs a() { scratch }\n"),
    ("empty block", "fs a() {  }", "fs a() {}\n"),
    (
        "bare newline makes a multi-line block",
        'fs a() {\nimage "a"; run "b"\n}',
        'fs a() {\n\timage "a"\n\trun "b"\n}\n',
    ),
    (
        "one statement per line, blank runs collapse",
        'fs a() {\n  image "a"\n\n\n\n  run "b"\n}',
        'fs a() {\n\timage "a"\n\n\trun "b"\n}\n',
    ),
    (
        "declarations separated by a blank line",
        "fs a() {} fs b() {}\nfs c() {}",
        "fs a() {}\n\nfs b() {}\n\nfs c() {}\n",
    ),
    ("empty with option dropped", 'fs a() { run "x" with option {}; }', 'fs a() { run "x" }\n'),
    (
        "with option kept",
        'fs a() { run "x" with option { dir "/"; }; }',
        'fs a() { run "x" with option { dir "/" } }\n',
    ),
    ("inline params", "fs a(string x,int y,) {}", "fs a(string x, int y) {}\n"),
    ("multi-line params", "fs a(string x,\nint y) {}", "fs a(\n\tstring x,\n\tint y,\n) {}\n"),
    (
        "variadic and binds",
        "fs a(variadic string xs) binds (fs out) {}",
        "fs a(variadic string xs) binds (fs out) {}\n",
    ),
    (
        "call args in parens",
        'fs a() { run "x" with platform( "linux" ,"arm64" ) }',
        'fs a() { run "x" with platform("linux", "arm64") }\n',
    ),
    (
        "multi-line call args",
        'fs a() { copy fs { scratch } "a" format(\n"%s",\n"b") }',
        'fs a() { copy fs { scratch } "a" format(\n\t"%s",\n\t"b",\n) }\n',
    ),
    (
        "prefixed ints lower-cased",
        'fs a() { mkdir "/x" 0O755; mkdir "/y" 0XFF; mkdir "/z" 0B11 }',
        'fs a() { mkdir "/x" 0o755; mkdir "/y" 0xff; mkdir "/z" 0b11 }\n',
    ),
    ("interpolation re-printed", 'fs a(string t) { image "x:${  t   }" }', 'fs a(string t) { image "x:${t}" }\n'),
    ("strings kept as written", 'fs a() { run "a\\tb \\$x $y" }', 'fs a() { run "a\\tb \\$x $y" }\n'),
    ("raw string verbatim", "fs a() { run `a ${b}` }", "fs a() { run `a ${b}` }\n"),
    ("end-of-line comment", "fs a() {\n\tscratch # why\n}", "fs a() {\n\tscratch # why\n}\n"),
    ("comment makes a block multi-line", "fs a() { # note\nscratch }", "fs a() { # note\n\tscratch\n}\n"),
    (
        "comment groups re-indented",
        "fs a() {\n      # one\n   # two\n  scratch\n}",
        "fs a() {\n\t# one\n\t# two\n\tscratch\n}\n",
    ),
    ("doc comment kept", "# Builds it.\n# Really.\nfs a() {}\n", "# Builds it.\n# Really.\nfs a() {}\n"),
    ("comment after a declaration", "fs a() {}   # tail\nfs b() {}", "fs a() {} # tail\nfs b() {}\n"),
    ("comment without newline at eof", "fs a() {}\n# end", "fs a() {}\n\n# end\n"),
    (
        "imports and exports",
        'import u from "./u.hlb"\nimport d "./d.hlb"\nexport a\nfs a() {}',
        'import u from "./u.hlb"\n\nimport d "./d.hlb"\n\nexport a\n\nfs a() {}\n',
    ),
    ("deprecated forms as written", "group a() { parallel b }\nfs b() {}", "group a() { parallel b }\n\nfs b() {}\n"),
    ("bind list", 'fs a() { dockerPush "x" as (digest d) }', 'fs a() { dockerPush "x" as (digest d) }\n'),
    ("bare as stays bare", 'fs a() { run "x" as }', 'fs a() { run "x" as }\n'),
    ("selector", 'fs a() { u.build "x" u.arg("y") }', 'fs a() { u.build "x" u.arg("y") }\n'),
    (
        "heredoc terminator indented to its block",
        "fs a() {\n    run <<-EOM\n        echo hi\n            EOM\n}",
        "fs a() {\n\trun <<-EOM\n        echo hi\n            \tEOM\n}\n",
    ),
    (
        "heredoc body kept, trailing tabs before the terminator dropped",
        'fs a(string x) {\n\trun "y" with option {\n\t\tmount fs { run <<~EOM\n'
        '\t\techo ${ x }\n\t\t\t\tEOM\n\t\t} "/m"\n\t}\n}',
        'fs a(string x) {\n\trun "y" with option {\n\t\tmount fs { run <<~EOM\n\t\techo ${x}\n\t\tEOM } "/m"\n\t}\n}\n',
    ),
    ("raw heredoc verbatim", "fs a() { run <<`EOM` ${x} \\$ EOM }", "fs a() { run <<`EOM` ${x} \\$ EOM }\n"),
    # found by bench/fuzz_fast.py: at the top level the tab was dropped, leaving `(EOM`, an unterminated heredoc
    ("heredoc text before the terminator", "fs a() { run <<~EOM\nx\n(\tEOM\n}", "fs a() { run <<~EOM\nx\n(\tEOM }\n"),
    ("one-line heredoc, tab before the terminator", "fs a() { run <<EOM x\tEOM }", "fs a() { run <<EOM x\tEOM }\n"),
    (
        "nested blocks",
        'fs a() { run "x" with option { mount fs { image "b"; run "c" } "/m" } }',
        'fs a() { run "x" with option { mount fs { image "b"; run "c" } "/m" } }\n',
    ),
    (
        "multi-line list with comments",
        "fs a(\n  # the input\n  fs src, # trailing\n\n  string x\n) {}",
        "fs a(\n\t# the input\n\tfs src, # trailing\n\tstring x,\n) {}\n",
    ),
]


@pytest.mark.parametrize(("name", "source", "expected"), VECTORS, ids=[v[0] for v in VECTORS])
def test_format(name: str, source: str, expected: str) -> None:
    assert fmt(source) == expected
    assert fmt(expected) == expected  # idempotent


def corpus() -> list[Path]:
    files = sorted(ROOT.glob("tests/**/*.hlb")) + sorted(ROOT.glob("examples/**/*.hlb"))
    return [p for p in files if parse_module(SourceFile.read(p)).ok]


def strip_spans(node: object) -> object:
    """A node as plain data without positions, to compare trees.

    What the formatter changes on purpose, as openllb/hlb's does, is normalised: a heredoc compares by
    its value (the terminator is re-indented; trailing tabs never reach the value), and an empty
    `with option {}` is dropped.
    """
    if isinstance(node, ast.StringLit):
        text = node.finish("".join(p if isinstance(p, str) else "\0" for p in node.parts))
        interps = [strip_spans(p.expr) for p in node.parts if isinstance(p, ast.Interpolation)]
        return ("StringLit", text, node.raw, node.heredoc, tuple(interps))
    if isinstance(node, ast.CallStmt):
        w = node.with_
        if isinstance(w, ast.FuncLit) and not w.body.stmts:
            node = dataclasses.replace(node, with_=None)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (type(node).__name__,) + tuple(
            strip_spans(getattr(node, f.name))
            for f in dataclasses.fields(node)
            if f.name not in ("span", "file", "doc")
        )
    if isinstance(node, tuple | list):
        return tuple(strip_spans(n) for n in node)
    return node


@pytest.mark.parametrize("path", corpus(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_test_input_formats_idempotently_to_the_same_tree(path: Path) -> None:
    source = SourceFile.read(path)
    before = parse_module(source).module
    assert before is not None
    once = format_module(before)
    after = parse_module(SourceFile(str(path), once))
    assert after.ok and after.module is not None, [str(d) for d in after.diagnostics]
    assert format_module(after.module) == once
    assert strip_spans(after.module.decls) == strip_spans(before.decls)
    comments = [c.text.strip() for c in before.comments]
    assert [c.text.strip() for c in after.module.comments] == comments  # no comment dropped


def test_a_programmatic_tree_prints_with_the_default_layout() -> None:
    m = parse_module(SourceFile("t.hlb", 'fs a() {\n\timage "x"\n}\n')).module
    assert m is not None
    decl = m.decls[0]
    assert isinstance(decl, ast.FuncDecl)
    assert format_module(m).startswith("fs a() {\n")
