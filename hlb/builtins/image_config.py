"""Image config builtins: metadata for the image an exporter writes.

They leave the filesystem's content (and its LLB) unchanged and set fields of
the OCI image config that ``dockerPush``, ``dockerLoad`` and
``downloadDockerTarball`` export. Declared and type-checked here; compiled
from issue #4 on.
"""

from __future__ import annotations

from hlb.builtins.registry import declare

declare(
    "fs entrypoint(variadic string args)",
    """Set the command a container of the image starts with.

    The arguments are the exec form (no shell); `cmd` supplies default
    arguments to it. The image history records an `ENTRYPOINT` entry.

    Example: `entrypoint "/usr/local/bin/app" "--config" "/etc/app.yaml"`
    """,
)

declare(
    "fs cmd(variadic string args)",
    """Set the default arguments of a container of the image.

    They follow the entrypoint, or are the command when there is none, and
    are replaced by arguments given to `docker run`.

    Example: `cmd "serve" "--port" "8080"`
    """,
)

declare(
    "fs label(string key, string value)",
    """Add a label (a key-value pair of metadata) to the image.

    A later label with the same key replaces the value; consecutive labels
    make one `LABEL` entry in the image history.

    Example: `label "org.opencontainers.image.source" "https://github.com/acme/app"`
    """,
)

declare(
    "fs expose(variadic string ports)",
    """Declare the network ports a container of the image listens on.

    A port is `number` or `number/protocol`; the protocol defaults to `tcp`.
    Only metadata: nothing is published.

    Example: `expose "8080" "9090/udp"`
    """,
)

declare(
    "fs volumes(variadic string mountpoints)",
    """Declare directories of the image that hold data from volumes outside the container.

    Only metadata for the container runtime; the build is unaffected.

    Example: `volumes "/var/lib/app"`
    """,
)

declare(
    "fs stopSignal(string signal)",
    """Set the signal that asks a container of the image to stop.

    A signal name such as `SIGQUIT` or its number such as `3`.

    Example: `stopSignal "SIGQUIT"`
    """,
)
