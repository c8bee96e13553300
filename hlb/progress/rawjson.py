"""``--progress=rawjson``: one JSON object per status message, as buildx writes them.

buildx (BuildKit's ``progressui`` raw JSON display) encodes each
``client.SolveStatus`` with Go's ``encoding/json``: one compact object per
line, keys in struct order, empty fields left out (``omitempty``) except the
few that have no ``omitempty`` (a status's ``id``, ``current`` and
``timestamp``; a log's ``data`` and ``timestamp``), times in RFC 3339 with
nanoseconds and trailing zeros trimmed, byte fields (log data, warning texts)
in standard base64, and ``<``, ``>``, ``&`` escaped as ``\\u003c`` etc.

For several solves in one run, each vertex name gets the solve's prefix the
way ``buildx bake`` prefixes a target's (``[2] name``, ``[2 internal] ...``).
"""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

from hlb.progress.events import LogEvent, StatusBatch, StatusEvent, VertexEvent, WarningEvent
from hlb.progress.tracker import Tracker

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_time(t: float | None) -> str:
    """A unix time as Go's ``time.Time`` marshals to JSON (UTC, RFC 3339, trailing zeros trimmed).

    A timestamp the daemon left unset is Go's ``AsTime()`` of nil: the unix epoch.
    """
    micros = round((t or 0.0) * 1_000_000)  # float seconds hold microseconds exactly, not nanoseconds
    secs, frac = divmod(micros, 1_000_000)
    text = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += "." + f"{frac:06d}".rstrip("0")
    return text + "Z"


def parse_time(text: str) -> float:
    base, _, frac = text.removesuffix("Z").partition(".")
    secs = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return secs + (int(frac.ljust(9, "0")[:9]) / 1e9 if frac else 0.0)


def add_prefix(prefix: str, name: str) -> str:
    """buildx's rule: ``[p] name``, or ``[p internal] ...`` for a name already in brackets."""
    if name.startswith("["):
        return f"[{prefix} {name[1:]}"
    return f"[{prefix}] {name}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def to_json(batch: StatusBatch, prefix: str = "") -> dict[str, Any]:
    """``batch`` as the Go ``SolveStatus`` JSON object (a dict in the same key order)."""
    out: dict[str, Any] = {}
    if batch.vertexes:
        out["vertexes"] = [_vertex(v, prefix) for v in batch.vertexes]
    if batch.statuses:
        out["statuses"] = [_status(s) for s in batch.statuses]
    if batch.logs:
        out["logs"] = [_log(lg) for lg in batch.logs]
    if batch.warnings:
        out["warnings"] = [_warning(w) for w in batch.warnings]
    return out


def _vertex(v: VertexEvent, prefix: str) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if v.digest:
        d["digest"] = v.digest
    if v.inputs:
        d["inputs"] = list(v.inputs)
    name = add_prefix(prefix, v.name) if prefix else v.name
    if name:
        d["name"] = name
    if v.started is not None:
        d["started"] = go_time(v.started)
    if v.completed is not None:
        d["completed"] = go_time(v.completed)
    if v.cached:
        d["cached"] = True
    if v.error:
        d["error"] = v.error
    return d


def _status(s: StatusEvent) -> dict[str, Any]:
    d: dict[str, Any] = {"id": s.id}
    if s.vertex:
        d["vertex"] = s.vertex
    if s.name:
        d["name"] = s.name
    if s.total:
        d["total"] = s.total
    d["current"] = s.current
    d["timestamp"] = go_time(s.timestamp)
    if s.started is not None:
        d["started"] = go_time(s.started)
    if s.completed is not None:
        d["completed"] = go_time(s.completed)
    return d


def _log(lg: LogEvent) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if lg.vertex:
        d["vertex"] = lg.vertex
    if lg.stream:
        d["stream"] = lg.stream
    d["data"] = _b64(lg.data)
    d["timestamp"] = go_time(lg.timestamp)
    return d


def _warning(w: WarningEvent) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if w.vertex:
        d["vertex"] = w.vertex
    if w.level:
        d["level"] = w.level
    if w.short:
        d["short"] = _b64(w.short.encode())
    if w.detail:
        d["detail"] = [_b64(x.encode()) for x in w.detail]
    if w.url:
        d["url"] = w.url
    return d


def encode(batch: StatusBatch, prefix: str = "") -> str:
    """One line of buildx's rawjson output (with its newline)."""
    text = json.dumps(to_json(batch, prefix), ensure_ascii=False, separators=(",", ":"))
    for ch, esc in _GO_ESCAPES.items():
        text = text.replace(ch, esc)  # these only occur inside strings
    return text + "\n"


def decode(line: str) -> StatusBatch:
    """A rawjson line back as a batch (times to the microsecond)."""
    obj = json.loads(line)

    def t(d: dict[str, Any], key: str) -> float | None:
        return parse_time(d[key]) if key in d else None

    return StatusBatch(
        vertexes=tuple(
            VertexEvent(
                digest=v.get("digest", ""),
                name=v.get("name", ""),
                inputs=tuple(v.get("inputs", ())),
                cached=v.get("cached", False),
                started=t(v, "started"),
                completed=t(v, "completed"),
                error=v.get("error", ""),
            )
            for v in obj.get("vertexes", ())
        ),
        statuses=tuple(
            StatusEvent(
                id=s["id"],
                vertex=s.get("vertex", ""),
                name=s.get("name", ""),
                current=s["current"],
                total=s.get("total", 0),
                timestamp=t(s, "timestamp"),
                started=t(s, "started"),
                completed=t(s, "completed"),
            )
            for s in obj.get("statuses", ())
        ),
        logs=tuple(
            LogEvent(
                vertex=lg.get("vertex", ""),
                stream=lg.get("stream", 0),
                data=base64.b64decode(lg["data"] or ""),
                timestamp=t(lg, "timestamp"),
            )
            for lg in obj.get("logs", ())
        ),
        warnings=tuple(
            WarningEvent(
                vertex=w.get("vertex", ""),
                level=w.get("level", 0),
                short=base64.b64decode(w.get("short", "")).decode("utf-8", "replace"),
                detail=tuple(base64.b64decode(x).decode("utf-8", "replace") for x in w.get("detail", ())),
                url=w.get("url", ""),
            )
            for w in obj.get("warnings", ())
        ),
    )


class RawJSONWriter:
    """Writes each batch of one solve as a line; keeps a tracker for the summary and failure notes."""

    def __init__(self, out: TextIO, prefix: str = "", lock: threading.Lock | None = None) -> None:
        self.out = out
        self.prefix = prefix
        self.tracker = Tracker()
        self._lock = lock or threading.Lock()

    def handle(self, batch: StatusBatch) -> None:
        line = encode(batch, self.prefix)
        for ev in batch.vertexes:
            self.tracker.apply_vertex(ev)
        for lg in batch.logs:
            self.tracker.apply_log(lg)
        with self._lock:
            self.out.write(line)
            self.out.flush()

    def close(self) -> None:
        for v in self.tracker.vertices.values():
            self.tracker.flush_partial(v)
