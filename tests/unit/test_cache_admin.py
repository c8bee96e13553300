"""hlb.cache_admin: record descriptions, units, totals, and pruning one cache id without touching another.

The daemon is a fake with BuildKit's filter semantics for what hlb sends (`id==X` strings, ORed; no
filter means every record not in use); the real one is tests/integration/test_cache_admin_engine.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from hlb.cache_admin import (
    CACHE_MOUNT,
    CacheAdmin,
    Declared,
    MountDescription,
    classify,
    declared_mounts,
    human_ago,
    human_size,
    parse_duration,
    parse_mount_description,
    parse_size,
    select,
    totals,
)
from hlb.solver.client import DiskRecord
from hlb.source import SourceFile

NOW = 1_800_000_000.0
HOUR = 3600.0


def mount(rid: str, cache_id: str | None, size: int, used_hours_ago: float | None, in_use: bool = False) -> DiskRecord:
    dest = "/root/.npm"
    desc = f"cached mount {dest} from exec /bin/sh -c npm ci"
    if cache_id is not None and cache_id != dest:
        desc += f' with id "{cache_id}"'
    used = None if used_hours_ago is None else NOW - used_hours_ago * HOUR
    return DiskRecord(
        rid, CACHE_MOUNT, size, desc, mutable=True, created_at=NOW - 100 * HOUR, last_used_at=used, in_use=in_use
    )


def regular(
    rid: str, size: int, used_hours_ago: float, description: str = "mount / from exec /bin/sh -c make"
) -> DiskRecord:
    return DiskRecord(rid, "regular", size, description, last_used_at=NOW - used_hours_ago * HOUR)


class FakeDaemon:
    """DiskUsage and Prune over a list of records, filtering as BuildKit does for `id==X` strings."""

    def __init__(self, records: Sequence[DiskRecord]) -> None:
        self.records = list(records)
        self.prunes: list[tuple[list[str], dict[str, object]]] = []
        self.closed = False

    def disk_usage(self, filters: Sequence[str] = ()) -> list[DiskRecord]:
        return list(self.records)

    def prune(
        self, filters: Sequence[str] = (), *, all: bool = False, keep_duration: float = 0, keep_bytes: int = 0
    ) -> list[DiskRecord]:
        self.prunes.append((list(filters), {"all": all, "keep_duration": keep_duration, "keep_bytes": keep_bytes}))
        wanted = set()
        for f in filters:
            key, _, value = f.partition("==")
            assert key == "id" and "," not in value, f"the fake knows only id== filters, not {f!r}"
            wanted.add(value)
        gone = [r for r in self.records if not r.in_use and (not filters or r.id in wanted)]
        self.records = [r for r in self.records if r not in gone]
        return gone

    def close(self) -> None:
        self.closed = True


# -- descriptions ---------------------------------------------------------------------------------

DESCRIPTIONS = [
    ('cached mount /c from exec /bin/sh -c echo hi >> /c/x with id "probe"',
     MountDescription("/c", "/bin/sh -c echo hi >> /c/x", "probe")),
    ("cached mount /root/.npm from exec /bin/sh -c npm ci",
     MountDescription("/root/.npm", "/bin/sh -c npm ci", "/root/.npm")),
    ('cached mount /c from container abc123 with id "x"', MountDescription("/c", "abc123", "x")),
    ('cached mount /c from exec sh -c echo "a b" with id "q\\"uo\\\\te\\u00e9\\n"',
     MountDescription("/c", 'sh -c echo "a b"', 'q"uo\\teé\n')),
    ('cached mount /c from exec sh -c echo with id "//root/.npm"', MountDescription("/c", "sh -c echo", "//root/.npm")),
]  # fmt: skip


@pytest.mark.parametrize(("description", "expected"), DESCRIPTIONS, ids=[d[1].cache_id for d in DESCRIPTIONS])
def test_a_cache_mount_description_gives_dest_command_and_id(description: str, expected: MountDescription) -> None:
    assert parse_mount_description(description) == expected


@pytest.mark.parametrize(
    "description",
    ["mount / from exec /bin/sh -c make", "local source for context", "imported sha256:abc", "", "cached mount /c"],
)
def test_other_descriptions_are_not_cache_mounts(description: str) -> None:
    assert parse_mount_description(description) is None


def test_only_records_of_type_exec_cachemount_are_cache_mounts() -> None:
    looks_like = DiskRecord("r1", "regular", 1, 'cached mount /c from exec sh with id "x"')
    [c] = classify([looks_like])
    assert c.mount is None and c.cache_id is None


# -- units ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [("10GB", 10 << 30), ("512MiB", 512 << 20), ("1.5g", 3 << 29), ("4096", 4096), ("100b", 100), ("2 kB", 2048),
     ("1tb", 1 << 40), ("0", 0)],
)  # fmt: skip
def test_sizes_are_read_as_docker_reads_keep_storage(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "10 gigs", "-1GB", "GB", "1e3", "10GBs", "1.2.3"])
def test_a_bad_size_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a size; give bytes or a number with a unit: 10GB, 512MiB"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("72h", 72 * HOUR), ("30m", 1800), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400), ("500ms", 0.5), ("0", 0)],
)
def test_durations_are_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "hint"),
    [("3d", "there is no day unit, say 72h"), ("72", "e.g. 72h"), ("", "e.g. 72h"), ("-5m", "e.g. 72h"),
     ("h", "e.g. 72h"), ("1w", "e.g. 72h")],
)  # fmt: skip
def test_a_bad_duration_says_how_to_write_one(text: str, hint: str) -> None:
    with pytest.raises(ValueError, match="is not a duration") as e:
        parse_duration(text)
    assert hint in str(e.value)


def test_sizes_and_ages_are_printed_as_docker_prints_them() -> None:
    assert [human_size(n) for n in (0, 999, 4096, 12_345_678, 3 * 10**9)] == ["0B", "999B", "4.096kB", "12.35MB", "3GB"]
    ages = [0.5, 1, 30, 90, 3 * HOUR, 50 * HOUR, 20 * 24 * HOUR, 100 * 24 * HOUR, 1000 * 24 * HOUR]
    assert [human_ago(NOW - s, NOW) for s in ages] == [
        "just now", "1 second ago", "30 seconds ago", "about a minute ago", "3 hours ago", "2 days ago",
        "2 weeks ago", "3 months ago", "2 years ago",
    ]  # fmt: skip
    assert human_ago(None, NOW) == "never"


# -- what a module declares ------------------------------------------------------------------------

MODULE = """\
fs default() {
	image "busybox:latest"
	run "npm ci" with option {
		cacheMount "/root/.npm" with option { id "npm" }
		cacheMount "/root/.cache/"
	}
}

fs other() {
	image "busybox:latest"
	run "npm test" with option {
		cacheMount "/n" with option { id "npm" }
	}
}
"""


def test_declared_mounts_are_the_compiled_ones_with_normalised_ids_and_their_lines() -> None:
    declared = declared_mounts(SourceFile("build.hlb", MODULE))
    assert declared == {
        "npm": [Declared("build.hlb", 4, 3), Declared("build.hlb", 12, 3)],
        "/root/.cache": [Declared("build.hlb", 5, 3)],  # the default id: the normalised mount point
    }
    assert str(declared["npm"][0]) == "build.hlb:4:3"


def test_records_get_the_lines_of_their_id_and_others_none() -> None:
    records = classify(
        [mount("m1", "npm", 10, 1), mount("m2", "pip", 20, 2), regular("r1", 5, 1)],
        {"npm": [Declared("build.hlb", 4, 3)]},
    )
    assert [(c.record.id, c.cache_id, c.declared) for c in records] == [
        ("m1", "npm", (Declared("build.hlb", 4, 3),)),
        ("m2", "pip", ()),
        ("r1", None, ()),
    ]
    assert records[0].to_json()["declared_at"] == [{"file": "build.hlb", "line": 4, "column": 3}]
    assert records[1].to_json()["declared_at"] == []


# -- totals -------------------------------------------------------------------------------------------


def test_totals_by_type_and_cache_id_add_up_to_the_listing() -> None:
    records = classify(
        [
            mount("m1", "npm", 100, 1),
            mount("m2", "npm", 50, 5, in_use=True),
            mount("m3", "pip", 7, None),
            regular("r1", 1000, 2),
            DiskRecord("s1", "source.local", 30, "local source for context"),
            DiskRecord("x", "regular", -1, "size not computed"),
        ]
    )
    t = totals(records)
    assert (t.total.records, t.total.size, t.total.reclaimable) == (6, 1187, 1137)
    assert t.total.size == sum(c.size for c in records)
    assert list(t.by_type) == ["regular", "exec.cachemount", "source.local"]
    assert (t.by_type[CACHE_MOUNT].records, t.by_type[CACHE_MOUNT].size) == (3, 157)
    assert {k: (v.records, v.size, v.reclaimable) for k, v in t.by_cache_id.items()} == {
        "npm": (2, 150, 100),
        "pip": (1, 7, 7),
    }
    assert t.by_cache_id["npm"].last_used_at == NOW - HOUR and t.by_cache_id["pip"].last_used_at is None
    assert t.to_json()["cache_mounts"]["npm"]["size"] == 150


# -- prune -----------------------------------------------------------------------------------------


def daemon() -> FakeDaemon:
    return FakeDaemon(
        [
            mount("m1", "npm", 100, 1),
            mount("m2", "npm", 50, 100),
            mount("m3", "pip", 7, 200),
            regular("r1", 1000, 300),
        ]
    )


def test_prune_by_id_prunes_exactly_that_ids_records_and_another_id_survives() -> None:
    fake = daemon()
    with CacheAdmin(fake) as admin:
        request = admin.plan_prune("npm")
        assert request.filters == ["id==m1", "id==m2"]  # one string each: ORed by the daemon
        result = admin.prune(request)
        assert sorted(r.id for r in result.deleted) == ["m1", "m2"] and result.reclaimed == 150
        assert [c.cache_id for c in admin.usage() if c.cache_id] == ["pip"]
        assert [r.id for r in fake.records] == ["m3", "r1"]
    assert fake.closed


def test_an_id_nobody_has_never_reaches_prune_which_would_take_everything() -> None:
    fake = daemon()
    admin = CacheAdmin(fake)
    request = admin.plan_prune("yarn")
    assert request.nothing and request.filters == []
    assert admin.prune(request).deleted == [] and fake.prunes == []
    assert len(fake.records) == 4


def test_older_than_selects_by_last_use_and_is_sent_as_keep_duration() -> None:
    fake = daemon()
    admin = CacheAdmin(fake)
    request = admin.plan_prune("npm", older_than=72 * HOUR, keep_storage=10 << 30, all=True, now=NOW)
    assert [c.record.id for c in request.selected] == ["m2"]  # m1 was used an hour ago
    admin.prune(request)
    assert fake.prunes == [(["id==m2"], {"all": True, "keep_duration": 72 * HOUR, "keep_bytes": 10 << 30})]


def test_records_in_use_are_reported_not_selected_and_missed_ones_are_named() -> None:
    records = classify([mount("m1", "npm", 1, 1, in_use=True), mount("m2", "npm", 1, None)])
    prunable, busy = select(records, "npm", older_than=HOUR, now=NOW)
    assert [c.record.id for c in prunable] == ["m2"]  # never used counts as old, as the daemon's keep-duration
    assert [c.record.id for c in busy] == ["m1"]
    fake = FakeDaemon([mount("m2", "npm", 1, None)])
    admin = CacheAdmin(fake)
    request = admin.plan_prune("npm")
    fake.records = [replace(fake.records[0], in_use=True)]  # a build took it between the listing and the prune
    assert [c.record.id for c in admin.prune(request).missed] == ["m2"]


def test_prune_without_an_id_sends_no_filter() -> None:
    fake = daemon()
    admin = CacheAdmin(fake)
    result = admin.prune(admin.plan_prune(older_than=HOUR))
    assert fake.prunes == [([], {"all": False, "keep_duration": HOUR, "keep_bytes": 0})]
    assert len(result.deleted) == 4 and result.missed == []
