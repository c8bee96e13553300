"""Addresses, their errors, the connection helper and the Control.Session framing.

No buildkitd can be installed here, so the Control.Session transport is checked
against a loopback "daemon": a grpcio Control server whose Session handler
bridges the byte pipe to a local socket and dials our session server through
it as an HTTP/2 client, the way buildkitd does.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from hlb._proto import control_pb2, control_pb2_grpc, health_pb2, health_pb2_grpc
from hlb.address import AddressError, KubePod, SSHHost, TLSConfig, resolve, several, split_addresses
from hlb.session import Session
from hlb.solver.client import BuildkitClient
from hlb.solver.connhelper import (
    ContainerDialer,
    HelperDialer,
    check_container,
    check_kube_pod,
    check_ssh,
    container_argv,
    kube_pod_argv,
    ssh_argv,
)
from hlb.transport import DockerHost, Relay, TransportError, probe

# -- addresses ------------------------------------------------------------------------------

VALID = [
    ("unix:///run/buildkit/buildkitd.sock", "buildkit", "unix:///run/buildkit/buildkitd.sock"),
    ("unix://rel/buildkitd.sock", "buildkit", "unix://rel/buildkitd.sock"),
    ("tcp://10.0.0.1:1234", "buildkit", "tcp://10.0.0.1:1234"),
    ("docker-container://buildx_buildkit_default", "buildkit", "docker-container://buildx_buildkit_default"),
    ("docker-container://b0?context=remote", "buildkit", "docker-container://b0?context=remote"),
    ("docker://", "docker", "unix:///d.sock"),  # the engine DOCKER_HOST names
    ("docker://unix:///other.sock", "docker", "unix:///other.sock"),
    ("docker://tcp://127.0.0.1:2375", "docker", "tcp://127.0.0.1:2375"),
    ("kube-pod://buildkitd-0", "buildkit", "kube-pod://buildkitd-0"),
    ("kube-pod://bk-0.x?namespace=ci&context=arn:aws:eks:eu:1:cluster/a", "buildkit", None),
    ("ssh://me@build-1.example.com:2222", "docker", "ssh://me@build-1.example.com:2222"),  # the engine there
    ("ssh://[::1]/run/docker.sock", "docker", "ssh://[::1]/run/docker.sock"),
]


@pytest.mark.parametrize(("flag", "kind", "url"), VALID, ids=[v[0] for v in VALID])
def test_addresses(flag: str, kind: str, url: str) -> None:
    address = resolve(flag, env={"DOCKER_HOST": "unix:///d.sock"})
    assert (address.kind, address.url, address.source.split()[0]) == (kind, url or flag, "--addr")


def test_address_parts() -> None:
    assert resolve("unix://rel/b.sock", env={}).socket_path == "rel/b.sock"
    assert resolve("tcp://example.com:1234", env={}).host_port == ("example.com", 1234)
    assert resolve("docker-container://b0?context=remote", env={}).container == ("b0", "remote")
    pod = resolve("kube-pod://bk-0?context=prod&namespace=ci&container=buildkitd", env={}).kube_pod
    assert (pod.pod, pod.namespace, pod.context, pod.container) == ("bk-0", "ci", "prod", "buildkitd")
    assert resolve("kube-pod://bk-0", env={}).kube_pod == KubePod("bk-0")
    assert resolve("ssh://me@h:2222/var/run/docker.sock", env={}).ssh == SSHHost(
        "me", "h", 2222, "/var/run/docker.sock"
    )
    assert resolve("ssh://h", env={}).ssh == SSHHost(None, "h")
    assert resolve("ssh://me@h", env={}).describe() == "the Docker engine at ssh://me@h (from --addr)"
    assert resolve(env={"DOCKER_HOST": "tcp://h"}).host_port == ("h", 2375)
    assert resolve(env={"BUILDKIT_HOST": "tcp://h:1"}).describe() == "BuildKit at tcp://h:1 (from BUILDKIT_HOST)"


ERRORS = [
    ("npipe:////./pipe/b", {}, None, "unsupported address scheme `npipe://` in npipe:////./pipe/b (from --addr)"),
    ("/run/buildkitd.sock", {}, None, "'/run/buildkitd.sock' is not an address"),
    ("unix://", {}, None, "names no socket path"),
    ("tcp://host", {}, None, "names no port (tcp://HOST:PORT)"),
    ("tcp://host:99999", {}, None, "the port is not a number"),
    ("tcp://:1234", {}, None, "names no host"),
    ("docker-container://", {}, None, "'' is not a container name"),
    ("docker://npipe:////./pipe/docker", {}, None, "unsupported Docker engine address"),
    ("unix:///b.sock", {}, TLSConfig(ca="ca.pem"), "the --tls* flags apply to tcp:// addresses"),
    ("tcp://h:1", {}, TLSConfig(server_name="h"), "--tlsservername needs --tlscacert"),
    ("tcp://h:1", {}, TLSConfig(cert="c.pem"), "--tlscert and --tlskey go together"),
    (None, {"DOCKER_HOST": "unix:///d.sock"}, TLSConfig(ca="ca.pem"), "the --tls* flags need a tcp://"),
    ("kube-pod://", {}, None, "--addr 'kube-pod://' names no pod (kube-pod://POD?namespace=NS&context=CTX"),
    ("kube-pod://BuildKit-0", {}, None, "'BuildKit-0' is not a pod name (lower-case letters, digits, '-' and '.')"),
    ("kube-pod://bk-0/x", {}, None, "a kube-pod address has no path"),
    ("kube-pod://bk-0?ns=ci", {}, None, "unknown parameter 'ns' (kube-pod://POD?namespace=NS&context=CTX"),
    ("kube-pod://bk-0?namespace=ci&namespace=qa", {}, None, "namespace is given 2 times"),
    ("kube-pod://bk-0?namespace=", {}, None, "namespace is empty"),
    ("kube-pod://bk-0?namespace=CI", {}, None, "'CI' is not a namespace name"),
    ("kube-pod://bk-0?container=a_b", {}, None, "'a_b' is not a container name"),
    ("kube-pod://bk-0?context=--kubeconfig=x", {}, None, "a context name cannot start with '-'"),
    ("kube-pod://bk-0", {}, TLSConfig(ca="ca.pem"), "the --tls* flags apply to tcp:// addresses"),
    (None, {"BUILDKIT_HOST": "kube-pod://p_0"}, None, "BUILDKIT_HOST 'kube-pod://p_0': 'p_0' is not a pod name"),
    ("ssh://me:secret@h", {}, None, "--addr: an ssh:// address cannot hold a password; use an ssh key or agent"),
    ("ssh://h?x=1", {}, None, "an ssh:// address takes no ?query or #fragment"),
    ("ssh://h:x", {}, None, "'ssh://h:x': the port is not a number from 1 to 65535"),
    ("ssh://h:0", {}, None, "port 0 is not an ssh port"),
    ("ssh://me@", {}, None, "'ssh://me@' names no host (ssh://USER@HOST[:PORT])"),
    ("ssh://-oProxyCommand=sh", {}, None, "a host cannot start with '-'"),
    ("ssh://-F@h", {}, None, "a user cannot start with '-'"),
    ("ssh://h", {}, TLSConfig(ca="ca.pem"), "the --tls* flags apply to tcp:// addresses"),
]


@pytest.mark.parametrize(("flag", "env", "tls", "message"), ERRORS, ids=[e[3][:40] for e in ERRORS])
def test_address_errors(flag: str | None, env: dict[str, str], tls: TLSConfig | None, message: str) -> None:
    with pytest.raises(AddressError) as e:
        resolve(flag, env=env, tls=tls)
    assert message in str(e.value)


# -- several daemons ----------------------------------------------------------------------------

FLEETS = [
    (["tcp://a:1,tcp://b:2"], {}, ["tcp://a:1", "tcp://b:2"]),
    (
        ["tcp://a:1", "kube-pod://bk-1?namespace=ci, ssh://me@c"],
        {},
        ["tcp://a:1", "kube-pod://bk-1?namespace=ci", "ssh://me@c"],
    ),
    (
        ["unix:///run/a,b.sock,unix:///run/c.sock"],
        {},
        ["unix:///run/a,b.sock", "unix:///run/c.sock"],
    ),  # a comma in a path
    ([], {"BUILDKIT_HOST": "tcp://a:1,tcp://b:2"}, ["tcp://a:1", "tcp://b:2"]),
    (["tcp://c:3,tcp://d:4"], {"BUILDKIT_HOST": "tcp://a:1,tcp://b:2"}, ["tcp://c:3", "tcp://d:4"]),  # --addr wins
    (["tcp://a:1"], {"BUILDKIT_HOST": "tcp://a:1,tcp://b:2"}, []),  # one daemon: resolve() finds it
    ([], {"BUILDKIT_HOST": "unix:///run/a,b.sock"}, []),
    ([], {}, []),
]


@pytest.mark.parametrize(("flags", "env", "urls"), FLEETS)
def test_several_addresses_make_a_fleet(flags: list[str], env: dict[str, str], urls: list[str]) -> None:
    fleet = several(flags, env)
    assert [a.url for a in fleet] == urls
    assert all(a.source == ("--addr" if flags else "BUILDKIT_HOST") for a in fleet)


FLEET_ERRORS = [
    (["tcp://a:1,"], {}, "--addr 'tcp://a:1,' has an empty address: give one or more, comma-separated"),
    ([",tcp://a:1"], {}, "has an empty address"),
    (["tcp://a:1,,tcp://b:2"], {}, "has an empty address"),
    (["tcp://a:1", ""], {}, "--addr '' has an empty address"),
    (["tcp://a:1", "tcp://a:1"], {}, "--addr names tcp://a:1 twice: give each daemon once"),
    (["tcp://a:1,tcp://b"], {}, "--addr 'tcp://b' names no port"),
    (["tcp://a:1,kube-pod://Bad"], {}, "'Bad' is not a pod name"),
    ([], {"BUILDKIT_HOST": "tcp://a:1,tcp://a:1"}, "BUILDKIT_HOST names tcp://a:1 twice"),
]


@pytest.mark.parametrize(("flags", "env", "message"), FLEET_ERRORS, ids=[e[2][:40] for e in FLEET_ERRORS])
def test_bad_fleets(flags: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(AddressError) as e:
        several(flags, env)
    assert message in str(e.value)


def test_split_addresses_keeps_the_order() -> None:
    assert split_addresses(["ssh://b", "tcp://a:1,docker-container://c"], "--addr") == [
        "ssh://b",
        "tcp://a:1",
        "docker-container://c",
    ]


def test_tls_for_tcp_and_docker_tls_verify(certs: Path) -> None:
    tls = TLSConfig(ca=f"{certs}/ca.pem", cert=f"{certs}/cert.pem", key=f"{certs}/key.pem", server_name="buildkitd")
    assert resolve("tcp://h:1", env={}, tls=tls).tls == tls
    assert resolve("tcp://h:1", env={}).tls is None
    env = {"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs"}
    assert resolve(env=env).tls == TLSConfig("/certs/ca.pem", "/certs/cert.pem", "/certs/key.pem")
    assert resolve(env={"DOCKER_HOST": "tcp://h:2376"}).tls is None


# -- unreachable daemons: one line naming the address, quickly ---------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_unix_and_tcp(tmp_path: Path) -> None:
    port = _free_port()
    cases = [
        (f"unix://{tmp_path}/none.sock", "No such file or directory"),
        (f"tcp://127.0.0.1:{port}", "Connection refused"),
    ]
    for url, reason in cases:
        start = time.monotonic()
        with pytest.raises(TransportError) as e:
            BuildkitClient(resolve(url, env={}))
        assert time.monotonic() - start < 3
        assert str(e.value).startswith(f"cannot reach BuildKit at {url} (from --addr): ")
        assert reason in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(
        TransportError, match=r"cannot reach the Docker engine at tcp://127\.0\.0\.1:\d+ \(from DOCKER_HOST\)"
    ):
        BuildkitClient(resolve(env={"DOCKER_HOST": f"tcp://127.0.0.1:{port}"}))


def test_missing_tls_files_are_named(tmp_path: Path, certs: Path) -> None:
    # Checked when the address is resolved, before any connection (see test_tls_files.py); a file that goes
    # missing after that is still named when the client connects.
    (tmp_path / "ca.pem").write_bytes((certs / "ca.pem").read_bytes())
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        address = resolve(f"tcp://127.0.0.1:{port}", env={}, tls=TLSConfig(ca=str(tmp_path / "ca.pem")))
        (tmp_path / "ca.pem").unlink()
        probe(address)
        with pytest.raises(TransportError, match=r"reading the TLS files: No such file or directory: .*ca\.pem"):
            BuildkitClient(address)


def test_a_docker_engine_that_refuses_the_upgrade(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def answer() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    host = DockerHost(f"unix://{path}", "the Docker engine at X (from DOCKER_HOST)")
    with pytest.raises(TransportError, match=r"^the Docker engine at X \(from DOCKER_HOST\) refused POST /grpc: "):
        host.upgrade("/grpc")
    listener.close()


# -- docker-container:// through a stand-in `docker` that runs `buildctl dial-stdio` ------------

FAKE_DOCKER = """#!{python}
import os, socket, sys, threading
with open(os.environ["FAKE_DOCKER_LOG"], "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
if "nosuch" in sys.argv:
    sys.stderr.write("Error response from daemon: No such container: nosuch\\n")
    sys.exit(1)
if sys.argv[-1] == "--version":
    print("buildctl github.com/moby/buildkit v0.13.2")
    sys.exit(0)
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["FAKE_BUILDKITD"])
def up():
    while True:
        b = os.read(0, 65536)
        if not b:
            s.shutdown(socket.SHUT_WR)
            return
        s.sendall(b)
threading.Thread(target=up, daemon=True).start()
while True:
    b = s.recv(65536)
    if not b:
        break
    os.write(1, b)
"""


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path, Session]]:
    exe = tmp_path / "docker"
    exe.write_text(FAKE_DOCKER.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "argv.log"
    server = Session()  # any grpcio server on a unix socket will do; this one serves Health
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    monkeypatch.setenv("FAKE_BUILDKITD", server.path)
    yield str(exe), log, server
    server.close()


def test_docker_container_runs_buildctl_dial_stdio(fake_docker: tuple[str, Path, Session]) -> None:
    exe, log, _ = fake_docker
    address = resolve("docker-container://b0?context=remote", env={})
    assert container_argv(address) == ["docker", "--context", "remote", "exec", "-i", "b0", "buildctl", "dial-stdio"]
    check_container(address, exe)
    dialer = ContainerDialer(address, exe)
    relay = Relay(dialer, "dial-stdio")
    channel = grpc.insecure_channel(relay.address)
    try:
        for _ in range(2):  # a fresh helper per connection; the same channel keeps working
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        channel.close()
        relay.close()
    helper = dialer.last
    assert helper is not None
    helper.proc.wait(5)  # the relay's end closed: the helper ended and was reaped
    assert log.read_text().splitlines() == [
        "--context remote exec b0 buildctl --version",
        "--context remote exec -i b0 buildctl dial-stdio",
    ]


def test_docker_container_that_does_not_exist(fake_docker: tuple[str, Path, Session]) -> None:
    exe, _, _ = fake_docker
    with pytest.raises(TransportError) as e:
        check_container(resolve("docker-container://nosuch", env={}), exe)
    assert str(e.value).startswith("cannot reach BuildKit at docker-container://nosuch (from --addr): ")
    assert str(e.value).endswith("exited with 1: Error response from daemon: No such container: nosuch")


# -- kube-pod:// and ssh:// through stand-ins for kubectl and ssh ----------------------------------


def test_kube_pod_and_ssh_command_lines() -> None:
    pod = resolve("kube-pod://bk-0?namespace=ci&context=prod&container=buildkitd", env={})
    assert kube_pod_argv(pod) == [
        "kubectl", "--context", "prod", "exec", "-i", "-n", "ci", "bk-0", "-c", "buildkitd", "--", "buildctl",
        "dial-stdio",
    ]  # fmt: skip
    assert kube_pod_argv(resolve("kube-pod://bk-0", env={})) == [
        "kubectl",
        "exec",
        "-i",
        "bk-0",
        "--",
        "buildctl",
        "dial-stdio",
    ]
    assert ssh_argv(resolve("ssh://me@h:2222", env={})) == [
        "ssh", "-o", "ConnectTimeout=30", "-l", "me", "-p", "2222", "--", "h", "docker", "system", "dial-stdio",
    ]  # fmt: skip
    assert ssh_argv(resolve("ssh://h/run/user/1000/docker.sock", env={})) == [
        "ssh", "-o", "ConnectTimeout=30", "--", "h", "docker", "--host", "unix:///run/user/1000/docker.sock",
        "system", "dial-stdio",
    ]  # fmt: skip
    # A trailing slash names no socket; a socket path is quoted for the remote shell ssh runs it in.
    assert ssh_argv(resolve("ssh://h/", env={})) == [
        "ssh", "-o", "ConnectTimeout=30", "--", "h", "docker", "system", "dial-stdio",
    ]  # fmt: skip
    assert "'unix:///tmp/a b;x'" in ssh_argv(resolve("ssh://h/tmp/a%20b;x", env={}))


FAILING = """#!/bin/sh
echo "$0 $*" >> "{log}"
echo "{said}" >&2
exit {code}
"""


def _failing(tmp_path: Path, name: str, said: str, code: int) -> str:
    exe = tmp_path / name
    exe.write_text(FAILING.format(log=tmp_path / "argv.log", said=said, code=code))
    exe.chmod(0o755)
    return str(exe)


def test_an_ssh_host_that_cannot_be_reached_is_named_with_what_ssh_said(tmp_path: Path) -> None:
    said = "ssh: connect to host build-1 port 2222: Connection refused"
    exe = _failing(tmp_path, "ssh", said, 255)
    dialer = HelperDialer(resolve("ssh://me@build-1:2222", env={}), exe)
    with pytest.raises(TransportError) as e:
        check_ssh(dialer, timeout=10)
    assert str(e.value) == (
        f"cannot reach the Docker engine at ssh://me@build-1:2222 (from --addr): `{exe} -o ConnectTimeout=30 -l me "
        f"-p 2222 -- build-1 docker system dial-stdio`: exited with 255: {said}"
    )


def test_a_pod_that_cannot_be_reached_is_named_with_what_kubectl_said(tmp_path: Path) -> None:
    said = "Error from server (NotFound): pods 'bk-9' not found"
    exe = _failing(tmp_path, "kubectl", said, 1)
    with pytest.raises(TransportError) as e:
        check_kube_pod(resolve("kube-pod://bk-9?namespace=ci", env={}), exe)
    assert str(e.value).startswith("cannot reach BuildKit at kube-pod://bk-9?namespace=ci (from --addr): ")
    assert str(e.value).endswith(f"exited with 1: {said}")
    assert (tmp_path / "argv.log").read_text() == f"{exe} exec -n ci bk-9 -- buildctl --version\n"


def test_a_missing_helper_program_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    for url, program in (("ssh://h", "ssh"), ("kube-pod://p", "kubectl"), ("docker-container://c", "docker")):
        with pytest.raises(TransportError) as e:
            BuildkitClient(resolve(url, env={}))
        assert str(e.value).endswith(f"(from --addr): the {program} command is not on PATH")


# -- Control.Session framing against a loopback daemon ---------------------------------------


class LoopbackDaemon(control_pb2_grpc.ControlServicer):
    """Serves Control.Session like buildkitd: the pipe's far end is dialled as an HTTP/2 client."""

    def __init__(self, tmp: Path) -> None:
        self.listen_path = str(tmp / "daemon-side.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.listen_path)
        self._listener.listen(1)
        self.metadata: list[tuple[str, Any]] = []
        self.messages = 0
        self.ended = threading.Event()

    def Session(  # noqa: N802
        self, request_iterator: Iterator[control_pb2.BytesMessage], context: grpc.ServicerContext
    ) -> Iterator[control_pb2.BytesMessage]:
        self.metadata = [(k, v) for k, v in context.invocation_metadata()]
        conn, _ = self._listener.accept()

        def requests() -> None:  # the client's server frames -> our HTTP/2 client
            try:
                for msg in request_iterator:
                    self.messages += 1
                    conn.sendall(msg.data)
            except grpc.RpcError:
                pass
            finally:
                self.ended.set()

        threading.Thread(target=requests, daemon=True).start()
        while True:
            data = conn.recv(7)  # tiny chunks: the bytes are a pipe, not framed records
            if not data:
                return
            yield control_pb2.BytesMessage(data=data)


def test_control_session_carries_the_session(tmp_path: Path) -> None:
    daemon = LoopbackDaemon(tmp_path)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    control_pb2_grpc.add_ControlServicer_to_server(daemon, server)
    daemon_path = str(tmp_path / "buildkitd.sock")
    server.add_insecure_port(f"unix:{daemon_path}")
    server.start()
    client = BuildkitClient(resolve(f"unix://{daemon_path}", env={}))
    session = client.open_session()
    assert session is not None
    daemon_side = grpc.insecure_channel(f"unix:{daemon.listen_path}")
    try:
        health = health_pb2_grpc.HealthStub(daemon_side)
        for _ in range(3):
            reply = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert session.wait_ready(1)
        md = daemon.metadata
        assert ("x-docker-expose-session-uuid", session.id) in md
        assert ("x-docker-expose-session-sharedkey", session.shared_key) in md
        methods = [v for k, v in md if k == "x-docker-expose-session-grpc-method"]
        assert methods == session.methods and "/grpc.health.v1.Health/Check" in methods
        assert daemon.messages > 0
    finally:
        daemon_side.close()
        session.close()
        client.close()
    assert daemon.ended.wait(5)  # closing the session ended the Control.Session call
    server.stop(None)


def test_unreachable_relay_reason(tmp_path: Path) -> None:
    def dial() -> Any:
        raise TransportError(f"cannot reach X: connecting to {tmp_path}/gone.sock: No such file or directory")

    relay = Relay(dial)
    channel = grpc.insecure_channel(relay.address)
    try:
        with pytest.raises(grpc.RpcError):
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert relay.error is not None and "gone.sock" in str(relay.error)
    finally:
        channel.close()
        relay.close()
    assert not os.path.exists(relay.path)
