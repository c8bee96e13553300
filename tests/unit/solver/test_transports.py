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
from hlb.address import AddressError, TLSConfig, resolve
from hlb.session import Session
from hlb.solver.client import BuildkitClient
from hlb.solver.connhelper import ContainerDialer, check_container, container_argv
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
]


@pytest.mark.parametrize(("flag", "kind", "url"), VALID, ids=[v[0] for v in VALID])
def test_addresses(flag: str, kind: str, url: str) -> None:
    address = resolve(flag, env={"DOCKER_HOST": "unix:///d.sock"})
    assert (address.kind, address.url, address.source.split()[0]) == (kind, url, "--addr")


def test_address_parts() -> None:
    assert resolve("unix://rel/b.sock", env={}).socket_path == "rel/b.sock"
    assert resolve("tcp://example.com:1234", env={}).host_port == ("example.com", 1234)
    assert resolve("docker-container://b0?context=remote", env={}).container == ("b0", "remote")
    assert resolve(env={"DOCKER_HOST": "tcp://h"}).host_port == ("h", 2375)
    assert resolve(env={"BUILDKIT_HOST": "tcp://h:1"}).describe() == "BuildKit at tcp://h:1 (from BUILDKIT_HOST)"


ERRORS = [
    ("ssh://me@host", {}, None, "unsupported address scheme `ssh://` in ssh://me@host (from --addr)"),
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
    (None, {"BUILDKIT_HOST": "kube-pod://p"}, None, "`kube-pod://` in kube-pod://p (from BUILDKIT_HOST)"),
]


@pytest.mark.parametrize(("flag", "env", "tls", "message"), ERRORS, ids=[e[3][:40] for e in ERRORS])
def test_address_errors(flag: str | None, env: dict[str, str], tls: TLSConfig | None, message: str) -> None:
    with pytest.raises(AddressError) as e:
        resolve(flag, env=env, tls=tls)
    assert message in str(e.value)


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
