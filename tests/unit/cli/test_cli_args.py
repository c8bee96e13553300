"""`--arg NAME=VALUE` on `hlb run` and `hlb compile`: parsing, and the diagnostics' carets into the command line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import Run

from hlb.cli.target_args import command_line

BUILD = """\
fs default() {
	image "busybox:latest"
	run "echo local"
}

fs release(string tag, int n) {
	image "busybox:latest"
	run "echo build ${n}"
	dockerPush "127.0.0.1:5000/app:${tag}"
}

fs test(string tag) {
	image "busybox:latest"
	run "echo test ${tag}"
}
"""


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "build.hlb").write_text(BUILD)
    return tmp_path


def test_command_line_locates_targets_and_arguments() -> None:
    cl = command_line("run", ["release", "test"], ["tag=1.4", "test.tag=x=y", "n="])
    assert cl.args == {"tag": "1.4", "test.tag": "x=y", "n": ""}
    assert cl.diagnostics == []
    assert cl.target_spans["test"].text == "test"  # type: ignore[attr-defined]
    assert [s.text for s in cl.arg_spans.values()] == ["tag=1.4", "test.tag=x=y", "n="]  # type: ignore[attr-defined]
    assert cl.arg_spans["n"].file.text == "hlb run -t release,test --arg tag=1.4 --arg test.tag=x=y --arg n="


def test_run_tree_shows_the_bound_values(hlb: Run, here: Path) -> None:
    code, out, err = hlb(["run", "--tree", "-t", "release,test", "--arg", "tag=1.4", "--arg", "n=0o17"])
    assert code == 0, err
    assert out.splitlines()[1].startswith("├── solve 1: dockerPush 127.0.0.1:5000/app:1.4  (build.hlb:9:2, ")
    assert out.splitlines()[3].startswith('└── solve 2: target test(tag="1.4")  (build.hlb:12:4, ')


def test_compile_puts_the_value_in_the_llb(hlb: Run, here: Path) -> None:
    code, out, err = hlb(["compile", "-t", "test", "--arg", "tag=from-the-command-line"])
    assert code == 0, err
    runs = [o["op"]["exec"]["meta"]["args"] for o in json.loads(out)["ops"] if "exec" in o["op"]]
    assert runs == [["/bin/sh", "-c", "echo test from-the-command-line"]]


def test_no_arguments_for_a_target_with_parameters(hlb: Run, here: Path) -> None:
    code, out, err = hlb(["run", "--tree", "-t", "release"])
    assert (code, out) == (1, "")
    assert err == textwrap.dedent(
        """\
        <command line>:1:12: error: target `release` takes parameters [invalid-target]
          |
        1 | hlb run -t release
          |            ^^^^^^^ needs `tag`, `n`
          = `tag` declared here: build.hlb:6:12
          = `n` declared here: build.hlb:6:24
          = hint: give them on the command line: `--arg tag=VALUE --arg n=VALUE`

        aborting due to previous error
        """
    )


def test_an_unknown_argument(hlb: Run, here: Path) -> None:
    code, _, err = hlb(["run", "--tree", "-t", "test", "--arg", "tag=1", "--arg", "tga=2"])
    assert code == 1
    assert err == textwrap.dedent(
        """\
        <command line>:1:35: error: no requested target has a parameter `tga` [invalid-argument]
          |
        1 | hlb run -t test --arg tag=1 --arg tga=2
          |                                   ^^^
          = hint: the requested target is `test(string tag)`

        aborting due to previous error
        """
    )


def test_an_ill_typed_argument(hlb: Run, here: Path) -> None:
    code, _, err = hlb(["compile", "-t", "release", "--arg", "tag=1", "--arg", "n=-3"])
    assert code == 1
    assert err == textwrap.dedent(
        """\
        <command line>:1:44: error: `-3` is not an int (the parameter `int n` of target `release`) [invalid-argument]
          |
        1 | hlb compile -t release --arg tag=1 --arg n=-3
          |                                            ^^
          = declared here: build.hlb:6:24
          = hint: write an int as hlb does: decimal `42`, or `0x2a`, `0o52`, `0b101010` (64-bit, no sign)

        aborting due to previous error
        """
    )


def test_a_repeated_and_a_malformed_argument(hlb: Run, here: Path) -> None:
    code, _, err = hlb(["run", "--tree", "-t", "test", "--arg", "tag=1", "--arg", "tag=2", "--arg", "tag"])
    assert code == 2  # a usage error: nothing is compiled
    assert err == textwrap.dedent(
        """\
        <command line>:1:35: error: the argument `tag` is given twice [invalid-argument]
          |
        1 | hlb run -t test --arg tag=1 --arg tag=2 --arg tag
          |                                   ^^^ again
        1 | hlb run -t test --arg tag=1 --arg tag=2 --arg tag
          |                       ----- first given here

        <command line>:1:47: error: `tag` is not NAME=VALUE [invalid-argument]
          |
        1 | hlb run -t test --arg tag=1 --arg tag=2 --arg tag
          |                                               ^^^
          = hint: write `--arg NAME=VALUE`, or `--arg TARGET.NAME=VALUE` for one target only

        aborting due to 2 previous errors
        """
    )


def test_an_argument_for_a_target_not_requested(hlb: Run, here: Path) -> None:
    code, _, err = hlb(["run", "--tree", "-t", "test", "--arg", "tag=1", "--arg", "release.n=2"])
    assert code == 1
    assert err.startswith(
        "<command line>:1:35: error: `release.n` names the target `release`, which is not requested [invalid-argument]"
    )
    assert "hint: request it with `-t release`, or write `n=...` for every requested target with `n`" in err


def test_the_docs_example_is_what_hlb_prints(hlb: Run, here: Path) -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "language.md").read_text()
    section = docs.split("### Target arguments", 1)[1]
    module = section.split("```hlb\n", 1)[1].split("```", 1)[0]
    printed = section.split("```text\n", 1)[1].split("```", 1)[0]
    (here / "build.hlb").write_text(module)
    assert hlb(["run", "--tree", "-t", "release"]) == (1, "", printed)
    code, out, err = hlb(["run", "--tree", "-t", "release", "--arg", "tag=1.4"])
    assert code == 0, err
    assert out.startswith("solve 1: dockerPush 127.0.0.1:5000/app:1.4  (build.hlb:")


def test_arguments_reach_each_target_that_declares_them(hlb: Run, here: Path) -> None:
    code, out, err = hlb(
        ["run", "--tree", "-t", "test,release", "--arg", "tag=all", "--arg", "test.tag=mine", "--arg", "n=1"]
    )
    assert code == 0, err
    assert 'target test(tag="mine")' in out and "dockerPush 127.0.0.1:5000/app:all" in out
