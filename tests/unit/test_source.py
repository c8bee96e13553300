"""Reading source (hlb.api and SourceFile): UTF-8 only, one newline, no byte order mark."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from hlb import api
from hlb.diagnostics import HlbError
from hlb.llb import Platform
from hlb.llb.dump import to_json_obj
from hlb.source import SourceFile

AMD64 = Platform("linux", "amd64")
HEREDOC = 'fs default() {\n\tscratch\n\tmkfile "/a" 0o644 <<-EOM\n\t\tline one\n\t\t  line two\n\tEOM\n}\n'


def mkfile_data(source: SourceFile, reader: object = None) -> bytes:
    compiled = api.compile_source(source, ["default"], AMD64, resolver=reader)  # type: ignore[arg-type]
    ops = to_json_obj(compiled.targets[0].definition)["ops"]
    (action,) = [a for o in ops if "file" in o["op"] for a in o["op"]["file"]["actions"]]
    return base64.b64decode(action["mkfile"]["data"])


def parse_error(path: Path) -> str:
    with pytest.raises(HlbError) as e:
        api.parse(api.load(path))
    (d,) = e.value.diagnostics
    return f"{d.primary.span} {d.code.slug} {d.message}"


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_crlf_and_cr_heredoc_data_has_no_carriage_returns(tmp_path: Path, newline: str) -> None:
    f = tmp_path / "build.hlb"
    f.write_bytes(HEREDOC.replace("\n", newline).encode())
    assert mkfile_data(api.load(f)) == b"line one\n  line two"


def test_a_cr_only_file_is_lines_not_one_comment(tmp_path: Path) -> None:
    f = tmp_path / "build.hlb"
    f.write_bytes(b"# a comment\rfs a() { scratch; }\rfs b() { scratch; }\r")
    module = api.parse(api.load(f))
    assert [str(d.span) for d in module.decls] == [f"{f}:2:1", f"{f}:3:1"]


def test_a_bom_is_accepted_and_columns_count_after_it(tmp_path: Path) -> None:
    f = tmp_path / "build.hlb"
    f.write_bytes(b"\xef\xbb\xbf" + HEREDOC.encode())
    assert mkfile_data(api.load(f)) == b"line one\n  line two"
    f.write_bytes(b"\xef\xbb\xbffs default() { scratch; \xc3\xa9 }\n")
    assert parse_error(f).startswith(f"{f}:1:25 unexpected-character")


@pytest.mark.parametrize(
    ("data", "where", "byte"),
    [
        (b'fs default() { image "busybox"; run "echo caf\xe9"; }\n', "1:46", "0xe9"),  # in a string literal
        (b"\x80fs default() { scratch; }\n", "1:1", "0x80"),  # the first byte
        (b'fs default() {\n\tscratch\n\tmkfile "/a" 0o644 <<EOM\n\xe2\x82EOM\n}\n', "4:1", "0xe2"),  # in a heredoc
        (b"fs default() {\r\n\tscratch # \xc3\xa9 \xff\r\n}\r\n", "2:14", "0xff"),  # after valid UTF-8, CRLF
    ],
)
def test_invalid_utf8_is_a_diagnostic_at_the_first_bad_byte(tmp_path: Path, data: bytes, where: str, byte: str) -> None:
    f = tmp_path / "build.hlb"
    f.write_bytes(data)
    assert parse_error(f) == f"{f}:{where} invalid-utf8 the file is not valid UTF-8: byte {byte}"


class Reader:
    """Answers the module an fs import reads, as bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def resolve(self, ref: str, platform: Platform) -> object:
        raise AssertionError("not used")

    def read_file(self, definition: object, path: str) -> bytes:
        return self.data


def test_a_module_fetched_from_an_fs_import_must_be_utf8() -> None:
    main = 'import lib from fs { image "127.0.0.1:5000/lib:1"; }\n\nfs default() {\n\tlib.greet\n}\n'
    lib = b'export greet\n\nfs greet() {\n\timage "\xff"\n}\n'
    with pytest.raises(HlbError) as e:
        api.compile_source(SourceFile("build.hlb", main), ["default"], AMD64, resolver=Reader(lib))  # type: ignore[arg-type]
    assert [(str(d.primary.span), d.code.slug) for d in e.value.diagnostics if d.is_error] == [
        ("<import lib>/module.hlb:4:9", "invalid-utf8")
    ]
    lib_crlf = ("export greet\n\n" + HEREDOC.replace("default", "greet")).replace("\n", "\r\n").encode()
    main_source = SourceFile("build.hlb", main)
    assert mkfile_data(main_source, Reader(lib_crlf)) == b"line one\n  line two"


def test_source_file_keeps_the_original_and_its_line_ending_style() -> None:
    crlf = SourceFile("a", "\ufeffa\r\nb\nc\rd")
    assert (crlf.text, crlf.original, crlf.newline) == ("a\nb\nc\nd", "\ufeffa\r\nb\nc\rd", "\r\n")
    assert crlf.styled("x\ny\n") == "x\r\ny\r\n" and crlf.line_text(4) == "d"
    lf = SourceFile("a", "a\nb\r\n")
    assert (lf.newline, lf.styled("x\n"), lf.invalid) == ("\n", "x\n", None)
    assert SourceFile.from_bytes("a", b"ok\n\xc3\xa9\xc3").invalid == 4


def test_lf_crlf_and_bom_checkouts_compile_to_the_same_llb() -> None:
    """The same module checked out with other line endings hits the same cache (and carries the same source map)."""
    text = HEREDOC.replace("\tscratch\n", '\timage "busybox"\n\trun "echo hi"\n')
    built = [
        api.compile_source(SourceFile("build.hlb", t), ["default"], AMD64).targets[0].definition.serialize()
        for t in (text, text.replace("\n", "\r\n"), "\ufeff" + text, text.replace("\n", "\r"))
    ]
    assert len(set(built)) == 1
