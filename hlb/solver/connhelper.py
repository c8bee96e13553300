"""Connection helpers: a process whose stdin/stdout is the connection to BuildKit.

``docker-container://NAME`` runs ``docker [--context CTX] exec -i NAME buildctl
dial-stdio``, which splices its stdio to the buildkitd socket inside the
container; the bytes are plain HTTP/2 gRPC. The process gets one end of a
socket pair as both stdin and stdout, so no thread copies through pipes; the
other end is what the relay splices to grpcio. Its stderr is kept (the last
lines) to explain a connection that ends at once, e.g. "No such container".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Sequence

from hlb.address import Address
from hlb.transport import TransportError, Upgraded

_KEEP_STDERR = 4096


def container_argv(address: Address, docker: str = "docker") -> list[str]:
    """The command line buildctl's connhelper runs for ``docker-container://NAME[?context=CTX]``."""
    name, context = address.container
    argv = [docker]
    if context:
        argv += ["--context", context]
    return [*argv, "exec", "-i", name, "buildctl", "dial-stdio"]


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


class ContainerDialer:
    """A relay dial function: each call starts a fresh ``buildctl dial-stdio`` helper."""

    def __init__(self, address: Address, docker: str | None = None) -> None:
        exe = docker or shutil.which("docker") or ""
        self.what = address.describe()
        if not exe or not os.access(exe, os.X_OK):
            raise TransportError(f"cannot reach {self.what}: the docker CLI is not on PATH")
        self.argv = container_argv(address, exe)
        self.last: Helper | None = None

    def __call__(self) -> Upgraded:
        helper = self.last = Helper(self.argv, self.what)
        return Upgraded(helper.sock, b"", helper.stop)

    def reason(self) -> str | None:
        """What the last helper said on stderr, if anything (e.g. why it could not connect)."""
        return self.last.stderr or None if self.last is not None else None


def check_container(address: Address, docker: str | None = None, timeout: float = 15.0) -> None:
    """Fail fast when the helper cannot start (no such container, no buildctl in it)."""
    exe = docker or shutil.which("docker") or "docker"
    name, context = address.container
    argv = [exe, *(["--context", context] if context else []), "exec", name, "buildctl", "--version"]
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
