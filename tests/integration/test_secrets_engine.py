"""Secrets, SSH agents, forwarded sockets and registry credentials, served by hlb's session to the real engine.

Inside a build, busybox has no unix-socket client, so the tests compile a tiny
static one (`uxcat SOCKET`: stdin to the socket, half-close, the answer to
stdout) and serve it to the daemon from a loopback http server.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Engine

REGISTRY_BIN = Path(os.environ.get("HLB_ENGINE_PREFIX", "/var/lib/hlb-engine/prefix")) / "usr/bin/docker-registry"

UXCAT_C = r"""
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    char buf[65536];
    ssize_t n;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (argc != 2 || strlen(argv[1]) >= sizeof a.sun_path) return 2;
    strcpy(a.sun_path, argv[1]);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) return 3;
    while ((n = read(0, buf, sizeof buf)) > 0) if (write(s, buf, n) != n) return 4;
    shutdown(s, SHUT_WR);
    while ((n = read(s, buf, sizeof buf)) > 0) if (write(1, buf, n) != n) return 5;
    return 0;
}
"""


@pytest.fixture(scope="module")
def uxcat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The directory of a static unix-socket client for busybox builds, sent by the `local` source.

    (It was served over a loopback http server once; a port the kernel hands out can meet a connection
    an earlier test left behind, so the build now reads it through the session like any local file.)
    """
    d = tmp_path_factory.mktemp("uxcat")
    (d / "uxcat.c").write_text(UXCAT_C)
    cc = subprocess.run(["cc", "-static", "-Os", "-s", "-o", str(d / "uxcat"), str(d / "uxcat.c")], capture_output=True)
    assert cc.returncode == 0, cc.stderr.decode()
    yield str(d)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    d = tempfile.mkdtemp(prefix="hlbi-")  # unix socket paths must stay under 108 bytes
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def write(tmp_path: Path, text: str) -> Path:
    build = tmp_path / "build.hlb"
    build.write_text(text)
    return build


def with_uxcat(directory: str) -> str:
    return f'mount fs {{ local "{directory}" with includePatterns("uxcat"); }} "/tools" with readonly'


# -- secrets ---------------------------------------------------------------------------


@contextlib.contextmanager
def ssh_agent(short_dir: Path) -> Iterator[str]:
    """A real ssh-agent of this test's own, listening on a socket in ``short_dir``; yields the socket's path."""
    sock = str(short_dir / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield sock
    finally:
        agent.terminate()
        agent.wait()


def test_a_secret_is_seen_by_the_command_and_nowhere_else(engine: Engine, tmp_path: Path, nonce: str) -> None:
    value = f"s3cr3t-{nonce}-{os.urandom(8).hex()}"
    (tmp_path / "token").write_text(value)
    build = write(
        tmp_path,
        f"""
fs default() {{
	image "busybox:latest"
	run "sha256sum /run/secrets/token; stat -c 'mode=%a' /run/secrets/token; echo {nonce}" with option {{
		secret "./token" "/run/secrets/token"
		network "none"
	}}
}}
""",
    )
    result = engine.hlb("run", str(build))
    assert result.returncode == 0, result.stderr
    digest = hashlib.sha256(value.encode()).hexdigest()
    assert f"{digest}  /run/secrets/token" in result.stderr
    assert "mode=400" in result.stderr  # BuildKit's default secret mode
    assert value not in result.stdout + result.stderr  # nor in the progress

    llb_json = engine.hlb("compile", "--format", "json", str(build))
    assert llb_json.returncode == 0, llb_json.stderr
    assert "/run/secrets/token" in llb_json.stdout and value not in llb_json.stdout
    binary = subprocess.run(
        [sys.executable, "-m", "hlb", "compile", "--format", "binary", str(build)], env=engine.env, capture_output=True
    )
    assert binary.returncode == 0, binary.stderr
    assert b"/run/secrets/token" in binary.stdout and value.encode() not in binary.stdout


# -- forwarded sockets -----------------------------------------------------------------


def echo_server(srv: socket.socket, stop: threading.Event) -> threading.Thread:
    """Answers each connection with ``echo:<what it read until the peer half-closed>``."""

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                conn.sendall(b"echo:" + data)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_forward_relays_a_unix_socket_and_a_tcp_address(
    engine: Engine, tmp_path: Path, short_dir: Path, uxcat_url: str, nonce: str
) -> None:
    stop = threading.Event()
    path = str(short_dir / "echo.sock")
    with socket.socket(socket.AF_UNIX) as usrv, socket.socket(socket.AF_INET) as tsrv:
        usrv.bind(path)
        usrv.listen()
        tsrv.bind(("127.0.0.1", 0))
        tsrv.listen()
        threads = [echo_server(usrv, stop), echo_server(tsrv, stop)]
        port = tsrv.getsockname()[1]
        script = f"echo u-{nonce} | /tools/uxcat /run/u.sock; echo; echo t-{nonce} | /tools/uxcat /run/t.sock; echo"
        build = write(
            tmp_path,
            f"""
fs default() {{
	image "busybox:latest"
	run "{script}" with option {{
		network "none"  # the sockets come through the session, not the network
		{with_uxcat(uxcat_url)}
		forward "unix://{path}" "/run/u.sock"
		forward "tcp://127.0.0.1:{port}" "/run/t.sock"
	}}
}}
""",
        )
        result = engine.hlb("run", str(build))
        stop.set()
        for t in threads:
            t.join(5)
    assert result.returncode == 0, result.stderr
    assert f"echo:u-{nonce}" in result.stderr and f"echo:t-{nonce}" in result.stderr, result.stderr


# -- ssh agents ------------------------------------------------------------------------

# SSH_AGENTC_REQUEST_IDENTITIES; the answer is SSH_AGENT_IDENTITIES_ANSWER (12) and a uint32 count
REQUEST_IDENTITIES = r"printf '\\000\\000\\000\\001\\013'"  # HLB escapes its backslashes
SHOW_ANSWER = "od -An -tu1 -N9 | tr -s ' ' | sed 's/^ //'"


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def ssh_agents_under(prefix: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd[0].endswith(b"ssh-agent") and any(prefix.encode() in a for a in cmd[1:]):
                found.append(pid)
    return found


def test_ssh_with_key_files_serves_a_private_agent_stopped_after_the_solve(
    engine: Engine, tmp_path: Path, short_dir: Path, uxcat_url: str, nonce: str
) -> None:
    k1, k2 = keygen(short_dir / "k1"), keygen(short_dir / "k2")
    before = set(ssh_agents_under("/hlb-ssh-"))
    script = (
        'test -S \\"$SSH_AUTH_SOCK\\" && echo sock=$SSH_AUTH_SOCK; '
        f'{REQUEST_IDENTITIES} | /tools/uxcat \\"$SSH_AUTH_SOCK\\" | {SHOW_ANSWER}; echo {nonce}'
    )
    build = write(
        tmp_path,
        f"""
fs default() {{
	image "busybox:latest"
	run "{script}" with option {{
		network "none"
		{with_uxcat(uxcat_url)}
		ssh with localPaths("{k1}", "{k2}")
	}}
}}
""",
    )
    result = engine.hlb("run", str(build))
    assert result.returncode == 0, result.stderr
    assert "sock=/run/buildkit/ssh_agent.0" in result.stderr
    assert "12 0 0 0 2" in result.stderr, result.stderr  # both keys, through the agent protocol
    assert set(ssh_agents_under("/hlb-ssh-")) <= before  # the private agent is gone


def test_ssh_forwards_the_agent_of_ssh_auth_sock(
    engine: Engine, tmp_path: Path, short_dir: Path, uxcat_url: str, nonce: str
) -> None:
    with ssh_agent(short_dir) as sock:
        env = {**engine.env, "SSH_AUTH_SOCK": sock}
        subprocess.run(["ssh-add", "-q", str(keygen(short_dir / "id"))], env=env, check=True)
        build = write(
            tmp_path,
            f"""
fs default() {{
	image "busybox:latest"
	run "{REQUEST_IDENTITIES} | /tools/uxcat /run/agent.sock | {SHOW_ANSWER}; echo {nonce}" with option {{
		network "none"
		{with_uxcat(uxcat_url)}
		ssh with target("/run/agent.sock")
	}}
}}
""",
        )
        result = Engine(env).hlb("run", str(build))
        assert result.returncode == 0, result.stderr
        assert "12 0 0 0 1" in result.stderr, result.stderr
        build.write_text(build.read_text().replace(f"echo {nonce}", f"echo {nonce}-unset"))  # not cached
        unset = Engine({k: v for k, v in engine.env.items() if k != "SSH_AUTH_SOCK"}).hlb("run", str(build))
        assert unset.returncode != 0 and "SSH_AUTH_SOCK is not set" in unset.stderr, unset.stderr
        assert "pass `hlb run --ssh default=SOCKET|KEY`" in unset.stderr, unset.stderr
        assert "Traceback" not in unset.stderr


# -- registry credentials ----------------------------------------------------------------


def bcrypt_hash(password: str) -> str:
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # Python < 3.13; libxcrypt does bcrypt

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    except ImportError:
        bcrypt = pytest.importorskip("bcrypt")
        return str(bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode())


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[str]:
    """A distribution registry on 127.0.0.1 with htpasswd auth (user `hlb`, password `pw-<pid>`)."""
    assert REGISTRY_BIN.exists(), f"{REGISTRY_BIN} (installed by scripts/engine up)"
    (tmp_path / "htpasswd").write_text(f"hlb:{bcrypt_hash(f'pw-{os.getpid()}')}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "test-only"},
        "auth": {"htpasswd": {"realm": "hlb-test", "path": str(tmp_path / "htpasswd")}},
    }
    (tmp_path / "registry.yml").write_text(json.dumps(config))  # YAML is a superset of JSON
    with open(tmp_path / "registry.log", "wb") as log:
        proc = subprocess.Popen([str(REGISTRY_BIN), "serve", str(tmp_path / "registry.yml")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                pytest.fail("the registry answered without asking for credentials")
            except urllib.error.HTTPError as e:
                assert e.code == 401
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "registry.log").read_text()
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()


def test_push_to_a_registry_with_basic_auth_uses_docker_config(
    engine: Engine, tmp_path: Path, auth_registry: str, nonce: str
) -> None:
    build = write(
        tmp_path,
        f"""
fs default() {{
	image "busybox:latest"
	mkfile "/pushed" 0o644 "{nonce}"
	dockerPush "{auth_registry}/hlb-it/auth:{nonce}"
}}
""",
    )
    config = tmp_path / "dockercfg"
    config.mkdir()
    (config / "config.json").write_text("{}")
    denied = Engine({**engine.env, "DOCKER_CONFIG": str(config)}).hlb("run", str(build))
    assert denied.returncode != 0
    assert "401" in denied.stderr or "unauthorized" in denied.stderr.lower(), denied.stderr
    assert "Traceback" not in denied.stderr

    (config / "config.json").write_text(json.dumps({"credsStore": "hlb-test-absent"}))
    missing = Engine({**engine.env, "DOCKER_CONFIG": str(config)}).hlb("run", str(build))
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "docker-credential-hlb-test-absent" in missing.stderr and "not installed" in missing.stderr, missing.stderr

    auth = base64.b64encode(f"hlb:pw-{os.getpid()}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {auth_registry: {"auth": auth}}}))
    pushed = Engine({**engine.env, "DOCKER_CONFIG": str(config)}).hlb("run", str(build))
    assert pushed.returncode == 0, pushed.stderr
    req = urllib.request.Request(
        f"http://{auth_registry}/v2/hlb-it/auth/manifests/{nonce}",
        headers={
            "Authorization": f"Basic {auth}",
            "Accept": ", ".join(
                ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"]
            ),
        },
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def test_a_malformed_docker_config_warns_and_builds(engine: Engine, tmp_path: Path, nonce: str) -> None:
    config = tmp_path / "dockercfg"
    config.mkdir()
    (config / "config.json").write_text("{ not json")
    build = write(
        tmp_path, f'fs default() {{\n\timage "busybox:latest"\n\trun "echo {nonce}" with network("none")\n}}\n'
    )
    result = Engine({**engine.env, "DOCKER_CONFIG": str(config)}).hlb("run", str(build))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("hlb: warning: cannot read the docker config") == 1, result.stderr


# -- hlb run --secret / --ssh (issue 14 item 2) ------------------------------------------------


def test_secret_flags_from_a_file_and_from_env_reach_secret_mounts_and_nowhere_else(
    engine: Engine, tmp_path: Path, nonce: str
) -> None:
    file_value = f"file-s3cr3t-{nonce}-{os.urandom(8).hex()}"
    env_value = f"env-s3cr3t-{nonce}-{os.urandom(8).hex()}"
    (tmp_path / "tok.txt").write_text(file_value)
    script = (
        "sha256sum /run/secrets/tok > /file.sha; stat -c %u:%g:%a /s > /owner; "
        "printf %s $TOKEN | sha256sum > /env.sha; test ! -e /x/envtok && echo no-file > /envfile; echo NONCE"
    )
    text = f"""
fs default() {{
	image "busybox:latest"
	run "{script}" with option {{
		secretMount "/run/secrets/tok"
		secretMount "/x/envtok" with option {{
			required
			env "TOKEN"
		}}
		secretMount "/s" with option {{
			id "tok"
			uid 1000
			gid 1000
			mode 0o440
		}}
		network "none"
	}}
	download "out"
	downloadTarball "out.tar"
}}
"""
    build = write(tmp_path, text.replace("NONCE", nonce))
    env = {**engine.env, "HLB_TEST_TOKEN": env_value}
    flags = ["--secret", "id=tok,src=tok.txt", "--secret", "id=envtok,env=HLB_TEST_TOKEN"]
    result = Engine(env).hlb("run", "--progress", "plain", *flags, str(build), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr
    out = tmp_path / "out"
    assert (out / "file.sha").read_text().split()[0] == hashlib.sha256(file_value.encode()).hexdigest()
    assert (out / "env.sha").read_text().split()[0] == hashlib.sha256(env_value.encode()).hexdigest()
    assert (out / "owner").read_text().strip() == "1000:1000:440"
    assert (out / "envfile").read_text().strip() == "no-file"  # the env form mounts no file
    seen = [result.stdout + result.stderr]

    # Not in the rawjson progress either (the step runs again: a new nonce).
    build.write_text(text.replace("NONCE", nonce + "-raw"))
    raw = Engine(env).hlb("run", "--progress", "rawjson", *flags, str(build), cwd=tmp_path)
    assert raw.returncode == 0, raw.stderr
    assert '"vertexes"' in raw.stdout + raw.stderr
    seen.append(raw.stdout + raw.stderr)

    # Nor in the LLB, the plan or the exported image (a directory and a tarball).
    for args in (("compile", "--format", "json"), ("run", "--tree", *flags)):
        r = Engine(env).hlb(*args, str(build), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        seen.append(r.stdout + r.stderr)
    binary = subprocess.run(
        [sys.executable, "-m", "hlb", "compile", "--format", "binary", str(build)], env=env, capture_output=True
    )
    assert binary.returncode == 0 and b"/run/secrets/tok" in binary.stdout
    exported = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file() and not p.is_symlink())
    exported += (tmp_path / "out.tar").read_bytes() + binary.stdout
    for value in (file_value, env_value):
        assert not any(value in text for text in seen), value
        assert value.encode() not in exported, value


def test_a_missing_required_secret_fails_before_building_and_an_optional_one_is_absent(
    engine: Engine, tmp_path: Path, nonce: str
) -> None:
    build = write(
        tmp_path,
        f"""
fs default() {{
	image "busybox:latest"
	run "test ! -e /run/secrets/opt && echo absent-{nonce}" with secretMount("/run/secrets/opt")
	run "cat /run/secrets/must" with option {{
		secretMount "/run/secrets/must" with required
	}}
}}
""",
    )
    env = {**engine.env, "NO_COLOR": "1"}
    missing = Engine(env).hlb("run", "--progress", "plain", str(build), cwd=tmp_path)
    assert missing.returncode == 2, missing.stderr
    assert "build.hlb:6:3: error: the secret `must` is not given on the command line [missing-input]" in missing.stderr
    assert "hint: pass `--secret id=must,src=FILE` or `--secret id=must,env=VARIABLE` to `hlb run`" in missing.stderr
    assert f"absent-{nonce}" not in missing.stderr  # nothing was built
    assert "Traceback" not in missing.stderr

    (tmp_path / "must").write_text("m")
    ok = Engine(env).hlb("run", "--progress", "plain", "--secret", "id=must,src=must", str(build), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert f"absent-{nonce}" in ok.stderr  # the optional secret no flag gives is not mounted...
    said = "the secret `opt` is not given (pass `--secret id=opt,src=FILE`), so it is not mounted"
    assert "build.hlb:4:" in ok.stderr and said in ok.stderr  # ...and hlb says so


def test_ssh_flags_serve_the_default_agent_an_id_and_key_files(
    engine: Engine, tmp_path: Path, short_dir: Path, uxcat_url: str, nonce: str
) -> None:
    """`--ssh default` with a real ssh-agent (one key) for a plain `ssh`; `--ssh deploy=KEY,KEY` for `ssh with id`."""
    with ssh_agent(short_dir) as sock:
        env = {**engine.env, "SSH_AUTH_SOCK": sock, "NO_COLOR": "1"}
        subprocess.run(["ssh-add", "-q", str(keygen(short_dir / "id"))], env=env, check=True)
        k1, k2 = keygen(short_dir / "k1"), keygen(short_dir / "k2")

        def ask(sock: str) -> str:
            return f"{REQUEST_IDENTITIES} | /tools/uxcat {sock} | {SHOW_ANSWER}"

        build = write(
            tmp_path,
            f"""
fs default() {{
	image "busybox:latest"
	run "{ask("/run/a.sock")}; {ask("/run/d.sock")}; echo {nonce}" with option {{
		network "none"
		{with_uxcat(uxcat_url)}
		ssh with target("/run/a.sock")
		ssh with option {{
			id "deploy"
			target "/run/d.sock"
		}}
	}}
}}
""",
        )
        missing = Engine(env).hlb("run", str(build))
        assert missing.returncode == 2, missing.stderr
        assert "the ssh id `deploy` is not given on the command line [missing-input]" in missing.stderr
        assert "pass `--ssh deploy=SOCKET` or `--ssh deploy=KEY` to `hlb run`" in missing.stderr

        result = Engine(env).hlb(
            "run", "--progress", "plain", "--ssh", "default", "--ssh", f"deploy={k1},{k2}", str(build)
        )
        assert result.returncode == 0, result.stderr
        assert "12 0 0 0 1" in result.stderr, result.stderr  # the agent's one key
        assert "12 0 0 0 2" in result.stderr, result.stderr  # the two key files, through a private agent

        # --ssh default=SOCKET replaces $SSH_AUTH_SOCK, which may then be unset; an unused --ssh is a warning.
        build.write_text(build.read_text().replace(f"echo {nonce}", f"echo {nonce}-again"))
        unset = {k: v for k, v in env.items() if k != "SSH_AUTH_SOCK"}
        again = Engine(unset).hlb(
            "run", "--progress", "plain", "--ssh", f"default={sock}", "--ssh", f"deploy={sock}", "--ssh", f"spare={k1}",
            str(build),
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert again.stderr.count("12 0 0 0 1") == 2, again.stderr
        assert 'hlb: warning: --ssh spare is not used: the targets built have no `ssh with id("spare")`' in again.stderr
