"""`hlb explain` on the command line, reading records from a private cache directory (no daemon)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_explain import module, run_of

from hlb import api
from hlb.build import record
from hlb.cli.main import main


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a\n")
    return tmp_path


def test_no_run_recorded(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "build.hlb").write_text(module())
    assert main(["explain"]) == 1
    assert "no run of build.hlb is recorded: `hlb run` records each run" in capsys.readouterr().err
    assert main(["explain", "-t", "app"]) == 1
    assert "no run of build.hlb -t app is recorded: `hlb run -t app`" in capsys.readouterr().err


def test_one_run_asks_for_another_or_plan(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record.save(run_of(project, module()))
    assert main(["explain"]) == 1
    assert "only one run of build.hlb is recorded" in capsys.readouterr().err


def test_two_runs_text_and_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record.save(run_of(project, module(cmd="make")))
    record.save(run_of(project, module(cmd="make all"), ran=6))
    assert main(["explain"]) == 0
    expected = '`run "make all"` (build.hlb:6) runs again because its command changed from `make` to `make all`'
    assert capsys.readouterr().out == expected + "\n"
    assert main(["explain", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["step"]["at"] == "build.hlb:6:2" and got["causes"][0]["kind"] == "command"
    assert got["message"] == expected


def test_a_corrupt_record_is_a_warning_not_a_traceback(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "build.hlb").write_text(module())
    path = record.record_path(record.project_of("build.hlb"), "default")
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "runs": [{"project": 1}]}')
    assert main(["explain"]) == 1
    err = capsys.readouterr().err
    assert "hlb: warning: the run record" in err and "is corrupt" in err and "Traceback" not in err


def test_stdin_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "-"]) == 2
    assert "not stdin" in capsys.readouterr().err


def test_the_library_explains_the_last_two_runs(project: Path) -> None:
    assert api.explain(project / "build.hlb") is None
    record.save(run_of(project, module(env="a")))
    assert api.explain(project / "build.hlb") is None
    record.save(run_of(project, module(env="b"), ran=6))
    result = api.explain(project / "build.hlb")
    assert result is not None and [c.kind for c in result.causes] == ["env"]


def test_plan_without_a_daemon_says_the_images_were_not_compared(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    record.save(run_of(project, module(), name="build.hlb"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{project}/no-daemon.sock")
    monkeypatch.delenv("BUILDKIT_HOST", raising=False)
    assert main(["explain", "--plan"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("nothing would run again")
    assert "hlb: warning: cannot resolve the image docker.io/library/busybox:latest now, so its digest is not" in err
    (project / "build.hlb").write_text(module(cmd="make"))
    assert main(["explain", "--plan"]) == 0
    assert capsys.readouterr().out.startswith('`run "make"` (build.hlb:6) would run again because its command changed')


def several_platforms_run(project: Path, *, no_cache: bool = False) -> record.Run:
    """What `hlb run --platform linux/amd64,linux/arm64` records: a marker without its graphs."""
    from hlb.llb import Platform
    from hlb.source import SourceFile

    source = SourceFile.read(project / "build.hlb")
    platforms = [Platform("linux", "amd64"), Platform("linux", "arm64")]
    recorder = record.Recorder(source, ["default"], platforms[0], platforms=platforms, no_cache=no_cache)
    return recorder.finish()


def test_a_run_of_several_platforms_is_never_taken_for_an_older_one(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record.save(run_of(project, module(cmd="make")))
    record.save(run_of(project, module(cmd="make all"), ran=6))
    record.save(several_platforms_run(project))  # the latest run: explain must not explain the two before it
    assert main(["explain"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "hlb: note: the last run built several platforms (linux/amd64, linux/arm64); hlb explain compares "
        "single-platform runs: run one platform (--platform PLATFORM, or none) to compare\n"
    )
    assert main(["explain", "--plan"]) == 1 and "the last run built several platforms" in capsys.readouterr().err
    assert api.explain(project / "build.hlb") is None
    record.save(run_of(project, module(cmd="make all"), ran=6))  # then one platform again: nothing to compare with
    assert main(["explain"]) == 1
    assert "the one before the last run built several platforms" in capsys.readouterr().err
    assert api.explain(project / "build.hlb") is None


def test_the_run_suggests_explain_only_when_explain_can_answer(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hlb.cli import run as run_cli

    class Finished:  # a recorder whose run is done
        def __init__(self, run: record.Run) -> None:
            self.finish = lambda: run

    def finished(run: record.Run) -> record.Recorder:
        return Finished(run)  # type: ignore[return-value]

    monkeypatch.chdir(project)
    record.save(run_of(project, module(cmd="make")))
    changed = run_of(project, module(cmd="make all"), ran=6)
    run_cli._record(finished(changed))
    assert 'first step not cached: `run "make all"` (build.hlb:6); `hlb explain` says why' in capsys.readouterr().err
    no_cache = run_of(project, module(cmd="make all"), ran=1)
    no_cache.no_cache = True  # --no-cache reruns every step because it was asked to: nothing to explain
    run_cli._record(finished(no_cache))
    assert capsys.readouterr().err == ""
    run_cli._record(finished(several_platforms_run(project)))
    assert capsys.readouterr().err == ""
    run_cli._record(finished(run_of(project, module(cmd="make"), ran=6)))  # the run before is of several platforms
    assert capsys.readouterr().err == ""
