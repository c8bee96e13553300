"""rawjson: buildx's encoding of client.SolveStatus (Go encoding/json), and back."""

from __future__ import annotations

import base64
import io
import json
import threading

from hlb.progress.events import LogEvent, StatusBatch, StatusEvent, VertexEvent, WarningEvent
from hlb.progress.rawjson import RawJSONWriter, add_prefix, decode, encode, go_time, parse_time

T = 1_700_000_000.25  # 2023-11-14T22:13:20.25Z


def test_times_as_go_marshals_them() -> None:
    assert go_time(T) == "2023-11-14T22:13:20.25Z"  # trailing zeros trimmed
    assert go_time(1_700_000_000.0) == "2023-11-14T22:13:20Z"  # no fraction at all
    assert go_time(1_700_000_000.123456) == "2023-11-14T22:13:20.123456Z"
    assert go_time(None) == "1970-01-01T00:00:00Z"  # an unset protobuf timestamp, AsTime() of nil
    assert parse_time("2023-11-14T22:13:20.123456789Z") == 1_700_000_000.123456789


def test_a_vertex_keeps_go_field_order_and_omits_empty_fields() -> None:
    batch = StatusBatch(vertexes=(VertexEvent("sha256:a", "/bin/sh -c 'x > y && z'", ("sha256:b",), started=T),))
    line = encode(batch)
    assert line == (
        '{"vertexes":[{"digest":"sha256:a","inputs":["sha256:b"],'
        '"name":"/bin/sh -c \'x \\u003e y \\u0026\\u0026 z\'","started":"2023-11-14T22:13:20.25Z"}]}\n'
    )
    done = encode(StatusBatch(vertexes=(VertexEvent("sha256:a", "n", started=T, completed=T, cached=True),)))
    assert json.loads(done)["vertexes"][0] == {
        "digest": "sha256:a",
        "name": "n",
        "started": "2023-11-14T22:13:20.25Z",
        "completed": "2023-11-14T22:13:20.25Z",
        "cached": True,
    }
    failed = json.loads(encode(StatusBatch(vertexes=(VertexEvent("d", "n", error="exit code: 1"),))))
    assert failed["vertexes"][0] == {"digest": "d", "name": "n", "error": "exit code: 1"}


def test_statuses_always_carry_id_current_and_timestamp() -> None:
    obj = json.loads(encode(StatusBatch(statuses=(StatusEvent("resolve x", "sha256:a"),))))
    assert obj == {
        "statuses": [{"id": "resolve x", "vertex": "sha256:a", "current": 0, "timestamp": "1970-01-01T00:00:00Z"}]
    }
    obj = json.loads(encode(StatusBatch(statuses=(StatusEvent("l", "v", "n", 5, 10, T, T, T),))))
    assert list(obj["statuses"][0]) == ["id", "vertex", "name", "total", "current", "timestamp", "started", "completed"]


def test_logs_and_warnings_carry_base64_bytes() -> None:
    batch = StatusBatch(
        logs=(LogEvent("sha256:a", 2, b"caf\xc3\xa9\n\xff", T),),
        warnings=(WarningEvent("sha256:a", 1, "short", ("d1", "d2"), "https://x"),),
    )
    obj = json.loads(encode(batch))
    data = base64.b64encode(b"caf\xc3\xa9\n\xff").decode()
    assert obj["logs"] == [{"vertex": "sha256:a", "stream": 2, "data": data, "timestamp": go_time(T)}]
    assert obj["warnings"] == [
        {
            "vertex": "sha256:a",
            "level": 1,
            "short": base64.b64encode(b"short").decode(),
            "detail": [base64.b64encode(b"d1").decode(), base64.b64encode(b"d2").decode()],
            "url": "https://x",
        }
    ]


def test_round_trip() -> None:
    batch = StatusBatch(
        vertexes=(
            VertexEvent("sha256:a", "docker-image://busybox", (), True, T, T + 0.5, ""),
            VertexEvent("sha256:b", "/bin/sh -c <run>", ("sha256:a",), False, T + 1, None, "boom"),
        ),
        statuses=(StatusEvent("sha256:layer", "sha256:a", "", 1024, 4096, T, T, None),),
        logs=(LogEvent("sha256:b", 1, b"\x00binary\xfe", T + 2),),
        warnings=(WarningEvent("sha256:b", 2, "careful é", ("detail",), ""),),
    )
    assert decode(encode(batch)) == batch
    assert decode(encode(StatusBatch())) == StatusBatch()
    assert encode(StatusBatch()) == "{}\n"


def test_non_ascii_is_kept_as_utf8_like_go() -> None:
    assert encode(StatusBatch(vertexes=(VertexEvent("d", "café"),))) == '{"vertexes":[{"digest":"d","name":"café"}]}\n'


def test_several_solves_prefix_names_as_buildx_bake_does() -> None:
    assert add_prefix("2", "/bin/sh -c x") == "[2] /bin/sh -c x"
    assert add_prefix("2", "[internal] load metadata") == "[2 internal] load metadata"
    obj = json.loads(encode(StatusBatch(vertexes=(VertexEvent("d", "step"),)), prefix="3"))
    assert obj["vertexes"][0]["name"] == "[3] step"


def test_writer_one_line_per_message_from_several_threads_and_tracks_state() -> None:
    out = io.StringIO()
    lock = threading.Lock()
    writers = [RawJSONWriter(out, str(n), lock) for n in range(3)]

    def feed(w: RawJSONWriter) -> None:
        for i in range(100):
            w.handle(StatusBatch(vertexes=(VertexEvent(f"v{i}", f"step {i}", started=T, completed=T),)))
            w.handle(StatusBatch(logs=(LogEvent(f"v{i}", 1, b"out\n", T),)))

    threads = [threading.Thread(target=feed, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = out.getvalue().splitlines()
    assert len(lines) == 600
    assert all(isinstance(json.loads(line), dict) for line in lines)
    assert writers[1].tracker.summary() == (100, 0)
    assert writers[1].tracker.vertices["v7"].lines == ["out"]
