"""Destinations that cannot be what the user meant are diagnostics at the argument, never a build."""

from __future__ import annotations

from pathlib import Path

import pytest

from hlb.api import compile_source
from hlb.diagnostics import HlbError
from hlb.llb import Platform
from hlb.source import SourceFile

AMD64 = Platform.parse("linux/amd64")

CASES = [
    ('cacheContext "" fs { image "busybox"; } with backend("local")', "the cache directory is empty", '""'),
    ('cacheContext "  " fs { image "busybox"; } with backend("local")', "the cache directory is empty", '"  "'),
    ('downloadTarball "./dist/"', "`./dist/` names a directory, and a tarball needs a file", '"./dist/"'),
    ('downloadOCITarball "out/"', "`out/` names a directory", '"out/"'),
    ('downloadDockerTarball "out/" "app:dev"', "`out/` names a directory", '"out/"'),
    ('download " "', "the local path is empty", '" "'),
]


@pytest.mark.parametrize(("call", "message", "at"), CASES)
def test_an_unusable_destination_is_a_diagnostic(tmp_path: Path, call: str, message: str, at: str) -> None:
    path = tmp_path / "build.hlb"
    path.write_text(f'fs default() {{\n\timage "busybox"\n\t{call}\n}}\n')
    with pytest.raises(HlbError) as e:
        compile_source(SourceFile.read(path), ["default"], AMD64)
    (d,) = [d for d in e.value.diagnostics if d.is_error]
    assert message in d.message
    assert d.span.text == at
    assert list(tmp_path.iterdir()) == [path]
