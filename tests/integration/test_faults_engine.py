"""Transports and faults on real engines: the shared engine through tcp:// (plain and TLS),
Ctrl-C cancelling running builds, unreachable daemons, and a private engine killed mid-solve.

The shared engine is never stopped: the kill test starts its own dockerd (own
data root, exec root, socket and pid file under /tmp, the same binaries as
scripts/engine) and kills only that one, by pid.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from conftest import Engine, PrivateEngine

from hlb._proto import control_pb2
from hlb.solver.client import BuildkitClient

ROOT = Path(__file__).resolve().parents[2]

# -- helpers -----------------------------------------------------------------------------------


def _unix_socket_of(engine: Engine) -> str:
    host = engine.env.get("DOCKER_HOST", "")
    assert host.startswith("unix://"), f"these tests proxy the engine's unix socket, not {host!r}"
    return host.removeprefix("unix://")


class Proxy:
    """A loopback TCP listener (127.0.0.1, random port) spliced to a unix socket; TLS if given a context."""

    def __init__(self, target: str, tls: ssl.SSLContext | None = None) -> None:
        self.target = target
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections = 0
        self.live: list[tuple[socket.socket, socket.socket, threading.Thread]] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()
            return
        self.connections += 1
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        up.connect(self.target)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=pump, args=(up, conn), daemon=True)
        t.start()
        self.live.append((conn, up, t))
        pump(conn, up)
        # Wake the other direction and wait for it before closing: a socket closed while another thread
        # still reads it frees its descriptor for reuse by whatever this process opens next (in one
        # run, a later test's http server), and that thread would then pump into the wrong connection.
        with contextlib.suppress(OSError):
            up.shutdown(socket.SHUT_RDWR)
        t.join()
        conn.close()
        up.close()

    def close(self) -> None:
        self.listener.close()
        for conn, up, t in list(self.live):
            for sock in (conn, up):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            t.join(10)


def build_file(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "build.hlb"
    f.write_text(text)
    return f


@dataclass
class Running:
    """An `hlb run` subprocess whose stderr is collected line by line."""

    proc: subprocess.Popen[str]
    lines: list[str]

    @classmethod
    def start(cls, env: dict[str, str], *args: str, cwd: Path) -> Running:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hlb", "run", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: list[str] = []

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.append(line)

        threading.Thread(target=read, daemon=True).start()
        return cls(proc, lines)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(re.findall(pattern, self.text)) < count:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"never saw {pattern!r} x{count} (exit {self.proc.poll()}):\n{self.text}")
            time.sleep(0.1)

    def finish(self, timeout: float) -> tuple[int, float]:
        start = time.monotonic()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"hlb run did not end within {timeout} s:\n{self.text}")
        time.sleep(0.2)  # the reader thread drains the rest of stderr
        return code, time.monotonic() - start


def builds_running(client: BuildkitClient, marker: str) -> list[str]:
    """Refs of the daemon's active builds whose steps mention `marker` (other engineers' builds run too)."""
    call = client.control.ListenBuildHistory(
        control_pb2.BuildHistoryRequest(ActiveOnly=True, EarlyExit=True), timeout=10
    )
    refs = [ev.record.Ref for ev in call if ev.record.Ref]
    ours = []
    for ref in refs:
        status = client.control.Status(control_pb2.StatusRequest(Ref=ref), timeout=3)
        try:
            for resp in status:
                if any(marker in v.name for v in resp.vertexes):
                    ours.append(ref)
                    break
        except grpc.RpcError:
            pass  # timed out (no vertex named so far) or the build ended meanwhile
        finally:
            status.cancel()
    return ours


# -- tcp:// docker engines -------------------------------------------------------------------------


def test_the_engine_through_tcp(engine: Engine, tmp_path: Path, nonce: str) -> None:
    proxy = Proxy(_unix_socket_of(engine))
    try:
        f = build_file(tmp_path, f'fs default() {{\n\timage "busybox:latest"\n\trun "echo over-tcp-{nonce}"\n}}\n')
        env = {**engine.env, "DOCKER_HOST": f"tcp://127.0.0.1:{proxy.port}"}
        done = subprocess.run(
            [sys.executable, "-m", "hlb", "run", str(f)], env=env, capture_output=True, text=True, timeout=180
        )
    finally:
        proxy.close()
    assert done.returncode == 0, done.stderr
    assert f"over-tcp-{nonce}" in done.stderr
    assert proxy.connections >= 2  # /grpc for the client and /session for the solve's session


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d: Path) -> None:
    """A self-signed CA, a server certificate for 127.0.0.1 and a client certificate, as DOCKER_CERT_PATH wants."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hlb-test-ca",
             "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=d)  # fmt: skip
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (d / "client.cnf").write_text("extendedKeyUsage=clientAuth\n")
    for name, ext in (("server", "ext.cnf"), ("client", "client.cnf")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-days", "1", "-extfile", ext, "-out", f"{name}.pem", cwd=d)  # fmt: skip
    shutil.copy(d / "client.pem", d / "cert.pem")
    shutil.copy(d / "client-key.pem", d / "key.pem")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI to make certificates")
def test_the_engine_through_tcp_with_tls(engine: Engine, tmp_path: Path, nonce: str) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    make_certs(certs)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs / "ca.pem"))
    ctx.load_cert_chain(certs / "server.pem", certs / "server-key.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS, as dockerd --tlsverify does
    proxy = Proxy(_unix_socket_of(engine), ctx)
    f = build_file(tmp_path, f'fs default() {{\n\timage "busybox:latest"\n\trun "echo over-tls-{nonce}"\n}}\n')
    env = {
        **engine.env,
        "DOCKER_HOST": f"tcp://127.0.0.1:{proxy.port}",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(certs),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "hlb", "run", str(f)], env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stderr
        assert f"over-tls-{nonce}" in done.stderr
        # A missing certificate file is named.
        (certs / "cert.pem").unlink()
        refused = subprocess.run(
            [sys.executable, "-m", "hlb", "run", str(f)], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        proxy.close()
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"cannot reach the Docker engine at tcp://127.0.0.1:{proxy.port} (from DOCKER_HOST)" in refused.stderr
    assert "cert.pem" in refused.stderr


# -- unreachable daemons -------------------------------------------------------------------------


def test_unreachable_daemons_are_one_paragraph(engine: Engine, tmp_path: Path) -> None:
    f = build_file(tmp_path, 'fs default() {\n\timage "busybox:latest"\n\trun "true"\n}\n')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    cases = [
        ({"BUILDKIT_HOST": f"unix://{tmp_path}/nothing.sock"}, "No such file or directory"),
        ({"BUILDKIT_HOST": f"tcp://127.0.0.1:{port}"}, "Connection refused"),
        ({"DOCKER_HOST": f"tcp://127.0.0.1:{port}"}, "Connection refused"),
    ]
    for extra, reason in cases:
        env = {k: v for k, v in engine.env.items() if k not in ("BUILDKIT_HOST", "DOCKER_HOST")} | extra
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "hlb", "run", str(f)], env=env, capture_output=True, text=True, timeout=30
        )
        took = time.monotonic() - start
        url = next(iter(extra.values()))
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith("hlb: error: cannot reach "), done.stderr
        assert f"at {url} (from {next(iter(extra))})" in done.stderr and reason in done.stderr
        assert "Traceback" not in done.stderr and "\n\n" not in done.stderr.strip()
        assert took < 10, took


def test_a_failure_whose_error_is_longer_than_16_kb_names_its_step(engine: Engine, tmp_path: Path, nonce: str) -> None:
    # The daemon's status trailer holds the whole error; grpcio's default 16 KB limit on received metadata used
    # to drop it ("Stream removed (received metadata size exceeds hard limit ...)", pointed at the function).
    # A 1,000-step graph met it the same way: the kernel's "mount options is too long" at step ~430 was lost.
    long = "x" * 20_000
    f = build_file(tmp_path, f'fs default() {{\n\timage "busybox:latest"\n\trun "false {nonce} {long}"\n}}\n')
    done = subprocess.run(
        [sys.executable, "-m", "hlb", "run", "--progress", "plain", str(f)],
        env=engine.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Stream removed" not in done.stderr and "metadata size" not in done.stderr
    assert f'build.hlb:3:2: error: process "/bin/sh -c false {nonce} {long}" did not complete successfully' in (
        done.stderr
    )


# -- Ctrl-C ---------------------------------------------------------------------------------------


def test_ctrl_c_cancels_the_build_on_the_daemon(engine: Engine, tmp_path: Path, nonce: str) -> None:
    marker = f"sleep 120 # {nonce}"
    f = build_file(tmp_path, f'fs default() {{\n\timage "busybox:latest"\n\trun "{marker}"\n}}\n')
    hlb = Running.start(engine.env, str(f), cwd=tmp_path)
    hlb.wait_for(re.escape(marker))
    client = engine.client()
    try:
        assert len(builds_running(client, nonce)) == 1
        hlb.proc.send_signal(signal.SIGINT)
        code, took = hlb.finish(timeout=10)
        assert code == 130, hlb.text
        assert hlb.text.rstrip().endswith("hlb: interrupted") and "Traceback" not in hlb.text
        assert took < 10
        assert builds_running(client, nonce) == []
    finally:
        client.close()


def test_ctrl_c_cancels_parallel_builds(engine: Engine, tmp_path: Path, nonce: str) -> None:
    f = build_file(
        tmp_path,
        "".join(
            f'fs {name}() {{\n\timage "busybox:latest"\n\trun "sleep 120 # {name}-{nonce}"\n}}\n'
            for name in ("slowa", "slowb")
        ),
    )
    hlb = Running.start(engine.env, "-t", "slowa,slowb", str(f), cwd=tmp_path)
    hlb.wait_for(rf"sleep 120 # slow[ab]-{nonce}", count=2)
    client = engine.client()
    try:
        assert len(builds_running(client, nonce)) == 2
        hlb.proc.send_signal(signal.SIGINT)
        code, took = hlb.finish(timeout=10)
        assert code == 130, hlb.text
        assert "hlb: interrupted" in hlb.text and "Traceback" not in hlb.text
        assert builds_running(client, nonce) == []
    finally:
        client.close()


# -- a private engine killed mid-solve --------------------------------------------------------------


def test_engine_killed_mid_solve(private_engine: PrivateEngine, tmp_path: Path, nonce: str) -> None:
    marker = f"sleep 60 # {nonce}"
    # `network "none"`: the step needs no network, so the private engine's bridge stays unused.
    f = build_file(
        tmp_path,
        f'fs default() {{\n\timage "busybox:latest"\n\trun "{marker}" with option {{\n\t\tnetwork "none"\n\t}}\n}}\n',
    )
    env = {k: v for k, v in os.environ.items() if k != "BUILDKIT_HOST"} | {"DOCKER_HOST": private_engine.docker_host}
    hlb = Running.start(env, str(f), cwd=tmp_path)
    hlb.wait_for(re.escape(marker))
    time.sleep(0.5)
    os.kill(private_engine.proc.pid, signal.SIGKILL)
    code, took = hlb.finish(timeout=30)
    text = hlb.text
    assert code == 1, text
    assert took < 20, took
    assert "Traceback" not in text
    # One diagnostic at the step that was running, naming the daemon.
    assert f"the daemon went away while running `/bin/sh -c '{marker}'`" in text
    assert f"cannot reach the Docker engine at {private_engine.docker_host} (from DOCKER_HOST)" in text
    assert "build.hlb:3:" in text and f'run "{marker}"' in text


# -- SIGTERM and SIGHUP: unwound like Ctrl-C --------------------------------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_cancel_the_build_like_ctrl_c(
    engine: Engine, tmp_path: Path, nonce: str, sig: signal.Signals, code: int
) -> None:
    marker = f"sleep 120 # {sig.name}-{nonce}"
    f = build_file(tmp_path, f'fs default() {{\n\timage "busybox:latest"\n\trun "{marker}"\n}}\n')
    hlb = Running.start(engine.env, str(f), cwd=tmp_path)
    hlb.wait_for(re.escape(marker))
    client = engine.client()
    try:
        hlb.proc.send_signal(sig)
        got, took = hlb.finish(timeout=10)
        assert got == code, hlb.text
        assert hlb.text.rstrip().endswith(f"hlb: terminated ({sig.name})") and "Traceback" not in hlb.text
        assert took < 10
        assert builds_running(client, nonce) == []
    finally:
        client.close()


def _processes_with(marker: str) -> list[int]:
    """Processes whose command line or environment holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
                if marker.encode() in seen:
                    found.append(int(entry.name))
    return found


def test_sigterm_while_a_local_run_runs_kills_its_whole_process_group(tmp_path: Path, nonce: str) -> None:
    marker = f"{nonce}-localrun"
    # `sh -c` forks: the sleep is a grandchild of hlb; it must not outlive hlb.
    f = build_file(
        tmp_path,
        f'fs default() {{\n\timage "busybox:latest"\n\tenv "X" localRun("HLB_MARK={marker} sleep 60; echo done")\n}}\n',
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "hlb", "compile", str(f)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while len(_processes_with(marker)) < 2:  # sh -c, and the sleep it forked
            assert time.monotonic() < deadline and proc.poll() is None, "the localRun never started"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert err.rstrip().endswith("hlb: terminated (SIGTERM)") and "Traceback" not in err
    time.sleep(0.2)
    assert _processes_with(marker) == []
