"""hlb.cache_options: --cache-from/--cache-to parsing, validation, redaction and the daemon's names for caches."""

from __future__ import annotations

import os

import pytest

from hlb import cache_options as co
from hlb.values import SECRET_CACHE_ATTRS, CacheEntry

ENV: dict[str, str] = {}
REF = "127.0.0.1:5000/cache/app:ci"

# (flag value, direction, expected entries as strings)
GOOD = [
    (REF, co.IMPORT, [f"type=registry,ref={REF}"]),
    ("r1:ci,r2:ci", co.IMPORT, ["type=registry,ref=r1:ci", "type=registry,ref=r2:ci"]),
    (f"type=registry,ref={REF}", co.IMPORT, [f"type=registry,ref={REF}"]),
    (f"TYPE=registry,Ref={REF},MODE=max", co.EXPORT, [f"type=registry,ref={REF},mode=max"]),
    (f"type=registry,ref={REF},ignore-error=true,compression=zstd", co.EXPORT, None),
    (f"type=registry,ref={REF},oci-mediatypes=false,image-manifest=true", co.EXPORT, None),
    ("type=local,src=/c", co.IMPORT, ["type=local,src=/c"]),
    ("type=local,dest=/c,mode=max,tag=v1", co.EXPORT, ["type=local,dest=/c,mode=max,tag=v1"]),
    ("type=inline", co.EXPORT, ["type=inline"]),
    ("type=gha,url=http://u/,token=T", co.IMPORT, ["type=gha,url=http://u/,token=***,scope=buildkit"]),
    ("type=gha,url=http://u/,token=T,scope=app,timeout=90s", co.EXPORT, None),
    ("type=s3,bucket=b,region=r", co.IMPORT, ["type=s3,bucket=b,region=r"]),
    ('type=s3,bucket=b,region=r,"name=a;b"', co.EXPORT, ["type=s3,bucket=b,region=r,name=a;b"]),
    ("type=azblob,account_url=https://a/", co.IMPORT, None),
]


@pytest.mark.parametrize(("text", "direction", "expected"), GOOD)
def test_valid_values_parse(text: str, direction: str, expected: list[str] | None) -> None:
    parsed = co.parse(text, direction, ENV)
    assert parsed.warnings == []
    if expected is not None:
        assert [str(e) for e in parsed.entries] == expected


# (flag value, direction, a part of the one-line error)
BAD = [
    ("", co.IMPORT, "--cache-from is empty"),
    ("mode=max", co.EXPORT, "no type="),
    (f"type=registry,ref={REF},mode=bogus", co.EXPORT, "`mode=bogus` is not one of min, max"),
    (f"type=registry,ref={REF},ignore-error=yes", co.EXPORT, "`ignore-error=yes` is not a boolean"),
    (f"type=registry,ref={REF},compression=lz4", co.EXPORT, "`compression=lz4` is not one of"),
    (f"type=registry,ref={REF},oci-mediatypes=maybe", co.EXPORT, "`oci-mediatypes=maybe` is not a boolean"),
    (f"type=registry,ref={REF},compression-level=high", co.EXPORT, "is not an integer"),
    ("type=registry", co.IMPORT, "needs ref="),
    ("type=registry,ref=", co.IMPORT, "`ref=` is empty"),
    ("type=registry,ref=Bad:Ref:x", co.IMPORT, "is not an image reference"),
    (f"type=registry,ref={REF},ref=other", co.EXPORT, "`ref` is given twice"),
    (f"type=registry,ref={REF},REF=other", co.EXPORT, "`ref` is given twice"),
    ("type=local,dest=", co.EXPORT, "`dest=` is empty"),
    ("type=local,dest=/c", co.IMPORT, "needs src=DIR"),
    ("type=local,src=/c", co.EXPORT, "needs dest=DIR"),
    ("type=local,src=", co.IMPORT, "`src=` is empty"),
    ("type=inline", co.IMPORT, "an inline cache is imported from the image"),
    ("type=inline,mode=max", co.EXPORT, "`mode=max` is not one of min"),
    ("type=gha", co.IMPORT, "no url for the GitHub Actions cache"),
    ("type=gha,url=http://u/", co.EXPORT, "no token for the GitHub Actions cache"),
    ("type=gha,url=http://u/,token=T,timeout=ten", co.EXPORT, "`timeout=ten` is not a duration"),
    ("type=s3,region=r", co.IMPORT, "needs bucket="),
    ("type=s3,bucket=b", co.EXPORT, "needs region="),
    ("type=s3,bucket=,region=r", co.EXPORT, "`bucket=` is empty"),
    ("type=azblob", co.IMPORT, "needs account_url="),
    ("type=redis,url=x", co.IMPORT, "unknown cache type `redis`"),
    ("type=Registry,ref=x", co.IMPORT, "did you mean registry?"),
    (f"type=registry,ref={REF},junk", co.EXPORT, "`junk` is not key=value"),
]


@pytest.mark.parametrize(("text", "direction", "message"), BAD)
def test_invalid_values_are_one_line_errors(text: str, direction: str, message: str) -> None:
    with pytest.raises(co.CacheFlagError) as e:
        co.parse(text, direction, ENV)
    assert message in str(e.value)
    assert str(e.value).startswith(co.flag_of(direction))
    assert "\n" not in str(e.value)


# (flag value, direction, a part of the warning)
WARN = [
    (f"type=registry,ref={REF},color=blue", co.EXPORT, "`color` is not a registry cache attribute hlb knows"),
    (f"type=registry,ref={REF},mode=max", co.IMPORT, "`mode` applies only to --cache-to; ignored here"),
    ("type=local,src=/c,dest=/d", co.IMPORT, "`dest` applies only to --cache-to"),
]


@pytest.mark.parametrize(("text", "direction", "message"), WARN)
def test_unknown_or_misplaced_keys_are_passed_with_a_warning(text: str, direction: str, message: str) -> None:
    parsed = co.parse(text, direction, ENV)
    assert len(parsed.entries) == 1
    assert [w for w in parsed.warnings if message in w], parsed.warnings


def test_a_local_directory_is_made_absolute() -> None:
    (e,) = co.parse("type=local,dest=cache", co.EXPORT, ENV).entries
    assert e.attrs["dest"] == os.path.abspath("cache")


def test_the_same_export_twice_is_an_error_and_the_same_import_twice_a_warning() -> None:
    with pytest.raises(co.CacheFlagError, match="given twice"):
        co.parse_all([f"type=registry,ref={REF}", REF], co.EXPORT, ENV)
    parsed = co.parse_all([f"type=registry,ref={REF}", REF], co.IMPORT, ENV)
    assert len(parsed.entries) == 1 and "imported once" in parsed.warnings[0]


GHA_ENV = [
    ({"ACTIONS_RUNTIME_TOKEN": "T", "ACTIONS_CACHE_URL": "https://c/"}, {"token": "T", "url": "https://c/"}),
    ({"ACTIONS_RUNTIME_TOKEN": "T", "ACTIONS_RESULTS_URL": "https://r/"}, {"token": "T", "url": "https://r/"}),
    (
        {"ACTIONS_RUNTIME_TOKEN": "T", "ACTIONS_RESULTS_URL": "https://r/", "ACTIONS_CACHE_SERVICE_V2": "true"},
        {"token": "T", "url": "https://r/", "url_v2": "https://r/"},
    ),
]


@pytest.mark.parametrize(("env", "expected"), GHA_ENV)
def test_gha_reads_the_actions_environment_as_buildx_does(env: dict[str, str], expected: dict[str, str]) -> None:
    (e,) = co.parse("type=gha", co.EXPORT, env).entries
    assert dict(e.attrs) == {**expected, "scope": "buildkit"}


def test_gha_attributes_given_win_over_the_environment() -> None:
    env = {"ACTIONS_RUNTIME_TOKEN": "T", "ACTIONS_CACHE_URL": "https://c/"}
    (e,) = co.parse("type=gha,token=mine,url=https://mine/,scope=app", co.IMPORT, env).entries
    assert dict(e.attrs) == {"token": "mine", "url": "https://mine/", "scope": "app"}


def test_secrets_never_show() -> None:
    env = {"ACTIONS_RUNTIME_TOKEN": "s3cr3t-token", "ACTIONS_CACHE_URL": "https://c/"}
    (gha,) = co.parse("type=gha", co.EXPORT, env).entries
    s3 = CacheEntry("s3", {"bucket": "b", "region": "r", "access_key_id": "AKIA1", "secret_access_key": "sk"})
    for e in (gha, s3):
        assert "***" in str(e)
    assert "s3cr3t-token" not in str(gha) and "AKIA1" not in str(s3) and "=sk" not in str(s3)
    with pytest.raises(co.CacheFlagError) as err:
        co.parse("type=gha,timeout=x", co.EXPORT, env)
    assert "s3cr3t-token" not in str(err.value)
    assert co.scrub("bad token s3cr3t-token here", [gha]) == "bad token *** here"


def test_every_declared_secret_is_redacted_by_cache_entries() -> None:
    assert co.SECRET_ATTRS == SECRET_CACHE_ATTRS


# The daemon names an import `importing cache manifest from KEY`; KEY for other than a registry ref
# is BuildKit's hashstructure of {Type, Attrs}. Values observed on the engine (BuildKit v0.13.2).
OBSERVED = [
    (CacheEntry("registry", {"ref": REF}), REF),
    (CacheEntry("s3", {"bucket": "b", "region": "us-east-1"}), "s3:15404246389229449740"),
    (CacheEntry("gha", {}), "gha:9870259958468968118"),
    (CacheEntry("gha", {"url": "http://127.0.0.1:1/", "token": "SECRETTOKEN"}), "gha:14506346227816504763"),
    (CacheEntry("local", {"src": "/tmp/cf/empty"}), "local:6689897197840649538"),
]


@pytest.mark.parametrize(("entry", "key"), OBSERVED)
def test_daemon_key_is_the_daemons(entry: CacheEntry, key: str) -> None:
    assert co.daemon_key(entry) == key
    assert co.import_step(entry) == f"importing cache manifest from {key}"


def test_every_exporting_backend_names_its_export_step() -> None:
    for b in co.BACKENDS.values():
        if co.EXPORT in b.directions and b.type != "inline":
            assert b.export_step.startswith("exporting ")
