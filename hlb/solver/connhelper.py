"""Connection helpers: a process whose stdin/stdout is the connection to BuildKit.

``docker-container://NAME`` runs ``docker [--context CTX] exec -i NAME buildctl
dial-stdio``, which splices its stdio to the buildkitd socket inside the
container; the bytes are plain HTTP/2 gRPC. ``kube-pod://POD`` runs the same
``buildctl dial-stdio`` in a pod through ``kubectl exec``. ``ssh://USER@HOST``
runs ``docker system dial-stdio`` on that host: the Docker engine's API, as the
docker CLI reaches an ``ssh://`` DOCKER_HOST; hlb then upgrades it to BuildKit's
gRPC (``POST /grpc``) as it does a local engine. The process gets one end of a
socket pair as both stdin and stdout, so no thread copies through pipes; the
other end is what the relay splices to grpcio. Its stderr is kept (the last
lines) to explain a connection that ends at once, e.g. "No such container".
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence

from hlb.address import Address
from hlb.transport import DockerHost, TransportError, Upgraded

_KEEP_STDERR = 4096


def container_argv(address: Address, docker: str = "docker") -> list[str]:
    """The command line buildctl's connhelper runs for ``docker-container://NAME[?context=CTX]``."""
    name, context = address.container
    argv = [docker]
    if context:
        argv += ["--context", context]
    return [*argv, "exec", "-i", name, "buildctl", "dial-stdio"]


def kube_pod_argv(address: Address, kubectl: str = "kubectl") -> list[str]:
    """The command line for ``kube-pod://POD?namespace=NS&context=CTX&container=C``."""
    k = address.kube_pod
    argv = [kubectl, *(["--context", k.context] if k.context else []), "exec", "-i"]
    argv += ["-n", k.namespace] if k.namespace else []
    argv += [k.pod, *(["-c", k.container] if k.container else [])]
    return [*argv, "--", "buildctl", "dial-stdio"]


def ssh_argv(address: Address, ssh: str = "ssh") -> list[str]:
    """The command line for ``ssh://[USER@]HOST[:PORT][/SOCKET]``, as the docker CLI runs it."""
    h = address.ssh
    argv = [ssh, "-o", "ConnectTimeout=30", *(["-l", h.user] if h.user else [])]
    argv += ["-p", str(h.port)] if h.port else []
    return [
        *argv,
        "--",
        h.host,
        "docker",
        *(["--host", shlex.quote(f"unix://{h.socket}")] if h.socket else []),  # ssh runs it in the remote shell
        "system",
        "dial-stdio",
    ]


def helper_argv(address: Address, exe: str | None = None) -> list[str]:
    """The helper command line for a ``docker-container://``, ``kube-pod://`` or ``ssh://`` address;
    ``exe`` is the program (found on PATH when None), whose absence is a :class:`TransportError`."""
    program, argv_of = _HELPERS[address.scheme]
    exe = exe or shutil.which(program) or ""
    if not exe or not os.access(exe, os.X_OK):
        raise TransportError(f"cannot reach {address.describe()}: the {program} command is not on PATH")
    return argv_of(address, exe)


class Helper:
    """One running helper process and our end of its socket pair."""

    def __init__(self, argv: Sequence[str], what: str) -> None:
        self.argv = list(argv)
        self.what = what
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=theirs.fileno(),
                stdout=theirs.fileno(),
                stderr=subprocess.PIPE,
                start_new_session=True,  # a Ctrl-C on the terminal is ours to handle, not the helper's
            )
        except OSError as e:
            ours.close()
            raise TransportError(f"cannot reach {what}: running {self.argv[0]}: {e.strerror or e}") from e
        finally:
            theirs.close()
        self.sock = ours
        self._stderr = bytearray()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True, name="hlb-connhelper")
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        with contextlib.suppress(OSError):
            for chunk in iter(lambda: os.read(fd, 4096), b""):
                self._stderr += chunk
                del self._stderr[:-_KEEP_STDERR]
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self.proc.wait(5.0)  # its stderr ended with it: reap it, whoever holds its socket

    @property
    def stderr(self) -> str:
        return " ".join(self._stderr.decode("utf-8", "replace").split())

    def stop(self) -> None:
        """End the process (it may already have ended) and reap it."""
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.terminate()
            try:
                self.proc.wait(2.0)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    self.proc.kill()
                self.proc.wait(2.0)
        self._reader.join(1.0)


class HelperDialer:
    """A relay dial function: each call starts a fresh helper (``buildctl dial-stdio``, ``docker system
    dial-stdio`` over ssh); ``exe`` is its program (docker, kubectl, ssh; found on PATH when None)."""

    def __init__(self, address: Address, exe: str | None = None) -> None:
        self.what = address.describe()
        self.argv = helper_argv(address, exe)
        self.last: Helper | None = None

    def __call__(self) -> Upgraded:
        helper = self.last = Helper(self.argv, self.what)
        return Upgraded(helper.sock, b"", helper.stop)

    def socket(self) -> socket.socket:
        """A fresh helper's socket (:class:`~hlb.transport.DockerHost` ``dial``); the helper ends when it closes."""
        return self().sock

    def reason(self) -> str | None:
        """What the last helper said on stderr, if anything (e.g. why it could not connect)."""
        return self.last.stderr or None if self.last is not None else None


ContainerDialer = HelperDialer  # docker-container://, the first helper


def check_container(address: Address, docker: str | None = None, timeout: float = 15.0) -> None:
    """Fail fast when the helper cannot start (no such container, no buildctl in it)."""
    exe = docker or shutil.which("docker") or "docker"
    name, context = address.container
    argv = [exe, *(["--context", context] if context else []), "exec", name, "buildctl", "--version"]
    _check(argv, address, timeout)


def check_kube_pod(address: Address, kubectl: str | None = None, timeout: float = 30.0) -> None:
    """Fail fast when ``kubectl exec`` cannot run buildctl in the pod (no such pod, no context, no buildctl)."""
    argv = kube_pod_argv(address, kubectl or shutil.which("kubectl") or "kubectl")
    argv = [a for a in argv if a != "-i"][:-1] + ["--version"]  # `buildctl --version`, no stdin
    _check(argv, address, timeout)


def check_ssh(dialer: HelperDialer, timeout: float = 40.0) -> None:
    """Fail fast when the Docker engine over ssh does not answer ``GET /_ping`` (ssh cannot connect or
    log in, no docker on the host); the message has the command and what it said on stderr."""
    up = dialer()
    helper = dialer.last
    data = b""
    try:
        up.sock.settimeout(timeout)
        up.sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = up.sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        data = b""
        if isinstance(e, TimeoutError):
            data = b"timeout"
    finally:
        if up.on_close is not None:
            up.on_close()
    status = data.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    if status.startswith("HTTP/") and " 200" in status:
        return
    command = " ".join(dialer.argv)
    if data == b"timeout":
        said = f"no answer in {timeout:.0f}s"
    elif status:
        said = f"it answered {status!r}"
    else:
        code = helper.proc.returncode if helper is not None else None
        said = f"exited with {code}" if code is not None else "it closed the connection"
        if helper is not None and helper.stderr:
            said += f": {helper.stderr}"
    raise TransportError(f"cannot reach {dialer.what}: `{command}`: {said}")


def _check(argv: list[str], address: Address, timeout: float) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise TransportError(f"cannot reach {address.describe()}: `{' '.join(argv)}`: {e}") from e
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split())
        raise TransportError(
            f"cannot reach {address.describe()}: `{' '.join(argv)}` exited with {done.returncode}"
            + (f": {said}" if said else "")
        )


# scheme -> (the program, its command line)
_HELPERS: dict[str, tuple[str, Callable[[Address, str], list[str]]]] = {
    "docker-container": ("docker", container_argv),
    "kube-pod": ("kubectl", kube_pod_argv),
    "ssh": ("ssh", ssh_argv),
}


def docker_api(address: Address) -> tuple[DockerHost, HelperDialer | None]:
    """The API of the Docker engine at a Docker address, and for ``ssh://`` the helper that dials it (``ssh HOST
    docker system dial-stdio`` per connection; its reason explains a failure); nothing is dialled yet."""
    if address.scheme == "ssh":
        dialer = HelperDialer(address)
        return DockerHost(address.url, address.describe(), dial=dialer.socket), dialer
    return DockerHost.of(address), None


def check_docker_api(host: DockerHost, dialer: HelperDialer | None) -> None:
    """Fail fast, naming the engine and where its address came from, when it does not answer: over ssh a
    ``GET /_ping`` (:func:`check_ssh`), else a connection to its socket."""
    if dialer is not None:
        check_ssh(dialer)
    else:
        host.connect(timeout=5.0).close()
