"""Source ops (hlb.llb.source): identifiers, attrs, caps and bytes as Go's client/llb builds them."""

from __future__ import annotations

import pytest

from hlb._proto import ops_pb2 as pb
from hlb.llb import Platform
from hlb.llb.definition import Marshaller, digest_of, marshal
from hlb.llb.source import GitURLError, SourceOp, git, go_json_strings, http, local, parse_git_url

AMD64 = Platform("linux", "amd64")


def op_bytes(op: SourceOp) -> bytes:
    d = marshal(op.output(), AMD64)
    return d.ops[0]


def caps(op: SourceOp) -> set[str]:
    return op.to_pb(Marshaller(AMD64))[1]


# -- git remotes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "scheme", "host", "path", "remote"),
    [
        ("https://github.com/moby/buildkit.git", "https", "github.com", "/moby/buildkit.git", None),
        (
            "HTTPS://github.com/moby/buildkit.git",
            "https",
            "github.com",
            "/moby/buildkit.git",
            "https://github.com/moby/buildkit.git",
        ),
        (
            "https://user:tok@example.com:8443/r.git?x=1#frag",
            "https",
            "example.com:8443",
            "/r.git",
            "https://user:tok@example.com:8443/r.git",
        ),
        ("ssh://git@github.com:22/moby/buildkit.git", "ssh", "github.com:22", "/moby/buildkit.git", None),
        ("git@github.com:moby/buildkit.git", "ssh", "github.com", "moby/buildkit.git", None),
        (
            "git@github.com:moby/buildkit.git#v1",
            "ssh",
            "github.com",
            "moby/buildkit.git",
            "git@github.com:moby/buildkit.git",
        ),
        ("git://127.0.0.1:9418/repo", "git", "127.0.0.1:9418", "/repo", None),
        ("github.com/moby/buildkit", "https", "github.com", "/moby/buildkit", "https://github.com/moby/buildkit"),
    ],
)
def test_git_urls_parse_as_gitutil_does(url: str, scheme: str, host: str, path: str, remote: str | None) -> None:
    parsed = parse_git_url(url)
    assert (parsed.scheme, parsed.host, parsed.path, parsed.remote) == (scheme, host, path, remote or url)


@pytest.mark.parametrize("url", ["file:///srv/repo", "ftp://example.com/repo.git"])
def test_unsupported_git_protocols_are_refused(url: str) -> None:
    with pytest.raises(GitURLError, match="unsupported protocol"):
        parse_git_url(url)


# -- git ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment", "identifier"),
    [
        ("https://github.com/moby/buildkit.git", "v0.11.6", "git://github.com/moby/buildkit.git#v0.11.6"),
        ("https://github.com/moby/buildkit.git", "", "git://github.com/moby/buildkit.git"),
        ("git@github.com:moby/buildkit.git", "main", "git://github.com/moby/buildkit.git#main"),
        ("https://github.com/moby/buildkit.git", "main:./docs//", "git://github.com/moby/buildkit.git#main:docs"),
        ("https://github.com/moby/buildkit.git", ":docs", "git://github.com/moby/buildkit.git#:docs"),
        ("https://github.com/moby/buildkit.git", "main:", "git://github.com/moby/buildkit.git#main"),
        ("https://github.com//moby/./x/../buildkit/", "", "git://github.com/moby/buildkit"),
        ("https://github.com", "main", "git://github.com/#main"),
    ],
)
def test_git_identifier_is_protocol_independent(url: str, fragment: str, identifier: str) -> None:
    assert git(url, fragment).identifier == identifier


def test_https_and_ssh_remotes_of_one_repo_share_the_identifier() -> None:
    a = git("https://github.com/moby/buildkit.git", "main")
    b = git("git@github.com:moby/buildkit.git", "main")
    assert a.identifier == b.identifier
    assert a.attrs["git.fullurl"] != b.attrs["git.fullurl"]


def test_git_attrs_and_caps_over_https() -> None:
    op = git("https://github.com/moby/buildkit.git", "main", keep_git_dir=True)
    assert dict(op.attrs) == {
        "git.fullurl": "https://github.com/moby/buildkit.git",
        "git.keepgitdir": "true",
        "git.authtokensecret": "GIT_AUTH_TOKEN",
        "git.authheadersecret": "GIT_AUTH_HEADER",
    }
    # The default auth secret names need no cap (Go adds source.git.httpauth only for custom names).
    assert caps(op) == {"source.git", "source.git.fullurl", "source.git.keepgitdir"}


def test_git_over_ssh_mounts_the_default_agent() -> None:
    op = git("git@github.com:moby/buildkit.git", "main")
    assert op.attrs["git.mountsshsock"] == "default"
    assert "git.knownsshhosts" not in op.attrs
    assert caps(op) == {"source.git", "source.git.fullurl", "source.git.knownsshhosts", "source.git.mountsshsock"}


def test_git_source_has_no_platform() -> None:
    op, _ = git("https://github.com/moby/buildkit.git", "main").to_pb(Marshaller(AMD64))
    assert not op.HasField("platform")


# -- http --------------------------------------------------------------------------------


def test_http_attrs_and_caps() -> None:
    dgst = "sha256:" + "ab" * 32
    op = http("https://example.com/x", checksum=dgst, filename="tool", perm=0o755)
    assert dict(op.attrs) == {"http.checksum": dgst, "http.filename": "tool", "http.perm": "0755"}
    assert caps(op) == {"source.http", "source.http.checksum", "source.http.perm"}  # no cap for the filename
    assert op.identifier == "https://example.com/x"


def test_http_perm_keeps_only_permission_bits_as_llb_chmod() -> None:
    assert http("https://e.com/x", perm=0o4755).attrs["http.perm"] == "0755"
    assert http("https://e.com/x", perm=0o644).attrs["http.perm"] == "0644"
    assert http("https://e.com/x", perm=0o7000).attrs == {}


def test_http_plain_has_only_the_base_cap() -> None:
    op = http("http://example.com/a.tgz")
    assert (dict(op.attrs), caps(op)) == ({}, {"source.http"})


def test_http_op_bytes_are_go_ordered() -> None:
    """constraints (field 11) before the source oneof (field 3), attrs sorted bytewise."""
    op = http("https://e.com/x", filename="f", perm=0o700)

    def ld(tag: int, payload: bytes) -> bytes:
        return bytes([tag, len(payload)]) + payload

    def entry(key: str, value: str) -> bytes:  # a map entry: field 2 of SourceOp, key 1, value 2
        return ld(0x12, ld(0x0A, key.encode()) + ld(0x12, value.encode()))

    source = ld(0x0A, b"https://e.com/x") + entry("http.filename", "f") + entry("http.perm", "0700")
    expected = b"\x5a\x00" + ld(0x1A, source)
    data = op_bytes(op)
    assert data == expected
    parsed = pb.Op()
    parsed.ParseFromString(data)
    assert dict(parsed.source.attrs) == {"http.filename": "f", "http.perm": "0700"}


# -- local -------------------------------------------------------------------------------


def test_local_attrs_and_caps() -> None:
    op = local("ctx", unique="u1", include_patterns=["a", "b/**"], exclude_patterns=[".git"], shared_key_hint="k")
    assert op.identifier == "local://ctx"
    assert dict(op.attrs) == {
        "local.includepattern": '["a","b/**"]',
        "local.excludepatterns": '[".git"]',
        "local.sharedkeyhint": "k",
        "local.unique": "u1",
    }
    assert caps(op) == {
        "source.local",
        "source.local.includepatterns",
        "source.local.excludepatterns",
        "source.local.sharedkeyhint",
        "source.local.unique",
    }


def test_local_without_patterns_sets_only_the_unique_id() -> None:
    op = local("ctx", unique="u1")
    assert (dict(op.attrs), caps(op)) == ({"local.unique": "u1"}, {"source.local", "source.local.unique"})


def test_local_digest_depends_on_the_unique_id_only_through_its_attr() -> None:
    a, b, c = (local("ctx", unique=u) for u in ("u1", "u1", "u2"))
    assert digest_of(op_bytes(a)) == digest_of(op_bytes(b)) != digest_of(op_bytes(c))


@pytest.mark.parametrize(
    ("items", "text"),
    [
        ([], "[]"),
        (["a", "b"], '["a","b"]'),
        (["<x>&y"], '["\\u003cx\\u003e\\u0026y"]'),
        (["é", "\u2028"], '["é","\\u2028"]'),
        (['q"\\\n'], '["q\\"\\\\\\n"]'),
    ],
)
def test_patterns_are_json_as_go_marshals_them(items: list[str], text: str) -> None:
    assert go_json_strings(items) == text
