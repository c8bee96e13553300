"""`hlb run` imports a session service and the registry's HTTP client only when the plan needs them (issue 13):
a warm no-op run of busybox and two cached steps loads no `local` transfer, no SSH forwarding, no file transfer
or content store, no http.client. Each check runs in a fresh interpreter (a subprocess): what this test process
imported says nothing.

The plans are run by the runner against the in-process fake client (fake_client.py), as a real run is minus
the daemon: the sessions' services are made, the recorder notes each solve for `hlb explain`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent

# What a plan without `local`, `ssh`, outputs coming back here or a local cache must not load.
ONLY_WHEN_NEEDED = {
    "hlb.session.filesync",  # `local`
    "hlb.session.fswalk",
    "hlb.session.sshforward",  # `ssh`
    "hlb.session.filesend",  # an output written here (-o DIR, -o type=tar,dest=F), --metadata-file
    "hlb.session.content",  # a type=local cache
    "http.client",  # a registry request (the compile's `manifest`...), an image load into an engine
    "urllib.request",
    "email",
    "hlb.progress.rawjson",  # --progress rawjson
}

# The warm no-op module of bench/warm_noop.py: an image, a step, a step with a cache mount.
NOOP = 'fs default() {\n\timage "busybox:latest"\n\trun "echo hello > /greeting"\n'
NOOP += '\trun "cat /greeting" with option {\n\t\tcacheMount "/cache"\n\t}\n}\n'

RUN_PLAN = """
import io, json, sys
from fake_client import FakeClient
from hlb.api import compile_source
from hlb.build import execute
from hlb.build.record import Recorder
from hlb.llb import Platform
from hlb.progress.display import PlainProgress
from hlb.source import SourceFile
from hlb.output_options import parse_all
from hlb.values import CacheEntry

text, outputs, cache_to, watched = json.loads(sys.argv[1])
amd64 = Platform("linux", "amd64")
source = SourceFile("build.hlb", text)
plan = compile_source(source, ["default"], amd64).plan(
    amd64, outputs=parse_all(outputs, ["default"]), cache_to=[CacheEntry(**c) for c in cache_to]
)
client = FakeClient(plan)
recorder = Recorder(source, ["default"], amd64)
progress = PlainProgress(io.StringIO())
try:
    outcome = execute(plan, client, source, progress=progress, recorder=recorder)
finally:
    progress.close()
assert outcome.code == 0, outcome
recorder.finish()
services = sorted({type(a).__name__ for s in client.sessions for a in s.attachables})
print(json.dumps({
    "services": services,
    "loaded": sorted(m for m in watched if m in sys.modules),
}))
"""


def run_plan(
    tmp_path: Path, text: str, outputs: Sequence[str] = (), cache_to: Sequence[Mapping[str, object]] = ()
) -> dict[str, list[str]]:
    """Run ``text``'s default target with the fake client in a fresh interpreter (``outputs``: -o flags,
    ``cache_to``: cache exports): the services its sessions got and the watched modules it loaded."""
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))  # fake_client.py
    env = {**os.environ, "PYTHONPATH": path, "DOCKER_CONFIG": str(tmp_path / "docker-config")}
    argv = json.dumps([text, list(outputs), list(cache_to), sorted(ONLY_WHEN_NEEDED)])
    done = subprocess.run([sys.executable, "-c", RUN_PLAN, argv], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    got: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return got


def test_a_warm_noop_run_loads_no_service_its_plan_does_not_use(tmp_path: Path) -> None:
    got = run_plan(tmp_path, NOOP)
    assert got["services"] == ["DockerAuth", "SecretFiles"]  # what every solve gets
    assert got["loaded"] == []


def test_a_plan_with_local_loads_the_local_transfer_and_serves_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    text = f'fs default() {{\n\timage "busybox:latest"\n\tcopy local("{src}") "/" "/src"\n}}\n'
    got = run_plan(tmp_path, text)
    assert got["services"] == ["DockerAuth", "FileSync", "SecretFiles"]
    assert {"hlb.session.filesync", "hlb.session.fswalk"} <= set(got["loaded"])
    assert set(got["loaded"]).isdisjoint({"hlb.session.sshforward", "hlb.session.filesend", "http.client"})


def test_an_output_or_a_local_cache_coming_back_here_loads_its_service(tmp_path: Path) -> None:
    got = run_plan(tmp_path, NOOP, outputs=[str(tmp_path / "out")])
    assert "FileSend" in got["services"] and "hlb.session.filesend" in got["loaded"]
    cache = [{"type": "local", "attrs": {"dest": str(tmp_path / "cache")}}]
    got = run_plan(tmp_path, NOOP, cache_to=cache)
    assert "ContentStore" in got["services"] and "hlb.session.content" in got["loaded"]


def test_run_tree_loads_no_session_service(tmp_path: Path) -> None:
    # The command line's own imports: `hlb run` of a module without `local`, `ssh`, secrets or outputs.
    (tmp_path / "build.hlb").write_text(NOOP)
    probe = (
        "import sys\nfrom hlb.cli.main import main\ncode = main(sys.argv[1:])\n"
        f"print('LOADED:' + ','.join(sorted(m for m in {sorted(ONLY_WHEN_NEEDED)!r} if m in sys.modules)))\n"
        "raise SystemExit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "run", "--tree", "build.hlb"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker-config")},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("solve 1: target default")  # the plan was shown
    assert done.stdout.strip().splitlines()[-1] == "LOADED:"
