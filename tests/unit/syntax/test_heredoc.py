"""Heredocs: the four openers, where the terminator is found, and the trim/dedent/fold rules."""

from __future__ import annotations

import pytest

from hlb.source import SourceFile
from hlb.syntax import ast
from hlb.syntax.ast import heredoc_value
from hlb.syntax.parser import parse_module


def heredoc(body: str) -> ast.StringLit:
    text = f"fs a(string x) {{\n\trun {body}\n}}\n"
    r = parse_module(SourceFile("t.hlb", text))
    assert r.ok and r.module is not None, [str(d) for d in r.diagnostics]
    decl = r.module.decls[0]
    assert isinstance(decl, ast.FuncDecl) and decl.body is not None
    stmt = decl.body.stmts[0]
    assert isinstance(stmt, ast.CallStmt)
    lit = stmt.args[0]
    assert isinstance(lit, ast.StringLit)
    return lit


@pytest.mark.parametrize(
    ("body", "value"),
    [
        ("<<EOM echo hi EOM", " echo hi "),  # the terminator may be mid-line
        ("<<EOM\n\techo hi\nEOM", "\techo hi"),  # plain: indentation kept, newlines trimmed
        ("<<~EOM\n echo\n hi\nEOM", "echo hi"),  # fold: trimmed lines joined by one space
        ("<<~EOM\n a\n\n b\nEOM", "a  b"),  # blank lines fold to empty strings
        ("<<-EOM\n\t  one\n\t    two\n\tEOM", "one\n  two"),  # dedent by the common margin
        ("<<-EOM\n\t a\n  b\nEOM", "\t a\n  b"),  # tabs and spaces never match: no margin
        ("<<-EOM\n    a\n\n  b\nEOM", "  a\n\nb"),  # blank lines do not limit the margin
        ('<<EOM\n\\${PATH} \\" \\n \\\\\nEOM', '${PATH} \\" \\n \\\\'),  # only \$ is an escape
        ("<<EOM a xEOM EOMx b EOM", " a xEOM EOMx b "),  # only the tag as a whole word ends it
        ("<<EOM\nx\n\n\t\nEOM", "x"),  # trailing newlines and tabs are trimmed
        ("<<-`EOM`\n   ${x} \\$\n   b\nEOM", "${x} \\$\nb"),  # raw: no interpolation, no escape
        ("<<~`EOM`\n a\n b\nEOM", "a b"),
    ],
)
def test_heredoc_values(body: str, value: str) -> None:
    assert heredoc(body).value == value


def test_interpolation_in_heredocs_is_an_expression() -> None:
    lit = heredoc("<<EOM a${x}b EOM")
    assert lit.heredoc == "" and not lit.raw
    assert [type(p).__name__ for p in lit.parts] == ["str", "Interpolation", "str"]
    assert lit.finish(" a" + "X" + "b ") == " aXb "


def test_an_unterminated_heredoc_points_at_its_opener() -> None:
    r = parse_module(SourceFile("t.hlb", "fs a() {\n\trun <<EOM\n\techo hi\n}\n"))
    assert not r.ok
    d = r.diagnostics[0]
    assert d.code.slug == "unterminated" and (d.span.begin.line, d.span.begin.column) == (2, 6)
    assert d.hint is not None and "tag" in d.hint


def test_the_terminator_ends_the_heredoc_before_what_follows() -> None:
    # `EOM.` ends at the word boundary; the `.` that follows is then a syntax error, as in openllb/hlb.
    r = parse_module(SourceFile("t.hlb", "fs a() { run <<EOM x EOM. }\n"))
    assert not r.ok and r.diagnostics[0].code.slug == "syntax"


def test_dedent_matches_go_for_mixed_margins() -> None:
    # lithammer/dedent drops the margin entirely when neither indent is a prefix of the other.
    assert heredoc_value("\t a\n\t\tb", "-") == "\t a\n\t\tb"
    assert heredoc_value("  a\n    b", "-") == "a\n  b"
