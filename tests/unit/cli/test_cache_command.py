"""`hlb cache ls|du|prune`: output, usage errors, confirmation, and the standalone-buildkitd path.

The daemon here is a loopback grpcio Control server (DiskUsage, Prune) on a unix socket or a TCP
port, reached through the same --addr handling as `hlb run`; the Docker engine's /grpc path is
tests/integration/test_cache_admin_engine.py.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import Run

from hlb._proto import control_pb2, control_pb2_grpc
from hlb.cache_admin import CACHE_MOUNT, CacheAdmin, Declared, totals
from hlb.cli.cache import render_du, render_ls
from hlb.solver.client import DiskRecord, to_record

NOW = 1_800_000_000.0
HOUR = 3600.0


def pb_record(rid: str, rtype: str, size: int, desc: str, hours_ago: float | None, in_use: bool = False) -> Any:
    r = control_pb2.UsageRecord(ID=rid, RecordType=rtype, Size=size, Description=desc, InUse=in_use, UsageCount=1)
    r.CreatedAt.FromSeconds(int(NOW - 200 * HOUR))
    if hours_ago is not None:
        r.LastUsedAt.FromSeconds(int(NOW - hours_ago * HOUR))
    return r


def records() -> list[Any]:
    return [
        pb_record(
            "m1", CACHE_MOUNT, 12_345_678, 'cached mount /root/.npm from exec /bin/sh -c npm ci with id "npm"', 3
        ),
        pb_record("m2", CACHE_MOUNT, 4096, "cached mount /root/.cache from exec /bin/sh -c pip install", None),
        pb_record("m3", CACHE_MOUNT, 8192, 'cached mount /n from exec /bin/sh -c npm test with id "npm"', 1, True),
        pb_record("r1", "", 1_106_000, "mount / from exec /bin/sh -c " + "x" * 80, 50),
        pb_record("s1", "source.local", 688_100, "local source for context", 0.01),
    ]


class FakeControl(control_pb2_grpc.ControlServicer):
    def __init__(self) -> None:
        self.records = records()
        self.prunes: list[Any] = []
        self.taken_before_prune: set[str] = set()  # records a build starts using between DiskUsage and Prune

    def DiskUsage(self, request: Any, context: grpc.ServicerContext) -> Any:
        return control_pb2.DiskUsageResponse(record=self.records)

    def Prune(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        self.prunes.append(request)
        for r in self.records:
            r.InUse = r.InUse or r.ID in self.taken_before_prune
        ids = {f.removeprefix("id==") for f in request.filter}
        gone = [r for r in self.records if not r.InUse and (not ids or r.ID in ids)]
        self.records = [r for r in self.records if r not in gone]
        yield from gone


@pytest.fixture(params=["unix", "tcp"])
def daemon(request: pytest.FixtureRequest) -> Iterator[tuple[FakeControl, str]]:
    control = FakeControl()
    with tempfile.TemporaryDirectory() as d:
        handlers = futures.ThreadPoolExecutor(max_workers=4)
        server = grpc.server(handlers)
        control_pb2_grpc.add_ControlServicer_to_server(control, server)
        if request.param == "unix":
            addr = f"unix://{d}/buildkitd.sock"
            server.add_insecure_port(f"unix:{d}/buildkitd.sock")
        else:
            port = server.add_insecure_port("127.0.0.1:0")
            addr = f"tcp://127.0.0.1:{port}"
        server.start()
        try:
            yield control, addr
        finally:
            server.stop(grace=None)
            handlers.shutdown(wait=True)


class FakeDaemon:
    def __init__(self, recs: list[DiskRecord]) -> None:
        self.recs = recs

    def disk_usage(self, filters: object = ()) -> list[DiskRecord]:
        return self.recs

    def prune(self, *a: object, **k: object) -> list[DiskRecord]:
        raise AssertionError("not in these tests")

    def close(self) -> None:
        pass


def usage() -> list[Any]:
    admin = CacheAdmin(FakeDaemon([to_record(r) for r in records()]))
    return admin.usage({"npm": [Declared("build.hlb", 4, 3), Declared("lib.hlb", 2, 9)]})


# -- output ---------------------------------------------------------------------------------------


def test_ls_prints_aligned_tables_with_human_sizes_ages_and_declarations() -> None:
    assert render_ls(usage(), NOW) == (
        "CACHE ID       MOUNT          SIZE      LAST USED     DECLARED AT\n"
        "/root/.cache   /root/.cache   4.096kB   never         -\n"
        "npm            /root/.npm     12.35MB   3 hours ago   build.hlb:4:3, lib.hlb:2:9\n"
        "npm            /n             8.192kB   in use        build.hlb:4:3, lib.hlb:2:9\n"
        "\n"
        "ID   TYPE           SIZE      LAST USED        DESCRIPTION\n"
        "r1   regular        1.106MB   2 days ago       mount / from exec /bin/sh -c " + "x" * 30 + "…\n"
        "s1   source.local   688.1kB   36 seconds ago   local source for context\n"
        "\n"
        "3 cache mounts (12.36MB), 2 build cache records (1.794MB); total 14.15MB, 14.14MB reclaimable\n"
    )
    assert "x" * 80 in render_ls(usage(), NOW, truncate=False)
    only_mounts = render_ls([c for c in usage() if c.cache_id == "npm"], NOW, mounts_only=True)
    assert only_mounts.splitlines()[-1] == "2 cache mounts (12.35MB)" and "r1" not in only_mounts


def test_ls_summary_and_du_totals_agree() -> None:
    recs = usage()
    t = totals(recs)
    assert t.total.size == sum(c.size for c in recs) == 12_345_678 + 4096 + 8192 + 1_106_000 + 688_100
    assert render_ls(recs, NOW).splitlines()[-1] == (
        "3 cache mounts (12.36MB), 2 build cache records (1.794MB); total 14.15MB, 14.14MB reclaimable"
    )
    du = render_du(t, NOW).splitlines()
    assert du[0].split() == ["TYPE", "RECORDS", "SIZE", "RECLAIMABLE"]
    assert du[1].split() == ["exec.cachemount", "3", "12.36MB", "12.35MB"]
    assert du[4].split() == ["total", "5", "14.15MB", "14.14MB"]
    assert du[6].split() == ["CACHE", "ID", "RECORDS", "SIZE", "LAST", "USED"]
    assert du[7].split()[:3] == ["/root/.cache", "1", "4.096kB"] and du[7].endswith("never")
    assert du[8].split()[:3] == ["npm", "2", "12.35MB"] and du[8].endswith("an hour ago")


# -- against a daemon (unix:// and tcp://) -----------------------------------------------------------


def test_ls_json_lists_every_record_with_cache_ids_and_lines(
    daemon: tuple[FakeControl, str], hlb: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, addr = daemon
    (tmp_path / "build.hlb").write_text(
        'fs default() {\n\timage "busybox:latest"\n\trun "npm ci" with option {\n'
        '\t\tcacheMount "/root/.npm" with option { id "npm" }\n\t}\n}\n'
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = hlb(["cache", "ls", "--json", "--addr", addr])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["version"] == 1
    by_id = {r["id"]: r for r in doc["records"]}
    assert set(by_id) == {"m1", "m2", "m3", "r1", "s1"}
    assert by_id["m1"]["cache_id"] == "npm" and by_id["m1"]["mount"] == "/root/.npm"
    assert by_id["m1"]["declared_at"] == [{"file": "build.hlb", "line": 4, "column": 3}]
    assert by_id["m1"]["last_used_at"] == "2027-01-15T05:00:00.000000Z"
    assert by_id["m2"]["cache_id"] == "/root/.cache" and by_id["m2"]["declared_at"] == []
    assert by_id["m2"]["last_used_at"] is None
    assert by_id["r1"]["type"] == "regular" and by_id["r1"]["cache_id"] is None
    assert set(by_id["m1"]) == {
        "id", "type", "size", "in_use", "shared", "mutable", "created_at", "last_used_at", "usage_count",
        "description", "cache_id", "mount", "command", "declared_at",
    }  # fmt: skip
    code, out, _ = hlb(["cache", "ls", "--id", "npm", "--addr", addr])
    assert code == 0 and "build.hlb:4:3" in out and "/root/.cache" not in out and "local source" not in out


def test_prune_by_id_sends_one_id_filter_per_record_and_the_other_id_survives(
    daemon: tuple[FakeControl, str], hlb: Run
) -> None:
    control, addr = daemon
    code, out, err = hlb(["cache", "prune", "--id", "npm", "-f", "--keep-storage", "1GB", "--addr", addr])
    assert code == 0, err
    [req] = control.prunes
    assert list(req.filter) == ["id==m1"]  # m3 is in use: not selected, and said so
    assert (req.keepDuration, req.reservedSpace, req.all) == (0, 1 << 30, False)
    assert "cache mount m3 (id 'npm', 8.192kB) is in use by a build: not pruned" in err
    assert "Total reclaimed: 12.35MB (1 record)" in out
    code, out, _ = hlb(["cache", "ls", "--addr", addr])
    assert "/root/.cache" in out and "m1" not in out


def test_a_selected_record_the_daemon_kept_is_named(daemon: tuple[FakeControl, str], hlb: Run) -> None:
    control, addr = daemon
    control.taken_before_prune = {"m1"}
    code, out, err = hlb(["cache", "prune", "--id", "npm", "-f", "--addr", addr])
    assert code == 0, err
    assert "the daemon did not prune cache mount m1 (id 'npm', 12.35MB) (in use by now" in err
    assert "Total reclaimed: 0B (0 records)" in out


def test_prune_of_an_unknown_id_prunes_nothing(daemon: tuple[FakeControl, str], hlb: Run) -> None:
    control, addr = daemon
    code, _, err = hlb(["cache", "prune", "--id", "yarn", "-f", "--addr", addr])
    assert code == 0 and control.prunes == [] and len(control.records) == 5
    assert "no cache mount with id 'yarn' to prune" in err


def test_prune_everything_sends_keep_duration_and_all(daemon: tuple[FakeControl, str], hlb: Run) -> None:
    control, addr = daemon
    code, out, err = hlb(["cache", "prune", "--older-than", "72h", "--all", "-f", "--json", "--addr", addr])
    assert code == 0, err
    [req] = control.prunes
    assert (list(req.filter), req.keepDuration, req.all) == ([], 72 * 3600 * 10**9, True)
    doc = json.loads(out)
    assert sorted(d["id"] for d in doc["deleted"]) == ["m1", "m2", "r1", "s1"]  # the fake ignores keepDuration
    assert doc["request"]["older_than_seconds"] == 72 * 3600


# -- confirmation and usage errors -----------------------------------------------------------------


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "pruned"), [("y\n", True), ("yes\n", True), ("n\n", False), ("\n", False)])
def test_prune_asks_on_a_terminal(
    daemon: tuple[FakeControl, str], hlb: Run, monkeypatch: pytest.MonkeyPatch, answer: str, pruned: bool
) -> None:
    control, addr = daemon
    monkeypatch.setattr("sys.stdin", Tty(answer))
    code, out, err = hlb(["cache", "prune", "--id", "npm", "--addr", addr])
    assert code == 0, err
    assert out.startswith("Are you sure you want to continue? [y/N] ")  # input() prompts on stdout
    assert "WARNING! This will remove 1 cache mount record of id 'npm' (12.35MB) from BuildKit at" in err
    assert bool(control.prunes) is pruned
    assert ("nothing pruned" in err) is not pruned


def test_prune_without_a_terminal_needs_f_before_any_daemon_is_asked(hlb: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, _, err = hlb(["cache", "prune", "--addr", "unix:///nonexistent/buildkitd.sock"])
    assert code == 2
    assert "stdin is not a terminal" in err and "hint: pass -f (--force)" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--keep-storage", "10gigs"], "argument --keep-storage: '10gigs' is not a size"),
        (["--older-than", "3d"], "there is no day unit, say 72h"),
        (["--older-than", "soon"], "'soon' is not a duration"),
    ],
)
def test_bad_sizes_and_durations_are_usage_errors(hlb: Run, argv: list[str], message: str) -> None:
    code, _, err = hlb(["cache", "prune", "-f", *argv])
    assert code == 2 and message in err


def test_cache_without_a_subcommand_is_a_usage_error(hlb: Run) -> None:
    code, _, err = hlb(["cache"])
    assert code == 2 and "ls" in err and "prune" in err


def test_an_unreachable_daemon_is_one_error_with_a_hint(hlb: Run) -> None:
    code, _, err = hlb(["cache", "du", "--addr", "unix:///nonexistent/buildkitd.sock"])
    assert code == 1 and "hlb: error: cannot reach" in err and "hint: is buildkitd running there? check --addr" in err
    assert "Traceback" not in err


def test_ls_of_a_module_with_errors_prints_its_diagnostics(hlb: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.hlb"
    bad.write_text("fs default() {\n\tnosuch\n}\n")
    code, _, err = hlb(["cache", "ls", str(bad), "--addr", "unix:///nonexistent/buildkitd.sock"])
    assert code == 1 and "bad.hlb:2:2: error" in err
    code, _, err = hlb(["cache", "ls", str(tmp_path / "missing.hlb")])
    assert code == 1 and "cannot read" in err
