"""What an adversarial campaign crashed hlb with (issue 10 item 10): each is a diagnostic or a
clear error now, never an internal error (exit 70)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Run

from hlb.address import AddressError, parse, resolve
from hlb.api import compile_source
from hlb.checker.check import ModuleLoader, check_module
from hlb.diagnostics import HlbError
from hlb.llb import Platform
from hlb.source import SourceFile
from hlb.syntax.parser import parse_module

AMD64 = Platform("linux", "amd64")
VALID = Path(__file__).parents[2] / "cases" / "valid"


def compile_text(text: str, tmp_path: Path) -> list[tuple[str, str, str]]:
    """(slug, line:col, message) of each diagnostic compiling `default` (none when it compiles)."""
    path = tmp_path / "build.hlb"
    path.write_bytes(text.encode())
    try:
        compile_source(SourceFile(str(path), text), ["default"], AMD64)
    except HlbError as e:
        return [(d.code.slug, f"{d.span.begin.line}:{d.span.begin.column}", d.message) for d in e.diagnostics]
    return []


def _targets(path: Path) -> list[tuple[Path, str]]:
    parsed = parse_module(SourceFile(str(path), path.read_text()))
    if parsed.module is None:
        return []
    checked = check_module(parsed.module, ModuleLoader()).checked
    return [(path, n) for n, f in checked.funcs.items() if not f.params and f.type.name in ("fs", "pipeline", "group")]


@pytest.mark.parametrize(
    ("path", "target"),
    [t for p in sorted(VALID.glob("*.hlb")) for t in _targets(p)],
    ids=lambda v: v.stem if isinstance(v, Path) else v,
)
def test_every_target_of_a_valid_program_compiles_or_is_a_diagnostic(path: Path, target: str) -> None:
    """`scratch with option {}` (a valid case) used to raise a KeyError here."""
    with contextlib.suppress(HlbError):  # e.g. an image config to resolve without a daemon
        compile_source(SourceFile(str(path), path.read_text()), [target], AMD64)


def test_an_empty_with_block_on_a_call_without_options_compiles(tmp_path: Path) -> None:
    assert compile_text("fs default() {\n\tscratch with option {}\n}\n", tmp_path) == []
    assert compile_text('fs default() {\n\timage "alpine" with option {}\n}\n', tmp_path) == []


def test_a_bind_called_with_arguments_inside_its_own_with_block(hlb: Run, tmp_path: Path) -> None:
    path = tmp_path / "build.hlb"
    path.write_text(
        'fs f(string s) {\n\timage s\n\trun "x" with option {\n\t\tmount out("a") "/m"\n'
        '\t\tmount scratch "/out" as out\n\t}\n}\nfs default() { f "alpine"; }\n'
    )
    for command in ("check", "compile"):
        code, _, err = hlb([command, str(path)])
        assert code == 1, err
        assert "build.hlb:4:9: error: recursive call: `f` calls `out` (which evaluates `f`) [recursion]" in err


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ('http "http://[::1/x"', "1:21", "`http://[::1/x` is not a valid URL: Invalid IPv6 URL"),
        ('git "https://a]b/c" "main"', "1:20", "`https://a]b/c` is not a git remote: Invalid IPv6 URL"),
        (
            'image "alpine"; run "x" with option { forward "tcp://[::1" "/s"; }',
            "1:62",
            "`tcp://[::1` is not a `tcp://host:port` address",
        ),
    ],
    ids=["http", "git", "forward"],
)
def test_a_url_with_a_broken_ipv6_host_is_a_diagnostic(body: str, where: str, message: str, tmp_path: Path) -> None:
    assert compile_text(f"fs default() {{ {body}; }}\n", tmp_path) == [("invalid-value", where, message)]


def test_an_address_with_a_broken_ipv6_host_is_an_address_error(hlb: Run, tmp_path: Path) -> None:
    for url in ("tcp://[::1", "docker-container://[x"):
        with pytest.raises(AddressError, match="is not a valid address: Invalid IPv6 URL"):
            parse(url, "--addr", {})
    with pytest.raises(AddressError, match="DOCKER_HOST 'tcp://\\[::1' is not a valid address"):
        resolve(env={"DOCKER_HOST": "tcp://[::1"})
    path = tmp_path / "build.hlb"
    path.write_text("fs default() { scratch; }\n")
    code, _, err = hlb(["run", "--addr", "tcp://[::1", str(path)])
    assert (code, err.strip()) == (2, "hlb: error: --addr 'tcp://[::1' is not a valid address: Invalid IPv6 URL")


def test_compile_with_an_unusable_docker_host_is_an_error(
    hlb: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BUILDKIT_HOST", raising=False)
    path = tmp_path / "build.hlb"
    path.write_text("fs default() { scratch; }\n")
    for host, message in [("tcp://[::1", "is not a valid address"), ("ftp://x", "unsupported Docker engine address")]:
        monkeypatch.setenv("DOCKER_HOST", host)
        code, _, err = hlb(["compile", str(path)])
        assert code == 2 and err.startswith("hlb: error: ") and "DOCKER_HOST" in err and message in err, err


NUL = "\0"


@pytest.mark.parametrize(
    ("text", "diagnostic"),
    [
        (
            f'string s() {{ localRun "ech{NUL}o"; }}\nfs default() {{ image s; }}\n',
            ("1:23", "a command cannot contain a NUL character"),
        ),
        (
            f'string s() {{ localRun "echo" "a{NUL}b"; }}\nfs default() {{ image s; }}\n',
            ("1:30", "an argument of a command cannot contain a NUL character"),
        ),
        (
            f'fs default() {{\n\timage "alpine"\n\trun "x" with option {{ secret "a{NUL}b" "/s"; }}\n}}\n',
            ("3:31", "a path of this machine cannot contain a NUL character"),
        ),
        (
            f'fs default() {{\n\timage "alpine"\n\tdownload "a{NUL}b"\n}}\n',
            ("3:11", "a path of this machine cannot contain a NUL character"),
        ),
        (
            f'fs default() {{\n\timage "alpine"\n\tdownloadDockerTarball "a{NUL}b" "x:y"\n}}\n',
            ("3:24", "a path of this machine cannot contain a NUL character"),
        ),
        (
            f'fs default() {{\n\tcacheContext "a{NUL}b" fs {{ image "alpine"; }} with backend("local")\n}}\n',
            ("2:15", "a path of this machine cannot contain a NUL character"),
        ),
        (f'fs default() {{\n\tlocal "a{NUL}b"\n}}\n', ("2:8", "a path of this machine cannot contain a NUL character")),
        (
            f'fs default() {{\n\timage "a"\n\trun "x" with option {{ ssh with option {{ localPaths "a{NUL}b"; }}; }}'
            "\n}\n",
            ("3:53", "a path of this machine cannot contain a NUL character"),
        ),
        (
            f'fs default() {{\n\timage "a"\n\trun "x" with option {{ forward "unix://a{NUL}b" "/s"; }}\n}}\n',
            ("3:32", "a path of this machine cannot contain a NUL character"),
        ),
    ],
    ids=[
        "localRun",
        "localRun-arg",
        "secret",
        "download",
        "downloadDockerTarball",
        "cacheContext",
        "local",
        "ssh",
        "forward",
    ],
)
def test_a_nul_character_in_a_host_path_is_a_diagnostic_at_the_string(
    text: str, diagnostic: tuple[str, str], tmp_path: Path
) -> None:
    assert compile_text(text, tmp_path) == [("invalid-value", *diagnostic)]


def test_a_nul_character_elsewhere_in_a_string_is_fine(tmp_path: Path) -> None:
    assert compile_text(f'fs default() {{\n\tscratch\n\tmkfile "/f" 0o644 "a{NUL}b"\n}}\n', tmp_path) == []


@pytest.mark.parametrize("command", [["compile"], ["check"], ["lint"], ["format", "--check"], ["run", "--tree"]])
def test_a_device_is_refused_not_read_forever(command: list[str]) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "hlb", *command, "/dev/zero"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (r.returncode, r.stderr.strip()) == (
        1,
        "hlb: error: cannot read /dev/zero: not a regular file (a character device)",
    )


def test_a_pipe_named_on_the_command_line_is_read(tmp_path: Path) -> None:
    """`hlb check <(generate)`: a FIFO with a writer ends when the writer closes it."""
    fifo = tmp_path / "build.hlb"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hlb", "check", str(fifo)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with open(fifo, "w") as w:
        w.write('fs default() {\n\timage "busybox"\n}\n')
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


# Found by bench/fuzz_fast.py (issue 10 item 11).


@pytest.mark.parametrize(
    ("args", "where", "message"),
    [
        ('"linux" " "', "3:48", "` ` is not an architecture"),
        ('"\\t" "amd64"', "3:40", "`\t` is not an operating system"),
    ],
    ids=["blank-arch", "blank-os"],
)
def test_a_blank_platform_part_is_a_diagnostic(args: str, where: str, message: str, tmp_path: Path) -> None:
    """`platform "é" " "` was a ValueError (the part strips to nothing in Platform.parse)."""
    text = f'fs default() {{\n\tscratch\n\timage "alpine" with option {{ platform {args}; }}\n}}\n'
    assert compile_text(text, tmp_path) == [("invalid-value", where, message)]


def test_a_secret_directory_with_an_unlistable_directory_is_a_diagnostic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`secret "/"` was a PermissionError (listing /proc/1/fdinfo in a container, even as root)."""
    (tmp_path / "s" / "locked").mkdir(parents=True)
    (tmp_path / "s" / "a").write_text("x")
    scandir = os.scandir

    def refuse(path: str) -> object:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    text = 'fs default() {\n\timage "alpine"\n\trun "x" with option { secret "./s" "/s"; }\n}\n'
    ((slug, where, message),) = compile_text(text, tmp_path)
    assert (slug, where) == ("invalid-value", "3:31")
    assert message == f"cannot read secret `./s`: Permission denied: {tmp_path / 's' / 'locked'}"


ID, MODE = "the id 4294967296 is out of range", "file mode 0o10000 is out of range"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        pytest.param('secret "./s" "/s" with option { uid 4294967296; }', ID, id="secret-uid"),
        pytest.param('secret "./s" "/s" with option { gid 4294967296; }', ID, id="secret-gid"),
        pytest.param('secret "./s" "/s" with option { mode 0o10000; }', MODE, id="secret-mode"),
        pytest.param("ssh with option { uid 4294967296; }", ID, id="ssh-uid"),
        pytest.param("ssh with option { mode 0o10000; }", MODE, id="ssh-mode"),
        pytest.param('forward "tcp://127.0.0.1:80" "/s" with option { gid 4294967296; }', ID, id="forward-gid"),
        pytest.param('forward "tcp://127.0.0.1:80" "/s" with option { mode 0o10000; }', MODE, id="forward-mode"),
        pytest.param('cacheMount "/c" with option { uid 4294967296; }', ID, id="cacheMount-uid"),
        pytest.param('cacheMount "/c" with option { gid 4294967296; }', ID, id="cacheMount-gid"),
    ],
)
def test_an_owner_id_or_mode_the_llb_cannot_carry_is_a_diagnostic(option: str, message: str, tmp_path: Path) -> None:
    """`secret ... with option { uid 4294967296 }` was a ValueError from protobuf (uid, gid, mode are uint32)."""
    (tmp_path / "s").write_text("x")
    line = f'\trun "x" with option {{ {option}; }}'
    number = next(w for w in option.split() if w[0].isdigit())
    text = f'fs default() {{\n\timage "alpine"\n{line}\n}}\n'
    assert compile_text(text, tmp_path) == [("invalid-value", f"3:{line.index(number) + 1}", message)]


def test_owner_ids_and_modes_in_range_compile(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("x")
    text = (
        'fs default() {\n\timage "alpine"\n\trun "x" with option {\n'
        '\t\tsecret "./s" "/s" with option { uid 4294967295; gid 0; mode 0o7777; }\n'
        "\t\tssh with option { uid 1000; gid 1000; mode 0o600; }\n"
        '\t\tcacheMount "/c" with option { uid 4294967295; gid 4294967295; }\n\t}\n}\n'
    )
    assert compile_text(text, tmp_path) == []
