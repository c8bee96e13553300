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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

from hlb.progress.events import LogEvent, StatusBatch, StatusEvent, VertexEvent, WarningEvent
from hlb.progress.tracker import Tracker

_Event = TypeVar("_Event", VertexEvent, StatusEvent, LogEvent, WarningEvent)
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
    return _struct(
        vertexes=[_vertex(v, prefix) for v in batch.vertexes],
        statuses=[_status(s) for s in batch.statuses],
        logs=[_log(lg) for lg in batch.logs],
        warnings=[_warning(w) for w in batch.warnings],
    )


def _struct(always: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
    """A Go struct as ``encoding/json`` writes it: its fields in order, the empty ones (``None``, ``""``,
    0, ``False``, ``[]``) left out (``omitempty``) except those named in ``always`` (no ``omitempty``)."""
    return {name: value for name, value in fields.items() if value or name in always}


def _time(t: float | None) -> str | None:
    return None if t is None else go_time(t)


def _vertex(v: VertexEvent, prefix: str) -> dict[str, Any]:
    return _struct(
        digest=v.digest,
        inputs=list(v.inputs),
        name=add_prefix(prefix, v.name) if prefix else v.name,
        started=_time(v.started),
        completed=_time(v.completed),
        cached=v.cached,
        error=v.error,
    )


def _status(s: StatusEvent) -> dict[str, Any]:
    return _struct(
        ("id", "current", "timestamp"),
        id=s.id,
        vertex=s.vertex,
        name=s.name,
        total=s.total,
        current=s.current,
        timestamp=go_time(s.timestamp),
        started=_time(s.started),
        completed=_time(s.completed),
    )


def _log(lg: LogEvent) -> dict[str, Any]:
    return _struct(
        ("data", "timestamp"),
        vertex=lg.vertex,
        stream=lg.stream,
        data=_b64(lg.data),
        timestamp=go_time(lg.timestamp),
    )


def _warning(w: WarningEvent) -> dict[str, Any]:
    return _struct(
        vertex=w.vertex,
        level=w.level,
        short=_b64(w.short.encode()),
        detail=[_b64(x.encode()) for x in w.detail],
        url=w.url,
    )


def encode(batch: StatusBatch, prefix: str = "") -> str:
    """One line of buildx's rawjson output (with its newline)."""
    text = json.dumps(to_json(batch, prefix), ensure_ascii=False, separators=(",", ":"))
    for ch, esc in _GO_ESCAPES.items():
        text = text.replace(ch, esc)  # these only occur inside strings
    return text + "\n"


def decode(line: str) -> StatusBatch:
    """A rawjson line back as a batch (times to the microsecond)."""
    obj = json.loads(line)
    return StatusBatch(
        vertexes=tuple(_event(VertexEvent, v) for v in obj.get("vertexes", ())),
        statuses=tuple(_event(StatusEvent, s) for s in obj.get("statuses", ())),
        logs=tuple(_event(LogEvent, lg) for lg in obj.get("logs", ())),
        warnings=tuple(_event(WarningEvent, w) for w in obj.get("warnings", ())),
    )


def _b64_text(data: str) -> str:
    return base64.b64decode(data).decode("utf-8", "replace")


_TIME = (None, parse_time)
_STRING = ("", str)
# Per event, its fields as the JSON object names them: (the value when left out, JSON value -> field value).
_FIELDS: dict[type, dict[str, tuple[Any, Callable[[Any], Any]]]] = {
    VertexEvent: {
        "digest": _STRING,
        "name": _STRING,
        "inputs": ((), tuple),
        "cached": (False, bool),
        "started": _TIME,
        "completed": _TIME,
        "error": _STRING,
    },
    StatusEvent: {
        "id": _STRING,
        "vertex": _STRING,
        "name": _STRING,
        "current": (0, int),
        "total": (0, int),
        "timestamp": _TIME,
        "started": _TIME,
        "completed": _TIME,
    },
    LogEvent: {
        "vertex": _STRING,
        "stream": (0, int),
        "data": (b"", lambda d: base64.b64decode(d or "")),
        "timestamp": _TIME,
    },
    WarningEvent: {
        "vertex": _STRING,
        "level": (0, int),
        "short": ("", _b64_text),
        "detail": ((), lambda texts: tuple(map(_b64_text, texts))),
        "url": _STRING,
    },
}


def _event(cls: type[_Event], obj: dict[str, Any]) -> _Event:
    """The event ``cls`` from its Go JSON object (a field left out is its empty value)."""
    fields = {name: convert(obj[name]) if name in obj else empty for name, (empty, convert) in _FIELDS[cls].items()}
    return cls(**fields)


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
