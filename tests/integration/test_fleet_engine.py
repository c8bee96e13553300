"""Several daemons and remote transports, on real engines.

The fleet is the shared engine and a private one (`fresh_engine`): targets run twice land on the same
daemon each time, shown by the run's summaries and proved by which daemon's build cache holds each
target's step (Control.DiskUsage). The transports run through stand-ins for `ssh` and `kubectl` on
PATH that are real byte pipes to a real engine: the fake ssh runs the docker CLI's own
`docker system dial-stdio` against the engine its host names; the fake kubectl does what `buildctl
dial-stdio` does in a pod, splicing its stdio to the engine's BuildKit (`POST /grpc`, upgraded).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import Engine, PrivateEngine
from test_sources_engine import _docker

from hlb.address import resolve
from hlb.build.fleet import choose
from hlb.solver.client import BuildkitClient

FAKE_SSH = """#!{python}
# ssh [options] -- HOST COMMAND...: note the arguments, run COMMAND here against the engine HOST stands for.
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write("ssh " + " ".join(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
host, command = args[args.index("--") + 1], args[args.index("--") + 2 :]
engines = json.loads(os.environ["FAKE_HOSTS"])
if host not in engines:
    sys.stderr.write(f"ssh: Could not resolve hostname {{host}}: Name or service not known\\n")
    sys.exit(255)
os.environ["DOCKER_HOST"] = engines[host]
os.execvp(command[0], command)
"""

FAKE_KUBECTL = """#!{python}
# kubectl [--context C] exec [-i] [-n NS] POD [-c C] -- buildctl dial-stdio|--version, for pods that stand for
# engines: dial-stdio splices stdio to the engine's BuildKit (POST /grpc upgraded), as buildctl does in a pod.
import json, os, socket, sys, threading
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write("kubectl " + " ".join(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
command = args[args.index("--") + 1 :]
flags = args[: args.index("--")]
pod = [a for i, a in enumerate(flags) if i > flags.index("exec") and not a.startswith("-")
       and flags[i - 1] not in ("-n", "-c", "--context")][0]
engines = json.loads(os.environ["FAKE_PODS"])
if pod not in engines:
    sys.stderr.write(f'Error from server (NotFound): pods "{{pod}}" not found\\n')
    sys.exit(1)
if command == ["buildctl", "--version"]:
    print("buildctl github.com/moby/buildkit v0.13.2")
    sys.exit(0)
assert command == ["buildctl", "dial-stdio"], command
s = socket.socket(socket.AF_UNIX)
s.connect(engines[pod].removeprefix("unix://"))
s.sendall(b"POST /grpc HTTP/1.1\\r\\nHost: docker\\r\\nConnection: Upgrade\\r\\nUpgrade: h2c\\r\\n\\r\\n")
head = b""
while not head.endswith(b"\\r\\n\\r\\n"):
    byte = s.recv(1)
    if not byte:
        sys.exit("the engine closed the connection")
    head += byte
if b" 101 " not in head.split(b"\\r\\n")[0] + b" ":
    sys.exit(head.decode("latin-1"))
def up():
    while (data := os.read(0, 65536)):
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while (data := s.recv(65536)):
    os.write(1, data)
"""


def fakes(tmp_path: Path, engine: Engine, hosts: dict[str, str], pods: dict[str, str]) -> tuple[Engine, Path]:
    """An environment whose PATH starts with the fake ssh and kubectl, and the file they note their arguments in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("ssh", FAKE_SSH), ("kubectl", FAKE_KUBECTL)):
        exe = bin_dir / name
        exe.write_text(text.format(python=sys.executable))
        exe.chmod(0o755)
    log = tmp_path / "argv.log"
    env = engine.env | {
        "PATH": f"{bin_dir}{os.pathsep}{engine.env['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_HOSTS": json.dumps(hosts),
        "FAKE_PODS": json.dumps(pods),
    }
    env.pop("BUILDKIT_HOST", None)
    return Engine(env), log


def project(tmp_path: Path, nonce: str, targets: list[str]) -> Path:
    (tmp_path / "build.hlb").write_text(
        "".join(f'fs {t}() {{\n\timage "busybox"\n\trun "echo fleet-{nonce}-{t} > /out"\n}}\n' for t in targets)
    )
    return tmp_path / "build.hlb"


def summaries(stderr: str) -> dict[str, tuple[str, str]]:
    """target -> (its summary's first line, the daemon its summary names)."""
    out = {}
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("hlb: ") and " steps cached" in line and i + 1 < len(lines):
            name = line.removeprefix("hlb: ").split(":", 1)[0]
            out[name] = (line, lines[i + 1].removeprefix("  daemon: ") if "daemon:" in lines[i + 1] else "")
    return out


def holders(daemons: dict[str, str], text: str) -> set[str]:
    """The daemons whose build cache holds a step whose description has ``text``."""
    found = set()
    for url, docker_host in daemons.items():
        with BuildkitClient(resolve(env={"DOCKER_HOST": docker_host})) as client:
            if any(text in r.description for r in client.disk_usage()):
                found.add(url)
    return found


# -- two engines as a fleet -------------------------------------------------------------------------


def test_each_target_lands_on_the_same_daemon_every_run(
    engine: Engine, fresh_engine: PrivateEngine, nonce: str, tmp_path: Path
) -> None:
    shared, fresh = engine.env["DOCKER_HOST"], fresh_engine.docker_host
    daemons = {shared: shared, fresh: fresh}  # a docker:// address is placed by the engine's own URL
    fleet = [shared, fresh]
    names = [f"t{i}" for i in range(40)]
    # two targets for each daemon (which ones depends on the private engine's socket path)
    targets = [n for n in names if choose(n, fleet) == 0][:2] + [n for n in names if choose(n, fleet) == 1][:2]
    build = project(tmp_path, nonce, targets)
    addr = ["--addr", f"docker://{shared}", "--addr", f"docker://{fresh}"]

    first = engine.hlb("run", "--progress", "plain", "-t", ",".join(targets), *addr, str(build))
    assert first.returncode == 0, first.stderr
    ran = summaries(first.stderr)
    assert {t: ran[t][1] for t in targets} == {t: fleet[choose(t, fleet)] for t in targets}
    assert all("0 of 1 steps cached" in ran[t][0] for t in targets), first.stderr

    # Again, the daemons given in the other order and in one comma-separated flag: the same placement, all cached.
    again = engine.hlb(
        "run",
        "--progress",
        "plain",
        "-t",
        ",".join(targets),
        "--addr",
        f"docker://{fresh},docker://{shared}",
        str(build),
    )
    assert again.returncode == 0, again.stderr
    cached = summaries(again.stderr)
    assert {t: cached[t][1] for t in targets} == {t: ran[t][1] for t in targets}
    assert all("1 of 1 steps cached" in cached[t][0] for t in targets), again.stderr

    for t in targets:  # each target's step is in its own daemon's build cache, and only there
        assert holders(daemons, f"echo fleet-{nonce}-{t} ") == {fleet[choose(t, fleet)]}, t


def test_an_unreachable_daemon_is_an_error_naming_it_and_its_targets(
    engine: Engine, nonce: str, tmp_path: Path
) -> None:
    shared = engine.env["DOCKER_HOST"]
    gone = f"unix://{tmp_path}/gone.sock"
    fleet = [shared, gone]
    names = [f"t{i}" for i in range(40)]
    targets = [n for n in names if choose(n, fleet) == 0][:1] + [n for n in names if choose(n, fleet) == 1][:1]
    build = project(tmp_path, nonce, targets)
    r = engine.hlb("run", "-t", ",".join(targets), "--addr", f"docker://{shared},docker://{gone}", str(build))
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[-3].startswith(f"hlb: error: cannot reach the Docker engine at {gone} (from --addr): connecting to ")
    assert lines[-2] == f"  the target placed on it: {targets[1]}"
    assert lines[-1].startswith("  hint: a target is never moved to another daemon, where its cache mounts")
    assert "steps cached" not in r.stderr  # nothing was built, not even the other daemon's target


# -- ssh:// and kube-pod:// through stand-ins on PATH -------------------------------------------------


def test_ssh_reaches_the_docker_engine_through_docker_system_dial_stdio(
    engine: Engine, nonce: str, tmp_path: Path
) -> None:
    env, log = fakes(tmp_path, engine, {"build-1.example.com": engine.env["DOCKER_HOST"]}, {})
    build = project(tmp_path, nonce, ["default"])
    r = env.hlb("run", "--progress", "plain", "--addr", "ssh://ci@build-1.example.com:2222", str(build))
    assert r.returncode == 0, r.stderr
    assert "hlb: default: 0 of 1 steps cached" in r.stderr
    assert holders({"shared": engine.env["DOCKER_HOST"]}, f"echo fleet-{nonce}-default ") == {"shared"}
    calls = set(log.read_text().splitlines())
    assert calls == {
        "ssh -o ConnectTimeout=30 -l ci -p 2222 -- build-1.example.com docker system dial-stdio"
    }  # the check, the gRPC connection and the session: each its own `ssh`


def test_an_ssh_host_that_cannot_be_reached_says_what_ssh_said(engine: Engine, nonce: str, tmp_path: Path) -> None:
    env, _ = fakes(tmp_path, engine, {}, {})
    build = project(tmp_path, nonce, ["default"])
    r = env.hlb("run", "--addr", "ssh://ci@nowhere.example.com", str(build))
    assert r.returncode == 1
    assert r.stderr.startswith(
        "hlb: error: cannot reach the Docker engine at ssh://ci@nowhere.example.com (from --addr): `"
    )
    assert "exited with 255: ssh: Could not resolve hostname nowhere.example.com" in r.stderr.splitlines()[0]


def test_kube_pod_reaches_buildkit_through_kubectl_exec_buildctl_dial_stdio(
    engine: Engine, nonce: str, tmp_path: Path
) -> None:
    env, log = fakes(tmp_path, engine, {}, {"buildkitd-0": engine.env["DOCKER_HOST"]})
    build = project(tmp_path, nonce, ["default"])
    addr = "kube-pod://buildkitd-0?namespace=ci&context=prod&container=buildkitd"
    r = env.hlb("run", "--progress", "plain", "--addr", addr, str(build))
    assert r.returncode == 0, r.stderr
    assert "hlb: default: 0 of 1 steps cached" in r.stderr
    assert holders({"shared": engine.env["DOCKER_HOST"]}, f"echo fleet-{nonce}-default ") == {"shared"}
    calls = log.read_text().splitlines()
    assert calls[0] == "kubectl --context prod exec -n ci buildkitd-0 -c buildkitd -- buildctl --version"
    assert set(calls[1:]) == {
        "kubectl --context prod exec -i -n ci buildkitd-0 -c buildkitd -- buildctl dial-stdio"
    }  # sessions go through Control.Session on the same connection


def test_a_fleet_over_ssh_and_kube_pod(engine: Engine, fresh_engine: PrivateEngine, nonce: str, tmp_path: Path) -> None:
    shared, fresh = engine.env["DOCKER_HOST"], fresh_engine.docker_host
    env, _ = fakes(tmp_path, engine, {"build-1": shared}, {"buildkitd-0": fresh})
    fleet = ["ssh://ci@build-1", "kube-pod://buildkitd-0?namespace=ci"]
    names = [f"t{i}" for i in range(40)]
    targets = [n for n in names if choose(n, fleet) == 0][:1] + [n for n in names if choose(n, fleet) == 1][:1]
    build = project(tmp_path, nonce, targets)
    for _ in range(2):
        r = env.hlb("run", "--progress", "plain", "-t", ",".join(targets), "--addr", ",".join(fleet), str(build))
        assert r.returncode == 0, r.stderr
        assert {t: summaries(r.stderr)[t][1] for t in targets} == dict(zip(targets, fleet, strict=True))
    assert holders({"ssh": shared, "kube": fresh}, f"echo fleet-{nonce}-{targets[0]} ") == {"ssh"}
    assert holders({"ssh": shared, "kube": fresh}, f"echo fleet-{nonce}-{targets[1]} ") == {"kube"}


def test_an_ssh_docker_host_is_the_engine_over_ssh(engine: Engine, nonce: str, tmp_path: Path) -> None:
    """DOCKER_HOST=ssh://... (as the docker CLI takes it), alone and through a bare `--addr docker://`."""
    env, log = fakes(tmp_path, engine, {"build-2.example.com": engine.env["DOCKER_HOST"]}, {})
    over_ssh = Engine(env.env | {"DOCKER_HOST": "ssh://ci@build-2.example.com"})
    build = project(tmp_path, nonce, ["default"])
    for addr in ([], ["--addr", "docker://"]):
        r = over_ssh.hlb("run", "--progress", "plain", *addr, str(build))
        assert r.returncode == 0, r.stderr
    assert holders({"shared": engine.env["DOCKER_HOST"]}, f"echo fleet-{nonce}-default ") == {"shared"}
    assert set(log.read_text().splitlines()) == {
        "ssh -o ConnectTimeout=30 -l ci -- build-2.example.com docker system dial-stdio"
    }


# -- an image loaded from a standalone BuildKit goes to the engine `docker` uses ----------------------


def current_context(env: Engine, tmp_path: Path, host: str) -> tuple[Engine, str]:
    """``env`` with DOCKER_HOST unset and a private DOCKER_CONFIG whose currentContext `rv` is ``host``."""
    config = tmp_path / "docker-config"
    meta = config / "contexts" / "meta" / hashlib.sha256(b"rv").hexdigest()
    meta.mkdir(parents=True)
    doc = {"Name": "rv", "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}}
    (meta / "meta.json").write_text(json.dumps(doc))
    (config / "config.json").write_text(json.dumps({"currentContext": "rv"}))
    rest = {k: v for k, v in env.env.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    return Engine(rest | {"DOCKER_CONFIG": str(config)}), str(config / "config.json")


def test_a_load_from_a_kube_pod_goes_to_the_current_docker_context(
    engine: Engine, fresh_engine: PrivateEngine, nonce: str, tmp_path: Path
) -> None:
    shared = engine.env["DOCKER_HOST"]
    with_pod, _ = fakes(tmp_path, engine, {}, {"bk-0": fresh_engine.docker_host})
    env, config_json = current_context(with_pod, tmp_path, shared)
    build = project(tmp_path, nonce, ["default"])
    ref = f"hlb-it/ctx-load:{nonce}"
    docker = _docker(engine)

    def present(host: str) -> bool:
        inspect = subprocess.run([docker, "image", "inspect", ref], env=engine.env | {"DOCKER_HOST": host},
                                 capture_output=True)  # fmt: skip
        return inspect.returncode == 0

    try:
        pod, out = ("--addr", "kube-pod://bk-0"), ("-o", f"type=docker,name={ref}")
        r = env.hlb("run", "--progress", "plain", *pod, *out, str(build))
        assert r.returncode == 0, r.stderr
        assert f"  loaded {ref}@sha256:" in r.stderr and f" into the Docker engine at {shared}\n" in r.stderr, r.stderr
        assert present(shared) and not present(fresh_engine.docker_host)  # built in the pod, loaded into `rv`
    finally:
        subprocess.run([docker, "image", "rm", ref], env=engine.env, capture_output=True)

    # The context's engine is gone: one error naming it and where it came from, with the hint; nothing is built.
    gone = f"unix://{tmp_path}/gone.sock"
    dead, config_json = current_context(with_pod, tmp_path / "dead", gone)
    r = dead.hlb("run", "--addr", "kube-pod://bk-0", "-o", f"type=docker,name={ref}", str(build))
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line]
    assert lines[-2].startswith(
        f"hlb: error: target default: loading {ref}: cannot reach the Docker engine at {gone} "
        f"(from docker context `rv`, the currentContext of {config_json}): connecting to "
    ), r.stderr
    assert lines[-1].startswith("  hint: is that engine running") and "DOCKER_CONTEXT" in lines[-1], r.stderr
    assert "steps cached" not in r.stderr and "Traceback" not in r.stderr


def test_a_load_from_a_kube_pod_goes_to_an_ssh_docker_host(
    engine: Engine, fresh_engine: PrivateEngine, nonce: str, tmp_path: Path
) -> None:
    """DOCKER_HOST=ssh://...: the tarball streams through `ssh HOST docker system dial-stdio`."""
    shared = engine.env["DOCKER_HOST"]
    fake, log = fakes(tmp_path, engine, {"build-3": shared}, {"bk-0": fresh_engine.docker_host})
    env = Engine(fake.env | {"DOCKER_HOST": "ssh://ci@build-3"})
    build = project(tmp_path, nonce, ["default"])
    ref = f"hlb-it/ssh-load:{nonce}"
    docker = _docker(engine)
    try:
        r = env.hlb(
            "run", "--progress", "plain", "--addr", "kube-pod://bk-0", "-o", f"type=docker,name={ref}", str(build)
        )
        assert r.returncode == 0, r.stderr
        assert " into the Docker engine at ssh://ci@build-3\n" in r.stderr, r.stderr
        inspect = subprocess.run([docker, "image", "inspect", ref], env=engine.env, capture_output=True)
        assert inspect.returncode == 0, inspect.stderr
    finally:
        subprocess.run([docker, "image", "rm", ref], env=engine.env, capture_output=True)
    assert "ssh -o ConnectTimeout=30 -l ci -- build-3 docker system dial-stdio" in log.read_text().splitlines()
