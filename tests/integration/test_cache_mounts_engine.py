"""What docs/language.md says makes a cache mount's identity, checked on the real engine.

A cache is its id plus the mount's base; `uid`/`gid`/`mode` make a base, sharing does not. The exec's
cache key leaves out an id that is not the mount point, so changing such an id reuses the step.
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import Engine


def ran(stderr: str, text: str) -> bool:
    """Whether a step printed ``text`` as a log line (it ran rather than being cached)."""
    return re.search(rf"^#\d+ \d+\.\d+ {re.escape(text)}$", stderr, re.M) is not None


def build(engine: Engine, path: Path, target: str) -> str:
    result = engine.hlb("run", "-t", target, str(path))
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_uid_makes_another_cache_and_sharing_does_not(engine: Engine, tmp_path: Path, nonce: str) -> None:
    path = tmp_path / "build.hlb"
    path.write_text(
        f"""
fs write() {{
	image "busybox:latest"
	run "echo data-{nonce} > /c/f; echo wrote-{nonce}" with option {{
		cacheMount "/c" with option {{ id "cm-{nonce}"; uid 0; }}
	}}
}}

fs readOtherUid() {{
	image "busybox:latest"
	run "cat /c/f 2>/dev/null || echo empty-{nonce}; stat -c %u /c" with option {{
		cacheMount "/c" with option {{ id "cm-{nonce}"; uid 1000; }}
	}}
}}

fs readSameUidOtherSharing() {{
	image "busybox:latest"
	run "cat /c/f 2>/dev/null || echo empty-{nonce}; echo private-{nonce}" with option {{
		cacheMount "/c" with option {{ id "cm-{nonce}"; uid 0; sharing "private"; }}
	}}
}}
"""
    )
    assert ran(build(engine, path, "write"), f"wrote-{nonce}")
    other_uid = build(engine, path, "readOtherUid")
    assert ran(other_uid, f"empty-{nonce}") and ran(other_uid, "1000"), other_uid
    assert f"data-{nonce}" not in other_uid
    same = build(engine, path, "readSameUidOtherSharing")
    assert ran(same, f"data-{nonce}") and not ran(same, f"empty-{nonce}"), same


def test_changing_an_explicit_id_reuses_the_step_and_changing_the_uid_reruns_it(
    engine: Engine, tmp_path: Path, nonce: str
) -> None:
    path = tmp_path / "build.hlb"
    text = ""
    for name, options in (
        ("first", f'id "a-{nonce}";'),
        ("renamed", f'id "b-{nonce}";'),
        ("owned", f'id "b-{nonce}"; uid 1000;'),
    ):
        text += f"""
fs {name}() {{
	image "busybox:latest"
	run "echo step-{nonce}" with option {{ cacheMount "/c" with option {{ {options} }}; }}
}}
"""
    path.write_text(text)
    assert ran(build(engine, path, "first"), f"step-{nonce}")
    renamed = build(engine, path, "renamed")
    assert not ran(renamed, f"step-{nonce}") and "CACHED" in renamed, renamed
    assert ran(build(engine, path, "owned"), f"step-{nonce}")


def test_spellings_of_one_mount_point_are_one_cache(engine: Engine, tmp_path: Path, nonce: str) -> None:
    """The default id is the mount point cleaned as Dockerfile's frontend does: `//m`, `/m/` and `/m` are one."""
    path = tmp_path / "build.hlb"
    path.write_text(
        f"""
fs write() {{
	image "busybox:latest"
	run "echo data-{nonce} > /m-{nonce}/f; echo wrote-{nonce}" with option {{
		cacheMount "//m-{nonce}"
	}}
}}

fs read() {{
	image "busybox:latest"
	run "cat /m-{nonce}/f 2>/dev/null || echo empty-{nonce}" with option {{
		cacheMount "/m-{nonce}/"
	}}
}}
"""
    )
    assert ran(build(engine, path, "write"), f"wrote-{nonce}")
    read = build(engine, path, "read")
    assert ran(read, f"data-{nonce}") and not ran(read, f"empty-{nonce}"), read
