"""Modules imported from an fs (read from the daemon while compiling) or from a computed path."""

from __future__ import annotations

from pathlib import Path

import pytest

from hlb.api import compile_source
from hlb.diagnostics import HlbError
from hlb.llb import Definition, Platform
from hlb.llb.dump import to_json_obj
from hlb.resolver import ResolveError
from hlb.source import SourceFile

AMD64 = Platform("linux", "amd64")

LIB = 'export greet\n\nfs greet(string who) {\n\timage "busybox:latest"\n\trun "echo ${who}"\n}\n'
MAIN = (
    'import lib from fs { image "127.0.0.1:5000/modules/lib:1"; }\n\n'
    'fs default() {\n\tlib.greet "you"\n\trun "true"\n}\n'
)


class Reader:
    """Stands in for the daemon: the fs it is asked to build must be the import's; it answers a module."""

    def __init__(self, text: str | None) -> None:
        self.text = text
        self.asked: list[tuple[Definition, str]] = []

    def resolve(self, ref: str, platform: Platform) -> object:  # an ImageResolver too, as the CLI's is
        raise AssertionError("not used")

    def read_file(self, definition: Definition, path: str) -> bytes:
        self.asked.append((definition, path))
        if self.text is None:
            raise ResolveError("open module.hlb: no such file or directory")
        return self.text.encode()


def compile_main(text: str, reader: Reader | None, name: str = "build.hlb") -> object:
    return compile_source(SourceFile(name, text), ["default"], AMD64, resolver=reader)  # type: ignore[arg-type]


def test_an_fs_import_is_built_and_its_module_hlb_compiled() -> None:
    reader = Reader(LIB)
    compiled = compile_main(MAIN, reader)
    ((definition, path),) = reader.asked
    assert path == "module.hlb"
    ops = to_json_obj(definition)["ops"]
    assert ops[0]["op"]["source"]["identifier"] == "docker-image://127.0.0.1:5000/modules/lib:1"
    target = compiled.targets[0].definition  # type: ignore[attr-defined]
    execs = [o["op"]["exec"]["meta"]["args"] for o in to_json_obj(target)["ops"] if "exec" in o["op"]]
    assert execs == [["/bin/sh", "-c", "echo you"], ["/bin/sh", "-c", "true"]]
    files = [i.filename for i in target.source.infos]
    assert sorted(files) == ["<import lib>/module.hlb", "build.hlb"]


def test_the_module_is_fetched_once_per_import() -> None:
    reader = Reader(LIB)
    compile_main(MAIN.replace('\trun "true"\n', '\tlib.greet "again"\n'), reader)
    assert len(reader.asked) == 1


def test_a_member_the_module_does_not_export_is_a_diagnostic_at_the_name() -> None:
    with pytest.raises(HlbError) as e:
        compile_main(MAIN.replace("lib.greet", "lib.gret"), Reader(LIB))
    d = e.value.diagnostics[-1]
    assert (d.code.slug, str(d.primary.span)) == ("undefined-name", "build.hlb:4:6")
    assert d.hint == "did you mean `greet`?"


def test_errors_in_the_fetched_module_are_reported_in_it() -> None:
    with pytest.raises(HlbError) as e:
        compile_main(MAIN, Reader(LIB.replace("image", "imag")))
    d = e.value.diagnostics[-1]
    assert str(d.primary.span).startswith("<import lib>/module.hlb:4:")


def test_a_missing_module_hlb_and_no_daemon_are_diagnostics_at_the_import() -> None:
    with pytest.raises(HlbError) as e:
        compile_main(MAIN, Reader(None))
    d = e.value.diagnostics[-1]
    assert str(d.primary.span) == "build.hlb:1:17"
    assert "cannot read module.hlb of import `lib`: open module.hlb" in d.message
    with pytest.raises(HlbError) as e:
        compile_main(MAIN, None)
    assert "without a daemon" in e.value.diagnostics[-1].message


def test_a_computed_path_import_is_loaded_relative_to_the_module(tmp_path: Path) -> None:
    (tmp_path / "lib.hlb").write_text(LIB)
    (tmp_path / "paths.hlb").write_text('export lib\n\nstring lib() {\n\t"./lib.hlb"\n}\n')
    main = tmp_path / "build.hlb"
    main.write_text(
        'import paths from "./paths.hlb"\nimport lib from paths.lib\n\nfs default() {\n\tlib.greet "path"\n}\n'
    )
    compiled = compile_source(SourceFile.read(main), ["default"], AMD64)
    ops = to_json_obj(compiled.targets[0].definition)["ops"]
    assert [o["op"]["exec"]["meta"]["args"][-1] for o in ops if "exec" in o["op"]] == ["echo path"]


def test_git_module_uris_name_a_remote_a_ref_and_a_file() -> None:
    from hlb.compiler.modules import git_module

    assert git_module("git://127.0.0.1:9418/repo.git@v1:lib/module.hlb") == (
        "git://127.0.0.1:9418/repo.git",
        "v1",
        "lib/module.hlb",
    )
    assert git_module("git+https://github.com/org/repo") == ("https://github.com/org/repo", "", "build.hlb")
    assert git_module("git+ssh://git@github.com/org/repo@main") == (
        "ssh://git@github.com/org/repo",
        "main",
        "build.hlb",
    )
    assert git_module("./lib.hlb") is None


def test_a_git_module_is_read_from_its_checkout() -> None:
    reader = Reader(LIB)
    text = MAIN.replace('fs { image "127.0.0.1:5000/modules/lib:1"; }', '"git://127.0.0.1:9418/lib.git@v1:hlb/lib.hlb"')
    compile_main(text, reader)
    ((definition, path),) = reader.asked
    assert path == "hlb/lib.hlb"
    source = to_json_obj(definition)["ops"][0]["op"]["source"]
    assert source["identifier"] == "git://127.0.0.1:9418/lib.git#v1"
