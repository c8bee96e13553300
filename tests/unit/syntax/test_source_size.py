"""The front end's cost grows with the size of the source by a small constant (issue 10, item 16).

No timed tests: memory is measured with tracemalloc, and the work that could turn quadratic (tokens
per literal, reads of a source line) is counted. bench/source_size.py measures the real numbers.
"""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hlb.checker.check import ModuleLoader, check_module
from hlb.source import SourceFile
from hlb.syntax import ast
from hlb.syntax.lark_driver import lark_tokens
from hlb.syntax.lexer import Scanner
from hlb.syntax.parser import parse_module
from hlb.syntax.printer import format_module

MB = 1 << 20


def _string_with_escapes(n: int) -> str:
    chunk = "x" * 14 + "\\n"
    return f'fs default() {{\n\tscratch\n\tmkfile "/f" 0o644 "{chunk * (n // len(chunk))}"\n}}\n'


def _heredoc_of_words(n: int) -> str:
    # A fragment every character: a word, a blank, an escape, a lone `$`.
    body = "a \\$ $ b\n" * (n // 9)
    return f'fs default() {{\n\tscratch\n\tmkfile "/f" 0o644 <<EOM\n{body}EOM\n}}\n'


INPUTS = {
    "string": lambda n: f'fs default() {{\n\tscratch\n\tmkfile "/f" 0o644 "{"x" * n}"\n}}\n',
    "string-escapes": _string_with_escapes,
    "string-all-escapes": lambda n: 'fs default() { scratch; mkfile "/f" 0o644 "' + "\\t" * (n // 2) + '" }\n',
    "heredoc-words": _heredoc_of_words,
    "raw-heredoc": lambda n: 'fs default() { scratch; mkfile "/f" 0o644 <<`EOM`\n' + "a b " * (n // 4) + "EOM\n}\n",
    "comment": lambda n: f"# {'c' * n}\nfs default() {{\n\tscratch\n}}\n",
}


@pytest.mark.parametrize("name", INPUTS)
def test_parse_and_check_peak_memory_is_a_few_bytes_per_source_byte(name: str) -> None:
    small = parse_module(SourceFile("small.hlb", INPUTS[name](10)))
    assert small.module is not None
    check_module(small.module, ModuleLoader())  # imports the builtins, once: about 3 MB
    text = INPUTS[name](MB)
    source = SourceFile("big.hlb", text)
    tracemalloc.start()
    try:
        parsed = parse_module(source)
        assert parsed.ok and parsed.module is not None, parsed.diagnostics[:1]
        checked = check_module(parsed.module, ModuleLoader())
        assert checked.ok, checked.diagnostics[:1]
        format_module(parsed.module)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # About 2-5 bytes per byte today (the text, the lexer's slice and token, the decoded value);
    # one object per character or a regex backtracking stack costs 50-200.
    assert peak / len(text) < 30


def _literal(text: str, ok: bool = True) -> ast.StringLit:
    parsed = parse_module(SourceFile("t.hlb", text))
    assert parsed.module is not None and parsed.ok == ok, [str(d) for d in parsed.diagnostics]
    decl = parsed.module.decls[0]
    assert isinstance(decl, ast.FuncDecl) and decl.body is not None
    stmt = decl.body.stmts[-1]
    assert isinstance(stmt, ast.CallStmt)
    lit = stmt.args[-1]
    assert isinstance(lit, ast.StringLit)
    return lit


@pytest.mark.parametrize("name", ["string-escapes", "string-all-escapes", "heredoc-words", "raw-heredoc"])
def test_a_literal_reaches_the_parser_as_one_token_per_run_of_text(name: str) -> None:
    # One token per escape or word made the parser, the tree and joining the pieces cost per fragment.
    text = INPUTS[name](100_000)
    kinds = [t.type for t in lark_tokens(Scanner(SourceFile("t.hlb", text)))]
    assert kinds.count("STR_CHARS") + kinds.count("HD_CHARS") == 2  # the path "/f" and the content


def test_escapes_in_one_run_decode_and_each_invalid_one_is_reported_where_it_is() -> None:
    text = 'fs a() { image "a\\tb\\qc\\\\\\${x}\\zd${"\\w"}e\\"" }\n'
    parsed = parse_module(SourceFile("t.hlb", text))
    assert parsed.module is not None
    assert [(d.code.slug, str(d.span)) for d in parsed.diagnostics] == [
        ("invalid-escape", "t.hlb:1:37"),  # the nested string's escape: its literal is built first
        ("invalid-escape", "t.hlb:1:21"),
        ("invalid-escape", "t.hlb:1:31"),
    ]
    lit = _literal(text, ok=False)
    assert lit.parts[0] == "a\tb\\qc\\${x}\\zd" and lit.parts[2] == 'e"'


def test_a_backslash_before_a_newline_in_a_string_is_still_an_error() -> None:
    parsed = parse_module(SourceFile("t.hlb", 'fs a() { image "ab\\\ncd" }\n'))
    assert [(d.code.slug, str(d.span)) for d in parsed.diagnostics] == [("invalid-escape", "t.hlb:1:19")]


def test_one_long_line_of_statements_reads_the_line_once() -> None:
    # Rendering or locating something by reading its whole source line, once per statement, is quadratic
    # in the length of a line that holds them all.
    n = 5_000
    text = "# doc\nfs default() { scratch; " + "; ".join(f'mkdir "/d{i}" 0o755' for i in range(n)) + " } # end\n"
    source = SourceFile("t.hlb", text)
    calls = 0
    line_text = SourceFile.line_text

    def counting(self: SourceFile, line: int) -> str:
        nonlocal calls
        calls += 1
        return line_text(self, line)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SourceFile, "line_text", counting)
        parsed = parse_module(source)
        assert parsed.ok and parsed.module is not None
        assert check_module(parsed.module, ModuleLoader()).ok
        formatted = format_module(parsed.module)
    assert formatted.count("mkdir") == n
    assert calls <= 2  # once per comment


# -- the heredoc run regex against openllb/hlb's fragment-at-a-time rules ------------------------------------


def _reference_parts(body: str, raw: bool) -> list[str] | None:
    """The parts of ``<<EOM`` + body + ``EOM`` lexed one fragment at a time, as the lexer did before
    (terminator, blanks, escape, `${`, lone `$`, text); None when it would not end at the final ``EOM``."""
    text = body + "EOM"
    term = re.compile(r"\bEOM\b", re.ASCII)
    pos, parts, cur = 0, [], ""
    while pos < len(text):
        if term.match(text, pos):
            return [*parts, cur] if pos == len(body) else None
        m = re.compile(r"[\t\n\f\r ]+").match(text, pos)
        if m is None and not raw:
            if text.startswith("\\", pos) and pos + 1 < len(text) and text[pos + 1] != "\n":
                cur += "$" if text[pos + 1] == "$" else text[pos : pos + 2]
                pos += 2
                continue
            if text.startswith("${", pos):
                if not text.startswith("${x}", pos):
                    return None
                parts += [cur, "${x}"]
                cur = ""
                pos += 4
                continue
        m = m or re.compile(r"[^\t\n\f\r ]+" if raw else r"\$|[^\t\n\f\r $]+").match(text, pos)
        assert m is not None
        cur += m.group()
        pos = m.end()
    return None


def _heredoc_parts(body: str, raw: bool) -> Iterator[str]:
    opener = "<<`EOM`" if raw else "<<EOM"
    lit = _literal(f"fs a(string x) {{\n\trun {opener}{body}EOM\n}}\n")
    for p in lit.parts:
        yield p if isinstance(p, str) else "${x}"


_PIECES = st.sampled_from(["a", "E", "O", "M", "EOM", ".", " ", "\n", "\t", "\\", "\\$", "$", "{", "}", "${x}", "é"])


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(_PIECES, max_size=14), st.booleans())
def test_a_heredoc_run_splits_and_decodes_as_fragments_do(pieces: list[str], raw: bool) -> None:
    body = "".join(pieces)
    body = "\n" + body  # `<<EOMEOM` would open a heredoc tagged EOMEOM
    expected = _reference_parts(body, raw)
    if expected is None:
        return  # the body ends the heredoc early or holds a `${` that is not `${x}`
    got = list(_heredoc_parts(body, raw))
    assert "".join(got) == "".join(expected) and [p for p in got if p] == [p for p in expected if p]


# -- statement-dense code: no parse tree ------------------------------------------------------------------------


@pytest.mark.parametrize("sep", ["; ", "\n\t"])
def test_statement_dense_code_parses_without_a_parse_tree_at_its_peak(sep: str) -> None:
    # Lark's tree (a Tree per rule, every token kept until the AST is built from it) doubled the peak:
    # ~2.1 KB per `mkdir "/d" 0o755` statement against ~0.95 KB of AST. The rules now become AST as the
    # parser reduces them, and equal names, short texts and numbers share one object: ~0.75 KB, all AST.
    n = 10_000
    text = "fs default() { scratch" + sep + sep.join('mkdir "/d" 0o755' for _ in range(n)) + " }\n"
    parse_module(SourceFile("warm.hlb", 'fs a() { scratch; mkdir "/d" 0o755 }\n'))
    source = SourceFile("t.hlb", text)
    tracemalloc.start()
    try:
        parsed = parse_module(source)
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parsed.ok and parsed.module is not None
    assert peak / n < 1000, f"{peak / n:.0f} bytes of peak per statement"
    assert peak < 1.2 * retained  # the peak is the AST itself, not a tree beside it
