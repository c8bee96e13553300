"""Secret files for the daemon: ``/moby.buildkit.secrets.v1.Secrets/GetSecret``.

A session serves exactly the secrets its solve declared, by id. A file is read
when the daemon asks for it (so a build sees its content at that moment) and
never logged: errors name the id and the path, never the content. An unknown
id is NOT_FOUND, which the daemon takes as "no such secret" (optional secret
mounts, the ``GIT_AUTH_TOKEN`` lookups of git sources). Like BuildKit's client,
a secret is at most 500 KiB: it travels in one message and lives in a tmpfs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc

from hlb._proto import secrets_pb2, secrets_pb2_grpc

MAX_SECRET_SIZE = 500 * 1024


class SecretFiles(secrets_pb2_grpc.SecretsServicer):
    """Serves ``{id: local path}``."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = dict(files)

    def methods(self) -> Sequence[str]:
        return ["/moby.buildkit.secrets.v1.Secrets/GetSecret"]

    def register(self, server: grpc.Server) -> None:
        secrets_pb2_grpc.add_SecretsServicer_to_server(self, server)

    def GetSecret(
        self, request: secrets_pb2.GetSecretRequest, context: grpc.ServicerContext
    ) -> secrets_pb2.GetSecretResponse:
        path = self.files.get(request.ID)
        if path is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"secret {request.ID} not found")
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_SECRET_SIZE + 1)
        except OSError as e:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"cannot read secret file {path}: {e.strerror or e}")
        if len(data) > MAX_SECRET_SIZE:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"secret file {path} is larger than {MAX_SECRET_SIZE // 1024} KiB",
            )
        return secrets_pb2.GetSecretResponse(data=data)
