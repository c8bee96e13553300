"""Which daemon hlb picks, and how a BuildKit error is decoded."""

from __future__ import annotations

import json
from typing import Any

import grpc
from google.protobuf import any_pb2

from hlb._proto import status_pb2
from hlb.address import resolve
from hlb.solver.errors import decode


def test_buildkit_host_wins_then_docker_host_then_the_default_socket() -> None:
    both = {"BUILDKIT_HOST": "unix:///run/buildkit/buildkitd.sock", "DOCKER_HOST": "unix:///d.sock"}
    assert resolve(env=both).kind == "buildkit"
    assert resolve(env=both).url == "unix:///run/buildkit/buildkitd.sock"
    assert resolve(env={"DOCKER_HOST": "tcp://127.0.0.1:2375"}).url == "tcp://127.0.0.1:2375"
    default = resolve(env={})
    assert (default.kind, default.url) == ("docker", "unix:///var/run/docker.sock")
    assert resolve("tcp://10.0.0.1:1234", env=both).source == "--addr"


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, trailers: list[tuple[str, Any]]) -> None:
        self._code, self._details, self._trailers = code, details, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> list[tuple[str, Any]]:
        return self._trailers


def _any(kind: str, doc: dict[str, Any]) -> any_pb2.Any:
    return any_pb2.Any(type_url=f"github.com/moby/buildkit/{kind}+json", value=json.dumps(doc).encode())


def test_decode_vertex_source_and_exit_code() -> None:
    status = status_pb2.Status(
        code=2,
        message='process "/bin/sh -c exit 3" did not complete successfully: exit code: 3',
        details=[
            _any("stack.Stack", {"frames": [{"Name": "main"}]}),
            _any("errdefs.Vertex", {"digest": "sha256:abc"}),
            _any(
                "errdefs.Source",
                {
                    "info": {"filename": "build.hlb", "language": "HLB"},
                    "ranges": [{"start": {"line": 7, "character": 2}, "end": {"line": 7, "character": 30}}],
                },
            ),
        ],
    )
    err = FakeRpcError(grpc.StatusCode.UNKNOWN, "short", [("grpc-status-details-bin", status.SerializeToString())])
    failure = decode(err)
    assert failure.vertex == "sha256:abc"
    assert failure.exit_code == 3
    assert failure.message.startswith('process "/bin/sh -c exit 3"')
    (src,) = failure.sources
    assert (src.filename, src.start_line, src.start_col, src.end_line, src.end_col) == ("build.hlb", 7, 2, 7, 30)


def test_decode_without_details_keeps_the_message() -> None:
    failure = decode(FakeRpcError(grpc.StatusCode.CANCELLED, "context canceled", []))
    assert failure.canceled and failure.message == "context canceled" and failure.vertex is None


def test_decode_ignores_a_malformed_trailer() -> None:
    failure = decode(FakeRpcError(grpc.StatusCode.UNKNOWN, "boom", [("grpc-status-details-bin", b"\xff\xff\xff")]))
    assert failure.message == "boom"
