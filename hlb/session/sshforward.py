"""SSH agents and forwarded sockets for the daemon: ``/moby.sshforward.v1.SSH``.

Each ssh id of a solve names one source:

* no paths: the agent behind ``$SSH_AUTH_SOCK``;
* one agent socket path: that agent;
* private key files: a private ``ssh-agent`` this session starts on first use,
  with the keys added through ``ssh-add -`` (no terminal, no askpass: a key
  with a passphrase fails with ssh-add's message), stopped with the session;
* one ``unix:///abs/path`` or ``tcp://host:port`` URL (the ``forward`` option):
  a raw byte pipe to that socket.

The daemon opens one ``ForwardAgent`` stream per connection a build container
makes to its socket, naming the id in the metadata ``buildkit.ssh.id``. Agent
streams are read-only, as BuildKit's client makes them: only the requests for
identities and signatures reach the agent; adding or removing keys, locking
and extensions are answered with SSH_AGENT_FAILURE. Raw streams relay bytes
both ways and pass a half-close on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import grpc

from hlb._proto import ssh_pb2, ssh_pb2_grpc

DEFAULT_ID = "default"
ID_METADATA = "buildkit.ssh.id"
CHUNK = 32 * 1024
AGENT_MAX_FRAME = 256 * 1024  # OpenSSH's limit on one agent message
MAX_KEY_SIZE = 100 * 1024
AGENT_TIMEOUT = 10.0
# SSH_AGENTC_REQUEST_IDENTITIES and SSH_AGENTC_SIGN_REQUEST (draft-miller-ssh-agent)
READ_ONLY_REQUESTS = frozenset({11, 13})
AGENT_FAILURE = b"\x00\x00\x00\x01\x05"


class SSHError(Exception):
    """An ssh id cannot be served; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where one ssh id's connections go: an agent (filtered) or a raw socket."""

    family: int  # socket.AF_UNIX or socket.AF_INET/AF_INET6 (resolved at dial time)
    address: str  # a socket path, or the host of a TCP address
    port: int = 0
    agent: bool = True

    def dial(self) -> socket.socket:
        try:
            if self.family == socket.AF_UNIX:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(AGENT_TIMEOUT)
                s.connect(self.address)
            else:
                s = socket.create_connection((self.address, self.port), timeout=AGENT_TIMEOUT)
        except OSError as e:
            raise SSHError(f"cannot connect to {self}: {e.strerror or e}") from None
        s.settimeout(None)
        return s

    def __str__(self) -> str:
        if self.family == socket.AF_UNIX:
            return self.address if self.agent else f"unix://{self.address}"
        return f"tcp://{self.address}:{self.port}"


class PrivateAgent:
    """An ``ssh-agent`` of our own holding the given private keys, on a socket in a private directory."""

    def __init__(self, keys: Sequence[str], timeout: float = AGENT_TIMEOUT) -> None:
        exe, add = shutil.which("ssh-agent"), shutil.which("ssh-add")
        if exe is None or add is None:
            raise SSHError("serving private keys needs ssh-agent and ssh-add (OpenSSH) on PATH")
        self._dir = tempfile.mkdtemp(prefix="hlb-ssh-")
        os.chmod(self._dir, 0o700)
        self.path = os.path.join(self._dir, "agent.sock")
        self.proc = subprocess.Popen(
            [exe, "-D", "-a", self.path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            self._wait_socket(timeout)
            for key in keys:
                self._add(add, key, timeout)
        except BaseException:
            self.close()
            raise

    def _wait_socket(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.path):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode("utf-8", "replace").strip() if self.proc.stderr else ""
                raise SSHError(f"ssh-agent exited with status {self.proc.returncode}: {err}")
            if time.monotonic() > deadline:
                raise SSHError(f"ssh-agent did not create its socket in {timeout:g}s")
            time.sleep(0.02)

    def _add(self, add: str, key: str, timeout: float) -> None:
        try:
            with open(key, "rb") as f:
                data = f.read(MAX_KEY_SIZE + 1)
        except OSError as e:
            raise SSHError(f"cannot read private key {key}: {e.strerror or e}") from None
        if len(data) > MAX_KEY_SIZE:
            raise SSHError(f"{key} is not a private key (larger than {MAX_KEY_SIZE // 1024} KiB)")
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "SSH_ASKPASS", "SSH_AUTH_SOCK")}
        env.update(SSH_AUTH_SOCK=self.path, SSH_ASKPASS_REQUIRE="never")
        try:
            proc = subprocess.run(
                [add, "-q", "-"],
                input=data,
                capture_output=True,
                env=env,
                timeout=timeout,
                start_new_session=True,  # no terminal to ask a passphrase on
            )
        except subprocess.TimeoutExpired:
            raise SSHError(f"ssh-add did not add {key} in {timeout:g}s") from None
        if proc.returncode != 0:
            why = proc.stderr.decode("utf-8", "replace").strip().replace("(stdin)", key)
            raise SSHError(f"cannot add private key {key} to an ssh agent: {why or 'ssh-add failed'}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def parse_source(paths: Sequence[str], env: Mapping[str, str]) -> tuple[Target | None, tuple[str, ...]]:
    """(a target, ()) for a socket or URL, or (None, keys) for private key files."""
    if len(paths) == 1 and paths[0].startswith(("unix://", "tcp://")):
        return _url_target(paths[0]), ()
    if not paths:
        sock = env.get("SSH_AUTH_SOCK", "")
        if not sock:
            raise SSHError(
                "SSH_AUTH_SOCK is not set: pass `hlb run --ssh default=SOCKET|KEY` (an agent socket or a private "
                "key file), start an ssh-agent (`eval $(ssh-agent)`, `ssh-add`), or name a socket or key in the "
                "build with localPaths"
            )
        paths = (sock,)
    socket_path, keys = "", []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError as e:
            raise SSHError(f"cannot use {p} as an ssh agent or key: {e.strerror or e}") from None
        if stat.S_ISSOCK(st.st_mode):
            if socket_path or len(paths) > 1:
                raise SSHError("an ssh id is either one agent socket or private keys, not both or several sockets")
            socket_path = p
        elif stat.S_ISREG(st.st_mode):
            keys.append(p)
        else:
            raise SSHError(f"{p} is neither an ssh agent socket nor a private key file")
    if socket_path:
        return Target(socket.AF_UNIX, socket_path), ()
    return None, tuple(keys)


def _url_target(url: str) -> Target:
    if url.startswith("unix://"):
        return Target(socket.AF_UNIX, url[len("unix://") :], agent=False)
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise SSHError(f"{url} is not a tcp://host:port address")
    return Target(socket.AF_INET, parts.hostname, port, agent=False)


class SSHForward(ssh_pb2_grpc.SSHServicer):
    """The SSH service of a session: ``{ssh id: paths}`` (see the module doc for what paths mean)."""

    def __init__(self, sockets: Mapping[str, Sequence[str]], env: Mapping[str, str] | None = None) -> None:
        self.sockets = {k: tuple(v) for k, v in sockets.items()}
        self.env = dict(os.environ if env is None else env)
        self._targets: dict[str, Target | SSHError] = {}
        self._agents: list[PrivateAgent] = []
        self._lock = threading.Lock()
        self._closed = False

    def methods(self) -> Sequence[str]:
        return ["/moby.sshforward.v1.SSH/CheckAgent", "/moby.sshforward.v1.SSH/ForwardAgent"]

    def register(self, server: grpc.Server) -> None:
        ssh_pb2_grpc.add_SSHServicer_to_server(self, server)

    def target(self, ssh_id: str) -> Target:
        """Where ``ssh_id``'s connections go (starting its private agent on first use)."""
        ssh_id = ssh_id or DEFAULT_ID
        if ssh_id not in self.sockets:
            raise KeyError(ssh_id)
        with self._lock:
            found = self._targets.get(ssh_id)
            if found is None:
                found = self._targets[ssh_id] = self._resolve(ssh_id)
        if isinstance(found, SSHError):
            raise found
        return found

    def _resolve(self, ssh_id: str) -> Target | SSHError:
        if self._closed:
            return SSHError("the session is closed")
        try:
            target, keys = parse_source(self.sockets[ssh_id], self.env)
            if target is not None:
                return target
            agent = PrivateAgent(keys)
        except SSHError as e:
            return e
        self._agents.append(agent)
        return Target(socket.AF_UNIX, agent.path)

    def close(self) -> None:
        """Stop the private agents started for this session."""
        with self._lock:
            self._closed = True
            agents, self._agents = self._agents, []
        for a in agents:
            a.close()

    def CheckAgent(
        self, request: ssh_pb2.CheckAgentRequest, context: grpc.ServicerContext
    ) -> ssh_pb2.CheckAgentResponse:
        self._target_or_abort(request.ID, context)
        return ssh_pb2.CheckAgentResponse()

    def ForwardAgent(
        self, request_iterator: Iterator[ssh_pb2.BytesMessage], context: grpc.ServicerContext
    ) -> Iterator[ssh_pb2.BytesMessage]:
        found = next((v for k, v in context.invocation_metadata() if k == ID_METADATA and v), DEFAULT_ID)
        ssh_id = found.decode() if isinstance(found, bytes) else found
        target = self._target_or_abort(ssh_id, context)
        try:
            conn = target.dial()
        except SSHError as e:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"ssh {ssh_id}: {e}")
        context.add_callback(lambda: _shutdown(conn))
        try:
            relay = agent_relay if target.agent else raw_relay
            for data in relay(request_iterator, conn):
                yield ssh_pb2.BytesMessage(data=data)
        finally:
            _shutdown(conn)
            conn.close()

    def _target_or_abort(self, ssh_id: str, context: grpc.ServicerContext) -> Target:
        try:
            return self.target(ssh_id)
        except KeyError:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown ssh id {ssh_id or DEFAULT_ID}")
        except SSHError as e:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"ssh {ssh_id or DEFAULT_ID}: {e}")


def agent_relay(requests: Iterator[ssh_pb2.BytesMessage], conn: socket.socket) -> Iterator[bytes]:
    """Pass read-only agent requests to ``conn`` one at a time, yielding each answer; refuse the others."""
    buf = bytearray()
    for msg in requests:
        buf += msg.data
        while len(buf) >= 4:
            size = int.from_bytes(buf[:4], "big")
            if size == 0 or size > AGENT_MAX_FRAME:
                return  # not the agent protocol: end the connection, as an agent would
            if len(buf) < 4 + size:
                break
            frame = bytes(buf[: 4 + size])
            del buf[: 4 + size]
            if frame[4] not in READ_ONLY_REQUESTS:
                yield AGENT_FAILURE
                continue
            conn.sendall(frame)
            answer = _read_frame(conn)
            if answer is None:
                return
            yield answer


def _read_frame(conn: socket.socket) -> bytes | None:
    head = _read_exact(conn, 4)
    if head is None:
        return None
    size = int.from_bytes(head, "big")
    if size > AGENT_MAX_FRAME:
        return None
    body = _read_exact(conn, size)
    return None if body is None else head + body


def _read_exact(conn: socket.socket, n: int) -> bytes | None:
    out = bytearray()
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        if not chunk:
            return None
        out += chunk
    return bytes(out)


def raw_relay(requests: Iterator[ssh_pb2.BytesMessage], conn: socket.socket) -> Iterator[bytes]:
    """Bytes from ``requests`` to ``conn`` (on a thread) and from ``conn`` back, until ``conn`` ends."""

    def pump() -> None:
        try:
            for msg in requests:
                if msg.data:
                    conn.sendall(msg.data)
            conn.shutdown(socket.SHUT_WR)  # the container closed its side: pass the half-close on
        except (OSError, grpc.RpcError, ValueError):
            _shutdown(conn)

    t = threading.Thread(target=pump, name="hlb-ssh-relay", daemon=True)
    t.start()
    while True:
        try:
            data = conn.recv(CHUNK)
        except OSError:
            break
        if not data:
            break
        yield data


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
