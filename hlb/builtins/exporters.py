"""Exporters: builtins that send the current filesystem somewhere as a side effect.

Each one starts a separate solve of the filesystem with a BuildKit exporter
and gives back the filesystem unchanged, so a block can go on after it; the
target's build waits for these solves and fails when one fails. Declared
and type-checked here; compiled from issue #4 on.
"""

from __future__ import annotations

from hlb.builtins.registry import declare

declare(
    "fs dockerPush(string ref) binds (string digest)",
    """Push the filesystem as an image to a registry.

    The reference is normalised as for `image`; the image config carries what
    `env`, `dir`, `user`, `entrypoint` and the other config builtins set.
    `as digest` binds the digest of the pushed manifest. Option: `stargz`.

    Example: `dockerPush "127.0.0.1:5000/app:latest" as appDigest`
    """,
)

declare(
    "option::dockerPush stargz()",
    """Push the layers compressed as eStargz, which runtimes can pull lazily.

    eStargz layers are ordinary gzip layers to other runtimes, so the image
    still runs everywhere. Not available on the Docker engine backend.

    Example: `dockerPush "127.0.0.1:5000/app:latest" with stargz`
    """,
)

declare(
    "fs dockerLoad(string ref)",
    """Load the filesystem as an image named `ref` into the local Docker engine.

    Needs a Docker API (`DOCKER_HOST` or the default socket); the image is then
    available to `docker run`.

    Example: `dockerLoad "app:dev"`
    """,
)

declare(
    "fs download(string localPath)",
    """Write the filesystem's files into a directory of the machine running hlb.

    A relative path is relative to the module's directory; existing files are
    overwritten.

    Example: `download "./dist"`
    """,
)

declare(
    "fs downloadTarball(string localPath)",
    """Write the filesystem's files as a tar archive to a file of the machine running hlb.

    A relative path is relative to the module's directory.

    Example: `downloadTarball "./dist/rootfs.tar"`
    """,
)

declare(
    "fs downloadOCITarball(string localPath)",
    """Write the filesystem as an OCI image layout tarball to a file of the machine running hlb.

    The image config is included, as for `dockerPush`. Not available on the
    Docker engine backend.

    Example: `downloadOCITarball "./dist/app-oci.tar"`
    """,
)

declare(
    "fs downloadDockerTarball(string localPath, string ref)",
    """Write the filesystem as an image tarball, named `ref`, that `docker load` accepts.

    The image config is included, as for `dockerPush`. Not available on the
    Docker engine backend.

    Example: `downloadDockerTarball "./dist/app.tar" "app:dev"`
    """,
)
