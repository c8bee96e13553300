"""Command-line problems found by reviewing issue 14's merged parts together: two writers of stdout, --tree
showing the daemon a build would use, empty module names, unreadable files in machine-readable output,
`hlb compile` with a fleet or a platform list, and completion without the run stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Run

MODULE = 'fs default() {\n\timage "busybox:latest"\n\trun "echo hi > /f"\n}\n'


@pytest.fixture
def module(tmp_path: Path) -> str:
    f = tmp_path / "build.hlb"
    f.write_text(MODULE)
    return str(f)


@pytest.mark.parametrize("mode", ["rawjson", "quiet"])
def test_stdout_is_not_shared_by_the_tar_and_the_progress(hlb: Run, module: str, mode: str) -> None:
    code, out, err = hlb(["run", "--progress", mode, "-o", "-", module])
    assert code == 2 and out == ""
    assert err.startswith(f"hlb: error: -o - writes the tar to stdout, where --progress {mode} writes")
    assert len(err.strip().splitlines()) == 1


def test_buildkit_progress_rawjson_is_the_same_clash(hlb: Run, module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILDKIT_PROGRESS", "rawjson")
    code, _, err = hlb(["run", "-o", "-", module])
    assert code == 2 and "--progress rawjson" in err


@pytest.mark.parametrize("argv", [["run", ""], ["run", "-f", ""], ["run", "--tree", "-f", " "]])
def test_an_empty_module_name_is_a_usage_error(hlb: Run, argv: list[str], tmp_path: Path, module: str) -> None:
    code, _, err = hlb(argv)
    assert code == 2 and "is empty: name a .hlb file" in err


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--context", "nosuch"], "docker context `nosuch`"),
        (["--context", "x", "--addr", "tcp://a:1"], "conflicting options"),
        (["--addr", "bogus://x"], "bogus://x"),
        (["--addr", "tcp://h:0"], "tcp://h:0"),
    ],
)
def test_tree_checks_the_daemon_as_the_build_would(
    hlb: Run, module: str, flags: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    code, out, err = hlb(["run", "--tree", *flags, module])
    assert code == 2 and out == "" and says in err


def test_tree_with_a_context_does_not_show_the_fleet_of_buildkit_host(
    hlb: Run, module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --context wins over BUILDKIT_HOST: the tree must not place solves on BUILDKIT_HOST's daemons.
    monkeypatch.setenv("BUILDKIT_HOST", "tcp://bk-0:1234,tcp://bk-1:1234")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    code, out, err = hlb(["run", "--tree", "--context", "default", module])
    assert code == 0, err
    assert "bk-0" not in out and "bk-1" not in out


@pytest.mark.parametrize("command", ["check", "lint"])
def test_an_unreadable_file_is_an_entry_of_the_json(hlb: Run, command: str, module: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "nosuch.hlb")
    code, out, _ = hlb([command, "--format", "json", missing])
    assert code == 1
    [entry] = json.loads(out)
    assert entry["kind"] == "cannot-read" and entry["severity"] == "error" and entry["file"] == missing
    code, out, _ = hlb([command, "--format", "github", missing])
    assert code == 1 and out.startswith("::error file=") and "title=cannot-read::cannot read" in out


def test_compile_refuses_a_fleet_and_a_platform_list(hlb: Run, module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = hlb(["compile", "--platform", "linux/amd64,linux/arm64", module])
    assert code == 2 and "`hlb compile` prints the LLB of one platform" in err
    monkeypatch.setenv("BUILDKIT_HOST", "tcp://a:1,tcp://b:1")
    code, _, err = hlb(["compile", module])
    assert code == 2 and "`hlb compile` works on one daemon; BUILDKIT_HOST names 2" in err


PROBE = """
import sys
from hlb.cli.main import main
code = main(sys.argv[1:])
print("LOADED:" + ",".join(m for m in ("grpc", "hlb.cli.run", "hlb.solver") if m in sys.modules), file=sys.stderr)
raise SystemExit(code)
"""


def test_a_second_completion_script_comes_from_the_cache_without_the_run_stack() -> None:
    def run() -> tuple[str, str]:
        done = subprocess.run([sys.executable, "-c", PROBE, "completion", "bash"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr.strip().splitlines()[-1]

    first, _ = run()
    second, loaded = run()
    assert second == first and "_shtab_hlb" in second
    assert loaded == "LOADED:", loaded
    assert "-f --file" in second  # hlb run's -f completes .hlb files like the module argument


@pytest.mark.parametrize("flags", [["--progress", "rawjson"], ["-o", "-"], ["--progress", "quiet"]])
def test_a_metadata_file_on_stdout_does_not_share_it(hlb: Run, module: str, flags: list[str]) -> None:
    code, out, err = hlb(["run", *flags, "--metadata-file", "/dev/stdout", module])
    assert code == 2 and out == "", err
    assert "--metadata-file /dev/stdout is stdout, where" in err


def test_a_metadata_file_named_dash_is_refused(hlb: Run, module: str) -> None:
    code, _, err = hlb(["run", "--metadata-file", "-", module])
    assert code == 2 and "--metadata-file -: give a file name (/dev/stdout" in err


@pytest.mark.parametrize(
    "flags",
    [
        ["-o", "type=local,dest=o/{targt}"],
        ["-o", "type=tar,dest=out-{Target}.tar"],
        ["--cache-to", "type=local,dest=c/{tagret}"],
        ["--cache-from", "type=local,src=c/{name}"],
    ],
)
def test_a_misspelt_placeholder_is_a_usage_error(hlb: Run, module: str, flags: list[str]) -> None:
    # (in an image ref a brace is already refused as an invalid reference)
    code, _, err = hlb(["run", "--tree", *flags, module])
    assert code == 2 and "unknown placeholder {" in err and "the only one is {target}" in err


def test_compile_takes_the_daemon_flags_of_run(
    hlb: Run, module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    code, out, err = hlb(["compile", "--context", "nosuch", module])
    assert code == 2 and out == "" and "docker context `nosuch` (chosen by --context) does not exist" in err
    code, _, err = hlb(["compile", "--addr", "tcp://a:1", "--addr", "tcp://b:1", module])
    assert code == 2 and "`hlb compile` works on one daemon; --addr names 2" in err
    code, out, _ = hlb(["compile", "--addr", "unix:///nothing-listens.sock", module])
    assert code == 0 and '"ops"' in out  # no image config needed: the daemon is never dialled
