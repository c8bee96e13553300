"""Several daemons on the command line: `--addr` repeated or comma-separated (or a comma-separated
BUILDKIT_HOST), `hlb run --tree` naming each solve's daemon, and the bad values (exit 2, one line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Run

from hlb.build.fleet import choose

SOURCE = "".join(f'fs {n}() {{\n\timage "busybox"\n\trun "echo {n}"\n}}\n' for n in ("app", "e2e", "unit", "docs"))
FLEET = ["tcp://buildkitd-0:1234", "tcp://buildkitd-1:1234", "tcp://buildkitd-2:1234"]


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("BUILDKIT_HOST", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///d.sock")  # what a bare docker:// means
    f = tmp_path / "build.hlb"
    f.write_text(SOURCE)
    return str(f)


def daemons_of(tree: str) -> dict[str, str]:
    """target -> the daemon `--tree` shows under its solve."""
    out: dict[str, str] = {}
    lines = tree.splitlines()
    for i, line in enumerate(lines):
        if ": target " in line:
            out[line.split(": target ", 1)[1].split()[0]] = lines[i + 1].split("daemon: ", 1)[1]
    return out


@pytest.mark.parametrize(
    "flags",
    [
        ["--addr", FLEET[0], "--addr", FLEET[1], "--addr", FLEET[2]],
        ["--addr", ",".join(reversed(FLEET))],  # the order does not matter
        ["--addr", FLEET[2], "--addr", f"{FLEET[0]},{FLEET[1]}"],
    ],
)
def test_run_tree_shows_the_daemon_of_each_solve(flags: list[str], module: str, hlb: Run) -> None:
    code, out, err = hlb(["run", "--tree", "-t", "app,e2e,unit,docs", *flags, module])
    assert code == 0, err
    placed = daemons_of(out)
    assert placed == {n: FLEET[choose(n, FLEET)] for n in ("app", "e2e", "unit", "docs")}
    assert len(set(placed.values())) > 1


def test_run_tree_with_a_fleet_in_buildkit_host(module: str, hlb: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILDKIT_HOST", ",".join(FLEET))
    code, out, err = hlb(["run", "--tree", "-t", "app,e2e", module])
    assert code == 0, err
    assert daemons_of(out) == {n: FLEET[choose(n, FLEET)] for n in ("app", "e2e")}


def test_run_tree_with_one_daemon_shows_none(module: str, hlb: Run) -> None:
    code, out, err = hlb(["run", "--tree", "-t", "app", "--addr", FLEET[0], module])
    assert code == 0, err
    assert "daemon:" not in out


BAD = [
    (
        ["--addr", "tcp://a:1,"],
        "hlb: error: --addr 'tcp://a:1,' has an empty address: give one or more, comma-separated",
    ),
    (["--addr", "tcp://a:1", "--addr", "tcp://a:1"], "hlb: error: --addr names tcp://a:1 twice: give each daemon once"),
    (
        ["--addr", "docker://", "--addr", "docker://unix:///d.sock"],
        "hlb: error: --addr names the same daemon twice: docker:// and docker://unix:///d.sock are both "
        "unix:///d.sock; give each daemon once",
    ),
    (["--addr", "tcp://a:1,tcp://b"], "hlb: error: --addr 'tcp://b' names no port (tcp://HOST:PORT)"),
    (["--addr", "kube-pod://Bk-0"], "hlb: error: --addr 'kube-pod://Bk-0': 'Bk-0' is not a pod name"),
    (["--addr", "kube-pod://bk-0?ns=ci"], "hlb: error: --addr 'kube-pod://bk-0?ns=ci': unknown parameter 'ns'"),
    (["--addr", "ssh://me:pw@h"], "hlb: error: --addr: an ssh:// address cannot hold a password"),
    (["--addr", "ssh://h:0"], "hlb: error: --addr 'ssh://h:0': port 0 is not an ssh port"),
    (["--addr", "tcp://a:1,ssh://h?x"], "hlb: error: --addr 'ssh://h?x': an ssh:// address takes no ?query"),
]


# --tree reads --addr only when it names several daemons (one daemon is not needed for the plan)
CASES = [(f, m, tree) for f, m in BAD for tree in (False, True) if not tree or f.count("--addr") > 1 or "," in f[1]]


@pytest.mark.parametrize(("flags", "message", "tree"), CASES, ids=[f"{m[12:50]}-{t}" for _, m, t in CASES])
def test_bad_addresses_are_usage_errors(flags: list[str], message: str, tree: bool, module: str, hlb: Run) -> None:
    code, out, err = hlb(["run", *(["--tree"] if tree else []), "-t", "app", *flags, module])
    assert (code, out) == (2, ""), err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_a_fleet_in_buildkit_host_with_an_empty_part(module: str, hlb: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILDKIT_HOST", "tcp://a:1,,tcp://b:2")
    code, _, err = hlb(["run", "-t", "app", module])
    assert code == 2
    assert (
        err
        == "hlb: error: BUILDKIT_HOST 'tcp://a:1,,tcp://b:2' has an empty address: give one or more, comma-separated\n"
    )


@pytest.mark.parametrize("command", [["cache", "du"], ["cache", "ls"]])
def test_commands_of_one_daemon_refuse_a_fleet(command: list[str], module: str, hlb: Run) -> None:
    code, out, err = hlb(
        [
            *command,
            "--addr",
            f"{FLEET[0]},{FLEET[1]}",
        ]
    )
    assert (code, out) == (2, ""), err
    assert err == (
        f"hlb: error: `hlb {command[0]}` works on one daemon; --addr names 2: {FLEET[0]}, {FLEET[1]} "
        "(give one with --addr)\n"
    )


def test_run_tree_with_a_fleet_builds_nothing_while_compiling(tmp_path: Path, hlb: Run) -> None:
    # A push whose digest is bound runs while compiling; `--tree` never runs it, with one daemon or several
    # (with a fleet it used to be built and pushed on the first target's daemon).
    f = tmp_path / "push.hlb"
    f.write_text(
        'fs b() {\n\tscratch\n\tmkfile "/f" 0o644 "x"\n\tdockerPush "127.0.0.1:5000/t/b:v1" as bdigest\n}\n\n'
        'fs c() {\n\tscratch\n\tmkfile "/d" 0o644 bdigest\n}\n'
    )
    for addr in (FLEET[0], ",".join(FLEET)):
        code, out, err = hlb(["run", "--tree", "-t", "c", "--addr", addr, str(f)])
        assert code == 1 and out == "", err
        assert "binding the digest of a push (`as digest`) without a daemon is not supported yet" in err
