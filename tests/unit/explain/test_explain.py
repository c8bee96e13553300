"""`hlb explain`'s comparison of two runs (hlb.explain) on records made from real compiled modules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hlb.api import compile_source
from hlb.build import record
from hlb.build.record import Run
from hlb.explain import explain, rerun_step
from hlb.llb import Platform
from hlb.source import SourceFile

PLATFORM = Platform("linux", "amd64")

MODULE = """\
fs default() {
	image "busybox:latest"
	env "NODE_ENV" "{env}"
	dir "/app"
	copy local("src") "." "/app"
	run "{cmd}"
	run "echo done"
}
"""


def module(env: str = "dev", cmd: str = "npm ci") -> str:
    return MODULE.replace("{env}", env).replace("{cmd}", cmd)


def run_of(
    tmp_path: Path, text: str, *, ran: int | None = 1, images: dict[str, str] | None = None, name: str | None = None
) -> Run:
    """The run of ``text`` as `hlb run` would record it, its `local` read from ``tmp_path/src`` now; the steps
    at line ``ran`` and below ran (as the daemon runs every step after the first one not cached), None: none;
    ``name`` is the module's path as the command line gives it (default: absolute)."""
    path = tmp_path / "build.hlb"
    path.write_text(text)
    source = SourceFile.read(path, name)  # `name`: the module's path as given on the command line
    compiled = compile_source(source, ["default"], PLATFORM)
    run, problems = record.planned_run(compiled.plan(PLATFORM), source, ["default"], PLATFORM)
    assert problems == []
    run.planned = False
    steps = [o for o in run.ops if o.kind != "source"]
    run.ran = [o.digest for o in steps if ran is not None and int(o.at.split(":")[-2]) >= ran]
    run.cached = [o.digest for o in steps if o.digest not in run.ran]
    run.images = dict(images or {})
    return run


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "package-lock.json").write_text('{\n  "a": 1\n}\n')
    (tmp_path / "src" / "big.bin").write_bytes(b"\0" * 100_000)
    return tmp_path


def test_a_changed_local_file_is_named_with_its_lines(project: Path) -> None:
    old = run_of(project, module())
    (project / "src" / "package-lock.json").write_text('{\n  "a": 1,\n  "b": 2,\n  "c": 3,\n  "d": 4\n}\n')
    new = run_of(project, module())
    result = explain(old, new)
    assert result.step is not None and result.step.what == 'copy local("src") "." "/app"'
    assert [c.kind for c in result.causes] == ["local"]
    assert result.render(str(project)) == (
        '`copy local("src") "." "/app"` (build.hlb:5) runs again because `local("src")` (build.hlb:5) changed: '
        "package-lock.json (+3 lines)"
    )


def test_touching_a_file_changes_nothing_but_an_added_file_does(project: Path) -> None:
    old = run_of(project, module())
    lock = project / "src" / "package-lock.json"
    lock.write_text(lock.read_text())  # a new mtime, the same content: BuildKit's content hash ignores mtime
    same = run_of(project, module())
    assert explain(old, same).causes[0].kind == "pruned"
    (project / "src" / "new.js").write_text("x\n")
    added = run_of(project, module())
    assert "new.js (added)" in explain(old, added).render(str(project))


def test_a_changed_env_value_names_the_line_that_sets_it(project: Path) -> None:
    old = run_of(project, module(env="dev"))
    new = run_of(project, module(env="prod"), ran=6)
    result = explain(old, new)
    assert result.step is not None and result.step.what == 'run "npm ci"'
    assert result.render(str(project)) == (
        '`run "npm ci"` (build.hlb:6) runs again because `env NODE_ENV` changed from dev to prod at build.hlb:3'
    )


def test_a_changed_command(project: Path) -> None:
    old = run_of(project, module(cmd="npm ci"))
    new = run_of(project, module(cmd="npm install"), ran=6)
    result = explain(old, new)
    assert result.render(str(project)) == (
        '`run "npm install"` (build.hlb:6) runs again because its command changed from `npm ci` to `npm install`'
    )
    assert result.to_json(str(project))["causes"][0]["kind"] == "command"


def test_an_image_that_resolves_to_a_new_digest(project: Path) -> None:
    ref = "docker-image://docker.io/library/busybox:latest"
    old = run_of(project, module(), images={ref: "sha256:" + "a" * 64})
    new = run_of(project, module(), images={ref: "sha256:" + "b" * 64})
    result = explain(old, new)
    assert result.step is not None and result.step.what == 'copy local("src") "." "/app"'
    assert result.render(str(project)) == (
        '`copy local("src") "." "/app"` (build.hlb:5) runs again because the image '
        "`docker.io/library/busybox:latest` (build.hlb:2) now resolves to a new digest: "
        "sha256:aaaaaaaaaaaa → sha256:bbbbbbbbbbbb"
    )


def test_several_causes_are_listed(project: Path) -> None:
    old = run_of(project, module(env="dev", cmd="npm ci"))
    new = run_of(project, module(env="prod", cmd="npm install"), ran=6)
    text = explain(old, new).render(str(project))
    assert text == (
        '`run "npm install"` (build.hlb:6) runs again because:\n'
        "  - its command changed from `npm ci` to `npm install`\n"
        "  - `env NODE_ENV` changed from dev to prod at build.hlb:3"
    )


def test_changes_behind_later_steps_are_listed_after_the_first(project: Path) -> None:
    old = run_of(project, module(env="dev"))
    (project / "src" / "package-lock.json").write_text("{}\n")
    new = run_of(project, module(env="prod"))
    text = explain(old, new).render(str(project))
    assert text.splitlines()[1:] == [
        "also changed, for later steps:",
        '  - `run "npm ci"` (build.hlb:6): `env NODE_ENV` changed from dev to prod at build.hlb:3',
    ]


def test_an_identical_graph_that_ran_was_pruned(project: Path) -> None:
    old = run_of(project, module())
    new = run_of(project, module())
    result = explain(old, new)
    assert result.step is not None and result.step.what == 'copy local("src") "." "/app"'
    assert [c.kind for c in result.causes] == ["pruned"]
    assert "the daemon's cache was pruned or evicted (or this is another machine)" in result.render()


def test_nothing_ran_again(project: Path) -> None:
    old = run_of(project, module())
    new = run_of(project, module(), ran=None)
    assert explain(old, new).step is None
    assert explain(old, new).render() == "nothing ran again: every step of the last run was cached"
    assert rerun_step(new) is None


def test_a_new_step(project: Path) -> None:
    old = run_of(project, module())
    new = run_of(project, module().replace('\trun "echo done"', '\trun "echo new"\n\trun "echo done"'), ran=7)
    result = explain(old, new)
    assert result.step is not None and result.step.what == 'run "echo new"'
    assert result.render(str(project)).endswith("is a new step: the run before had nothing at that line")


def test_planned_runs_compare_digests_and_files(project: Path) -> None:
    old = run_of(project, module())
    same = run_of(project, module())
    same.planned = True
    assert explain(old, same).step is None
    changed = run_of(project, module(cmd="make"))
    changed.planned = True
    assert explain(old, changed).render(str(project)).startswith('`run "make"` (build.hlb:6) would run again because')


# -- the record: bounded, atomic, a corrupt one ignored -------------------------------------------


def test_records_keep_the_last_runs_under_the_size_cap(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    for i in range(200):
        (project / "src" / f"f{i:03}.txt").write_text("x\n" * i)
    runs = [run_of(project, module(cmd=f"echo {i}")) for i in range(5)]
    size = len(json.dumps(runs[0].to_json()))
    monkeypatch.setattr(record, "MAX_BYTES", int(size * 2.5))
    previous = None
    for r in runs:
        before, warning = record.save(r, env)
        assert warning == "" and before == previous
        previous = r
    path = record.record_path(runs[0].project, "default", env)
    assert path.stat().st_size <= record.MAX_BYTES
    kept, warning = record.load(runs[0].project, "default", env)
    assert warning == ""
    assert len(kept) <= record.KEEP_RUNS
    assert kept[-1] == runs[-1]  # the newest run is kept whole
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file is left
    assert all(summary["files"] for r in runs for summary in r.locals.values())  # bounding copies, never strips


def test_a_summary_keeps_a_bounded_number_of_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hlb.session import summary
    from hlb.session.filesync import summarize
    from hlb.values import LocalDir

    monkeypatch.setattr(summary, "MAX_FILES", 10)
    for i in range(30):
        (tmp_path / f"f{i:02}").write_text(str(i))
    got = summarize(LocalDir("x", str(tmp_path))).to_json()
    assert got["count"] == 30 and got["kept"] == 10
    (tmp_path / "f29").write_text("changed")
    assert summarize(LocalDir("x", str(tmp_path))).to_json()["digest"] != got["digest"]  # a change beyond the cap


CORRUPT = ["{not json", '{"format": 1, "runs": [{"ops": 3}]}', '{"format": 99, "runs": []}', "[]"]


@pytest.mark.parametrize("text", CORRUPT)
def test_a_corrupt_record_is_ignored_with_a_warning(tmp_path: Path, text: str, project: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    path = record.record_path("/p/build.hlb", "default", env)
    path.parent.mkdir(parents=True)
    path.write_text(text)
    runs, warning = record.load("/p/build.hlb", "default", env)
    assert runs == [] and "is corrupt" in warning and "ignoring it" in warning
    run = run_of(project, module())
    run.project = "/p/build.hlb"
    previous, warning = record.save(run, env)
    assert previous is None and "is corrupt" in warning
    assert record.load("/p/build.hlb", "default", env) == ([run], "")


def test_a_graph_over_the_cap_keeps_its_first_steps(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(record, "MAX_OPS", 3)
    old = run_of(project, module(cmd="a"))
    new = run_of(project, module(cmd="b"), ran=6)
    assert [o.what for o in new.ops] == ['image "busybox:latest"', 'local("src")', 'copy local("src") "." "/app"']
    assert new.truncated == 2
    new.ran = ["sha256:" + "f" * 64]  # the recorder notes every step that ran, kept or not
    assert explain(old, new).render() == (
        "the first step that ran again is beyond the first 3 steps the record keeps (this graph has 5)"
    )


def test_a_module_named_absolutely_or_relatively_is_one_local(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    old = run_of(project, module(), name=str(project / "build.hlb"))  # hlb run /abs/build.hlb
    new = run_of(project, module(), name="./build.hlb")  # then hlb run ./build.hlb: the same ids, no rerun
    assert "nothing changed" in explain(old, new).render(str(project))


def test_a_local_named_differently_says_why(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    old = run_of(project, module(), name="build.hlb")  # hlb run build.hlb
    monkeypatch.chdir(project.parent)
    new = run_of(project, module(), name=f"{project.name}/build.hlb")  # then from the parent directory
    text = explain(old, new).render(str(project))
    assert text.startswith(
        '`copy local("src") "." "/app"` (build.hlb:5) runs again because `local("src")` (build.hlb:5)'
    )
    assert "is another directory to the daemon: its id" in text


def test_the_recorder_leaves_out_persist_pushes(project: Path) -> None:
    from dataclasses import replace

    from hlb.progress.events import VertexEvent
    from hlb.progress.tracker import Tracker

    path = project / "build.hlb"
    path.write_text(module())
    source = SourceFile.read(path)
    solve = compile_source(source, ["default"], PLATFORM).plan(PLATFORM).solves[0]
    tracker = Tracker()
    for i, dgst in enumerate(solve.definition.op_kinds):
        tracker.apply_vertex(VertexEvent(dgst, "step", cached=i < 3, started=1.0, completed=2.0))
    recorder = record.Recorder(source, ["default"], PLATFORM)
    recorder.solved(replace(solve, kind="persist"), tracker, [])
    assert recorder.finish().ops == []
    recorder = record.Recorder(source, ["default"], PLATFORM)
    recorder.solved(solve, tracker, [])
    run = recorder.finish()
    assert [o.what for o in run.ops][-2:] == ['run "npm ci"', 'run "echo done"']
    assert run.ran == list(solve.definition.op_kinds)[3:]
    assert rerun_step(run) is not None and rerun_step(run).what == 'run "npm ci"'  # type: ignore[union-attr]


def test_the_recorder_reads_the_plans_ops_once_beside_the_build(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ops are read on the recorder's thread while the build runs; the end of the run reuses them when the
    solves finished as planned (reading them costs ~55 ms per 1,000 steps), and reads them again otherwise."""
    from hlb.progress.tracker import Tracker

    path = project / "build.hlb"
    path.write_text('fs default() {\n\tscratch\n\tmkfile "/a" 0o644 "a"\n\tmkfile "/b" 0o644 "b"\n}\n')
    source = SourceFile.read(path)
    plan = compile_source(source, ["default"], PLATFORM).plan(PLATFORM)
    expected, _ = record.ops_of(s.definition for s in plan.solves)
    calls: list[int] = []
    real = record.ops_of

    def counted(definitions, limit=None):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(definitions, limit)

    monkeypatch.setattr(record, "ops_of", counted)
    recorder = record.Recorder(source, ["default"], PLATFORM)
    recorder.start(None, plan)  # type: ignore[arg-type]  # no image without a digest: the daemon is not asked
    recorder.solved(plan.solves[0], Tracker(), [])
    run = recorder.finish()
    assert run.ops == expected
    assert len(calls) == 1
    other = record.Recorder(source, ["default"], PLATFORM)  # a run that solved something else than planned
    other.start(None, plan)  # type: ignore[arg-type]
    changed = compile_source(source, ["default"], Platform("linux", "arm64")).plan(PLATFORM).solves[0]
    other.solved(changed, Tracker(), [])
    assert other.finish().ops == real([changed.definition])[0]
    assert len(calls) == 3


CTX = """\
fs default() {
	image "busybox:latest"
	run "cat /ctx/a.txt" with option {
		mount fs { local "ctx"{opts}; } "/ctx"
	}
}
"""


def ctx_module(opts: str = "") -> str:
    return CTX.replace("{opts}", opts)


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    (tmp_path / "ctx").mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / "ctx" / name).write_text(name + "\n")
    return tmp_path


STEP = '`run "cat /ctx/a.txt"` (build.hlb:3) runs again because `local "ctx"` (build.hlb:4) changed: '


def test_an_edited_dockerignore_is_named_with_its_patterns(ctx: Path) -> None:
    (ctx / "ctx" / ".dockerignore").write_text("b.txt\n")
    old = run_of(ctx, ctx_module(' with option { excludePatterns "a.log" }'))
    (ctx / "ctx" / ".dockerignore").write_text("# more\nc.txt\n")
    new = run_of(ctx, ctx_module(' with option { excludePatterns "a.log" }'))
    result = explain(old, new)
    assert result.render(str(ctx)) == STEP + "ctx/.dockerignore was edited: added `c.txt`; removed `b.txt`"
    assert [c.kind for c in result.causes] == ["ignore-file"]
    assert result.to_json(str(ctx))["causes"][0]["text"].endswith(
        "ctx/.dockerignore was edited: added `c.txt`; removed `b.txt`"
    )
    assert "run hlb from the same directory" not in result.render(str(ctx))


def test_a_dockerignore_added_or_replaced_by_a_hlbignore_is_named(ctx: Path) -> None:
    old = run_of(ctx, ctx_module())
    (ctx / "ctx" / ".dockerignore").write_text("b.txt\n")
    middle = run_of(ctx, ctx_module())
    assert explain(old, middle).render(str(ctx)) == (
        STEP + "ctx/.dockerignore now applies (there was no ignore file): added `b.txt`"
    )
    (ctx / "ctx" / ".hlbignore").write_text("b.txt\nc.txt\n")
    new = run_of(ctx, ctx_module())
    assert explain(middle, new).render(str(ctx)) == STEP + (
        "ctx/.hlbignore applies instead of ctx/.dockerignore (a .hlbignore wins over a .dockerignore): added `c.txt`"
    )
    (ctx / "ctx" / ".hlbignore").unlink()
    (ctx / "ctx" / ".dockerignore").unlink()
    last = run_of(ctx, ctx_module())
    assert explain(new, last).render(str(ctx)) == (
        STEP + "ctx/.hlbignore no longer applies (it is gone): removed `b.txt`, `c.txt`"
    )


def test_a_changed_pattern_option_is_named_with_its_patterns(ctx: Path) -> None:
    (ctx / "ctx" / ".dockerignore").write_text("b.txt\n")
    old = run_of(ctx, ctx_module(' with option { excludePatterns "c.txt" }'))
    new = run_of(ctx, ctx_module(' with option { excludePatterns "c.txt" "*.log"; includePatterns "*.txt" }'))
    result = explain(old, new)
    assert result.render(str(ctx)) == (
        '`run "cat /ctx/a.txt"` (build.hlb:3) runs again because:\n'
        '  - `local "ctx"` (build.hlb:4) changed: its `includePatterns` option changed: added `*.txt`\n'
        '  - `local "ctx"` (build.hlb:4) changed: its `excludePatterns` option changed: added `*.log`'
    )


def test_a_run_recorded_without_patterns_names_the_daemons_patterns(ctx: Path) -> None:
    (ctx / "ctx" / ".dockerignore").write_text("b.txt\n")
    old = run_of(ctx, ctx_module())
    (ctx / "ctx" / ".dockerignore").write_text("b.txt\nc.txt\n")
    new = run_of(ctx, ctx_module())
    old.local_patterns = {}  # a record written before hlb kept them
    assert explain(old, new).render(str(ctx)) == STEP + (
        "its exclude patterns (of its options and its .dockerignore or .hlbignore) changed: added `c.txt`"
    )


def test_local_patterns_survive_the_record(ctx: Path, tmp_path: Path) -> None:
    (ctx / "ctx" / ".hlbignore").write_text("b.txt\n")
    run = run_of(ctx, ctx_module(' with option { excludePatterns "c.txt" }'))
    assert list(run.local_patterns.values()) == [
        {"ignore_file": str(ctx / "ctx" / ".hlbignore"), "ignore": ["b.txt"], "exclude": ["c.txt"]}
    ]
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    record.save(run, env)
    assert record.load(run.project, run.key, env)[0][0].local_patterns == run.local_patterns
