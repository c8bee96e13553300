"""Target arguments bound by the library: `compile_source(..., args={...})` (the CLI's `--arg`)."""

from __future__ import annotations

import textwrap

import pytest

from hlb.api import Compiled, compile_source
from hlb.compiler.plan import render
from hlb.compiler.target_args import parse_int
from hlb.diagnostics import HlbError, render_all
from hlb.llb import Platform
from hlb.llb.dump import to_json_obj
from hlb.source import SourceFile

AMD64 = Platform("linux", "amd64")

BUILD = """\
fs default() {
	image "busybox:latest"
	run "echo local"
}

fs release(string tag, int n, bool latest) {
	image "busybox:latest"
	run "echo ${tag} ${n} ${latest}"
	dockerPush "127.0.0.1:5000/app:${tag}"
}

fs test(string tag) {
	image "busybox:latest"
	run "echo test ${tag}"
}

fs withSource(fs src, string tag) {
	src
}
"""


def compiled(targets: list[str], args: dict[str, str | int | bool], text: str = BUILD) -> Compiled:
    return compile_source(SourceFile("build.hlb", text), targets, AMD64, args=args)


def errors(targets: list[str], args: dict[str, str | int | bool], text: str = BUILD) -> str:
    with pytest.raises(HlbError) as e:
        compiled(targets, args, text)
    return render_all(e.value.diagnostics)


def commands(c: Compiled, i: int = 0) -> list[str]:
    ops = [e["op"] for e in to_json_obj(c.targets[i].definition, with_sources=False)["ops"]]
    return [o["exec"]["meta"]["args"][-1] for o in ops if "exec" in o]  # type: ignore[index]


def test_bound_values_land_in_the_llb() -> None:
    c = compiled(["release"], {"tag": "1.4", "n": "0x10", "latest": "true"})
    assert commands(c) == ["echo 1.4 16 true"]
    assert c.targets[0].args == {"tag": "1.4", "n": 16, "latest": True}
    push = c.targets[0].fs.effects[0]  # type: ignore[union-attr]
    assert push.title == "dockerPush 127.0.0.1:5000/app:1.4"


def test_an_unqualified_name_binds_every_requested_target_that_declares_it() -> None:
    c = compiled(["test", "default", "release"], {"tag": "9", "n": "1", "latest": "false"})
    assert commands(c, 0) == ["echo test 9"]
    assert commands(c, 2) == ["echo 9 1 false"]


def test_a_qualified_name_wins_for_its_target() -> None:
    c = compiled(["test", "release"], {"tag": "all", "test.tag": "mine", "n": "2", "latest": "false"})
    assert commands(c, 0) == ["echo test mine"]
    assert commands(c, 1) == ["echo all 2 false"]


def test_library_callers_may_pass_ints_and_bools() -> None:
    c = compiled(["release"], {"tag": "x", "n": 7, "latest": False})
    assert commands(c) == ["echo x 7 false"]


def test_the_plan_names_a_target_with_its_arguments() -> None:
    c = compiled(["test"], {"tag": 'a "b"'})
    assert render(c.plan(AMD64)).startswith('solve 1: target test(tag="a \\"b\\"")  (build.hlb:12:4, ')


def test_a_bind_target_takes_the_parameters_of_its_function() -> None:
    text = (
        "fs build(string name) {\n"
        '\timage "busybox:latest"\n'
        '\trun "echo ${name} > /out" with option {\n'
        '\t\tmount scratch "/out-dir" as out\n'
        "\t}\n"
        "}\n"
    )
    c = compiled(["out"], {"name": "bound"}, text)
    assert "echo bound > /out" in commands(c)
    assert render(c.plan(AMD64)).startswith('solve 1: target out(name="bound")')


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("42", 42), ("0x2A", 42), ("0o52", 42), ("0B101010", 42), (str(2**63 - 1), 2**63 - 1)],
)
def test_ints_are_read_as_hlb_literals(text: str, value: int) -> None:
    assert parse_int(text) == value


@pytest.mark.parametrize("text", ["", "-1", "+1", "042", "1_000", "0x", "1.5", " 1", str(2**63)])
def test_what_is_not_an_hlb_int(text: str) -> None:
    assert parse_int(text) is None


def test_a_target_with_parameters_and_no_arguments() -> None:
    assert errors(["test"], {}) == textwrap.dedent(
        """\
        build.hlb:12:4: error: target `test` takes parameters [invalid-target]
           |
        12 | fs test(string tag) {
           |    ^^^^
        12 | fs test(string tag) {
           |         ---------- `tag` declared here
           = hint: give it on the command line: `--arg tag=VALUE`

        aborting due to previous error"""
    )


def test_a_missing_argument() -> None:
    assert errors(["release"], {"tag": "1"}) == textwrap.dedent(
        """\
        build.hlb:6:4: error: target `release` is missing the arguments `n` and `latest` [invalid-target]
          |
        6 | fs release(string tag, int n, bool latest) {
          |    ^^^^^^^
        6 | fs release(string tag, int n, bool latest) {
          |                        ----- `n` declared here
        6 | fs release(string tag, int n, bool latest) {
          |                               ----------- `latest` declared here
          = hint: give them on the command line: `--arg n=VALUE --arg latest=VALUE`

        aborting due to previous error"""
    )


def test_arguments_without_spans_point_into_an_arguments_pseudo_file() -> None:
    assert errors(["test"], {"tagg": "1", "tag": "x"}) == textwrap.dedent(
        """\
        <arguments>:1:1: error: no requested target has a parameter `tagg` [invalid-argument]
          |
        1 | tagg=1 tag=x
          | ^^^^
          = hint: did you mean `tag`? the requested target is `test(string tag)`

        aborting due to previous error"""
    )


def test_ill_typed_values() -> None:
    out = errors(["release"], {"tag": "1", "n": "ten", "latest": "yes"})
    second = "<arguments>:1:20: error: `yes` is not a bool (the parameter `bool latest` of target `release`)"
    assert out == textwrap.dedent(
        """\
        <arguments>:1:9: error: `ten` is not an int (the parameter `int n` of target `release`) [invalid-argument]
          |
        1 | tag=1 n=ten latest=yes
          |         ^^^
          = declared here: build.hlb:6:24
          = hint: write an int as hlb does: decimal `42`, or `0x2a`, `0o52`, `0b101010` (64-bit, no sign)

        SECOND [invalid-argument]
          |
        1 | tag=1 n=ten latest=yes
          |                    ^^^
          = declared here: build.hlb:6:31
          = hint: a bool is `true` or `false`

        aborting due to 2 previous errors"""
    ).replace("SECOND", second)


@pytest.mark.parametrize(("args", "shown"), [({"tag": 3}, "3"), ({"tag": True}, "true")])
def test_a_string_parameter_takes_only_text(args: dict[str, str | int | bool], shown: str) -> None:
    assert f"error: `{shown}` is not a string (the parameter `string tag` of target `test`)" in errors(["test"], args)


def test_an_fs_parameter_cannot_be_given() -> None:
    out = errors(["withSource"], {"tag": "x"})
    assert out.startswith(
        "build.hlb:17:4: error: the parameter `fs src` of target `withSource` cannot be given on the command line "
        "[invalid-target]\n"
    )
    assert "only `string`, `int` and `bool` parameters can" in out
    # The declaration is in another file, on line 17: the gutter is as wide as the lines shown (1).
    first = "<arguments>:1:1: error: the parameter `fs src` of target `withSource` cannot be given on the command line"
    assert errors(["withSource"], {"withSource.src": "x", "tag": "x"}) == first + textwrap.dedent(
        """\
         [invalid-target]
          |
        1 | withSource.src=x tag=x
          | ^^^^^^^^^^^^^^
          = declared here: build.hlb:17:15
          = hint: only `string`, `int` and `bool` parameters can; build a target that calls `withSource` with it

        aborting due to previous error"""
    )


def test_a_variadic_parameter_cannot_be_given() -> None:
    out = errors(["v"], {"xs": "a"}, 'fs v(variadic string xs) { image "busybox"; }\n')
    assert "the parameter `variadic string xs` of target `v` cannot be given on the command line" in out


def test_a_qualified_name_of_a_target_not_requested() -> None:
    out = errors(["test"], {"tag": "1", "tets.tag": "2"})
    assert out.startswith("<arguments>:1:7: error: `tets.tag` names the target `tets`, which is not requested")
    assert "hint: did you mean `test`? request it with `-t tets`" in out


def test_a_qualified_name_the_target_does_not_declare() -> None:
    out = errors(["test"], {"tag": "1", "test.tagg": "2"})
    assert out.startswith("<arguments>:1:7: error: target `test` has no parameter `tagg`")
    assert "= declared here: build.hlb:12:4" in out
    assert "hint: did you mean `tag`? `test` is declared as `test(string tag)`" in out


def test_an_unknown_target_does_not_also_report_its_arguments() -> None:
    out = errors(["tset"], {"tag": "1", "tset.tag": "2"})
    assert out.count("error:") == 1 and 'target "tset" is not defined' in out
