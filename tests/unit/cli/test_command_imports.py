"""Each command imports only what it needs: the commands that never talk to a daemon never load grpc,
`hlb format` (which neither checks nor compiles) never loads the LLB package and its generated protobufs, and
`hlb check` reads the builtins' signatures without their lowerings (nor the LLB package and protobufs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = """
import sys
from hlb.cli.main import main
code = main(sys.argv[1:])
WATCHED = (
    "grpc", "asyncio", "hlb.solver", "hlb.session", "hlb.build", "hlb.compiler", "rich", "google.protobuf", "hlb.llb",
    "hlb.checker.check", "hlb.syntax.parser", "lark", "hlb._proto", "hlb.values", "hlb.resolver", "hlb.persist",
    "hlb.builtins.registry", "hlb.builtins.call", "hlb.builtins.run",
)
print("LOADED:" + ",".join(m for m in WATCHED if m in sys.modules))
raise SystemExit(code)
"""


def loaded(*argv: str, cache: Path | None = None) -> set[str]:
    """The watched modules that ``hlb ARGV`` imported (it must succeed), with ``cache`` as XDG_CACHE_HOME."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)} if cache is not None else None
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("LOADED:"), done.stdout
    return set(filter(None, last.removeprefix("LOADED:").split(",")))


@pytest.mark.parametrize("command", [["check"], ["lint"]])
def test_commands_without_a_daemon_do_not_load_grpc(command: list[str]) -> None:
    got = loaded(*command, str(ROOT / "examples" / "hello.hlb"))
    assert got.isdisjoint({"grpc", "asyncio", "hlb.solver", "hlb.session", "hlb.build", "rich"}), got


def test_a_check_that_misses_the_cache_loads_neither_the_compiler_nor_the_lowerings(tmp_path: Path) -> None:
    # An empty cache: the module is parsed and checked. The checker reads the builtins' generated
    # signatures (hlb/builtins/signatures.py), not their declarations, which import every lowering and with
    # them the LLB package, the generated protobufs, the values and the resolver.
    got = loaded("check", str(ROOT / "examples" / "hello.hlb"), cache=tmp_path)
    assert {"lark", "hlb.syntax.parser", "hlb.checker.check"} <= got, got
    lowering = {"hlb.compiler", "hlb.llb", "google.protobuf", "hlb._proto", "hlb.values", "hlb.resolver"}
    lowering |= {"hlb.persist", "hlb.builtins.registry", "hlb.builtins.call", "hlb.builtins.run"}
    assert got.isdisjoint(lowering), got & lowering


@pytest.mark.parametrize("command", [["format", "--check"], ["fmt", "--check"], ["format"]])
def test_format_loads_neither_the_checker_nor_protobuf(command: list[str]) -> None:
    # The parser and the printer only: no grpc, no LLB package, no generated protobufs, no checker.
    assert loaded(*command, str(ROOT / "examples" / "hello.hlb")) <= {"lark", "hlb.syntax.parser"}


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_an_unchanged_module_is_answered_without_the_parser(command: list[str], tmp_path: Path) -> None:
    # The first run parses (and checks); the second finds the answer in the front cache and loads neither
    # Lark nor the checker; an edit is a miss that loads them again.
    build = tmp_path / "build.hlb"
    build.write_text('fs default() {\n\tscratch\n\tmkfile "/a" 0o644 "x"\n}\n')
    parser = {"hlb.syntax.parser"}  # and Lark, unless the parser's table is in the front cache already
    assert parser <= loaded(*command, str(build))
    assert loaded(*command, str(build)).isdisjoint({*parser, "lark", "hlb.checker.check", "hlb.llb"})
    build.write_text('fs default() {\n\tscratch\n\tmkfile "/b" 0o644 "x"\n}\n')
    assert parser <= loaded(*command, str(build))


def test_run_loads_the_solver() -> None:
    assert "grpc" in loaded("run", "--tree", str(ROOT / "examples" / "hello.hlb"))


def test_no_local_run_refuses_local_run_and_lint_never_runs_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    build = tmp_path / "build.hlb"
    build.write_text(f'fs default() {{\n\timage "busybox:latest"\n\tenv "X" localRun("touch {marker}")\n}}\n')
    for argv in (["compile", "--no-local-run"], ["run", "--tree", "--no-local-run"], ["lint"], ["check"]):
        done = subprocess.run(
            [sys.executable, "-m", "hlb", *argv, str(build)], capture_output=True, text=True, cwd=tmp_path
        )
        assert not marker.exists(), argv
        if "--no-local-run" in argv:
            assert done.returncode == 1 and "build.hlb:3:10: error: `localRun` would run a command" in done.stderr
    done = subprocess.run([sys.executable, "-m", "hlb", "compile", str(build)], capture_output=True, cwd=tmp_path)
    assert done.returncode == 0 and marker.exists()


def test_a_run_of_unchanged_modules_does_not_load_the_parser(tmp_path: Path) -> None:
    # The module and the local module it imports are parsed once; the next compile (`--tree` asks no daemon)
    # reads both from the front cache and never loads Lark.
    (tmp_path / "lib.hlb").write_text('export base\n\nfs base() {\n\tscratch\n\tmkfile "/a" 0o644 "x"\n}\n')
    build = tmp_path / "build.hlb"
    build.write_text('import lib from "lib.hlb"\n\nfs default() {\n\tlib.base\n\tmkdir "/b" 0o755\n}\n')
    parser = {"hlb.syntax.parser"}  # and Lark, unless the parser's table is in the front cache already
    assert parser <= loaded("run", "--tree", str(build))
    assert loaded("run", "--tree", str(build)).isdisjoint({*parser, "lark"})


def test_a_new_module_that_parses_does_not_load_lark_once_the_table_is_kept(tmp_path: Path) -> None:
    # Lark is needed to build the fast driver's LALR table (the first run, an empty cache) and to report a
    # syntax error; the table is kept in the front cache, so a later miss (a module never seen) parses without it.
    cache = tmp_path / "cache"
    first = tmp_path / "first.hlb"
    first.write_text('fs default() {\n\tscratch\n\tmkfile "/a" 0o644 "x"\n}\n')
    assert {"lark", "hlb.syntax.parser", "hlb.checker.check"} <= loaded("check", str(first), cache=cache)
    second = tmp_path / "second.hlb"
    second.write_text('fs default() {\n\tscratch\n\tmkdir "/b" 0o755\n}\n')
    got = loaded("check", str(second), cache=cache)
    assert {"hlb.syntax.parser", "hlb.checker.check"} <= got and "lark" not in got, got


def test_a_syntax_error_is_still_reported_by_lark_once_the_table_is_kept(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    good = tmp_path / "good.hlb"
    good.write_text("fs default() {\n\tscratch\n}\n")
    loaded("check", str(good), cache=cache)  # keeps the table
    bad = tmp_path / "bad.hlb"
    bad.write_text("fs default() {\n\tscratch with with\n}\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "check", str(bad)], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert done.returncode == 1, done.stderr
    assert f"{bad}:2:15: error: unexpected keyword `with`" in done.stderr
    assert "hint: expected identifier, integer, boolean or string" in done.stderr
    assert "lark" in done.stdout.strip().splitlines()[-1].removeprefix("LOADED:").split(",")
