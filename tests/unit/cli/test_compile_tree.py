"""`hlb compile` and `hlb run --tree`: the LLB and the plan, without a daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import Run

from hlb._proto import ops_pb2

BUILD = 'fs default() {\n\timage "busybox:latest"\n\trun "echo hi"\n\tdockerPush "127.0.0.1:5000/x:y"\n}\n'


def test_compile_prints_the_llb_as_json(hlb: Run, tmp_path: Path) -> None:
    (tmp_path / "build.hlb").write_text(BUILD)
    code, out, err = hlb(["compile", str(tmp_path / "build.hlb")])
    assert code == 0, err
    dump = json.loads(out)
    assert [o["op"].get("source", {}).get("identifier") for o in dump["ops"]][0] == (
        "docker-image://docker.io/library/busybox:latest"
    )
    assert dump["head"] == dump["ops"][-2]["digest"]


def test_compile_binary_is_the_definition_buildctl_reads(tmp_path: Path) -> None:
    (tmp_path / "build.hlb").write_text(BUILD)
    r = subprocess.run(
        [sys.executable, "-m", "hlb", "compile", "--format", "binary", str(tmp_path / "build.hlb")],
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nonexistent.sock"},  # no daemon needed
    )
    assert r.returncode == 0, r.stderr
    d = ops_pb2.Definition()
    d.ParseFromString(r.stdout)
    assert len(getattr(d, "def")) == 3 and d.Source.infos[0].filename.endswith("build.hlb")


def test_compile_of_an_unknown_target_points_at_the_command_line(hlb: Run, tmp_path: Path) -> None:
    (tmp_path / "build.hlb").write_text(BUILD)
    code, _, err = hlb(["compile", "-t", "nope", str(tmp_path / "build.hlb")])
    assert code == 1
    assert '<command line>:1:16: error: target "nope" is not defined' in err
    assert "hlb compile -t nope" in err


def test_run_tree_prints_the_plan_without_a_daemon(hlb: Run, tmp_path: Path, monkeypatch: object) -> None:
    (tmp_path / "build.hlb").write_text(BUILD)
    code, out, err = hlb(["run", "--tree", str(tmp_path / "build.hlb")])
    assert code == 0, err
    assert out.startswith("solve 1: dockerPush 127.0.0.1:5000/x:y  (")
    assert "export: type=image,name=127.0.0.1:5000/x:y,push=true" in out


def test_run_cache_flags_are_read_as_buildx_writes_them(hlb: Run, tmp_path: Path) -> None:
    (tmp_path / "build.hlb").write_text('fs default() {\n\timage "busybox:latest"\n\trun "echo hi"\n}\n')
    code, out, err = hlb(
        [
            "run",
            "--tree",
            "--cache-from",
            "127.0.0.1:5000/c:ci",
            "--cache-to",
            "type=registry,ref=127.0.0.1:5000/c:ci,mode=max",
            str(tmp_path / "build.hlb"),
        ]
    )
    assert code == 0, err
    assert "cache import: type=registry,ref=127.0.0.1:5000/c:ci  (from --cache-from)\n" in out
    assert "cache export: type=registry,ref=127.0.0.1:5000/c:ci,mode=max  (from --cache-to)\n" in out
    code, _, err = hlb(["run", "--tree", "--cache-to", "mode=max", str(tmp_path / "build.hlb")])
    assert code == 2 and "no type=" in err


def test_a_target_placeholder_passes_the_flag_check_and_a_digest_cannot_be_exported_to(
    hlb: Run, tmp_path: Path
) -> None:
    (tmp_path / "build.hlb").write_text('fs appServer() {\n\timage "busybox:latest"\n\trun "echo hi"\n}\n')
    ref = "127.0.0.1:5000/cache/{target}:ci"
    code, out, err = hlb(["run", "--tree", "-t", "appServer", "--cache-to", ref, str(tmp_path / "build.hlb")])
    assert code == 0, err
    assert "cache export: type=registry,ref=127.0.0.1:5000/cache/appserver:ci  (from --cache-to)" in out
    digest = "127.0.0.1:5000/cache@sha256:" + "0" * 64
    code, _, err = hlb(["run", "--tree", "-t", "appServer", "--cache-to", digest, str(tmp_path / "build.hlb")])
    assert code == 2 and "a cache is exported to a tag, not a digest" in err


PERSISTED = (
    'fs default() {\n\timage "busybox:latest"\n\trun "echo hi" with option {\n'
    '\t\tcacheMount "/root/.npm" with persist("127.0.0.1:1/cache/npm:latest")\n\t}\n}\n'
)


def test_run_tree_persist_caches_adds_the_push_last_and_warns_of_an_unreachable_registry(
    hlb: Run, tmp_path: Path
) -> None:
    (tmp_path / "build.hlb").write_text(PERSISTED)
    code, out, err = hlb(["run", "--tree", str(tmp_path / "build.hlb")])
    assert code == 0, err
    assert out.startswith("solve 1: target default  (") and "solve 2" not in out
    assert "is not pushed to 127.0.0.1:1/cache/npm:latest" in out
    # Port 1 refuses connections: the registry cannot be asked, a cold start with a warning.
    assert "hlb: warning: " in err and "cannot tell whether `127.0.0.1:1/cache/npm:latest` exists" in err
    code, first, err = hlb(["run", "--tree", "--persist-caches", str(tmp_path / "build.hlb")])
    assert code == 0, err
    assert first.startswith("sequential\n") and "└── solve 2: persist 127.0.0.1:1/cache/npm:latest  (" in first
    _, second, _ = hlb(["run", "--tree", "--persist-caches", str(tmp_path / "build.hlb")])
    assert first.splitlines()[1] == second.splitlines()[1]  # the build is the same
    assert first.splitlines()[3] != second.splitlines()[3]  # the copy differs every run: it always runs


def test_run_persist_caches_without_a_persisted_cache_warns(hlb: Run, tmp_path: Path) -> None:
    (tmp_path / "build.hlb").write_text(BUILD)
    code, _, err = hlb(["run", "--tree", "--persist-caches", str(tmp_path / "build.hlb")])
    assert code == 0 and "hlb: warning: --persist-caches: no cache mount of the requested targets" in err
