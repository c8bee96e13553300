"""Which BuildKit to talk to.

``BUILDKIT_HOST`` (or ``--addr``) names a standalone buildkitd and wins; otherwise
hlb uses the Docker engine's embedded BuildKit at ``DOCKER_HOST``, else at the
default socket ``unix:///var/run/docker.sock``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True, slots=True)
class Address:
    kind: Literal["docker", "buildkit"]
    url: str
    source: str  # where it came from, for error messages: "BUILDKIT_HOST", "--addr", ...

    def describe(self) -> str:
        what = "the Docker engine" if self.kind == "docker" else "BuildKit"
        return f"{what} at {self.url} (from {self.source})"


def resolve(flag: str | None = None, env: Mapping[str, str] | None = None) -> Address:
    env = os.environ if env is None else env
    if flag:
        return Address("buildkit", flag, "--addr")
    if env.get("BUILDKIT_HOST"):
        return Address("buildkit", env["BUILDKIT_HOST"], "BUILDKIT_HOST")
    if env.get("DOCKER_HOST"):
        return Address("docker", env["DOCKER_HOST"], "DOCKER_HOST")
    return Address("docker", DEFAULT_DOCKER_HOST, "the default Docker socket")
