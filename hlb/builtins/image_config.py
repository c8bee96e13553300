"""Image config builtins: metadata for the image an exporter writes.

They leave the filesystem's content (and its LLB) unchanged and set fields of
the OCI image config that ``dockerPush``, ``dockerLoad`` and
``downloadDockerTarball`` export (:func:`hlb.oci_config.oci_config`).
History entries follow openllb/hlb: ``ENTRYPOINT`` and ``LABEL`` are recorded
(empty layers, consecutive labels sharing one entry); ``cmd``, ``expose``,
``volumes`` and ``stopSignal`` are not.
"""

from __future__ import annotations

import re
from dataclasses import replace

from hlb.builtins.call import Call
from hlb.builtins.gofmt import quote
from hlb.builtins.registry import builtin
from hlb.diagnostics import catalog as cat
from hlb.diagnostics.suggest import closest
from hlb.values import FsValue

_PORT = re.compile(r"^(?P<start>\d+)(?:-(?P<end>\d+))?(?:/(?P<proto>[A-Za-z]+))?$")
_PROTOCOLS = ("tcp", "udp", "sctp")
# Linux signal names as Docker's signal package accepts them (without the SIG prefix).
_SIGNALS = (
    *[
        "ABRT",
        "ALRM",
        "BUS",
        "CHLD",
        "CLD",
        "CONT",
        "FPE",
        "HUP",
        "ILL",
        "INT",
        "IO",
        "IOT",
        "KILL",
        "PIPE",
        "POLL",
        "PROF",
        "PWR",
        "QUIT",
        "SEGV",
        "STKFLT",
        "STOP",
    ],
    *[
        "SYS",
        "TERM",
        "TRAP",
        "TSTP",
        "TTIN",
        "TTOU",
        "URG",
        "USR1",
        "USR2",
        "VTALRM",
        "WINCH",
        "XCPU",
        "XFSZ",
        "RTMIN",
        "RTMAX",
    ],
    *(f"RTMIN+{i}" for i in range(1, 16)),
    *(f"RTMAX-{i}" for i in range(1, 15)),
)


@builtin("fs entrypoint(variadic string args)")
def entrypoint(call: Call, *args: str) -> FsValue:
    """Set the command a container of the image starts with.

    The arguments are the exec form (no shell); `cmd` supplies default arguments
    to it. As in openllb/hlb, an image's inherited `cmd` is kept (a Dockerfile's
    `ENTRYPOINT` drops it): add `cmd` with no arguments to clear it. No arguments
    clear the entrypoint. The image history records an `ENTRYPOINT` entry.

    Example: `entrypoint "/usr/local/bin/app" "--config" "/etc/app.yaml"`
    """
    fs = call.fs
    created_by = "ENTRYPOINT [" + " ".join(quote(a) for a in args) + "]"  # Go's %q of a []string
    return fs.with_image(replace(fs.image, entrypoint=tuple(args))).history(created_by, True)


@builtin("fs cmd(variadic string args)")
def cmd(call: Call, *args: str) -> FsValue:
    """Set the default arguments of a container of the image.

    They follow the entrypoint, or are the command when there is none, and
    are replaced by arguments given to `docker run`; no arguments clear them.

    Example: `cmd "serve" "--port" "8080"`
    """
    fs = call.fs
    return fs.with_image(replace(fs.image, cmd=tuple(args)))


@builtin("fs label(string key, string value)")
def label(call: Call, key: str, value: str) -> FsValue:
    """Add a label (a key-value pair of metadata) to the image.

    A later label with the same key replaces the value; consecutive labels
    make one `LABEL` entry in the image history.

    Example: `label "org.opencontainers.image.source" "https://github.com/acme/app"`
    """
    if not key:
        call.fail(cat.invalid_value(call.arg_span(0), "a label needs a key"))
    image = call.fs.image
    labels = tuple(kv for kv in image.labels if kv[0] != key) + ((key, value),)
    history = image.history
    if not (history and history[-1].created_by.startswith("LABEL ")):
        return call.fs.with_image(replace(image, labels=labels)).history(f"LABEL {key}={value}", True)
    merged = replace(history[-1], created_by=f"{history[-1].created_by} {key}={value}")  # one LABEL entry, as docker
    return call.fs.with_image(replace(image, labels=labels, history=(*history[:-1], merged)))


@builtin("fs expose(variadic string ports)")
def expose(call: Call, *ports: str) -> FsValue:
    """Declare the network ports a container of the image listens on.

    A port is `number` or `number/protocol` (`tcp`, `udp`, `sctp`; `tcp` by
    default); a range `8000-8010/tcp` declares each port. Only metadata:
    nothing is published.

    Example: `expose "8080" "9090/udp"`
    """
    exposed = list(call.fs.image.exposed_ports)
    for i, port in enumerate(ports):
        for p in _ports(call, i, port):
            if p not in exposed:
                exposed.append(p)
    return call.fs.with_image(replace(call.fs.image, exposed_ports=tuple(exposed)))


def _ports(call: Call, i: int, text: str) -> list[str]:
    m = _PORT.match(text.strip())
    hint = 'a port is `number` or `number/protocol`, for example "8080" or "53/udp"'
    if not m:
        call.fail(cat.invalid_value(call.arg_span(i), f"invalid port `{text}`", hint=hint))
    proto = (m["proto"] or "tcp").lower()
    if proto not in _PROTOCOLS:
        call.fail(cat.invalid_choice(call.arg_span(i), "port protocol", proto, _PROTOCOLS))
    start = int(m["start"])
    end = int(m["end"]) if m["end"] else start
    if not 0 < start <= end <= 65535:
        call.fail(cat.invalid_value(call.arg_span(i), f"invalid port `{text}`: ports are 1 to 65535, low to high"))
    return [f"{p}/{proto}" for p in range(start, end + 1)]


@builtin("fs volumes(variadic string mountpoints)")
def volumes(call: Call, *mountpoints: str) -> FsValue:
    """Declare directories of the image that hold data from volumes outside the container.

    Only metadata for the container runtime; the build is unaffected.

    Example: `volumes "/var/lib/app"`
    """
    declared = list(call.fs.image.volumes)
    for i, mountpoint in enumerate(mountpoints):
        if not mountpoint:
            call.fail(cat.invalid_value(call.arg_span(i), "a volume needs a path"))
        if mountpoint not in declared:
            declared.append(mountpoint)
    return call.fs.with_image(replace(call.fs.image, volumes=tuple(declared)))


@builtin("fs stopSignal(string signal)")
def stop_signal(call: Call, signal: str) -> FsValue:
    """Set the signal that asks a container of the image to stop.

    A signal name such as `SIGQUIT` (or `QUIT`) or its number such as `3`,
    checked as Docker checks it; it is written as given.

    Example: `stopSignal "SIGQUIT"`
    """
    if not _valid_signal(signal):
        name = signal.upper().removeprefix("SIG")
        guess = closest(name, _SIGNALS)
        hint = f"did you mean `SIG{guess}`?" if guess else "for example `SIGTERM`, `SIGQUIT` or `15`"
        call.fail(cat.invalid_value(call.arg_span(0), f"invalid signal `{signal}`", hint=hint))
    return call.fs.with_image(replace(call.fs.image, stop_signal=signal))


def _valid_signal(signal: str) -> bool:
    if signal.isascii() and signal.isdigit():
        return int(signal) > 0
    return signal.upper().removeprefix("SIG") in _SIGNALS
