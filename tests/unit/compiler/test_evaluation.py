"""Evaluation rules of the compiler: binds, imported modules, variadic parameters, option parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hlb.api import Compiled, compile_source
from hlb.diagnostics import HlbError
from hlb.llb import Platform
from hlb.llb.dump import to_json_obj
from hlb.source import SourceFile

AMD64 = Platform("linux", "amd64")


def compiled(text: str, target: str = "default", name: str = "build.hlb") -> Compiled:
    return compile_source(SourceFile(name, text), [target], AMD64)


def ops(c: Compiled) -> list[dict[str, object]]:
    return [e["op"] for e in to_json_obj(c.targets[0].definition, with_sources=False)["ops"]]


def exec_ops(c: Compiled) -> list[dict[str, object]]:
    return [o["exec"] for o in ops(c) if "exec" in o]  # type: ignore[misc]


PRIMED = """
fs npmInstall() {
	image "busybox:latest"
	dir "/src"
	run "npm install" with option {
		mount fs { image "127.0.0.1:5000/node-modules:latest"; } "/src/node_modules" as nodeModules
	}
}

fs snapshotModules() {
	nodeModules
	dockerPush "127.0.0.1:5000/node-modules:latest"
}
"""


def test_a_bound_mount_is_the_mount_after_the_run() -> None:
    c = compiled(PRIMED, "nodeModules")
    definition = c.targets[0].definition
    head = definition.head
    (run,) = exec_ops(c)
    mounts = run["mounts"]  # type: ignore[index]
    bound = next(m for m in mounts if m["dest"] == "/src/node_modules")
    assert bound["output"] == "1"  # the root is output 0, the bound mount output 1
    last = json.loads(json.dumps(to_json_obj(definition)))["ops"][-1]["op"]["inputs"][0]
    assert last["digest"] == head and last["index"] == "1"


def test_a_mount_written_with_as_keeps_its_output_when_its_function_is_the_target() -> None:
    """openllb/hlb marks the mount no-output unless its bind is evaluated: two execs, so
    `-t npmInstall,snapshotModules` ran the step twice. Here the target and the bind share one exec."""
    target = compiled(PRIMED, "npmInstall")
    (run,) = exec_ops(target)
    mount = next(m for m in run["mounts"] if m["dest"] == "/src/node_modules")  # type: ignore[index]
    assert mount["output"] == "1"
    bind = compiled(PRIMED, "nodeModules").targets[0].definition
    assert target.targets[0].definition.head == bind.head  # the same exec op: output 0 of one, output 1 of the other


def test_a_mount_without_as_has_no_output() -> None:
    text = PRIMED.replace(" as nodeModules", "").split("fs snapshotModules")[0]
    (run,) = exec_ops(compiled(text, "npmInstall"))
    mount = next(m for m in run["mounts"] if m["dest"] == "/src/node_modules")  # type: ignore[index]
    assert mount["output"] == "-1"


def test_a_primed_mount_pushed_back_from_a_scheduled_target() -> None:
    c = compiled(PRIMED, "snapshotModules")
    plan = c.plan(AMD64)
    (push,) = plan.solves
    assert push.title == "dockerPush 127.0.0.1:5000/node-modules:latest"
    assert push.definition.head == compiled(PRIMED, "nodeModules").targets[0].definition.head


def test_calls_into_an_imported_module_point_into_its_file(tmp_path: Path) -> None:
    (tmp_path / "lib.hlb").write_text('export base\n\nfs base() {\n\timage "busybox:latest"\n\trun "echo lib"\n}\n')
    main = tmp_path / "build.hlb"
    main.write_text('import lib from "./lib.hlb"\n\nfs default() {\n\tlib.base\n\trun "echo main"\n}\n')
    c = compile_source(SourceFile.read(main), ["default"], AMD64)
    definition = c.targets[0].definition
    assert definition.source is not None
    files = [i.filename for i in definition.source.infos]
    assert files == [str(main), str(tmp_path / "lib.hlb")] or set(files) == {str(main), str(tmp_path / "lib.hlb")}
    # The library's run is located in lib.hlb (line 5), called from build.hlb line 4, in target `default` (line 3).
    lib_index = files.index(str(tmp_path / "lib.hlb"))
    found = False
    for locs in definition.source.locations.values():
        idx = [(loc.sourceIndex, loc.ranges[0].start.line) for loc in locs.locations]
        if idx and idx[0] == (lib_index, 5):
            assert idx[1:] == [(files.index(str(main)), 4), (files.index(str(main)), 3)]
            found = True
    assert found


def test_variadic_parameters_spread_into_variadic_builtins_and_options_concatenate() -> None:
    text = """
fs tool(variadic string args) {
	image "busybox:latest"
	run args
}

option::run common(variadic option::run opts) {
	dir "/work"
	opts
}

fs default() {
	tool "echo" "a" "b"
	run "pwd" with common(option::run { env "A" "1"; }, option::run { user "nobody"; })
}
"""
    first, second = exec_ops(compiled(text))
    assert first["meta"]["args"] == ["echo", "a", "b"]  # type: ignore[index]
    meta = second["meta"]  # type: ignore[index]
    assert (meta["cwd"], meta["env"], meta["user"]) == ("/work", ["A=1"], "nobody")


def test_a_bind_of_another_type_ends_its_function() -> None:
    text = (
        'fs default() {\n\timage "busybox:latest"\n\tdockerPush "127.0.0.1:5000/x:y" as digest\n}\n'
        'fs other() {\n\tscratch\n\tmkfile "/digest" 0o644 digest\n}\n'
    )
    with pytest.raises(HlbError) as e:
        compiled(text, "other")
    assert "binding the digest of a push" in e.value.diagnostics[-1].message
