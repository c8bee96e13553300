"""`hlb explain` on the real engine: each run recorded, and the first step that ran again explained.

Each test builds a project of its own (content unique by `nonce`) with a private cache directory for
the records, runs it twice with one change between the runs, and checks the summary line of the
second run and what `hlb explain` names, at which `.hlb` line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import Engine


def hlb(engine: Engine, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**engine.env, "XDG_CACHE_HOME": str(project / ".cache"), "HOME": str(project / ".home")}
    return subprocess.run(
        [sys.executable, "-m", "hlb", *args], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


def built(engine: Engine, project: Path, *args: str) -> str:
    r = hlb(engine, project, "run", "--progress", "plain", *args)
    assert r.returncode == 0, r.stderr
    return r.stderr


def explained(engine: Engine, project: Path, *args: str) -> str:
    r = hlb(engine, project, "explain", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_a_changed_local_file(engine: Engine, nonce: str, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    lock = tmp_path / "src" / "package-lock.json"
    lock.write_text(f'{{\n  "nonce": "{nonce}"\n}}\n')
    (tmp_path / "build.hlb").write_text(
        "fs default() {\n"
        '\timage "busybox:latest"\n'
        '\tenv "NODE_ENV" "dev"\n'
        '\tdir "/app"\n'
        '\tcopy local("src") "." "/app"\n'
        '\trun "wc -l package-lock.json"\n'
        "}\n"
    )
    first = built(engine, tmp_path)
    assert "first step not cached" not in first  # no run before it
    lock.write_text(f'{{\n  "nonce": "{nonce}",\n  "a": 1,\n  "b": 2,\n  "c": 3\n}}\n')
    second = built(engine, tmp_path)
    assert 'hlb: first step not cached: `copy local("src") "." "/app"` (build.hlb:5); `hlb explain` says why' in second
    assert explained(engine, tmp_path) == (
        '`copy local("src") "." "/app"` (build.hlb:5) runs again because `local("src")` (build.hlb:5) changed: '
        "package-lock.json (+3 lines)\n"
    )
    # The next run, compiled now, would run nothing again; and a third run with nothing changed caches everything.
    assert explained(engine, tmp_path, "--plan").startswith("nothing would run again")
    third = built(engine, tmp_path)
    assert "first step not cached" not in third
    assert explained(engine, tmp_path) == "nothing ran again: every step of the last run was cached\n"


def test_a_changed_env_value(engine: Engine, nonce: str, tmp_path: Path) -> None:
    text = (
        "fs default() {\n"
        '\timage "busybox:latest"\n'
        '\tenv "NODE_ENV" "dev"\n'
        '\tdir "/app"\n'
        f'\trun "echo {nonce} $NODE_ENV > /app/env"\n'
        "}\n"
    )
    (tmp_path / "build.hlb").write_text(text)
    built(engine, tmp_path)
    (tmp_path / "build.hlb").write_text(text.replace('"dev"', '"prod"'))
    planned = explained(engine, tmp_path, "--plan")
    step = f'`run "echo {nonce} $NODE_ENV > /app/env"` (build.hlb:5)'
    assert planned == f"{step} would run again because `env NODE_ENV` changed from dev to prod at build.hlb:3\n"
    second = built(engine, tmp_path)
    assert f"hlb: first step not cached: {step}; `hlb explain` says why" in second
    cause = "`env NODE_ENV` changed from dev to prod at build.hlb:3"
    assert explained(engine, tmp_path) == f"{step} runs again because {cause}\n"


def test_a_changed_command_string(engine: Engine, nonce: str, tmp_path: Path) -> None:
    text = f'fs default() {{\n\timage "busybox:latest"\n\trun "echo {nonce} one > /out"\n\trun "cat /out"\n}}\n'
    (tmp_path / "app.hlb").write_text(text)
    built(engine, tmp_path, "app.hlb")
    (tmp_path / "app.hlb").write_text(text.replace(" one ", " two "))
    second = built(engine, tmp_path, "app.hlb")
    step = f'`run "echo {nonce} two > /out"` (app.hlb:3)'
    assert f"first step not cached: {step}; `hlb explain app.hlb` says why" in second
    got = json.loads(explained(engine, tmp_path, "app.hlb", "--json"))
    assert got["step"]["at"] == "app.hlb:3:2"
    assert [(c["kind"], c["text"]) for c in got["causes"]] == [
        ("command", f"its command changed from `echo {nonce} one > /out` to `echo {nonce} two > /out`")
    ]


def test_a_changed_image_digest(engine: Engine, nonce: str, tmp_path: Path) -> None:
    ref = f"127.0.0.1:5000/hlb-it/{nonce}/base:1"
    push = 'fs push() {\n\timage "busybox:latest"\n\tmkfile "/v" 0o644 "VALUE"\n\tdockerPush "REF"\n}\n'
    (tmp_path / "push.hlb").write_text(push.replace("VALUE", f"one {nonce}").replace("REF", ref))
    built(engine, tmp_path, "push.hlb", "-t", "push")
    (tmp_path / "build.hlb").write_text(f'fs default() {{\n\timage "{ref}"\n\trun "cat /v > /copy"\n}}\n')
    built(engine, tmp_path)
    (tmp_path / "push.hlb").write_text(push.replace("VALUE", f"two {nonce}").replace("REF", ref))
    built(engine, tmp_path, "push.hlb", "-t", "push")  # the same tag, another image
    second = built(engine, tmp_path)
    assert 'first step not cached: `run "cat /v > /copy"` (build.hlb:3)' in second
    text = explained(engine, tmp_path)
    assert text.startswith(
        f'`run "cat /v > /copy"` (build.hlb:3) runs again because the image `{ref}` (build.hlb:2) now resolves '
        "to a new digest: sha256:"
    ), text


def test_an_edited_dockerignore(engine: Engine, nonce: str, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text(f"{nonce}\n")
    (ctx / "b.txt").write_text("b\n")
    (ctx / "c.txt").write_text("c\n")
    (ctx / ".dockerignore").write_text("*.log\n")
    (tmp_path / "build.hlb").write_text(
        "fs default() {\n"
        '\timage "busybox:latest"\n'
        '\trun "ls /ctx" with option {\n'
        '\t\tmount fs { local "ctx" with option { excludePatterns "b.txt"; }; } "/ctx"\n'
        "\t}\n"
        "}\n"
    )
    built(engine, tmp_path)
    with (ctx / ".dockerignore").open("a") as f:
        f.write("c.txt\n")
    step = '`run "ls /ctx"` (build.hlb:3)'
    cause = '`local "ctx"` (build.hlb:4) changed: ctx/.dockerignore was edited: added `c.txt`'
    assert explained(engine, tmp_path, "--plan") == f"{step} would run again because {cause}\n"
    second = built(engine, tmp_path)
    assert f"hlb: first step not cached: {step}; `hlb explain` says why" in second
    assert explained(engine, tmp_path) == f"{step} runs again because {cause}\n"
    # A .hlbignore beside it wins: named as the file that now applies, with the patterns that differ.
    (ctx / ".hlbignore").write_text("*.log\n")
    assert explained(engine, tmp_path, "--plan") == (
        f'{step} would run again because `local "ctx"` (build.hlb:4) changed: ctx/.hlbignore applies instead of '
        "ctx/.dockerignore (a .hlbignore wins over a .dockerignore): removed `c.txt`\n"
    )
