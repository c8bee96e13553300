"""editors/: the TextMate grammar (well-formed, its regexes compile, the same words as the Pygments lexer), the VS
Code extension's manifest, and the Vim syntax file (run in a headless Vim where one is installed).

Python's `re` stands in for Oniguruma, VS Code's regex engine: the grammar keeps to the syntax both share
(lookbehind, lookahead, classes), except the heredoc's end, which refers back to the tag its begin captured (`\\2`,
a TextMate feature): it is compiled with a tag put in its place.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hlb.highlight import BUILTINS, KEYWORDS, TYPES

ROOT = Path(__file__).resolve().parents[2]
GRAMMAR_PATH = ROOT / "editors" / "hlb.tmLanguage.json"
GRAMMAR = json.loads(GRAMMAR_PATH.read_text())
VSCODE = ROOT / "editors" / "vscode"


def rules(node: Any, where: str = "") -> Iterator[tuple[str, str, str]]:
    """(where, key, regex) of every regex in the grammar."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("match", "begin", "end", "while") and isinstance(value, str):
                yield where, key, value
            else:
                yield from rules(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from rules(item, f"{where}/{i}")


REGEXES = list(rules(GRAMMAR))


def compile_(key: str, regex: str) -> re.Pattern[str]:
    if key == "end":
        regex = re.sub(r"\\([1-9])", "EOM", regex)  # a back-reference to the begin's capture (the heredoc's tag)
    return re.compile(regex)


def test_the_grammar_names_its_language_and_includes_only_what_it_defines() -> None:
    assert GRAMMAR["scopeName"] == "source.hlb" and GRAMMAR["fileTypes"] == ["hlb"]
    text = GRAMMAR_PATH.read_text()
    for ref in re.findall(r'"include": "#([^"]+)"', text):
        assert ref in GRAMMAR["repository"], ref
    assert len(REGEXES) > 40


@pytest.mark.parametrize(("where", "key", "regex"), REGEXES, ids=[f"{w}/{k}" for w, k, _ in REGEXES])
def test_every_regex_compiles(where: str, key: str, regex: str) -> None:
    compile_(key, regex)


def test_the_grammar_has_the_lexers_builtins_keywords_and_types() -> None:
    builtin = GRAMMAR["repository"]["builtin"]["match"]
    alternation = re.fullmatch(r"\(\?<!\[[^]]+\]\)\(\?:([A-Za-z|]+)\)\(\?!\[[^]]+\]\)", builtin)
    assert alternation is not None
    assert sorted(alternation.group(1).split("|")) == sorted(BUILTINS)
    words = " ".join(r for _, _, r in REGEXES)
    for keyword in (*KEYWORDS, "from", "binds", "variadic", "true", "false"):
        assert re.search(rf"\b{keyword}\b", words), keyword
    type_alternation = re.search(r"\(\?:option::\S+?\|([a-z|]+)\)", GRAMMAR["repository"]["type"]["match"])
    assert type_alternation is not None and set(type_alternation.group(1).split("|")) == set(TYPES)


def scope_of(rule: str, text: str, key: str = "match") -> str | None:
    m = compile_(key, GRAMMAR["repository"][rule][key]).search(text)
    return m.group() if m else None


def test_builtins_are_whole_words_and_not_module_members() -> None:
    assert scope_of("builtin", '\trun "x"') == "run"
    assert scope_of("builtin", "\trunner x") is None
    assert scope_of("builtin", "\tutil.run x") is None
    assert scope_of("builtin", "\toption::run x") is None


def test_a_heredoc_ends_at_its_tag_as_a_whole_word() -> None:
    begin = compile_("begin", GRAMMAR["repository"]["heredoc"]["begin"])
    m = begin.search("\trun <<-EOM")
    assert m is not None and m.group(2) == "EOM"
    end = compile_("end", GRAMMAR["repository"]["heredoc"]["end"])
    assert end.search("\techo EOMX") is None and end.search("\tEOM with readonly") is not None
    raw = compile_("begin", GRAMMAR["repository"]["raw-heredoc"]["begin"]).search("run <<~`EOF`")
    assert raw is not None and raw.group(2) == "EOF"


def test_a_declaration_and_escapes() -> None:
    decl = compile_("begin", GRAMMAR["repository"]["declaration"]["begin"]).match("option::run inSrc(")
    assert decl is not None and decl.groups() == ("option::run", "inSrc", "(")
    escapes = GRAMMAR["repository"]["string"]["patterns"]
    assert re.fullmatch(escapes[0]["match"], "\\$") and not re.fullmatch(escapes[0]["match"], "\\x")


def test_the_vscode_extension_contributes_the_language_the_grammar_and_starts_the_server() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text())
    (language,) = manifest["contributes"]["languages"]
    assert language["id"] == "hlb" and language["extensions"] == [".hlb"]
    configuration = json.loads((VSCODE / language["configuration"]).read_text())
    assert configuration["comments"]["lineComment"] == "#"
    assert ["{", "}"] in configuration["brackets"] and ["(", ")"] in configuration["brackets"]
    (grammar,) = manifest["contributes"]["grammars"]
    assert grammar["scopeName"] == GRAMMAR["scopeName"]
    assert (VSCODE / grammar["path"]).read_text() == GRAMMAR_PATH.read_text()
    assert "vscode-languageclient" in manifest["dependencies"]
    main = (VSCODE / manifest["main"]).read_text()
    assert 'args: ["langserver"]' in main and '"hlb.path"' not in main and 'get("path", "hlb")' in main
    assert "hlb.path" in manifest["contributes"]["configuration"]["properties"]


VIM_PROBE = r"""
set nocompatible
let &runtimepath = '{rtp},' . &runtimepath
filetype plugin on
syntax on
edit {file}
let out = ['filetype ' . &filetype]
for lnum in range(1, line('$'))
  let line = getline(lnum)
  for col in range(1, len(line))
    let name = synIDattr(synID(lnum, col, 1), 'name')
    if name !=# ''
      call add(out, lnum . ' ' . col . ' ' . name)
    endif
  endfor
endfor
call writefile(out, '{out}')
qall!
"""


@pytest.mark.skipif(shutil.which("vim") is None, reason="no vim on this machine")
def test_vim_detects_the_file_type_and_highlights_the_syntax(tmp_path: Path) -> None:
    text = (
        'import util from "./u.hlb"\n'
        "fs build(string ref) {\n"
        '\timage "busybox:${ref}" with option { resolve }\n'
        "\trun <<-EOM\n\t\techo EOMX \\$HOME\n\tEOM\n"
        '\tmkfile "/a" 0o644 "\\q" # note\n'
        "}\n"
    )
    module = tmp_path / "build.hlb"
    module.write_text(text)
    probe = tmp_path / "probe.vim"
    out = tmp_path / "out"
    probe.write_text(VIM_PROBE.format(rtp=ROOT / "editors" / "vim", file=module, out=out))
    subprocess.run(["vim", "-N", "-u", "NONE", "-i", "NONE", "-es", "-S", str(probe)], check=True, timeout=60)
    lines = out.read_text().splitlines()
    assert lines[0] == "filetype hlb"
    groups: dict[tuple[int, int], str] = {}
    for line in lines[1:]:
        lnum, col, name = line.split()
        groups[int(lnum), int(col)] = name

    def at(lnum: int, word: str, nth: int = 0) -> str:
        src = text.splitlines()[lnum - 1]
        col = src.index(word, nth) + 1
        return groups.get((lnum, col), "")

    assert at(1, "import") == "hlbImport" and at(1, "from") == "hlbImport" and at(1, '"') == "hlbString"
    assert at(2, "fs") == "hlbType" and at(2, "build") == "hlbFunction" and at(2, "string") == "hlbType"
    assert at(3, "image") == "hlbBuiltin" and at(3, "${") == "hlbInterpDelim" and at(3, "ref}") == "hlbInterp"
    assert at(3, "with") == "hlbKeyword" and at(3, "option") == "hlbType" and at(3, "resolve") == "hlbBuiltin"
    assert at(4, "<<-EOM") == "hlbHeredocDelim" and at(5, "EOMX") == "hlbHeredoc" and at(5, "\\$") == "hlbHeredocEscape"
    assert at(6, "EOM") == "hlbHeredocDelim"
    assert at(7, "0o644") == "hlbNumber" and at(7, "\\q") == "hlbBadEscape" and at(7, "# note") == "hlbComment"
