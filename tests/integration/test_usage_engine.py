"""Command-line mistakes that reach the engine (issue 10 item 14), on the shared engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Engine

BUILD = 'fs default() {{\n\tscratch\n\tmkfile "/x" 0o644 "{nonce}"\n}}\n'


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("garbage{", "not JSON: Expecting value: line 1 column 1 (char 0)"),
        ('{"manifests": [1]}', 'not an OCI image index: "manifests"[0] is a number, not an object'),
    ],
)
def test_a_corrupt_local_cache_index_is_a_failed_import_not_a_failed_build(
    engine: Engine, tmp_path: Path, nonce: str, content: str, reason: str
) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(BUILD.format(nonce=nonce))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "index.json").write_text(content)
    r = engine.hlb("run", "--progress", "plain", "--cache-from", f"type=local,src={cache}", str(build))
    assert r.returncode == 0, r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    expected = f"  cache from type=local,src={cache}: not imported: {cache}/index.json: {reason}"
    assert expected in r.stderr.splitlines(), r.stderr
