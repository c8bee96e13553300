"""Command-line values that can never do what was asked are usage errors (exit 2, one line naming the flag).

Issue 10 items 12 and 14: empty target lists, malformed or several platforms, port 0, unreadable TLS files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Run

from hlb.llb.platform import KNOWN_ARCH, KNOWN_OS, Platform

SOURCE = 'fs default() {\n  scratch\n  mkfile "/a" 0o644 "x"\n}\n'


@pytest.fixture
def module(tmp_path: Path) -> str:
    f = tmp_path / "build.hlb"
    f.write_text(SOURCE)
    return str(f)


# -- targets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", ",", " , ", "default,,other", "default,"])
def test_run_with_a_target_flag_naming_nothing_is_a_usage_error(value: str, module: str, hlb: Run) -> None:
    code, out, err = hlb(["run", "--tree", "-t", value, module])
    assert code == 2, (out, err)
    assert err.startswith(f"hlb: error: -t {value!r} ") and err.count("\n") == 1, err
    assert out == ""


def test_run_with_targets_still_builds_each_once(module: str, hlb: Run) -> None:
    code, out, err = hlb(["run", "--tree", "-t", "default", "-t", " default ", module])
    assert code == 0, err
    assert out.count("default") >= 1


def test_compile_with_an_empty_target_is_a_usage_error(module: str, hlb: Run) -> None:
    code, out, err = hlb(["compile", "-t", "", module])
    assert (code, out) == (2, "")
    assert err == "hlb: error: -t '' names no target: give an fs function's name, e.g. -t default\n"


# -- --platform ----------------------------------------------------------------------------------

BAD_PLATFORMS = [
    ("../..", "'..' is not a name"),
    ("", "an empty platform"),
    ("linux/amd64,linux/arm64", "names several platforms"),
    ("linux/amd64,", "names several platforms"),
    ("linux", "is not a platform"),
    ("linux/amd64/v1/x", "is not a platform"),
    ("linux//amd64", "is not a platform"),
    ("linux/am d64", "is not a platform"),
    ("linux/amd46", "unknown architecture 'amd46'"),
    ("linuks/amd64", "unknown operating system 'linuks'"),
]


# `hlb run --platform` takes a list as buildx does (tests/unit/cli/test_output_flags.py); `hlb compile` one platform,
# and says so for a list (tests/unit/cli/test_review_fixes.py)
RUN_REASONS = {"linux/amd64,": "an empty platform"}
CASES = [("compile", v, r) for v, r in BAD_PLATFORMS if v != "linux/amd64,linux/arm64"] + [
    ("run", v, RUN_REASONS.get(v, r)) for v, r in BAD_PLATFORMS if v != "linux/amd64,linux/arm64"
]


@pytest.mark.parametrize(("command", "value", "reason"), CASES, ids=[f"{c}-{v or 'empty'}" for c, v, _ in CASES])
def test_a_platform_that_is_not_one_is_a_usage_error(
    command: str, value: str, reason: str, module: str, hlb: Run
) -> None:
    argv = [command, "--platform", value, module] + (["--tree"] if command == "run" else [])
    code, out, err = hlb(argv)
    assert (code, out) == (2, ""), err
    assert err.startswith("hlb: error: --platform: ") and err.count("\n") == 1, err
    assert reason in err and "os/arch[/variant]" in err
    assert "linux" in err and "arm64" in err  # the known values are listed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("linux/amd64", "linux/amd64"),
        ("Linux/x86_64", "linux/amd64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/arm/v7", "linux/arm/v7"),
        ("macos/arm64", "darwin/arm64"),
        ("windows/amd64", "windows/amd64"),
        ("linux/riscv64", "linux/riscv64"),
    ],
)
def test_platforms_are_normalised_as_containerd_does(value: str, expected: str) -> None:
    assert str(Platform.parse_flag(value)) == expected


def test_known_values_are_containerds() -> None:
    assert {"linux", "windows", "darwin", "freebsd"} <= set(KNOWN_OS)
    assert {"amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "loong64"} <= set(KNOWN_ARCH)
