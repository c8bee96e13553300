"""`hlb cache ls/du/prune` on a private engine (never the shared one: prune would take other people's cache).

A build declares two cache mounts; `ls` lists both with their ids and `.hlb` lines, `du` totals what
`ls` lists, and `prune --id` removes one id while the other survives.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import PrivateEngine

BUILD = """\
fs default() {{
	image "busybox:latest"
	run "echo {nonce} >> /keep/x && echo {nonce} >> /drop/x" with option {{
		cacheMount "/keep" with option {{ id "keep-{nonce}" }}
		cacheMount "/drop" with option {{ id "drop-{nonce}" }}
	}}
}}
"""


def ls(engine: PrivateEngine, cwd: Path, *args: str) -> list[dict[str, Any]]:
    r = engine.hlb("cache", "ls", "--json", *args, cwd=cwd)
    assert r.returncode == 0, r.stderr
    records: list[dict[str, Any]] = json.loads(r.stdout)["records"]
    return records


def test_a_cache_mount_is_listed_with_its_line_pruned_by_id_and_another_id_survives(
    fresh_engine: PrivateEngine, tmp_path: Path, nonce: str
) -> None:
    (tmp_path / "build.hlb").write_text(BUILD.format(nonce=nonce))
    built = fresh_engine.hlb("run", "build.hlb", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    keep, drop = f"keep-{nonce}", f"drop-{nonce}"

    records = ls(fresh_engine, tmp_path)  # ./build.hlb locates the mounts
    mounts = {r["cache_id"]: r for r in records if r["cache_id"] is not None}
    assert set(mounts) == {keep, drop}, records
    assert mounts[keep]["declared_at"] == [{"file": "build.hlb", "line": 4, "column": 3}]
    assert mounts[drop]["declared_at"] == [{"file": "build.hlb", "line": 5, "column": 3}]
    assert mounts[drop]["mount"] == "/drop" and mounts[drop]["type"] == "exec.cachemount"
    assert mounts[drop]["size"] > 0 and mounts[drop]["last_used_at"] is not None
    human = fresh_engine.hlb("cache", "ls", "--id", drop, cwd=tmp_path)
    assert human.returncode == 0, human.stderr
    [row] = [line for line in human.stdout.splitlines() if line.startswith(drop)]
    assert row.split()[1] == "/drop" and row.endswith("build.hlb:5:3")
    assert re.search(r" (just now|\d+ seconds? ago) ", row), row

    du = fresh_engine.hlb("cache", "du", "--json", cwd=tmp_path)
    assert du.returncode == 0, du.stderr
    totals = json.loads(du.stdout)
    assert totals["total"]["size"] == sum(r["size"] for r in records)
    assert totals["total"]["records"] == len(records)
    assert totals["by_type"]["exec.cachemount"]["records"] == 2
    assert totals["cache_mounts"][drop]["size"] == mounts[drop]["size"]

    refused = subprocess.run(  # no terminal (whatever runs the tests), no -f
        [sys.executable, "-m", "hlb", "cache", "prune", "--id", drop],
        cwd=tmp_path, env=fresh_engine.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "pass -f" in refused.stderr
    young = fresh_engine.hlb("cache", "prune", "--id", drop, "--older-than", "1h", "-f", cwd=tmp_path)
    assert young.returncode == 0 and "to prune" in young.stderr, young.stderr  # used just now: kept
    assert drop in {r["cache_id"] for r in ls(fresh_engine, tmp_path)}

    pruned = fresh_engine.hlb("cache", "prune", "--id", drop, "-f", "--json", cwd=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    report = json.loads(pruned.stdout)
    assert [d["id"] for d in report["deleted"]] == [mounts[drop]["id"]]
    assert report["request"]["filters"] == [f"id=={mounts[drop]['id']}"]

    after = {r["cache_id"]: r for r in ls(fresh_engine, tmp_path) if r["cache_id"] is not None}
    assert drop not in after
    assert after[keep]["id"] == mounts[keep]["id"]  # the other id's record is untouched

    again = fresh_engine.hlb("run", "build.hlb", cwd=tmp_path)  # a build makes the pruned mount afresh
    assert again.returncode == 0, again.stderr
    assert {r["cache_id"] for r in ls(fresh_engine, tmp_path, "--id", drop)} == {drop}
