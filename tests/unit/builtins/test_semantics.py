"""A builtin owns its semantics in one place: choices, option lists and the owner options come from the table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hlb.api import compile_source
from hlb.builtins.registry import all_builtins, documentation, options_of, table
from hlb.builtins.spec import Builtin, Choice
from hlb.checker.check import ModuleLoader, check_module
from hlb.diagnostics import HlbError
from hlb.llb import Platform
from hlb.llb.dump import to_json_obj
from hlb.source import SourceFile
from hlb.syntax.parser import parse_module

AMD64 = Platform("linux", "amd64")
CHOICES = [(b, i, p.choice) for b in all_builtins() for i, p in enumerate(b.params) if p.choice is not None]


def compile_error(text: str) -> str:
    with pytest.raises(HlbError) as e:
        compile_source(SourceFile("build.hlb", text), ["default"], AMD64)
    d = e.value.diagnostics[-1]
    return f"{d.primary.span.text} {d.message} ({d.hint})"


def check_messages(text: str, tmp_path: Path) -> list[str]:
    parsed = parse_module(SourceFile(str(tmp_path / "build.hlb"), text))
    assert parsed.module is not None, [str(d) for d in parsed.diagnostics]
    return [d.message for d in check_module(parsed.module, ModuleLoader()).diagnostics if d.is_error]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("mode(m)", "maxx"),
        ("backend(m)", "s3"),
    ],
)
def test_a_choice_computed_at_compile_time_is_checked_before_the_lowering(option: str, value: str) -> None:
    # The checker only sees constants; a value passed through a parameter is checked by the table's
    # choice when compiling, for every choice parameter (cacheContext's took any string before).
    text = (
        f'fs section(string m) {{\n\tcacheContext "127.0.0.1:5000/c:x" fs {{ image "busybox"; }} with {option}\n}}\n'
        f'fs default() {{\n\tsection "{value}"\n}}\n'
    )
    message = compile_error(text)
    assert message.startswith("m ")  # at the argument
    assert f"`{value}`" in message and "valid values are" in message


def test_the_lowering_receives_the_enum_of_a_choice() -> None:
    text = 'fs default() {\n\timage "busybox"\n\trun "true" with option { network "none"; security "insecure"; }\n}\n'
    c = compile_source(SourceFile("build.hlb", text), ["default"], AMD64)
    ops = [e["op"] for e in to_json_obj(c.targets[0].definition, with_sources=False)["ops"]]
    (ex,) = [o["exec"] for o in ops if "exec" in o]  # type: ignore[misc]
    assert ex["network"] == "NONE" and ex["security"] == "INSECURE"


@pytest.mark.parametrize(("b", "i", "choice"), CHOICES, ids=[f"{b.type} {b.name}" for b, _, _ in CHOICES])
def test_the_checker_names_a_choice_by_its_label_in_the_table(
    b: Builtin, i: int, choice: Choice, tmp_path: Path
) -> None:
    example = re.search(r"Example: `(.*)`", b.doc)
    assert example, b.signature()
    wrong, n = re.subn(rf'"({"|".join(choice.names)})"', '"bogus"', example.group(1), count=1)
    assert n == 1, example.group(1)
    if b.type.is_option and str(b.type) != "option::cacheContext":
        wrong = f'run "true" with option {{ {wrong} }}' if str(b.type) != "option::run" else wrong
    messages = check_messages(f'fs default() {{\n\timage "busybox"\n\t{wrong}\n}}\n', tmp_path)
    assert messages == [f"invalid {choice.label} `bogus`"], (wrong, messages)


def test_no_docstring_lists_its_options_by_hand() -> None:
    for b in all_builtins():
        assert "Options:" not in b.doc, b.signature()


def test_the_documentation_lists_exactly_the_options_of_the_table() -> None:
    for b in all_builtins():
        takes = {o.name for o in all_builtins() if o.type == b.option_type}
        assert set(options_of(b)) == takes
        listed = re.findall(r"^Options: (.*)\.$", documentation(b), re.M)
        if takes:
            assert listed == [", ".join(f"`{o}`" for o in options_of(b))], b.signature()
            assert documentation(b).endswith(b.doc.split("\n\n")[-1])  # the example stays last
        else:
            assert listed == [] and documentation(b) == b.doc


def test_uid_gid_and_mode_are_declared_alike_for_every_mount_that_takes_them() -> None:
    for name, param in (("uid", "id"), ("gid", "id"), ("mode", "filemode")):
        owners = sorted(str(b.type) for b in table()[name] if b.params[0].name == param)
        assert owners == [
            "option::cacheMount",
            "option::forward",
            "option::secret",
            "option::secretMount",
            "option::ssh",
        ], name


@pytest.mark.parametrize("option", ["cacheMount", "ssh", "secret"])
def test_every_owner_mode_is_a_permission_checked_alike(option: str, tmp_path: Path) -> None:
    # cacheMount's `mode` took any int before (only ssh, forward and secret checked it).
    (tmp_path / "token").write_text("x")
    mounts = {
        "cacheMount": 'cacheMount "/c" with mode(0o77777)',
        "ssh": "ssh with mode(0o77777)",
        "secret": f'secret "{tmp_path / "token"}" "/run/token" with mode(0o77777)',
    }
    text = f'fs default() {{\n\timage "busybox"\n\trun "true" with option {{ {mounts[option]}; }}\n}}\n'
    message = compile_error(text)
    assert message.startswith("0o77777 file mode 0o77777 is out of range (permission bits are between"), message


def test_a_cache_mounts_owner_options_make_its_base_directory() -> None:
    text = (
        'fs default() {\n\timage "busybox"\n'
        '\trun "true" with option { cacheMount "/c" with option { uid 1000; mode 0o700; gid 7; uid 1001; } }\n}\n'
    )
    c = compile_source(SourceFile("build.hlb", text), ["default"], AMD64)
    ops = [e["op"] for e in to_json_obj(c.targets[0].definition, with_sources=False)["ops"]]
    (mkdir,) = [a["mkdir"] for o in ops if "file" in o for a in o["file"]["actions"]]  # type: ignore[index]
    assert mkdir["mode"] == 0o700 and mkdir["owner"]["user"]["byID"] == 1001 and mkdir["owner"]["group"]["byID"] == 7


@pytest.mark.parametrize(("b", "i", "choice"), CHOICES, ids=[f"{b.type} {b.name}" for b, _, _ in CHOICES])
def test_the_documentation_of_a_choice_names_every_value_of_the_table(b: Builtin, i: int, choice: Choice) -> None:
    assert all(f"`{v}`" in b.doc for v in choice.names), (b.signature(), choice.names)
