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
