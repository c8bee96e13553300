"""Secrets for the daemon: ``/moby.buildkit.secrets.v1.Secrets/GetSecret``.

A session serves exactly the secrets its solve declared, by id: local files,
and environment variables of hlb's process (``hlb run --secret id=ID,env=VAR``).
A file or variable is read when the daemon asks for it (so a build sees its
content at that moment) and never logged: errors name the id and the path or
variable, never the content. An unknown
id is NOT_FOUND, which the daemon takes as "no such secret" (optional secret
mounts, the ``GIT_AUTH_TOKEN`` lookups of git sources). Like BuildKit's client,
a secret is at most 500 KiB: it travels in one message and lives in a tmpfs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import grpc

from hlb._proto import secrets_pb2, secrets_pb2_grpc

MAX_SECRET_SIZE = 500 * 1024


class SecretFiles(secrets_pb2_grpc.SecretsServicer):
    """Serves ``{id: local path}`` and ``{id: environment variable}`` (read from ``environ``, default
    ``os.environ``, when asked)."""

    def __init__(
        self, files: Mapping[str, str], env: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None
    ) -> None:
        self.files = dict(files)
        self.env = dict(env or {})
        self.environ = os.environ if environ is None else environ

    def methods(self) -> Sequence[str]:
        return ["/moby.buildkit.secrets.v1.Secrets/GetSecret"]

    def register(self, server: grpc.Server) -> None:
        secrets_pb2_grpc.add_SecretsServicer_to_server(self, server)

    def GetSecret(
        self, request: secrets_pb2.GetSecretRequest, context: grpc.ServicerContext
    ) -> secrets_pb2.GetSecretResponse:
        var = self.env.get(request.ID)
        if var is not None:
            value = self.environ.get(var)
            if value is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"secret {request.ID}: environment variable {var} is not set")
            data = value.encode("utf-8", "surrogateescape")
            if len(data) > MAX_SECRET_SIZE:
                context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"secret {request.ID}: environment variable {var} is larger than {MAX_SECRET_SIZE // 1024} KiB",
                )
            return secrets_pb2.GetSecretResponse(data=data)
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
