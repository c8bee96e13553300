"""The command line: exit codes and messages, without a daemon."""

from __future__ import annotations

from pathlib import Path

import pytest

from hlb import __version__
from hlb.cli.main import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's --help / --version / usage errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"], capsys) == (0, f"hlb {__version__}\n", "")


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_help_on_every_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(argv, capsys)
    assert code == 0 and "usage: hlb" in out


def test_no_command_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([], capsys)
    assert code == 2 and "usage: hlb" in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["run"], capsys)
    assert code == 1
    assert err == "hlb: error: cannot read build.hlb: No such file or directory\n"


def test_diagnostics_are_rendered_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "b.hlb"
    f.write_text('fs default() {\n\timgae "busybox"\n}\n')
    code, _, err = run(["run", str(f)], capsys)
    assert code == 1
    assert err.startswith(f"{f}:2:2: error: `imgae` is undefined or not in scope [undefined-name]\n")
    assert "did you mean `image`?" in err and "aborting due to previous error" in err


def test_unknown_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "b.hlb"
    f.write_text("fs build() { scratch }\n")
    code, _, err = run(["run", "-t", "biuld", str(f)], capsys)
    assert code == 1
    assert err.startswith(f'<command line>:1:12: error: target "biuld" is not defined in {f} [target-not-found]\n')
    assert "1 | hlb run -t biuld" in err and "did you mean `build`?" in err


def test_comma_separated_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "b.hlb"
    f.write_text("fs a() { scratch }\nfs b() { scratch }\n")
    code, _, err = run(["run", "-t", "a,b", str(f)], capsys)
    assert code == 0
    assert "hlb: a: the result is an empty filesystem" in err and "hlb: b:" in err


def test_unreachable_engine_is_one_paragraph_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BUILDKIT_HOST", raising=False)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    f = tmp_path / "b.hlb"
    f.write_text('fs default() { image "busybox" }\n')
    code, _, err = run(["run", str(f)], capsys)
    assert code == 1
    assert f"cannot reach the Docker engine at unix://{tmp_path}/nothing.sock (from DOCKER_HOST)" in err
    assert "hint: is the engine at DOCKER_HOST running? unset DOCKER_HOST to use the current docker context" in err
    assert "Traceback" not in err


def test_bad_platform(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["run", "--platform", "linux", str(tmp_path / "x.hlb")], capsys)
    assert code == 2 and "--platform" in err


def test_an_internal_error_is_one_paragraph_with_a_backtrace_switch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import hlb.cli.run

    def broken(args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(hlb.cli.run, "run", broken)
    monkeypatch.delenv("HLB_BACKTRACE", raising=False)
    code, _, err = run(["run"], capsys)
    assert code == 70
    assert err.startswith("hlb: internal error: RuntimeError: boom (at ")
    assert "Traceback" not in err and "HLB_BACKTRACE=1" in err
    monkeypatch.setenv("HLB_BACKTRACE", "1")
    code, _, err = run(["run"], capsys)
    assert code == 70 and "Traceback (most recent call last)" in err


def test_module_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO('fs default() {\n\timgae "x"\n}\n'))
    code, _, err = run(["run", "-"], capsys)
    assert code == 1 and err.startswith("<stdin>:2:2: error: `imgae` is undefined or not in scope")
