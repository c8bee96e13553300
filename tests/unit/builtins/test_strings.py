"""String builtins: Go's fmt.Sprintf and text/template subsets, and the facts and commands of the client."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hlb.api import compile_source
from hlb.builtins import strings
from hlb.builtins.gofmt import quote, sprintf
from hlb.builtins.gotemplate import TemplateError, execute
from hlb.diagnostics import Diagnostic, HlbError, render
from hlb.llb import Platform
from hlb.llb.dump import to_json
from hlb.source import SourceFile

AMD64 = Platform("linux", "amd64")

# -- format: the outputs Go's fmt documentation and fmt_test.go give for string operands -----------

SPRINTF = [
    ("%s", ["hi"], "hi"),
    ("%v", ["hi"], "hi"),
    ("%q", ['say "hi"\n'], '"say \\"hi\\"\\n"'),
    ("%#q", ["`x`"], '"`x`"'),  # cannot backquote a backquote
    ("%#q", ['a"b'], '`a"b`'),
    ("%+q", ["日本語"], '"\\u65e5\\u672c\\u8a9e"'),
    ("%q", ["日本語"], '"日本語"'),
    ("%q", ["\x00\x7f\u200b"], '"\\x00\\x7f\\u200b"'),
    ("%#v", ["hi"], '"hi"'),
    ("%x", ["xyz"], "78797a"),
    ("%X", ["xyz"], "78797A"),
    ("% x", ["xyz"], "78 79 7a"),
    ("%#x", ["xyz"], "0x78797a"),
    ("%# X", ["xyz"], "0X78 0X79 0X7A"),
    ("%.2x", ["xyz"], "7879"),
    ("%8x", ["ab"], "    6162"),
    ("%-8x|", ["ab"], "6162    |"),
    ("%T", ["hi"], "string"),
    ("%5s", ["abc"], "  abc"),
    ("%-5s|", ["abc"], "abc  |"),
    ("%05s", ["abc"], "  abc"),  # the 0 flag is ignored for strings
    ("%.2s", ["日本語"], "日本"),  # precision counts runes
    ("%5.1s", ["abc"], "    a"),
    ("%.0s", ["abc"], ""),
    ("%.s", ["abc"], ""),
    ("%%", [], "%"),
    ("%5%", [], "%"),  # `%` takes no operand and ignores the width
    ("%d", ["hi"], "%!d(string=hi)"),
    ("%5d", ["hi"], "%!d(string=   hi)"),  # Go prints the operand with the verb's flags
    ("%z", ["hi"], "%!z(string=hi)"),
    ("hi%d", [], "hi%!d(MISSING)"),
    ("%s %s", ["a"], "a %!s(MISSING)"),
    ("hi", ["guys"], "hi%!(EXTRA string=guys)"),
    ("%s", ["a", "b", "c"], "a%!(EXTRA string=b, string=c)"),
    ("%*s", ["4", "hi"], "%!(BADWIDTH)hi"),
    ("%.*s", ["4", "hi"], "%!(BADPREC)hi"),
    ("%[2]s %[1]s", ["a", "b"], "b a"),
    ("%[3]s", ["a", "b"], "%!s(BADINDEX)"),
    ("%[0]s", ["a"], "%!s(BADINDEX)"),
    ("%[x]s", ["a"], "%!s(BADINDEX)"),
    ("%[1]s %s", ["a", "b"], "a b"),
    ("%[2]s", ["a", "b", "c"], "b"),  # reordered: no EXTRA
    ("%", [], "%!(NOVERB)"),
    ("%-", ["a"], "%!(NOVERB)%!(EXTRA string=a)"),
    ("%!", [], "%!!(MISSING)"),
]


@pytest.mark.parametrize(("fmt", "args", "expected"), SPRINTF, ids=[f"{f}|{'|'.join(a)}" for f, a, _ in SPRINTF])
def test_sprintf_matches_go(fmt: str, args: list[str], expected: str) -> None:
    assert sprintf(fmt, args) == expected


def test_quote_is_strconv_quote() -> None:
    assert quote("a\tb\\c\a") == '"a\\tb\\\\c\\a"'
    assert quote("\U0001f600") == '"\U0001f600"'
    assert quote("\U000e0001") == '"\\U000e0001"'  # a format character, not printable
    assert quote("é", ascii_only=True) == '"\\u00e9"'


# -- template -------------------------------------------------------------------------------

DATA = {"name": "world", "empty": "", "v": "1.2"}

TEMPLATES = [
    ("hello {{.name}}!", "hello world!"),
    ("{{ .name }}", "world"),
    ("a  {{- .name -}}  b", "aworldb"),
    ("a\n {{- .name}}", "aworld"),
    ("{{.name -}}\n\t b", "worldb"),
    ("x{{/* a comment */}}y", "xy"),
    ("x {{- /* trimmed */ -}} y", "xy"),
    ("{{if .name}}yes{{else}}no{{end}}", "yes"),
    ("{{if .empty}}yes{{else}}no{{end}}", "no"),
    ("{{if .empty}}a{{else if .v}}b{{.v}}{{else}}c{{end}}", "b1.2"),
    ("{{if .empty}}a{{end}}", ""),
    ("{{with .v}}[{{.}}]{{end}}", "[1.2]"),
    ("{{with .empty}}a{{else}}b{{end}}", "b"),
    ("{{.}}", "map[empty: name:world v:1.2]"),
    ('{{"lit\\n"}}', "lit\n"),
    ("{{`raw\\n`}}", "raw\\n"),
    ("no actions", "no actions"),
]


@pytest.mark.parametrize(("text", "expected"), TEMPLATES)
def test_template_executes_like_go(text: str, expected: str) -> None:
    assert execute(text, DATA) == expected


TEMPLATE_ERRORS = [
    ("{{.missing}}", 'template: :1:2: executing "" at <.missing>: map has no entry for key "missing"'),
    ("a\nbc{{.nope}}", 'template: :2:4: executing "" at <.nope>: map has no entry for key "nope"'),
    ("{{.name.x}}", 'template: :1:2: executing "" at <.name.x>: can\'t evaluate field x in type string'),
    ("{{.name", "template: :1: unclosed action"),
    ("{{if .name}}", "template: :1: unexpected EOF"),
    ("\n{{end}}", "template: :2: unexpected {{end}}"),
    ("{{else}}", "template: :1: unexpected {{else}}"),
    ("{{}}", "template: :1: missing value for command"),
    ("{{if}}{{end}}", "template: :1: missing value for if"),
    ("{{foo}}", 'template: :1: function "foo" not defined'),
    ("{{/* open", "template: :1: unclosed comment"),
    ("{{/* c */ }}", "template: :1: comment ends before closing delimiter"),
    ("{{if .v}}a{{else}}b{{else}}c{{end}}", "template: :1: expected end; found {{else}}"),
]


@pytest.mark.parametrize(("text", "message"), TEMPLATE_ERRORS)
def test_template_errors_are_worded_as_go(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as e:
        execute(text, DATA)
    assert str(e.value) == message


@pytest.mark.parametrize("text", ['{{printf "%s" .name}}', "{{range .}}{{end}}", "{{$x := 1}}", "{{.a | len}}"])
def test_template_rejects_what_the_subset_lacks(text: str) -> None:
    with pytest.raises(TemplateError, match="not supported by hlb templates"):
        execute(text, DATA)


# -- through the compiler ----------------------------------------------------------------------


def files(tmp_path: Path, text: str) -> dict[str, str]:
    """Compile `default` and give the content of every mkfile, by path."""
    path = tmp_path / "build.hlb"
    path.write_text(text)
    compiled = compile_source(SourceFile.read(path), ["default"], AMD64)
    out: dict[str, str] = {}
    for op in json.loads(to_json(compiled.targets[0].definition))["ops"]:
        for action in op["op"].get("file", {}).get("actions", []):
            if "mkfile" in action:
                mk = action["mkfile"]
                out[mk["path"]] = base64.b64decode(mk.get("data", "")).decode()
    return out


def error(tmp_path: Path, text: str) -> Diagnostic:
    path = tmp_path / "build.hlb"
    path.write_text(text)
    with pytest.raises(HlbError) as e:
        compile_source(SourceFile.read(path), ["default"], AMD64)
    errors = [d for d in e.value.diagnostics if d.is_error]
    assert len(errors) == 1, [str(d) for d in errors]
    return errors[0]


def test_format_and_local_env_feed_other_builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HLB_V", "2.0")
    monkeypatch.delenv("HLB_NOT_SET", raising=False)
    got = files(
        tmp_path,
        'fs default() {\n\tmkfile "/v" 0o644 format("v%s[%s]", localEnv("HLB_V"), localEnv("HLB_NOT_SET"))\n}\n',
    )
    assert got == {"/v": "v2.0[]"}


def test_template_fields_come_from_string_field_and_a_later_one_wins(tmp_path: Path) -> None:
    text = (
        'string t() {\n\ttemplate "{{.a}}-{{.b}}" with option {\n'
        '\t\tstringField "a" "1"\n\t\tstringField "b" "2"\n\t\tstringField "a" "3"\n\t}\n}\n'
        'fs default() {\n\tmkfile "/t" 0o644 t\n}\n'
    )
    assert files(tmp_path, text) == {"/t": "3-2"}


def test_a_template_error_points_at_the_template_argument(tmp_path: Path) -> None:
    d = error(
        tmp_path,
        'string t() {\n\ttemplate "hi {{.nmae}}" with stringField("name", "x")\n}\n'
        'fs default() {\n\tmkfile "/t" 0o644 t\n}\n',
    )
    assert d.message == 'template: :1:5: executing "" at <.nmae>: map has no entry for key "nmae"'
    assert (d.primary.span.begin.line, d.primary.span.begin.column) == (2, 11)
    assert d.hint == "set it with `stringField`; the fields set are `name`"


def test_a_template_parse_error_is_a_diagnostic(tmp_path: Path) -> None:
    d = error(tmp_path, 'fs default() {\n\tmkfile "/t" 0o644 template("{{if .x}}")\n}\n')
    assert d.message == "template: :1: unexpected EOF"
    assert d.primary.span.begin.line == 2


def test_local_run_runs_in_the_module_dir_with_the_client_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HLB_FROM_CLIENT", "yes")
    (tmp_path / "marker.txt").write_text("here\n\n")
    text = (
        "fs default() {\n"
        '\tmkfile "/pwd" 0o644 localRun("pwd")\n'
        '\tmkfile "/env" 0o644 localRun("echo $HLB_FROM_CLIENT")\n'
        '\tmkfile "/cat" 0o644 localRun("cat", "marker.txt")\n'
        "}\n"
    )
    monkeypatch.chdir("/")
    got = files(tmp_path, text)
    assert got == {"/pwd": str(tmp_path.resolve()), "/env": "yes", "/cat": "here"}


def test_local_run_shlex_splits_one_argument_into_argv(tmp_path: Path) -> None:
    text = "fs default() {\n\tmkfile \"/w\" 0o644 string { localRun \"printf '<%s>' 'a b' c\" with shlex; }\n}\n"
    assert files(tmp_path, text) == {"/w": "<a b><c>"}


def test_local_run_captures_stderr_as_asked(tmp_path: Path) -> None:
    cmd = '"echo out; echo err >&2"'
    text = (
        "fs default() {\n"
        f'\tmkfile "/default" 0o644 localRun({cmd})\n'
        f'\tmkfile "/include" 0o644 string {{ localRun {cmd} with includeStderr; }}\n'
        f'\tmkfile "/only" 0o644 string {{ localRun {cmd} with onlyStderr; }}\n'
        f'\tmkfile "/both" 0o644 string {{ localRun {cmd} with option {{ onlyStderr; includeStderr; }}; }}\n'
        "}\n"
    )
    assert files(tmp_path, text) == {"/default": "out", "/include": "out\nerr", "/only": "err", "/both": "err"}


def test_a_failing_local_run_names_the_command_its_status_and_stderr(tmp_path: Path) -> None:
    script = "; ".join(f"echo line{i} >&2" for i in range(15)) + "; exit 7"
    d = error(tmp_path, f'fs default() {{\n\tmkfile "/x" 0o644 localRun("{script}")\n}}\n')
    assert d.message.startswith("`localRun` command `/bin/sh -c 'echo line0 >&2;")
    assert d.message.endswith("exited with status 7")
    assert d.notes == (*(f"line{i}" for i in range(5, 15)), "use `with ignoreError` to take its output anyway")
    assert d.primary.span.begin.line == 2
    assert "build.hlb:2:" in render(d)


def test_ignore_error_takes_the_output_but_a_missing_program_still_fails(tmp_path: Path) -> None:
    text = 'fs default() {\n\tmkfile "/x" 0o644 string { localRun "echo partial; exit 3" with ignoreError; }\n}\n'
    assert files(tmp_path, text) == {"/x": "partial"}
    d = error(
        tmp_path,
        'fs default() {\n\tmkfile "/x" 0o644 string { localRun "no-such-hlb-program" "a" with ignoreError; }\n}\n',
    )
    assert d.message.startswith("`localRun` could not start `no-such-hlb-program`")


def test_an_unbalanced_shlex_command_is_a_diagnostic(tmp_path: Path) -> None:
    d = error(tmp_path, 'fs default() {\n\tmkfile "/x" 0o644 string { localRun "echo \'open" with shlex; }\n}\n')
    assert "cannot split the command into words" in d.message


# -- the client's platform and directory -----------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "arch"),
    [("x86_64", "amd64"), ("AMD64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64"), ("armv7l", "arm"),
     ("i686", "386"), ("ppc64le", "ppc64le"), ("s390x", "s390x"), ("riscv64", "riscv64")],
)  # fmt: skip
def test_local_arch_uses_goarch_names(machine: str, arch: str) -> None:
    assert strings.go_arch(machine) == arch


@pytest.mark.parametrize(
    ("platform", "goos"),
    [("linux", "linux"), ("darwin", "darwin"), ("win32", "windows"), ("cygwin", "windows"), ("freebsd14", "freebsd")],
)
def test_local_os_uses_goos_names(platform: str, goos: str) -> None:
    assert strings.go_os(platform) == goos


def test_local_facts_describe_this_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = 'fs default() {\n\tmkfile "/f" 0o644 format("%s %s %s", localOs, localArch, localCwd)\n}\n'
    goos, goarch, cwd = files(tmp_path, text)["/f"].split(" ")
    assert goos == "linux"  # the test machine
    assert goarch == strings.go_arch(strings._machine()) and goarch in ("amd64", "arm64")
    assert cwd == str(tmp_path.resolve())
