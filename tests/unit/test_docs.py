"""docs/language.md: every example parses, checks and formats unchanged; every builtin is shown."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hlb.builtins.registry import all_builtins, table
from hlb.builtins.spec import Builtin
from hlb.checker.check import ModuleLoader, check_module
from hlb.diagnostics import Diagnostic, Severity, render
from hlb.source import SourceFile
from hlb.syntax.parser import parse_module
from hlb.syntax.printer import format_module

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "language.md"
FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```$", re.S | re.M)


def blocks(kind: str) -> list[tuple[str, str]]:
    """(attributes, text) of every fenced block of ``kind``."""
    return [(m.group(2).strip(), m.group(3)) for m in FENCE.finditer(DOC.read_text()) if m.group(1) == kind]


def check(text: str, tmp_path: Path, files: dict[str, str] | None = None) -> tuple[SourceFile, list[Diagnostic]]:
    for name, body in (files or {}).items():
        (tmp_path / name).write_text(body)
    path = tmp_path / "example.hlb"
    path.write_text(text)
    source = SourceFile.read(path)
    parsed = parse_module(source)
    assert parsed.module is not None, [str(d) for d in parsed.diagnostics]
    return source, [*parsed.diagnostics, *check_module(parsed.module, ModuleLoader()).diagnostics]


def companions() -> dict[str, str]:
    return {attrs.split("=", 1)[1]: text for attrs, text in blocks("hlb") if attrs.startswith("file=")}


EXAMPLES = blocks("hlb")


@pytest.mark.parametrize(("attrs", "text"), EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_examples_check_and_format_unchanged(attrs: str, text: str, tmp_path: Path) -> None:
    source, diags = check(text, tmp_path, companions())
    assert not diags, [str(d) for d in diags]
    module = parse_module(source).module
    assert module is not None and format_module(module) == text


TUTORIAL = [m.group(3) for m in FENCE.finditer((ROOT / "docs" / "caching.md").read_text()) if m.group(1) == "hlb"]


@pytest.mark.parametrize("text", TUTORIAL, ids=[f"caching{i}" for i in range(len(TUTORIAL))])
def test_the_caching_tutorial_checks_and_formats_unchanged(text: str, tmp_path: Path) -> None:
    source, diags = check(text, tmp_path)
    assert not diags, [str(d) for d in diags]
    module = parse_module(source).module
    assert module is not None and format_module(module) == text


@pytest.mark.parametrize("text", [t for _, t in blocks("hlb-deprecated")])
def test_deprecated_examples_only_warn(text: str, tmp_path: Path) -> None:
    _, diags = check(text, tmp_path)
    assert diags and all(d.severity is Severity.WARNING and d.code.slug == "deprecated" for d in diags)


def test_error_examples_print_what_the_doc_shows(tmp_path: Path) -> None:
    doc = DOC.read_text()
    for m in FENCE.finditer(doc):
        if m.group(1) != "hlb-error":
            continue
        shown = FENCE.search(doc, m.end())
        assert shown is not None and shown.group(1) == "text"
        source, diags = check(m.group(3), tmp_path)

        expected = shown.group(3).replace("t.hlb", source.name).rstrip("\n")
        assert render(diags[0]).replace("\t", "    ") == expected


BUILTINS = sorted(all_builtins(), key=lambda b: b.signature())


@pytest.mark.parametrize("b", BUILTINS, ids=[b.signature() for b in BUILTINS])
def test_every_builtin_example_checks(b: Builtin, tmp_path: Path) -> None:
    m = re.search(r"Example: `(.*)`", b.doc)
    assert m, b.signature()
    _, diags = check(module_for(m.group(1), b), tmp_path)
    assert not [str(d) for d in diags if d.is_error]


def module_for(example: str, b: Builtin) -> str:
    """A docstring's one-line example as a module: a declaration as is, a statement inside a function."""
    if re.match(r"^(fs|string|int|bool|pipeline|option::\w+)\s+\w+\(", example):
        return example + "\n"
    owner = b
    while owner.type.is_option:  # an option's example is a call of its owner: `cacheMount "/c" with id("x")`
        owners = table()[owner.type.target or ""]
        owner = owners[0]
    kind = str(owner.type)
    if kind.startswith("option::"):
        return f'fs example(fs src) {{\n\timage "busybox"\n\trun "true" with option {{ {example} }}\n}}\n'
    if b.type.is_option and str(b.type) in RUN_SUBOPTIONS:
        return f'fs example(fs src) {{\n\trun "true" with option {{ {example} }}\n}}\n'
    return f"{kind} example(fs src) {{\n\t{example}\n}}\n"


RUN_SUBOPTIONS = (
    "option::mount",
    "option::cacheMount",
    "option::ssh",
    "option::forward",
    "option::secret",
    "option::secretMount",
)


def test_every_builtin_appears_in_the_hand_written_chapters_or_its_reference() -> None:
    doc = DOC.read_text()
    for b in all_builtins():
        assert f"#### `{b.name}`" in doc, b.name


def test_the_generated_reference_is_up_to_date() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()


README_BLOCKS = [m.group(3) for m in FENCE.finditer((ROOT / "README.md").read_text()) if m.group(1) == "hlb"]


@pytest.mark.parametrize("text", README_BLOCKS, ids=[f"readme{i}" for i in range(len(README_BLOCKS))])
def test_readme_examples_check_and_format_unchanged(text: str, tmp_path: Path) -> None:
    source, diags = check(text, tmp_path)
    assert not [str(d) for d in diags if d.is_error]
    module = parse_module(source).module
    assert module is not None and format_module(module) == text


def every_flag() -> list[tuple[str, tuple[str, ...]]]:
    """(command, option strings) of every flag of every command and subcommand of the argument parser."""
    import argparse

    from hlb.cli.main import COMMANDS, build_parser

    flags: list[tuple[str, tuple[str, ...]]] = []

    def walk(p: argparse.ArgumentParser, name: str) -> None:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for sub, child in a.choices.items():
                    if child is not p:
                        walk(child, f"{name} {sub}".strip())
            elif a.option_strings and not isinstance(a, argparse._HelpAction):
                flags.append((name, tuple(a.option_strings)))

    for command in dict.fromkeys(COMMANDS):
        walk(build_parser(command), "")
    return list(dict.fromkeys(flags))  # the top-level flags (--version) once


@pytest.mark.parametrize(("command", "options"), every_flag(), ids=lambda v: v if isinstance(v, str) else "/".join(v))
def test_the_command_line_chapter_lists_every_flag(command: str, options: tuple[str, ...]) -> None:
    text = (ROOT / "docs" / "language.md").read_text()
    chapter = text[text.index("## The command line") :]
    chapter = chapter[: chapter.index("\n## ", 5)]
    assert any(re.search(re.escape(o) + r"(?![\w-])", chapter) for o in options), f"`hlb {command}` {options}"


def readme_command_lines() -> list[str]:
    """Every `hlb ...` command of the README's shell examples, without its comment, pipe or variable assignments."""
    import shlex

    lines = []
    for m in FENCE.finditer((ROOT / "README.md").read_text()):
        if m.group(1) != "sh":
            continue
        for line in m.group(3).splitlines():
            words = shlex.split(line.split(" # ")[0].split(" | ")[0].replace("source <(", "").strip().rstrip(")"))
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words.pop(0)
            if words[:1] == ["hlb"]:
                lines.append(shlex.join(words))
    return lines


@pytest.mark.parametrize("line", readme_command_lines())
def test_the_readme_commands_parse(line: str) -> None:
    import shlex

    from hlb.cli.main import build_parser

    argv = shlex.split(line)[1:]
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    try:
        parser.parse_args(argv)
    except SystemExit as e:
        assert e.code == 0, line  # --version and --help exit 0
