"""A small synchronous LSP client: ``python -m hlb langserver`` as a subprocess, JSON-RPC over its stdio.

Requests wait for their response; notifications the server sends meanwhile are kept (the diagnostics
by document), and requests from the server (configuration, registration) are answered with null.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


class LspError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", error))
        self.error = error


class Client:
    def __init__(self, *argv: str, cwd: Path | None = None) -> None:
        cmd = [sys.executable, "-m", "hlb", "langserver", *argv]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd or ROOT, env=env
        )
        self.next_id = 0
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.diagnostics: dict[str, list[dict[str, Any]]] = {}
        self.published: dict[str, int] = {}  # uri -> how many times diagnostics were published
        self.cond = threading.Condition()
        self.messages: list[dict[str, Any]] = []
        self.server_requests: list[dict[str, Any]] = []  # requests from the server (answered with null)
        self.capabilities: dict[str, Any] = {}
        threading.Thread(target=self._read, daemon=True).start()

    # -- transport ----------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    self.inbox.put({"eof": True})
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert length is not None
            msg = json.loads(out.read(length))
            if msg.get("method") == "textDocument/publishDiagnostics":
                with self.cond:
                    uri = msg["params"]["uri"]
                    self.diagnostics[uri] = msg["params"]["diagnostics"]
                    self.published[uri] = self.published.get(uri, 0) + 1
                    self.cond.notify_all()
            elif "method" in msg and "id" not in msg:
                self.messages.append(msg)  # window/logMessage, window/showMessage...
            elif "method" in msg:
                with self.cond:
                    self.server_requests.append(msg)
                    self.cond.notify_all()
                self._send({"id": msg["id"], "result": None})
            elif "id" in msg:
                self.inbox.put(msg)

    def request(self, method: str, params: Any, timeout: float = 30) -> Any:
        self.next_id += 1
        self._send({"id": self.next_id, "method": method, "params": params})
        while True:
            msg = self.inbox.get(timeout=timeout)
            if msg.get("eof"):
                raise EOFError(self.stderr())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise LspError(msg["error"])
                return msg.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def stderr(self) -> str:
        self.proc.kill()
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")

    # -- the protocol ---------------------------------------------------------------------

    def initialize(self, root: Path, capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        result = self.request(
            "initialize",
            {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": capabilities or {}},
        )
        self.notify("initialized", {})
        self.capabilities = result["capabilities"]
        return result  # type: ignore[no-any-return]

    def shutdown(self) -> int:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            return self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def open(self, path: Path, text: str, version: int = 1) -> dict[str, Any]:
        uri = path.as_uri()
        return self._await_diagnostics(
            uri,
            lambda: self.notify(
                "textDocument/didOpen",
                {"textDocument": {"uri": uri, "languageId": "hlb", "version": version, "text": text}},
            ),
        )

    def change(self, path: Path, version: int, changes: list[dict[str, Any]]) -> dict[str, Any]:
        uri = path.as_uri()
        return self._await_diagnostics(
            uri,
            lambda: self.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": version}, "contentChanges": changes},
            ),
        )

    def save(self, path: Path) -> Any:
        uri = path.as_uri()
        return self._await_diagnostics(uri, lambda: self.notify("textDocument/didSave", {"textDocument": {"uri": uri}}))

    def _await_diagnostics(self, uri: str, send: Any, timeout: float = 30) -> Any:
        with self.cond:
            before = self.published.get(uri, 0)
        send()
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.published.get(uri, 0) == before:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no diagnostics for {uri}; the server said {self.messages}")
                self.cond.wait(left)
            return self.diagnostics[uri]

    def wait_published(self, uri: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        """The diagnostics of ``uri`` once they were published ``count`` times in all."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.published.get(uri, 0) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"diagnostics for {uri} not published {count} times; the server said {self.messages}"
                    )
                self.cond.wait(left)
            return self.diagnostics[uri]

    def watched(self, changes: list[tuple[Path, int]]) -> None:
        """workspace/didChangeWatchedFiles: (path, 1 created / 2 changed / 3 deleted)."""
        events = [{"uri": p.as_uri(), "type": t} for p, t in changes]
        self.notify("workspace/didChangeWatchedFiles", {"changes": events})

    def at(self, path: Path, line: int, character: int) -> dict[str, Any]:
        return {"textDocument": {"uri": path.as_uri()}, "position": {"line": line, "character": character}}
