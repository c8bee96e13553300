"""Parser tests: literals, statements, positions and syntax diagnostics."""

from __future__ import annotations

import pytest

from hlb.diagnostics import render
from hlb.source import SourceFile
from hlb.syntax import ast
from hlb.syntax.parser import parse_module


def parse(text: str) -> ast.Module:
    r = parse_module(SourceFile("t.hlb", text))
    assert r.ok, [str(d) for d in r.diagnostics]
    assert r.module is not None
    return r.module


def first_stmt(text: str) -> ast.Stmt:
    decl = parse(text).decls[0]
    assert isinstance(decl, ast.FuncDecl) and decl.body is not None
    return decl.body.stmts[0]


def fail(text: str) -> tuple[str, str]:
    r = parse_module(SourceFile("t.hlb", text))
    assert not r.ok
    d = r.diagnostics[0]
    p = d.span.begin
    return d.code.slug, f"{p.line}:{p.column}"


def test_function_and_statements() -> None:
    m = parse('fs default() {\n\timage "busybox"\n\trun "echo hi"; mkdir "/x" 0o755\n}\n')
    (decl,) = m.decls
    assert isinstance(decl, ast.FuncDecl)
    assert decl.name.name == "default" and decl.type.name == "fs"
    assert decl.body is not None
    assert [s.func.name.name for s in decl.body.stmts if isinstance(s, ast.CallStmt)] == ["image", "run", "mkdir"]


@pytest.mark.parametrize(
    ("text", "value", "base"),
    [("0", 0, 10), ("42", 42, 10), ("0o755", 0o755, 8), ("0x1eD", 0x1ED, 16), ("0b101", 5, 2), ("0O17", 0o17, 8)],
)
def test_int_literals(text: str, value: int, base: int) -> None:
    stmt = first_stmt(f'fs a() {{ mkdir "/x" {text} }}')
    assert isinstance(stmt, ast.CallStmt)
    lit = stmt.args[1]
    assert isinstance(lit, ast.IntLit) and lit.value == value and lit.base == base


def test_leading_zero_is_an_identifier_as_in_openllb_hlb() -> None:
    stmt = first_stmt('fs a() { mkdir "/x" 0755 }')
    assert isinstance(stmt, ast.CallStmt)
    arg = stmt.args[1]
    assert isinstance(arg, ast.CallExpr) and arg.func.name.name == "0755"


def test_colons_are_part_of_identifiers() -> None:
    decl = parse('option::run opts() { env "a" "b" }').decls[0]
    assert isinstance(decl, ast.FuncDecl) and decl.type.name == "option::run"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'"a\tb"', "a\tb"),
        (r'"q\"q"', 'q"q'),
        (r'"\\"', "\\"),
        (r'"\${x}"', "${x}"),
        ('"$HOME"', "$HOME"),
        ('"multi\nline"', "multi\nline"),
        ("`raw \\n ${x}`", "raw \\n ${x}"),
    ],
)
def test_string_literals(text: str, value: str) -> None:
    stmt = first_stmt(f"fs a() {{ image {text} }}")
    assert isinstance(stmt, ast.CallStmt)
    lit = stmt.args[0]
    assert isinstance(lit, ast.StringLit) and lit.is_constant and lit.value == value


def test_interpolation() -> None:
    stmt = first_stmt('fs a() { image "a-${tag}-b" }')
    assert isinstance(stmt, ast.CallStmt)
    lit = stmt.args[0]
    assert isinstance(lit, ast.StringLit)
    assert lit.parts[0] == "a-" and lit.parts[2] == "-b"
    interp = lit.parts[1]
    assert isinstance(interp, ast.Interpolation) and isinstance(interp.expr, ast.CallExpr)
    assert interp.expr.func.name.name == "tag"


def test_with_option_block_and_nested_with() -> None:
    stmt = first_stmt(
        'fs a() {\n run "x" with option {\n  cacheMount "/c" with option { id "i"; sharing "locked" }\n }\n}'
    )
    assert isinstance(stmt, ast.CallStmt) and isinstance(stmt.with_, ast.FuncLit)
    inner = stmt.with_.body.stmts[0]
    assert isinstance(inner, ast.CallStmt) and inner.func.name.name == "cacheMount"
    assert isinstance(inner.with_, ast.FuncLit) and len(inner.with_.body.stmts) == 2


def test_with_call_with_parentheses_and_newlines_inside() -> None:
    stmt = first_stmt('fs a() {\n run "x" with option { mount scratch "/c" with cache(\n "id",\n "shared",\n) }\n}')
    assert isinstance(stmt, ast.CallStmt) and isinstance(stmt.with_, ast.FuncLit)
    mount = stmt.with_.body.stmts[0]
    assert isinstance(mount, ast.CallStmt) and isinstance(mount.with_, ast.CallExpr)
    assert mount.with_.parens and len(mount.with_.args) == 2


def test_spans_are_1_based_and_exact() -> None:
    stmt = first_stmt('fs a() {\n\timage "busybox"\n}')
    assert isinstance(stmt, ast.CallStmt)
    assert (stmt.span.begin.line, stmt.span.begin.column) == (2, 2)
    assert stmt.func.span.text == "image"
    assert stmt.args[0].span.text == '"busybox"'


def test_doc_comments_attach_to_functions() -> None:
    decl = parse("# Builds it.\n# Really.\nfs a() {}\n").decls[0]
    assert isinstance(decl, ast.FuncDecl) and decl.doc == "Builds it.\nReally."


def test_params_and_body_less_functions() -> None:
    decl = parse("fs a(string x, fs y)\n").decls[0]
    assert isinstance(decl, ast.FuncDecl) and decl.body is None
    assert [(p.type.name, p.name.name) for p in decl.params] == [("string", "x"), ("fs", "y")]


@pytest.mark.parametrize(
    ("text", "slug", "where"),
    [
        ('fs a() {\n image "x"\n', "unterminated", "1:8"),
        ('fs a() { image "x }', "unterminated", "1:16"),
        ('fs a() { image "x\\q" }', "invalid-escape", "1:18"),
        ('fs a() { mkdir "a" 0o9 }', "invalid-number", "1:20"),
        ("fs a() { image , }", "syntax", "1:16"),
        ('fs a() { image "x" ) }', "syntax", "1:20"),
        ("fs a( { }", "syntax", "1:7"),
        ("fs a() { @ }", "unexpected-character", "1:10"),
        ('fs a() { run "x" with }', "syntax", "1:23"),
        ("fs a() { image `` }", "syntax", "1:16"),
        ('fs a() {\n\timage "a"\n}\n}\n', "syntax", "4:1"),
        ("fs with() {}", "syntax", "1:4"),
        ("fs a() { image a.b.c }", "syntax", "1:19"),
    ],
)
def test_syntax_errors(text: str, slug: str, where: str) -> None:
    assert fail(text) == (slug, where)


def test_syntax_error_rendering_has_caret_and_expected_tokens() -> None:
    r = parse_module(SourceFile("bad.hlb", "fs a() {\n\timage ,\n}\n"))
    text = render(r.diagnostics[0])
    assert text.splitlines()[0] == "bad.hlb:2:8: error: unexpected `,` [syntax]"
    assert "2 |     image ," in text
    assert "  |           ^" in text
    assert "hint: expected" in text
