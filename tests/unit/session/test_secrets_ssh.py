"""Secrets and SSH forwarding served over real gRPC by a session, to a real ssh-agent and real sockets."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from hlb._proto import secrets_pb2, secrets_pb2_grpc, ssh_pb2, ssh_pb2_grpc
from hlb.session import Session
from hlb.session.secrets import MAX_SECRET_SIZE, SecretFiles
from hlb.session.sshforward import SSHForward

REQUEST_IDENTITIES = b"\x00\x00\x00\x01\x0b"  # SSH_AGENTC_REQUEST_IDENTITIES
REMOVE_ALL = b"\x00\x00\x00\x01\x13"  # SSH_AGENTC_REMOVE_ALL_IDENTITIES
AGENT_FAILURE = b"\x00\x00\x00\x01\x05"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path (unix socket paths are limited to 108 bytes)."""
    d = tempfile.mkdtemp(prefix="hlbt-")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


# -- secrets --------------------------------------------------------------------------


def test_secrets_are_served_by_id_and_read_at_request_time(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_bytes(b"first")
    big = tmp_path / "big"
    big.write_bytes(b"x" * (MAX_SECRET_SIZE + 1))
    files = {"sha256:a": str(f), "gone": str(tmp_path / "missing"), "big": str(big)}
    with Session([SecretFiles(files)]) as s, grpc.insecure_channel(f"unix:{s.path}") as ch:
        stub = secrets_pb2_grpc.SecretsStub(ch)
        assert stub.GetSecret(secrets_pb2.GetSecretRequest(ID="sha256:a"), timeout=10).data == b"first"
        f.write_bytes(b"second")
        assert stub.GetSecret(secrets_pb2.GetSecretRequest(ID="sha256:a"), timeout=10).data == b"second"
        with pytest.raises(grpc.RpcError) as e:
            stub.GetSecret(secrets_pb2.GetSecretRequest(ID="GIT_AUTH_TOKEN.example.com"), timeout=10)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND  # the daemon's "no such (optional) secret"
        with pytest.raises(grpc.RpcError) as e:
            stub.GetSecret(secrets_pb2.GetSecretRequest(ID="gone"), timeout=10)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "missing" in str(e.value.details())
        with pytest.raises(grpc.RpcError) as e:
            stub.GetSecret(secrets_pb2.GetSecretRequest(ID="big"), timeout=10)
        assert "larger than 500 KiB" in str(e.value.details()) and "xxx" not in str(e.value.details())


def test_an_environment_variable_is_served_by_id_and_read_at_request_time(tmp_path: Path) -> None:
    environ = {"TOKV": "from-env"}
    with (
        Session([SecretFiles({}, {"tok": "TOKV", "unset": "NOPE"}, environ)]) as s,
        grpc.insecure_channel(f"unix:{s.path}") as ch,
    ):
        stub = secrets_pb2_grpc.SecretsStub(ch)
        assert stub.GetSecret(secrets_pb2.GetSecretRequest(ID="tok"), timeout=10).data == b"from-env"
        environ["TOKV"] = "changed"
        assert stub.GetSecret(secrets_pb2.GetSecretRequest(ID="tok"), timeout=10).data == b"changed"
        with pytest.raises(grpc.RpcError) as e:
            stub.GetSecret(secrets_pb2.GetSecretRequest(ID="unset"), timeout=10)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND and "NOPE is not set" in str(e.value.details())
        environ["TOKV"] = "y" * (MAX_SECRET_SIZE + 1)
        with pytest.raises(grpc.RpcError) as e:
            stub.GetSecret(secrets_pb2.GetSecretRequest(ID="tok"), timeout=10)
        assert "larger than 500 KiB" in str(e.value.details()) and "yyy" not in str(e.value.details())


# -- ssh-agent forwarding -------------------------------------------------------------


def keygen(path: Path, passphrase: str = "") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True)
    return path


@pytest.fixture
def agent(short_dir: Path) -> Iterator[str]:
    """A real ssh-agent holding one key; yields its socket."""
    sock = str(short_dir / "agent.sock")
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            threading.Event().wait(0.02)
        key = keygen(short_dir / "id")
        subprocess.run(["ssh-add", "-q", str(key)], env={**os.environ, "SSH_AUTH_SOCK": sock}, check=True)
        yield sock
    finally:
        proc.terminate()
        proc.wait()


def forward(stub: ssh_pb2_grpc.SSHStub, ssh_id: str, *chunks: bytes) -> list[bytes]:
    """One ForwardAgent stream sending ``chunks`` then half-closing; the data that came back."""
    reqs = iter([ssh_pb2.BytesMessage(data=c) for c in chunks])
    return [m.data for m in stub.ForwardAgent(reqs, metadata=[("buildkit.ssh.id", ssh_id)], timeout=20)]


def identities_count(answer: bytes) -> int:
    assert answer[4] == 12, answer  # SSH_AGENT_IDENTITIES_ANSWER
    return int.from_bytes(answer[5:9], "big")


def session_stub(fwd: SSHForward) -> tuple[Session, grpc.Channel, ssh_pb2_grpc.SSHStub]:
    s = Session([fwd])
    ch = grpc.insecure_channel(f"unix:{s.path}")
    return s, ch, ssh_pb2_grpc.SSHStub(ch)


def test_forward_agent_relays_agent_protocol_to_ssh_auth_sock(agent: str) -> None:
    s, ch, stub = session_stub(SSHForward({"default": ()}, env={"SSH_AUTH_SOCK": agent}))
    with s, ch:
        stub.CheckAgent(ssh_pb2.CheckAgentRequest(ID=""), timeout=10)  # empty id means default
        # the request split across messages, as a byte pipe may deliver it
        answer = b"".join(forward(stub, "default", REQUEST_IDENTITIES[:2], REQUEST_IDENTITIES[2:]))
        assert identities_count(answer) == 1
        # read-only: removing keys is refused without reaching the agent
        answers = b"".join(forward(stub, "default", REMOVE_ALL + REQUEST_IDENTITIES))
        assert answers.startswith(AGENT_FAILURE) and identities_count(answers[len(AGENT_FAILURE) :]) == 1


def test_unknown_ids_and_an_unset_agent_are_errors(agent: str) -> None:
    s, ch, stub = session_stub(SSHForward({"default": ()}, env={}))
    with s, ch:
        with pytest.raises(grpc.RpcError) as e:
            stub.CheckAgent(ssh_pb2.CheckAgentRequest(ID="other"), timeout=10)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as e:
            stub.CheckAgent(ssh_pb2.CheckAgentRequest(ID="default"), timeout=10)
        assert str(e.value.details()).startswith(
            "ssh default: SSH_AUTH_SOCK is not set: pass `hlb run --ssh default=SOCKET|KEY`"
        )  # the flag first: the build names neither a socket nor a key


def agents_serving(directory_prefix: str) -> list[int]:
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"ssh-agent") and any(directory_prefix.encode() in a for a in cmd):
                pids.append(int(pid))
    return pids


def test_private_keys_get_a_private_agent_stopped_with_the_session(short_dir: Path) -> None:
    k1, k2 = keygen(short_dir / "k1"), keygen(short_dir / "k2")
    k1.chmod(0o644)  # ssh-add's permission check does not apply: the key goes through stdin
    fwd = SSHForward({"keys": (str(k1), str(k2))}, env={})
    s, ch, stub = session_stub(fwd)
    with s, ch:
        stub.CheckAgent(ssh_pb2.CheckAgentRequest(ID="keys"), timeout=20)
        assert identities_count(b"".join(forward(stub, "keys", REQUEST_IDENTITIES))) == 2
        agent_path = fwd.target("keys").address
        assert len(agents_serving(agent_path)) == 1
    assert agents_serving(agent_path) == [] and not os.path.exists(agent_path)


def test_a_key_with_a_passphrase_fails_clearly_without_prompting(short_dir: Path) -> None:
    key = keygen(short_dir / "locked", passphrase="secret phrase")
    s, ch, stub = session_stub(SSHForward({"k": (str(key),)}, env={}))
    with s, ch:
        with pytest.raises(grpc.RpcError) as e:
            stub.CheckAgent(ssh_pb2.CheckAgentRequest(ID="k"), timeout=30)
        assert f"cannot add private key {key}" in str(e.value.details())


def test_sockets_and_keys_do_not_mix(agent: str, short_dir: Path) -> None:
    key = keygen(short_dir / "k")
    fwd = SSHForward({"mixed": (agent, str(key)), "dir": (str(short_dir),)}, env={})
    s, ch, stub = session_stub(fwd)
    with s, ch:
        for ssh_id, why in [("mixed", "not both"), ("dir", "neither an ssh agent socket nor a private key")]:
            with pytest.raises(grpc.RpcError) as e:
                stub.CheckAgent(ssh_pb2.CheckAgentRequest(ID=ssh_id), timeout=10)
            assert why in str(e.value.details())


# -- raw forwarded sockets ------------------------------------------------------------


def echo_server(sock: socket.socket) -> threading.Thread:
    """Serves one connection: reads until the peer half-closes, then answers ``echo:<all it read>``."""

    def serve() -> None:
        conn, _ = sock.accept()
        with conn:
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
            conn.sendall(b"echo:" + data)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_forward_relays_raw_bytes_to_a_unix_socket_with_half_close(short_dir: Path) -> None:
    path = str(short_dir / "echo.sock")
    with socket.socket(socket.AF_UNIX) as srv:
        srv.bind(path)
        srv.listen()
        t = echo_server(srv)
        s, ch, stub = session_stub(SSHForward({"fwd": (f"unix://{path}",)}))
        with s, ch:
            stub.CheckAgent(ssh_pb2.CheckAgentRequest(ID="fwd"), timeout=10)
            payload = os.urandom(200_000)  # not the agent protocol: relayed as it is
            assert b"".join(forward(stub, "fwd", payload[:70_000], payload[70_000:])) == b"echo:" + payload
        t.join(5)


def test_forward_relays_raw_bytes_to_a_tcp_address() -> None:
    with socket.socket(socket.AF_INET) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        t = echo_server(srv)
        port = srv.getsockname()[1]
        s, ch, stub = session_stub(SSHForward({"t": (f"tcp://127.0.0.1:{port}",)}))
        with s, ch:
            assert b"".join(forward(stub, "t", b"hello")) == b"echo:hello"
        t.join(5)


def test_forwarding_to_nothing_fails_the_stream(short_dir: Path) -> None:
    s, ch, stub = session_stub(SSHForward({"fwd": (f"unix://{short_dir}/none.sock",)}))
    with s, ch:
        with pytest.raises(grpc.RpcError) as e:
            forward(stub, "fwd", b"x")
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "none.sock" in str(e.value.details())
