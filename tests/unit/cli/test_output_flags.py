"""`hlb run`'s buildx flags (issue 14 item 2): -o/--output, -f/--file, --platform lists, --progress quiet,
--no-cache, --pull. Each good value is read as buildx reads it; each bad one is a usage error (exit 2, one line
naming the flag); `hlb run --tree` shows what each changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Run

from hlb import output_options
from hlb.output_options import OutputFlagError
from hlb.values import Exporter

SOURCE = """fs default() {
  image "busybox:latest"
  run "echo hi" with option {
    cacheMount "/root/.cache" with option { id "cache-a" }
  }
}

fs other() {
  scratch
  mkfile "/a" 0o644 "x"
}
"""


@pytest.fixture
def module(tmp_path: Path) -> str:
    f = tmp_path / "build.hlb"
    f.write_text(SOURCE)
    return str(f)


# -- -o/--output: parsing ------------------------------------------------------------------------

GOOD = [
    ("out", Exporter("local", {}, os.path.abspath("out"))),
    ("-", Exporter("tar", {}, "-")),
    ("type=local,dest=d", Exporter("local", {}, os.path.abspath("d"))),
    ("type=tar", Exporter("tar", {}, "-")),
    ("type=tar,dest=-", Exporter("tar", {}, "-")),
    ("type=tar,dest=x.tar", Exporter("tar", {}, os.path.abspath("x.tar"))),
    ("type=image,name=r/app:1,push=true", Exporter("image", {"name": "r/app:1", "push": "true"})),
    ("TYPE=image,Name=r/app:1,push=1", Exporter("image", {"name": "r/app:1", "push": "true"})),
    ("type=registry,name=r/app", Exporter("image", {"name": "r/app", "push": "true", "unpack": "false"})),
    ("type=docker", Exporter("docker", {})),
    ("type=docker,name=app:1", Exporter("docker", {"name": "app:1"})),
    ("type=docker,name=app:1,dest=i.tar", Exporter("docker", {"name": "app:1"}, os.path.abspath("i.tar"))),
    ("type=oci,dest=i.tar", Exporter("oci", {}, os.path.abspath("i.tar"))),
    (
        "type=image,name=r/a,push=true,compression=zstd",
        Exporter("image", {"name": "r/a", "push": "true", "compression": "zstd"}),
    ),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[t for t, _ in GOOD])
def test_outputs_are_read_as_buildx_reads_them(text: str, expected: Exporter) -> None:
    assert output_options.parse(text).exporter == expected


BAD = [
    ("", "is empty"),
    ("type=", "`type=` is empty"),
    ("dest=out", "no type="),
    ("type=zip,dest=x", "unknown output type `zip`"),
    ("type=local", "a local output needs dest=DIR"),
    ("type=local,dest=-", "writes a directory, not stdout"),
    ("type=oci", "needs dest=FILE"),
    ("type=image", "needs name=REF"),
    ("type=image,name=r/a", "add push=true"),
    ("type=image,name=r/a,push=false", "add push=true"),
    ("type=image,name=r/a,push=maybe", "`push=maybe` is not a boolean"),
    ("type=image,name=Not A Ref,push=true", "is not an image reference"),
    ("type=local,dest=a,dest=b", "`dest` is given twice"),
    ("type=local,dest", "`dest` is not key=value"),
    ("type=oci,dest=x,tar=false", "tar=false"),
]


@pytest.mark.parametrize(("text", "reason"), BAD, ids=[t or "empty" for t, _ in BAD])
def test_a_bad_output_is_an_error_naming_the_flag(text: str, reason: str) -> None:
    with pytest.raises(OutputFlagError) as e:
        output_options.parse(text)
    assert str(e.value).startswith("-o/--output") and reason in str(e.value), str(e.value)


@pytest.mark.parametrize(("text", "reason"), BAD[:6], ids=[t or "empty" for t, _ in BAD[:6]])
def test_a_bad_output_on_the_command_line_is_a_usage_error(text: str, reason: str, module: str, hlb: Run) -> None:
    code, out, err = hlb(["run", "--tree", "-o", text, module])
    assert (code, out) == (2, ""), err
    assert err.startswith("hlb: error: -o/--output") and reason in err and err.count("\n") == 1, err


def test_two_targets_need_a_placeholder_in_each_output(module: str, hlb: Run, tmp_path: Path) -> None:
    code, out, err = hlb(["run", "--tree", "-t", "default,other", "-o", str(tmp_path / "out"), module])
    assert (code, out) == (2, ""), err
    assert "2 targets would write one place; put {target} in its dest" in err
    code, out, err = hlb(["run", "--tree", "-t", "default,other", "-o", str(tmp_path / "out-{target}"), module])
    assert code == 0, err
    assert "out-default  (from -o)" in out and "out-other  (from -o)" in out


def test_a_destination_that_can_never_be_written_is_a_usage_error(module: str, hlb: Run, tmp_path: Path) -> None:
    """Found before compiling, not after building with the daemon's rpc text (`cannot write /tmp: it is a
    directory`, `File exists`)."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    cases = [
        (f"type=oci,dest={tmp_path}/adir", f"{tmp_path}/adir is a directory; a oci output writes a file"),
        (f"type=tar,dest={tmp_path}/adir", f"{tmp_path}/adir is a directory; a tar output writes a file"),
        (f"{tmp_path}/afile", f"{tmp_path}/afile is a file; a local output writes a directory"),
        (f"type=local,dest={tmp_path}/afile/sub", f"{tmp_path}/afile is a file, not a directory"),
    ]
    for text, reason in cases:
        code, out, err = hlb(["run", "--tree", "-o", text, module])
        assert (code, out) == (2, ""), err
        assert err.startswith("hlb: error: -o/--output") and reason in err and err.count("\n") == 1, err
    # with {target}, each target's own destination is checked when the plan is made
    code, out, err = hlb(["run", "--tree", "-t", "default,other", "-o", f"{tmp_path}/{{target}}", module])
    assert code == 0, err
    (tmp_path / "other").write_text("x")
    code, out, err = hlb(["run", "--tree", "-t", "default,other", "-o", f"{tmp_path}/{{target}}", module])
    assert (code, out) == (2, ""), err
    assert (
        err == f"hlb: error: -o {tmp_path}/{{target}}: {tmp_path}/other is a file; a local output writes a directory"
        " (give a directory, or type=tar,dest=FILE)\n"
    )
    # a new directory, and a new file in a new directory, are made
    code, _, err = hlb(["run", "--tree", "-o", f"type=tar,dest={tmp_path}/new/x.tar", "-o", f"{tmp_path}/n/d", module])
    assert code == 0, err


def test_two_exports_to_one_place_are_found_before_building(module: str, hlb: Run, tmp_path: Path) -> None:
    code, out, err = hlb(["run", "--tree", "-o", f"type=local,dest={tmp_path}/a", "-o", f"{tmp_path}/a", module])
    assert (code, out) == (2, ""), err
    assert f"write one place, {tmp_path}/a: give each its own dest" in err and err.count("\n") == 1, err
    f = tmp_path / "dl.hlb"
    f.write_text('fs default() {\n  scratch\n  mkfile "/a" 0o644 "x"\n  download "dl-out"\n}\n')
    code, out, err = hlb(["run", "--tree", "-o", str(tmp_path / "dl-out"), str(f)])
    assert code == 0, err
    assert err == (
        f"hlb: warning: exports of several solves go to one place, {tmp_path}/dl-out: solve 1 (download dl-out), "
        "solve 2 (target default, -o); they write it at the same time, so it ends up with a mix or the last one's "
        "files (give each its own destination)\n"
    )


def test_only_one_output_goes_to_stdout(module: str, hlb: Run) -> None:
    code, _, err = hlb(["run", "--tree", "-o", "-", "-o", "type=tar", module])
    assert code == 2 and "only one output can go to stdout" in err


def test_the_tree_shows_each_output_and_the_cache_export_beside_it(module: str, hlb: Run) -> None:
    argv = ["run", "--tree", "-o", "type=image,name=127.0.0.1:5000/app:1,push=true", "-o", "-"]
    code, out, err = hlb([*argv, "--cache-to", "type=registry,ref=127.0.0.1:5000/app:cache", module])
    assert code == 0, err
    assert "export: type=image,name=127.0.0.1:5000/app:1,push=true  (from -o)" in out
    assert "export: type=tar -> stdout  (from -o)" in out
    assert "cache export: type=registry,ref=127.0.0.1:5000/app:cache  (from --cache-to)" in out


def test_an_output_of_an_empty_target_is_an_error(module: str, hlb: Run, tmp_path: Path) -> None:
    f = tmp_path / "empty.hlb"
    f.write_text("fs default() {\n  scratch\n}\n")
    code, _, err = hlb(["run", "--tree", "-o", str(tmp_path / "out"), str(f)])
    assert code == 2 and "target default is an empty filesystem (scratch); nothing to export" in err, err


# -- -f/--file -----------------------------------------------------------------------------------


def test_file_flag_names_the_module(module: str, hlb: Run) -> None:
    code, out, err = hlb(["run", "--tree", "-f", module])
    assert code == 0, err
    assert out.startswith("solve 1: target default")
    code, out2, _ = hlb(["run", "--tree", "--file", module])
    assert (code, out2) == (0, out)


def test_file_flag_and_a_file_argument_together_are_a_usage_error(module: str, hlb: Run) -> None:
    code, out, err = hlb(["run", "--tree", "-f", module, module])
    assert (code, out) == (2, "")
    assert err == f"hlb: error: the module is given twice ({module} and -f {module}): give one\n"


# -- --platform ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        ["--platform", "linux/amd64,linux/arm64"],
        ["--platform", "linux/amd64", "--platform", "linux/arm64"],
        ["--platform", "linux/amd64, linux/aarch64", "--platform", "linux/amd64"],
    ],
)
def test_a_platform_list_builds_every_platform_in_one_solve(flags: list[str], module: str, hlb: Run) -> None:
    code, out, err = hlb(["run", "--tree", *flags, "-o", "type=image,name=127.0.0.1:5000/app,push=true", module])
    assert code == 0, err
    assert out.count("solve ") == 1
    assert "    platforms: linux/amd64, linux/arm64\n" in out


def test_one_platform_shows_no_platform_list(module: str, hlb: Run) -> None:
    code, out, err = hlb(["run", "--tree", "--platform", "linux/arm64", module])
    assert code == 0, err
    assert "platforms:" not in out


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("linux/amd64,linux/amd46", "unknown architecture 'amd46'"),
        ("linux/amd64,,linux/arm64", "an empty platform"),
        ("linux/amd64,linux", "'linux' is not a platform"),
    ],
)
def test_a_bad_platform_in_a_list_is_a_usage_error(value: str, reason: str, module: str, hlb: Run) -> None:
    code, out, err = hlb(["run", "--tree", "--platform", value, module])
    assert (code, out) == (2, ""), err
    assert err.startswith("hlb: error: --platform: ") and reason in err and f"(in {value!r})" in err, err


def test_a_local_run_runs_once_for_every_platform(hlb: Run, tmp_path: Path) -> None:
    """Each platform compiles on its own; a `localRun` runs once per `hlb run` and every platform takes its output
    (its side effects happen once, and the platforms of one image carry one value)."""
    f = tmp_path / "build.hlb"
    f.write_text(
        "fs default() {\n"
        "  scratch\n"
        '  mkfile "/stamp" 0o644 localRun("echo x >> count; date +%s%N")\n'
        '  mkfile "/other" 0o644 localRun("echo y >> count; echo other")\n'
        "}\n"
    )
    code, out, err = hlb(["run", "--tree", "--platform", "linux/amd64,linux/arm64,linux/arm/v7", str(f)])
    assert code == 0, err
    assert "platforms: linux/amd64, linux/arm64, linux/arm/v7" in out
    assert (tmp_path / "count").read_text() == "x\ny\n"  # each command once, not once per platform
    code, _, err = hlb(["run", "--tree", "--platform", "linux/amd64,linux/arm64", str(f)])
    assert code == 0 and (tmp_path / "count").read_text() == "x\ny\nx\ny\n", err  # and again in the next run


def test_the_platforms_share_one_local_run_output() -> None:
    from hlb.api import compile_source
    from hlb.llb import Platform
    from hlb.resolver import LocalRuns, Services
    from hlb.source import SourceFile

    text = 'fs default() {\n  scratch\n  mkfile "/n" 0o644 localRun("date +%s%N")\n}\n'
    shared = Services(local_runs=LocalRuns())
    one, two = (
        compile_source(SourceFile("build.hlb", text), ["default"], Platform("linux", arch), services=shared)
        for arch in ("amd64", "arm64")
    )
    assert one.targets[0].definition.ops[-2] == two.targets[0].definition.ops[-2]  # the mkfile: one content
    alone = compile_source(SourceFile("build.hlb", text), ["default"], Platform("linux", "amd64"))
    assert alone.targets[0].definition.ops[-2] != one.targets[0].definition.ops[-2]  # no sharing: its own run


# -- --progress quiet, --no-cache, --pull ---------------------------------------------------------


def test_quiet_is_a_progress_mode(module: str, hlb: Run) -> None:
    code, _, err = hlb(["run", "--tree", "--progress", "quiet", module])
    assert code == 0, err
    code, _, err = hlb(["run", "--tree", "--progress", "silent", module])
    assert code == 2 and "--progress" in err and "quiet" in err


def test_the_tree_says_what_no_cache_and_pull_change(module: str, hlb: Run) -> None:
    code, out, err = hlb(["run", "--tree", module])
    assert code == 0 and "--no-cache" not in out + err and "--pull" not in out
    code, out, err = hlb(["run", "--tree", "--no-cache", "--pull", module])
    assert code == 0, err
    assert "note: --no-cache: every step runs again (each op is marked ignore-cache)" in out
    assert "note: --no-cache: these cache mounts start empty: cache-a" in out
    assert "note: --pull: images are resolved again in the registry (docker.io/library/busybox:latest)" in out
    assert "hlb: warning: --no-cache empties the cache mounts of the steps it reruns (cache-a)" in err


def test_quiet_prints_each_targets_image_once_and_no_persisted_cache(capsys: pytest.CaptureFixture[str]) -> None:
    """--progress quiet prints the build's image IDs: the .hlb's own dockerPush and `-o type=image` of one graph
    are one image (one line), and the image a persisted cache mount is pushed as is not the build's result."""
    from hlb.api import compile_source
    from hlb.cli.run import _print_image_ids
    from hlb.llb import Platform
    from hlb.source import SourceFile

    class Registry:  # the persisted cache's ref does not exist yet
        def exists(self, ref: str) -> bool:
            return False

    text = """fs default() {
  image "busybox:latest"
  run "make" with option {
    cacheMount "/c" with option { id "c"; persist "127.0.0.1:5000/cache/c:1" }
  }
  dockerPush "127.0.0.1:5000/app:1"
}
"""
    amd64 = Platform("linux", "amd64")
    compiled = compile_source(SourceFile("build.hlb", text), ["default"], amd64, manifests=Registry())  # type: ignore[arg-type]
    outs = output_options.parse_all(["type=image,name=127.0.0.1:5000/app:2,push=true"], ["default"])
    plan = compiled.plan(amd64, outputs=outs, persist_caches=True, persist_stamp="x")
    assert sorted(s.kind for s in plan.solves) == ["dockerPush", "persist", "target"]
    image, cache = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    responses = {
        s.index: {"containerimage.config.digest": cache if s.kind == "persist" else image} for s in plan.solves
    }
    _print_image_ids(plan, responses)
    assert capsys.readouterr().out == image + "\n"
    # only the persisted cache is pushed (no image of the build's own): nothing is printed
    source = SourceFile("build.hlb", text.replace('  dockerPush "127.0.0.1:5000/app:1"\n', ""))
    plain = compile_source(source, ["default"], amd64, manifests=Registry())  # type: ignore[arg-type]
    plan = plain.plan(amd64, outputs=output_options.parse_all(["out"], ["default"]), persist_caches=True)
    _print_image_ids(plan, {s.index: {"containerimage.config.digest": cache} for s in plan.solves})
    assert capsys.readouterr().out == ""
