"""The Pygments lexer (hlb/highlight.py): every module of the repository and of the docs lexes without an Error
token, heredocs and interpolation lex as hlb's own lexer reads them, and `pygmentize -l hlb` finds it."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Error, Keyword, Name, Number, String, Token, Whitespace, _TokenType

from hlb.diagnostics import Severity
from hlb.highlight import HlbLexer
from hlb.source import SourceFile
from hlb.syntax.parser import parse_module
from tests.unit.syntax.trees import HLB_FILES, ROOT

FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```$", re.S | re.M)
DOC_BLOCKS = [
    (f"{md.relative_to(ROOT)}:{i}", m.group(3))
    for md in sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md"])
    for i, m in enumerate(FENCE.finditer(md.read_text()))
    if m.group(1) == "hlb"
]


def tokens(text: str) -> list[tuple[_TokenType, str]]:
    return [(t, v) for t, v in HlbLexer().get_tokens(text) if t not in (Whitespace, Token.Text)]


def errors(text: str) -> list[tuple[int, str]]:
    return [(i, v) for i, t, v in HlbLexer().get_tokens_unprocessed(text) if t in Error]


def hlb_parses(text: str) -> bool:
    parsed = parse_module(SourceFile("<test>", text))
    return parsed.module is not None and not any(d.severity is Severity.ERROR for d in parsed.diagnostics)


def test_the_repository_has_modules_and_doc_blocks() -> None:
    assert len(HLB_FILES) > 300 and len(DOC_BLOCKS) >= 30


@pytest.mark.parametrize("path", HLB_FILES, ids=[str(p.relative_to(ROOT)) for p in HLB_FILES])
def test_an_error_token_only_where_hlb_rejects_the_text(path: Path) -> None:
    """Every module hlb parses (all but tests/cases/errors) lexes without an Error token; an Error token marks
    text hlb rejects too (an unknown escape, a stray character or `.`)."""
    text = SourceFile.read(path).text
    if errors(text):
        assert not hlb_parses(text), errors(text)
        assert "tests/cases/errors" in path.as_posix()


@pytest.mark.parametrize("text", [t for _, t in DOC_BLOCKS], ids=[n for n, _ in DOC_BLOCKS])
def test_every_hlb_block_of_the_docs_lexes_without_an_error_token(text: str) -> None:
    assert errors(text) == []


@pytest.mark.parametrize(
    "text",
    [
        'fs f() {\n\trun "\\x"\n}\n',  # an unknown escape
        "fs f() {\n\trun @\n}\n",  # a character that starts no token
        'fs f() {\n\trun "a\\\nb"\n}\n',  # a backslash before a newline
    ],
)
def test_what_hlb_rejects_is_an_error_token(text: str) -> None:
    assert not hlb_parses(text)
    assert errors(text) != []


def test_a_declaration_its_parameters_and_a_call() -> None:
    got = tokens('fs build(string ref, variadic string pkgs) binds (fs out) {\n\timage ref\n\tuser.thing "x"\n}\n')
    assert got[:12] == [
        (Keyword.Type, "fs"),
        (Name.Function, "build"),
        (Token.Punctuation, "("),
        (Keyword.Type, "string"),
        (Name.Variable, "ref"),
        (Token.Punctuation, ","),
        (Keyword, "variadic"),
        (Keyword.Type, "string"),
        (Name.Variable, "pkgs"),
        (Token.Punctuation, ")"),
        (Keyword, "binds"),
        (Token.Punctuation, "("),
    ]
    assert (Name.Builtin, "image") in got and (Name, "ref") in got
    assert [(Name.Namespace, "user"), (Token.Punctuation, "."), (Name.Function, "thing")] == got[18:21]


def test_a_statement_head_that_is_a_user_function_and_names_that_only_start_like_builtins() -> None:
    got = tokens("fs f() {\n\trunner imageX run\n}\n")
    assert (Name.Function, "runner") in got and (Name, "imageX") in got and (Name.Builtin, "run") in got


def test_keywords_types_numbers_and_booleans() -> None:
    got = tokens(
        'import util from "./u.hlb"\nexport f\nfs f() {\n\tmkdir "/a" 0o755 with option { createParents }\n'
        '\tmkfile "/b" 0x1a4 "x"; mkfile "/c" 0b1 "y"\n\tdockerPush "r" as (digest d)\n\tcopy fs { scratch } "/" "/"\n'
        "\trun 0755 true\n}\n"
    )
    assert (Keyword.Namespace, "import") in got and (Keyword.Namespace, "from") in got
    assert (Name.Namespace, "util") in got and (Keyword.Namespace, "export") in got
    assert (Number.Oct, "0o755") in got and (Number.Hex, "0x1a4") in got and (Number.Bin, "0b1") in got
    assert (Keyword, "with") in got and (Keyword.Type, "option") in got and (Keyword.Type, "fs") in got
    assert (Keyword, "as") in got and (Name.Variable, "d") in got
    assert (Name, "0755") in got, "0755 is a name, as hlb's lexer reads it"
    assert (Keyword.Constant, "true") in got


def test_interpolation_in_a_string_nests_calls_strings_and_blocks() -> None:
    got = tokens('fs f() {\n\trun "a ${format("%s}", string { "x" })} \\$HOME \\${no} $PATH"\n}\n')
    start = got.index((String.Interpol, "${"))
    assert got[start : start + 15] == [
        (String.Interpol, "${"),
        (Name.Builtin, "format"),
        (Token.Punctuation, "("),
        (String.Double, '"'),
        (String.Double, "%s}"),
        (String.Double, '"'),
        (Token.Punctuation, ","),
        (Keyword.Type, "string"),
        (Token.Punctuation, "{"),
        (String.Double, '"'),
        (String.Double, "x"),
        (String.Double, '"'),
        (Token.Punctuation, "}"),
        (Token.Punctuation, ")"),
        (String.Interpol, "}"),
    ]
    assert got[start + 15 :][:6] == [
        (String.Double, " "),
        (String.Escape, "\\$"),
        (String.Double, "HOME "),
        (String.Escape, "\\$"),
        (String.Double, "{no} "),
        (String.Double, "$"),
    ]
    assert [v for t, v in got if t is String.Interpol] == ["${", "}"]


def test_heredocs_end_at_their_tag_as_a_whole_word() -> None:
    text = "fs f() {\n\trun <<-EOM\n\t\techo EOMX ${localArch} \\$HOME \\n\n\tEOM with readonly\n\trun <<EOT a EOT\n}\n"
    got = tokens(text)
    start = got.index((String.Delimiter, "<<-EOM"))
    assert got[start : start + 6] == [
        (String.Delimiter, "<<-EOM"),
        (String.Heredoc, "\n\t\t"),
        (String.Heredoc, "echo"),
        (String.Heredoc, " "),
        (String.Heredoc, "EOMX"),
        (String.Heredoc, " "),
    ]
    i = got.index((String.Interpol, "${"))
    assert got[i : i + 3] == [(String.Interpol, "${"), (Name.Builtin, "localArch"), (String.Interpol, "}")]
    assert (String.Escape, "\\$") in got and (String.Heredoc, "\\n") in got, "only \\$ is an escape in a heredoc"
    assert got[got.index((String.Delimiter, "EOM")) + 1] == (Keyword, "with"), "the statement goes on after EOM"
    assert [v for t, v in got if t is String.Delimiter] == ["<<-EOM", "EOM", "<<EOT", "EOT"]
    assert errors(text) == [] and hlb_parses(text)


def test_a_raw_heredoc_does_not_interpolate_and_heredocs_nest_through_interpolation() -> None:
    got = tokens("fs f() {\n\trun <<~`EOM`\n\t\t${x} \\$y\n\tEOM\n\trun <<A ${format(<<B b B)} A\n}\n")
    assert (String.Heredoc, "${x}") in got and (String.Heredoc, "\\$y") in got
    assert [v for t, v in got if t is String.Delimiter] == ["<<~`EOM`", "EOM", "<<A", "<<B", "B", "A"]
    assert (Name.Builtin, "format") in got


def test_a_raw_string_takes_everything_literally() -> None:
    got = tokens("fs f() {\n\trun `echo ${x} \\n`\n}\n")
    assert got[got.index((Name.Builtin, "run")) + 1] == (String.Backtick, "`echo ${x} \\n`")


def test_pygments_finds_the_lexer_by_name_and_file_name() -> None:
    """The entry point in pyproject.toml (read from the installed metadata; scripts/setup installs hlb)."""
    assert isinstance(get_lexer_by_name("hlb"), HlbLexer)
    assert isinstance(get_lexer_for_filename("build.hlb"), HlbLexer)


def test_pygmentize_highlights_a_module(tmp_path: Path) -> None:
    path = tmp_path / "build.hlb"
    path.write_text('fs default() {\n\timage "busybox"\n}\n')
    out = subprocess.run(
        [sys.executable, "-m", "pygments", "-l", "hlb", "-f", "html", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '<span class="nb">image</span>' in out and '<span class="kt">fs</span>' in out


def test_the_lexer_loads_neither_lark_nor_grpc_nor_the_registry() -> None:
    code = "import sys, hlb.highlight; print(sorted(m for m in sys.modules if m.split('.')[0] in ('lark', 'grpc')"
    code += " or m.startswith('hlb.builtins')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_builtin_lists_are_current() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_highlight.py"), "--check"], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()


def format_on_a_terminal(path: Path, **env: str) -> str:
    """What `hlb format PATH` prints to a terminal (a pseudo-terminal's line discipline adds the \\r)."""
    master, slave = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | env
    script = Path(sys.executable).parent / "hlb"
    subprocess.run([str(script), "format", str(path)], stdout=slave, check=True, env=environ, timeout=60)
    os.close(slave)
    out = b""
    try:
        while chunk := os.read(master, 65536):
            out += chunk
    except OSError:  # EIO: the terminal's other end is closed and drained
        pass
    os.close(master)
    return out.decode().replace("\r\n", "\n")


def test_hlb_format_colours_what_it_prints_to_a_terminal_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "build.hlb"
    text = 'fs default() {\n\timage "busybox"\n\trun <<EOM\n echo ${localArch}\n\tEOM\n}\n'
    path.write_text(text)
    plain = subprocess.run([sys.executable, "-m", "hlb", "format", str(path)], capture_output=True, text=True)
    assert plain.stdout == text and "\x1b[" not in plain.stdout
    colored = format_on_a_terminal(path)
    assert "\x1b[" in colored and re.sub(r"\x1b\[[0-9;]*m", "", colored) == text
    assert format_on_a_terminal(path, NO_COLOR="1") == text


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('fs(){}"`$\\<-~EOM ;\n\t#.,0o7x:abr')), max_size=80), st.data())
def test_any_text_lexes_into_tokens_that_give_it_back(text: str, data: st.DataObject) -> None:
    """Half-typed modules (an editor's usual state): no exception, and the tokens cover the text exactly."""
    sample = HLB_FILES[data.draw(st.integers(0, len(HLB_FILES) - 1))].read_text(errors="replace")
    cut = data.draw(st.integers(0, len(sample)))
    for candidate in (text, sample[:cut] + text + sample[cut:]):
        got = "".join(v for _, _, v in HlbLexer(stripnl=False, ensurenl=False).get_tokens_unprocessed(candidate))
        assert got == candidate
