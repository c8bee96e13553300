"""Results for scripts: `hlb check|lint --format json|github`, `hlb run --metadata-file`'s checks and content,
rawjson's stream, `hlb targets`, `hlb completion` and `hlb init`."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hlb.build import metadata
from hlb.build.runner import CacheOutcome, SolveResult
from hlb.cli.common import github_command, github_data, github_property
from hlb.cli.init import STARTER
from hlb.compiler.plan import Plan, Solve
from hlb.diagnostics import catalog as cat
from hlb.progress.display import RawJSONProgress, open_progress
from hlb.progress.events import StatusBatch, VertexEvent
from hlb.source import SourceFile, Span
from hlb.values import CacheEntry

Run = Callable[[list[str]], tuple[int, str, str]]  # the `hlb` fixture of conftest.py
ROOT = Path(__file__).resolve().parents[3]

BROKEN = 'fs default() {\n\timgae "busybox"\n}\ngroup all() {}\n'


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- hlb check / lint --format ---------------------------------------------------------------------------


def test_check_json_lists_every_diagnostic_with_its_span_code_and_hints(tmp_path: Path, hlb: Run) -> None:
    build = write(tmp_path / "build.hlb", BROKEN)
    code, out, err = hlb(["check", "--format", "json", str(build)])
    assert code == 1 and err == ""
    error, warning = json.loads(out)
    assert error == {
        "file": str(build),
        "line": 2,
        "col": 2,
        "end_line": 2,
        "end_col": 6,
        "severity": "error",
        "code": "E0201",
        "kind": "undefined-name",
        "message": "`imgae` is undefined or not in scope",
        "label": "",
        "hints": ["did you mean `image`?"],
        "labels": [],
    }
    assert (warning["severity"], warning["kind"], warning["line"], warning["col"]) == ("warning", "deprecated", 4, 1)


def test_check_json_is_one_array_over_several_files_and_empty_when_clean(tmp_path: Path, hlb: Run) -> None:
    a = write(tmp_path / "a.hlb", "fs a() { nope; }\n")
    b = write(tmp_path / "b.hlb", "fs b() { alsonope; }\n")
    clean = write(tmp_path / "c.hlb", "fs c() { scratch; }\n")
    code, out, _ = hlb(["check", "--format", "json", str(a), str(b)])
    assert code == 1 and [d["file"] for d in json.loads(out)] == [str(a), str(b)]
    assert hlb(["check", "--format", "json", str(clean)]) == (0, "[]\n", "")


def test_check_json_labels_carry_secondary_spans(tmp_path: Path, hlb: Run) -> None:
    build = write(tmp_path / "build.hlb", "fs a() { scratch; }\nfs a() { scratch; }\n")
    code, out, _ = hlb(["check", "--format", "json", str(build)])
    (d,) = json.loads(out)
    assert code == 1 and d["kind"] == "duplicate-decl" and (d["line"], d["label"]) == (1, "defined here")
    assert d["labels"] == [
        {"file": str(build), "line": 2, "col": 4, "end_line": 2, "end_col": 4, "message": "duplicate"}
    ]


def test_check_github_writes_workflow_commands_on_stdout(
    tmp_path: Path, hlb: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "build.hlb", BROKEN)
    code, out, err = hlb(["check", "--format", "github", str(tmp_path / "build.hlb")])  # absolute: made relative
    assert code == 1 and err == ""
    assert out.splitlines() == [
        "::error file=build.hlb,line=2,col=2,endLine=2,endColumn=6,title=undefined-name (E0201)::"
        "`imgae` is undefined or not in scope%0Ahint: did you mean `image`?",
        "::warning file=build.hlb,line=4,col=1,endLine=4,endColumn=5,title=deprecated (W0001)::"
        "type `group` is deprecated, use `pipeline` instead%0Ahint: write `pipeline`; `hlb lint --fix` rewrites it",
    ]


def test_lint_formats_its_findings_too(tmp_path: Path, hlb: Run) -> None:
    build = write(tmp_path / "build.hlb", 'import unused from "./u.hlb"\nfs default() { scratch; }\n')
    write(tmp_path / "u.hlb", "export x\nfs x() { scratch; }\n")
    code, out, err = hlb(["lint", "--format", "json", str(build)])
    (d,) = json.loads(out)
    assert code == 1 and d["kind"] == "unused" and d["line"] == 1 and "hlb lint --fix" in err
    code, out, _ = hlb(["lint", "--format", "github", str(build)])
    assert code == 1 and out.startswith("::warning file=") and "title=unused (" in out


def test_github_escapes_data_and_properties_as_github_reads_them() -> None:
    assert github_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert github_property("a,b: 50%\n") == "a%2Cb%3A 50%25%0A"
    file = SourceFile("dir,with: odd%/build.hlb", "fs a() { nope; }\n")
    d = cat.undefined_name(Span(file, 9, 13), "nope", None)
    line = github_command(d)
    assert line.startswith("::error file=dir%2Cwith%3A odd%25/build.hlb,line=1,col=10,endLine=1,endColumn=13,")
    assert "\n" not in line and line.count("::") == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--format", "xml"],
        ["lint", "--format", "JSON"],
        ["targets", "--format", "yaml"],
        ["completion", "powershell"],
        ["completion"],
    ],
)
def test_bad_format_and_shell_values_are_usage_errors(hlb: Run, argv: list[str]) -> None:
    code, _, err = hlb(argv)
    assert code == 2 and "invalid choice" in err or "required" in err


# -- hlb run --metadata-file -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "extra", "message"),
    [
        ("", [], "--metadata-file: give a file name"),
        (".", [], "is a directory"),
        ("no/such/dir/m.json", [], "does not exist"),
        ("m.json", ["--tree"], "--tree builds nothing"),
    ],
)
def test_metadata_file_that_can_never_be_written_is_a_usage_error(
    tmp_path: Path, hlb: Run, monkeypatch: pytest.MonkeyPatch, value: str, extra: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "build.hlb", "fs default() { scratch; }\n")
    monkeypatch.setenv("BUILDKIT_HOST", "unix:///nonexistent/buildkitd.sock")  # never contacted
    code, _, err = hlb(["run", "--metadata-file", value, *extra])
    assert code == 2 and message in err and err.startswith("hlb: error: --metadata-file")


def test_metadata_of_nothing_to_build_is_written(tmp_path: Path, hlb: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "build.hlb", "fs default() { scratch; }\n")
    monkeypatch.setenv("BUILDKIT_HOST", "unix:///nonexistent/buildkitd.sock")  # a scratch target needs no daemon
    code, _, err = hlb(["run", "--metadata-file", "m.json"])
    assert code == 0, err
    assert json.loads((tmp_path / "m.json").read_text()) == {"default": {"hlb.solves": []}}


def b64json(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def test_decode_response_embeds_base64_json_as_buildx_does() -> None:
    descriptor = {"mediaType": "m", "digest": "sha256:1", "size": 5}
    response = {
        "containerimage.digest": "sha256:abc",
        "containerimage.descriptor": b64json(descriptor),
        "list": b64json([{"a": 1}]),
        "empty": b64json({}),  # decodes, but to an empty object: kept as the string
        "number": b64json(3),
        "text": "aGVsbG8=",  # base64 of text that is not JSON
    }
    decoded = metadata.decode_response(response)
    assert decoded["containerimage.descriptor"] == descriptor and decoded["list"] == [{"a": 1}]
    for key in ("containerimage.digest", "empty", "number", "text"):
        assert decoded[key] == response[key]


def fake_solve(index: int, kind: str, title: str) -> Solve:
    return Solve(index, kind, title, None, None, None)  # type: ignore[arg-type]


def result(digest: str = "", name: str = "", caches: tuple[CacheOutcome, ...] = ()) -> SolveResult:
    response = {"containerimage.digest": digest, "image.name": name} if digest else {}
    return SolveResult(response, caches, steps=3, cached=2, seconds=1.23456)


def test_metadata_document_per_target() -> None:
    push = fake_solve(1, "dockerPush", "dockerPush r/app:1")
    own = fake_solve(2, "target", "target app")
    two = [fake_solve(3, "dockerPush", "dockerPush r/a"), fake_solve(4, "dockerPush", "dockerPush r/b")]
    persist = fake_solve(5, "persist", "persist r/cache")
    imported = CacheOutcome("import", CacheEntry("registry", {"ref": "r/c"}), "miss", "not found")
    results = {
        1: result("sha256:1", "r/app:1"),
        2: result(caches=(imported,)),
        3: result("sha256:a", "r/a"),
        4: result("sha256:b", "r/b"),
        5: result("sha256:p", "r/cache"),
    }
    plan = Plan(None, [push, own, *two, persist], targets={"app": (push, own), "both": tuple(two), "none": ()})
    doc = metadata.document(plan, results, [(fake_solve(1, "dockerPush", "dockerPush r/early"), result("sha256:e"))])
    app = doc["app"]
    assert app["containerimage.digest"] == "sha256:1" and app["image.name"] == "r/app:1"
    assert [s["index"] for s in app["hlb.solves"]] == [1, 2]
    assert app["hlb.solves"][1] == {
        "index": 2,
        "kind": "target",
        "title": "target app",
        "exporter_response": {},
        "cache_imports": [{"cache": "type=registry,ref=r/c", "status": "miss", "reason": "not found"}],
        "cache_exports": [],
        "steps": 3,
        "cached_steps": 2,
        "duration_seconds": 1.235,
    }
    assert "containerimage.digest" not in doc["both"] and len(doc["both"]["hlb.solves"]) == 2  # two images: no pick
    assert doc["none"] == {"hlb.solves": []}
    assert [s["title"] for s in doc["hlb.persisted"]] == ["persist r/cache"]
    assert [s["title"] for s in doc["hlb.compile_pushes"]] == ["dockerPush r/early"]


def test_metadata_write_is_atomic_and_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("old")
    metadata.write(str(path), {"a": {"b": 1}})
    assert json.loads(path.read_text()) == {"a": {"b": 1}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 and os.listdir(tmp_path) == ["m.json"]
    with pytest.raises(TypeError):
        metadata.write(str(path), {"a": object()})  # cannot be encoded: the old file stays, no temporary is left
    assert json.loads(path.read_text()) == {"a": {"b": 1}} and os.listdir(tmp_path) == ["m.json"]


# -- --progress rawjson's streams ------------------------------------------------------------------------


def test_rawjson_writes_json_to_its_json_stream_and_text_to_the_other() -> None:
    text, data = io.StringIO(), io.StringIO()
    progress = RawJSONProgress(text, data)
    printer = progress.solve("")
    printer.handle(StatusBatch(vertexes=(VertexEvent("sha256:1", "step", started=1.0),)))
    printer.close()
    progress.print("hlb: default: 0 of 1 steps cached")
    assert text.getvalue() == "hlb: default: 0 of 1 steps cached\n"
    assert all(json.loads(line) for line in data.getvalue().splitlines()) and data.getvalue()


def test_open_progress_sends_rawjson_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    err = io.StringIO()
    progress = open_progress("rawjson", err)
    printer = progress.solve("")
    printer.handle(StatusBatch(vertexes=(VertexEvent("sha256:1", "step", started=1.0),)))
    printer.close()
    progress.print("summary")
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[0])["vertexes"][0]["name"] == "step" and err.getvalue() == "summary\n"


# -- hlb targets -----------------------------------------------------------------------------------------

TARGETS = """\
import util from "./util.hlb"

# The app.
# Two lines.
fs default() {
	image "busybox"
	run "true" with option { mount scratch "/out" as built; }
}

# Pushes a release.
fs release(string tag, int n, bool push) {
	default
}

fs withFs(fs base) {
	base
}

fs many(variadic string xs) {
	scratch
}

string notATarget() {
	"x"
}

pipeline both() {
	stage default release("1", 2, true)
}
"""


def test_targets_lists_buildable_functions_with_docs_and_params(tmp_path: Path, hlb: Run) -> None:
    write(tmp_path / "util.hlb", "export u\nfs u() { scratch; }\n")
    build = write(tmp_path / "build.hlb", TARGETS)
    code, out, err = hlb(["targets", str(build)])
    assert code == 0, err
    assert out == (
        "default\n    The app.\n    Two lines.\n"
        "release --arg tag=string --arg n=int --arg push=bool\n    Pushes a release.\n"
        "both (pipeline)\n"
        "built (bound with `as` in default)\n"
    )
    code, out, _ = hlb(["targets", "--format", "names", str(build)])
    assert out.split() == ["default", "release", "both", "built"]
    code, out, _ = hlb(["targets", "--format", "json", str(build)])
    release = json.loads(out)[1]
    assert release == {
        "name": "release",
        "type": "fs",
        "params": [{"name": "tag", "type": "string"}, {"name": "n", "type": "int"}, {"name": "push", "type": "bool"}],
        "doc": "Pushes a release.",
        "file": str(build),
        "line": 11,
        "col": 4,
    }
    assert json.loads(out)[3]["bound_in"] == "default"


def test_targets_of_a_module_with_errors_or_none(tmp_path: Path, hlb: Run) -> None:
    code, out, err = hlb(["targets", str(write(tmp_path / "bad.hlb", BROKEN))])
    assert code == 1 and out == "" and "`imgae` is undefined" in err and "has errors" in err
    code, out, err = hlb(["targets", str(write(tmp_path / "none.hlb", 'string s() { "x"; }\n'))])
    assert code == 0 and out == "" and "has no target" in err
    code, _, err = hlb(["targets", str(tmp_path / "missing.hlb")])
    assert code == 1 and "cannot read" in err


# -- hlb completion --------------------------------------------------------------------------------------


def hlb_on_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has an `hlb` that runs this checkout (the scripts call `hlb targets`)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "hlb"
    exe.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m hlb "$@"\n')
    exe.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def completion(shell: str) -> str:
    done = subprocess.run([sys.executable, "-m", "hlb", "completion", shell], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bash_completion_completes_commands_files_and_targets(tmp_path: Path) -> None:
    script = write(tmp_path / "hlb.bash", completion("bash"))
    project = tmp_path / "p"
    project.mkdir()
    write(project / "ci.hlb", 'fs lint() { scratch; }\nfs test() { scratch; }\nstring s() { "x"; }\n')
    write(project / "build.hlb", "fs default() { scratch; }\n")
    (project / "notes.txt").write_text("")
    env = hlb_on_path(tmp_path)

    def complete(*words: str) -> list[str]:
        code = (
            f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
            'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; _shtab_hlb; printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run(["bash", "-c", code], cwd=project, env=env, capture_output=True)
        return sorted(done.stdout.decode().split())

    assert {"run", "targets", "completion", "init", "check"} <= set(complete("hlb", ""))
    assert complete("hlb", "run", "-t", "") == ["default"]  # build.hlb when no module is named
    assert complete("hlb", "run", "ci.hlb", "-t", "") == ["lint", "test"]
    assert complete("hlb", "run", "ci.hlb", "--target", "lint,t") == ["lint,test"]
    assert complete("hlb", "check", "") == ["build.hlb", "ci.hlb"]  # .hlb files (and directories), not notes.txt
    assert complete("hlb", "targets", "--format", "") == ["json", "names", "text"]


def test_zsh_and_fish_scripts_wire_targets_and_hlb_files() -> None:
    zsh, fish = completion("zsh"), completion("fish")
    assert "_hlb_complete_targets() {" in zsh and ":TARGET:_hlb_complete_targets" in zsh
    assert "_files -g '(*.hlb)'" in zsh and "hlb targets --format names" in zsh
    assert "function _hlb_complete_targets" in fish and '-s t -l target -xka "(_hlb_complete_targets)"' in fish


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed (apt-get install fish)")
def test_fish_completion_completes_targets(tmp_path: Path) -> None:
    script = write(tmp_path / "hlb.fish", completion("fish"))
    write(tmp_path / "build.hlb", "fs app() { scratch; }\nfs test() { scratch; }\n")
    code = f'source {script}; complete -C "hlb run -t "; complete -C "hlb run -t app,"'
    done = subprocess.run(["fish", "-c", code], cwd=tmp_path, env=hlb_on_path(tmp_path), capture_output=True)
    names = [line.split("\t")[0] for line in done.stdout.decode().splitlines()]
    assert names == ["app", "test", "app,app", "app,test"], done.stderr


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (apt-get install zsh)")
def test_zsh_script_is_valid_zsh(tmp_path: Path) -> None:
    script = write(tmp_path / "_hlb", completion("zsh"))
    done = subprocess.run(["zsh", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# -- hlb init --------------------------------------------------------------------------------------------


def test_init_writes_a_starter_that_checks_formats_and_lists(tmp_path: Path, hlb: Run) -> None:
    code, _, err = hlb(["init", str(tmp_path)])
    assert code == 0 and "wrote" in err
    build = tmp_path / "build.hlb"
    assert build.read_text() == STARTER and "cacheMount" in STARTER and "docs/language.md" in STARTER
    assert hlb(["check", str(build)]) == (0, "", "")
    assert hlb(["format", "--check", str(build)])[0] == 0
    assert hlb(["lint", str(build)])[0] == 0
    assert hlb(["targets", "--format", "names", str(build)])[1].split() == ["default", "greet"]


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path, hlb: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "build.hlb", "mine\n")
    code, _, err = hlb(["init"])
    assert code == 1 and "build.hlb exists" in err and "--force" in err
    assert (tmp_path / "build.hlb").read_text() == "mine\n"
    assert hlb(["init", "--force"])[0] == 0 and (tmp_path / "build.hlb").read_text() == STARTER
    code, _, err = hlb(["init", str(tmp_path / "build.hlb")])
    assert code == 1 and "is not a directory" in err
