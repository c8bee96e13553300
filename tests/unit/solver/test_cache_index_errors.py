"""A `type=local` cache import whose index.json is corrupt is a failed import naming the file, never a crash.

Issue 10 item 14: the reason names `DIR/index.json` and what is wrong (not JSON, not an OCI image index);
the import is skipped (the build goes on without it) and the run shows it as that import's outcome.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hlb.solver.client import CacheEntry
from hlb.solver.export import plan_caches

CORRUPT = [
    ("garbage{", "not JSON: Expecting value: line 1 column 1 (char 0)"),
    (b"\xff\xfe\x00", "not JSON: "),
    ("[]", "not an OCI image index: the document is a list, not an object"),
    ('{"manifests": {}}', 'not an OCI image index: "manifests" is an object, not a list'),
    ('{"manifests": [1]}', 'not an OCI image index: "manifests"[0] is a number, not an object'),
    ('{"manifests": [{"annotations": "x"}]}', '"manifests"[0].annotations is a string, not an object'),
    ('{"manifests": [{"annotations": {}, "digest": 5}]}', '"manifests"[0].digest is a number, not a string'),
]


@pytest.mark.parametrize(("content", "reason"), CORRUPT, ids=[str(c) for c, _ in CORRUPT])
def test_a_corrupt_index_is_a_skipped_import_naming_the_file(tmp_path: Path, content: str | bytes, reason: str) -> None:
    index = tmp_path / "index.json"
    if isinstance(content, bytes):
        index.write_bytes(content)
    else:
        index.write_text(content)
    caches = plan_caches(
        [CacheEntry("local", {"src": str(tmp_path)}), CacheEntry("registry", {"ref": "r/x:cache"})], []
    )
    miss, why = caches.skipped[0]
    assert not miss
    assert why.startswith(f"{index}: ") and reason in why, why
    assert [e.type for e in caches.imports] == ["registry"]  # the other import is still sent


def test_an_unreadable_index_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "index.json").mkdir()
    caches = plan_caches([CacheEntry("local", {"src": str(tmp_path)})], [])
    assert caches.skipped[0] == (False, f"{tmp_path}/index.json: cannot be read: Is a directory")
    assert caches.imports == []
