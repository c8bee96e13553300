"""File ops (copy, rm, owners, timestamps), merge and diff: Go's bytes and Go's edge cases.

The golden states copy, merge and diff (tests/data/llb-golden) are built with
the builder (whole deterministic Definitions) and compiled from .hlb programs
(op bytes and digests: the compiler adds names and source maps, which are not
in the digested ops). The other tests pin the rules of Go's client/llb
fileop.go, merge.go and diff.go that the golden states do not reach.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from hlb._proto import ops_pb2 as pb
from hlb.api import compile_source
from hlb.builtins.file_options import parse_owner, parse_rfc3339
from hlb.diagnostics import HlbError
from hlb.llb import (
    Chown,
    Copy,
    CopyInfo,
    DiffOp,
    MergeOp,
    Mkdir,
    Mkfile,
    Output,
    Platform,
    Rm,
    State,
    diff,
    image,
    merge,
)
from hlb.llb.definition import Definition, digest_of, marshal
from hlb.source import SourceFile

GOLDEN = Path(__file__).parents[2] / "data" / "llb-golden"
AMD64 = Platform("linux", "amd64")
BUSYBOX = "docker.io/library/busybox:latest"
ALPINE = "docker.io/library/alpine:latest"


def golden(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / f"{name}.json").read_text())
    return data


def busybox() -> State:
    return State().with_output(image(BUSYBOX).output())


def alpine() -> State:
    return State().with_output(image(ALPINE).output())


BUILDERS: dict[str, Callable[[], Output | None]] = {
    "copy": lambda: busybox().file(Copy.from_state(alpine(), "/etc/passwd", "/copied-passwd")).output,
    "merge": lambda: merge([busybox(), alpine()]).output,
    "diff": lambda: diff(busybox(), busybox().file(Mkfile("/new", 0o644, b"new\n"))).output,
}

PROGRAMS = {
    "copy": 'fs default() {\n\timage "busybox"\n\tcopy fs { image "alpine"; } "/etc/passwd" "/copied-passwd"\n}\n',
    "merge": 'fs default() {\n\timage "busybox:latest"\n\tmerge fs { image "alpine:latest"; }\n}\n',
    "diff": (
        "fs default() {\n"
        '\timage "busybox:latest"\n'
        '\tmkfile "/new" 0o644 "new\\n"\n'
        '\tdiff fs { image "busybox:latest"; }\n'
        "}\n"
    ),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builder_matches_go_bytes_and_definition(name: str) -> None:
    g = golden(name)
    d = marshal(BUILDERS[name](), AMD64)
    assert [op.hex() for op in d.ops] == [o["hex"] for o in g["ops"]]
    assert d.digests() == [o["digest"] for o in g["ops"]]
    assert d.head == g["head"]
    assert digest_of(d.ops[-1]) == g["terminalDigest"]
    assert d.serialize() == (GOLDEN / f"{name}.det.pb").read_bytes()


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_hlb_program_matches_go_ops(name: str) -> None:
    g = golden(name)
    d = compile_source(SourceFile("golden.hlb", PROGRAMS[name]), ["default"], AMD64).targets[0].definition
    assert [op.hex() for op in d.ops[:-1]] == [o["hex"] for o in g["ops"][:-1]]
    assert d.digests() == [o["digest"] for o in g["ops"]]
    assert d.head == g["head"]
    real_ops = g["ops"][:-1]
    assert [set(d.metadata[o["digest"]].caps) for o in real_ops] == [set(o["metadata"]["caps"]) for o in real_ops]
    # Every op points at the line that wrote it.
    assert all(d.source is not None and d.source.locations[o["digest"]].locations for o in real_ops[2:])


# -- helpers ---------------------------------------------------------------------------


def ops_of(d: Definition) -> list[pb.Op]:
    out = []
    for data in d.ops[:-1]:
        op = pb.Op()
        op.ParseFromString(data)
        out.append(op)
    return out


def last_op(out: Output | None) -> pb.Op:
    return ops_of(marshal(out, AMD64))[-1]


def as_dict(msg: Any) -> dict[str, Any]:
    d: dict[str, Any] = json_format.MessageToDict(msg)
    return d


def copy_of(op: pb.Op) -> dict[str, Any]:
    (action,) = op.file.actions
    return as_dict(action.copy)


# -- copy --------------------------------------------------------------------------------


def test_copy_writes_every_option_as_go_does() -> None:
    info = CopyInfo(
        owner=Chown(1000, "staff"),
        mode=0o755,
        follow_symlinks=True,
        dir_contents_only=True,
        attempt_unpack=True,
        create_dest_path=True,
        allow_wildcard=True,
        allow_empty_wildcard=True,
        timestamp=1_587_999_845_000_000_000,
        include_patterns=("*.go", "go.mod"),
        exclude_patterns=("*_test.go",),
    )
    op = last_op(busybox().file(Copy.from_state(alpine(), "/src", "/dst", info)).output)
    assert copy_of(op) == {
        "src": "/src",
        "dest": "/dst",
        "owner": {"user": {"byID": 1000}, "group": {"byName": {"name": "staff"}}},  # input 0: the base
        "mode": 0o755,
        "followSymlink": True,
        "dirCopyContents": True,
        "attemptUnpackDockerCompatibility": True,
        "createDestPath": True,
        "allowWildcard": True,
        "allowEmptyWildcard": True,
        "timestamp": "1587999845000000000",
        "includePatterns": ["*.go", "go.mod"],
        "excludePatterns": ["*_test.go"],
    }
    assert (op.file.actions[0].input, op.file.actions[0].secondaryInput, op.file.actions[0].output) == (0, 1, 0)
    assert not op.HasField("platform")


def test_copy_patterns_add_no_cap_because_go_never_calls_add_caps() -> None:
    # Go's FileOp.Marshal runs the capAdder loop over a fresh, empty marshalState, so
    # fileActionCopy.addCaps (file.copy.includeexcludepatterns) never runs: only file.base.
    info = CopyInfo(include_patterns=("a",), exclude_patterns=("b",))
    d = marshal(busybox().file(Copy.from_state(alpine(), "/", "/", info)).output, AMD64)
    assert set(d.metadata[d.head or ""].caps) == {"file.base"}


@pytest.mark.parametrize(
    ("dest", "cwd", "expected"),
    [
        ("/a/", "/", "/a/"),
        ("/a/.", "/", "/a/."),
        ("/.", "/", "/."),
        ("/", "/", "/"),
        ("b/", "/w", "/w/b/"),
        ("./", "/w", "/w/"),
        ("b/../c", "/w", "/w/c"),
        (".", "/w", "/w"),
    ],
)
def test_copy_dest_keeps_a_trailing_slash_or_dot(dest: str, cwd: str, expected: str) -> None:
    base = busybox().dir(cwd)
    assert copy_of(last_op(base.file(Copy.from_state(alpine(), "/x", dest)).output))["dest"] == expected


@pytest.mark.parametrize(
    ("src", "source_dir", "expected"),
    [
        ("/etc//passwd", None, "/etc/passwd"),
        ("etc/passwd", None, "etc/passwd"),  # no dir on the source state: Go keeps it relative
        ("./etc/", None, "etc"),
        ("", None, "."),
        ("etc/passwd", "/", "/etc/passwd"),
        ("bin", "/usr", "/usr/bin"),
        ("../lib", "/usr/bin", "/usr/lib"),
        ("/abs", "/usr", "/abs"),
    ],
)
def test_copy_source_path_is_cleaned_and_joins_the_source_dir(src: str, source_dir: str | None, expected: str) -> None:
    source = alpine() if source_dir is None else alpine().dir(source_dir)
    assert copy_of(last_op(busybox().file(Copy.from_state(source, src, "/d")).output))["src"] == expected


def test_copy_inputs_follow_go_marshal_state() -> None:
    a = busybox()
    # from itself: one input, both indexes 0
    op = last_op(a.file(Copy.from_state(a, "/bin", "/bin2")).output)
    assert len(op.inputs) == 1 and (op.file.actions[0].input, op.file.actions[0].secondaryInput) == (0, 0)
    # from an equal but distinct state: Go compares inputs by digest, so still one input
    op = last_op(a.file(Copy.from_state(busybox(), "/bin", "/bin2")).output)
    assert len(op.inputs) == 1 and op.file.actions[0].secondaryInput == 0
    # from scratch: no secondary input
    op = last_op(a.file(Copy.from_state(State(), "/", "/")).output)
    assert len(op.inputs) == 1 and op.file.actions[0].secondaryInput == -1
    # onto scratch: the base is -1 and the source is input 0
    op = last_op(State().file(Copy.from_state(a, "/bin", "/bin")).output)
    assert len(op.inputs) == 1 and (op.file.actions[0].input, op.file.actions[0].secondaryInput) == (-1, 0)


def test_named_owner_refers_to_the_base_input() -> None:
    on_scratch = last_op(State().file(Mkdir("/d", 0o755, owner=Chown("app"))).output)
    assert as_dict(on_scratch.file.actions[0].mkdir)["owner"] == {"user": {"byName": {"name": "app", "input": "-1"}}}
    on_image = last_op(busybox().file(Mkfile("/f", 0o600, b"", owner=Chown(0, 0))).output)
    assert as_dict(on_image.file.actions[0].mkfile)["owner"] == {"user": {"byID": 0}, "group": {"byID": 0}}


def test_mkdir_and_mkfile_write_timestamp_and_mask_the_mode() -> None:
    op = last_op(State().file(Mkdir("/d", 0o4755, make_parents=True, timestamp=5)).output)
    assert as_dict(op.file.actions[0].mkdir) == {"path": "/d", "mode": 0o755, "makeParents": True, "timestamp": "5"}


def test_rm_options() -> None:
    op = last_op(busybox().dir("/tmp").file(Rm("*.log", allow_not_found=True, allow_wildcard=True)).output)
    assert as_dict(op.file.actions[0].rm) == {"path": "/tmp/*.log", "allowNotFound": True, "allowWildcard": True}


# -- merge and diff ---------------------------------------------------------------------------


def test_merge_drops_scratch_inputs_like_go() -> None:
    assert merge([State(), State()]).output is None
    a = busybox().add_env("A", "1")
    assert merge([State(), a, State()]) is a  # a single non-scratch input is returned as it is
    merged = merge([State(), a, State(), alpine()])
    assert merged.env == a.env  # the first non-scratch state's metadata
    op = last_op(merged.output)
    assert [i.input for i in op.merge.inputs] == [0, 1] and len(op.inputs) == 2


def test_merge_does_not_deduplicate_inputs_and_needs_two() -> None:
    a = busybox()
    op = last_op(merge([a, a]).output)
    assert [i.input for i in op.merge.inputs] == [0, 1]
    assert op.inputs[0] == op.inputs[1]
    assert not op.HasField("platform")
    with pytest.raises(ValueError, match="at least 2"):
        MergeOp((a.output,))  # type: ignore[arg-type]


def test_diff_with_scratch_sides() -> None:
    up = busybox().file(Mkfile("/x", 0o644, b""))
    assert diff(State(), up) is up  # Go: the diff of scratch and upper is upper
    assert diff(State(), State()).output is None
    # DiffOp itself writes a scratch side as input -1 (pb.Empty)
    op = last_op(DiffOp(None, up.output).output())
    assert as_dict(op.diff) == {"lower": {"input": "-1"}, "upper": {}} and len(op.inputs) == 1
    op = last_op(diff(busybox(), State()).output)
    assert as_dict(op.diff) == {"lower": {}, "upper": {"input": "-1"}}
    assert not op.HasField("platform")


def test_diff_keeps_the_lower_state_metadata() -> None:
    lower = busybox().dir("/lower")
    assert diff(lower, busybox().dir("/upper")).cwd == "/lower"


# -- owners and times ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1000", Chown(1000)),
        ("1000:1000", Chown(1000, 1000)),
        ("app:staff", Chown("app", "staff")),
        ("root", Chown(0)),
        ("root:root", Chown(0, 0)),
        ("0:wheel", Chown(0, "wheel")),
        ("+7", Chown(7)),  # strconv.ParseInt accepts a sign
        ("2147483647", Chown(2147483647)),
    ],
)
def test_parse_owner_as_go_with_user(text: str, expected: Chown) -> None:
    assert parse_owner(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the user is empty"),
        (":1000", "the user is empty"),
        ("1000:", "the group is empty"),
        ("a:b:c", "the group name `b:c` contains `:`"),
        ("-1", "the user id -1 is negative"),
        ("1:-5", "the group id -5 is negative"),
        ("2147483648", "the user id 2147483648 is larger than 2147483647"),
        ("my user", "the user name `my user` contains a space"),
    ],
)
def test_parse_owner_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + reason.replace("+", r"\+") + "$"):
        parse_owner(text)


def unix_nanos(iso: str) -> int:
    dt = datetime.fromisoformat(iso)
    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-04-27T15:04:05Z", 1_587_999_845_000_000_000),  # openllb/hlb's codegen test time
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59Z", -1_000_000_000),
        ("2020-01-01T12:00:00+02:00", unix_nanos("2020-01-01T10:00:00+00:00")),
        ("2020-01-01T00:00:00-05:30", unix_nanos("2020-01-01T05:30:00+00:00")),
        ("2020-01-01T00:00:00.5Z", unix_nanos("2020-01-01T00:00:00+00:00") + 500_000_000),
        ("2020-01-01T00:00:00,123456789123Z", unix_nanos("2020-01-01T00:00:00+00:00") + 123_456_789),
        ("2024-02-29T00:00:00Z", unix_nanos("2024-02-29T00:00:00+00:00")),
        ("0000-01-01T00:00:00Z", -62_167_219_200_000_000_000),  # Go's year 0
    ],
)
def test_parse_rfc3339_as_go(text: str, expected: int) -> None:
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2020-01-01", "not an RFC 3339 time"),
        ("2020-01-01 00:00:00Z", "not an RFC 3339 time"),
        ("2020-01-01T00:00:00", "not an RFC 3339 time"),
        ("2020-01-01t00:00:00z", "not an RFC 3339 time"),
        ("2020-13-01T00:00:00Z", "month 13 is out of range"),
        ("2023-02-29T00:00:00Z", "day 29 is out of range"),
        ("2020-01-01T24:00:00Z", "time of day 24:00:00 is out of range"),
        ("2020-01-01T00:00:60Z", "time of day 00:00:60 is out of range"),
        ("2020-01-01T00:00:00+24:00", "time zone offset +24:00 is out of range"),
    ],
)
def test_parse_rfc3339_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + reason.replace("+", r"\+")):
        parse_rfc3339(text)


# -- lowering errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stmt", "column", "message", "hint"),
    [
        ('mkdir "/d" 0o755 with createdTime("yesterday")', 36, "invalid time `yesterday`", "RFC 3339"),
        ('mkfile "/f" 0o644 "" with chown("a:b:c")', 34, "invalid owner `a:b:c`", "user:group"),
        ('copy scratch "/" "/" with createdTime("2020-02-30T00:00:00Z")', 40, "invalid time", "RFC 3339"),
        ('copy scratch "/" "/" with chown("")', 34, "invalid owner ``: the user is empty", "numeric ids"),
        ('copy scratch "/" "/" with chmod(0o17777)', 34, "file mode 0o17777 is out of range", "0o7777"),
        ("merge", 2, "`merge` needs at least one filesystem", "merge fs {"),
    ],
)
def test_bad_values_are_diagnostics_at_the_argument(stmt: str, column: int, message: str, hint: str) -> None:
    text = f'fs default() {{\n\timage "busybox"\n\t{stmt}\n}}\n'
    with pytest.raises(HlbError) as info:
        compile_source(SourceFile("t.hlb", text), ["default"], AMD64)
    (d,) = info.value.diagnostics
    assert (d.code.slug, d.span.begin.line, d.span.begin.column) == ("invalid-value", 3, column)
    assert d.message.startswith(message)
    assert d.hint is not None and hint in d.hint


# -- history -------------------------------------------------------------------------------------


def test_copy_merge_and_diff_add_layers_to_the_image_history() -> None:
    text = (
        "fs default() {\n"
        '\timage "busybox"\n'
        '\trm "/tmp" with allowNotFound\n'
        '\tcopy scratch "src/" "./dst"\n'
        "\tmerge scratch\n"
        "\tdiff scratch\n"
        "}\n"
    )
    fs = compile_source(SourceFile("t.hlb", text), ["default"], AMD64).targets[0].fs
    assert fs is not None
    assert [(h.created_by, h.empty_layer) for h in fs.image.history] == [
        ("COPY src/ ./dst", False),
        ("MERGE / /", False),
        ("DIFF / /", False),
    ]
