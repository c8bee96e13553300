"""The OCI image config an export of an ``fs`` writes (``containerimage.config``).

It starts from the resolved image's config (``ImageSpec.base``), keeps what hlb
does not model (healthcheck, shell, ``os.version``...), and sets the rest from
the value: platform, env, working dir and user from the LLB state; entrypoint,
cmd, labels, exposed ports, volumes and stop signal from the image spec; the
history is the base's followed by hlb's. Keys come out in the order Go's
``encoding/json`` writes the OCI structs (maps sorted by key), so the same value
always gives the same bytes. BuildKit's image exporter fills in
``rootfs.diff_ids`` and the history of layers it adds.
"""

from __future__ import annotations

import json
from typing import Any

from hlb.llb.platform import Platform
from hlb.values import FsValue, ImageSpec

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, the date openllb/hlb gives its history entries
HISTORY_COMMENT = "hlb.v0"  # marks the history entries hlb wrote, as openllb/hlb does

_TOP = (
    "created",
    "author",
    "architecture",
    "os",
    "os.version",
    "os.features",
    "variant",
    "config",
    "rootfs",
    "history",
)
_CONFIG = (
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
    "ArgsEscaped",
)
# The base's description of the container that built it; stale for the image hlb writes.
_DROPPED = ("container", "container_config")


def oci_config(fs: FsValue, platform: Platform, *, container_config: bool = False) -> bytes:
    """The image config JSON for exporting ``fs``; ``platform`` is used when its state has none.

    ``container_config`` adds Docker's schema-1 ``container_config`` (the last
    history entry as ``Cmd``, and the labels), which openllb/hlb's ``dockerPush``
    writes for tools that still read it.
    """
    spec = fs.image
    base = spec.base_config()
    plat = fs.state.platform or platform
    top: dict[str, Any] = {k: v for k, v in base.items() if k not in _DROPPED}
    if spec.history:
        top["created"] = ZERO_TIME
    top["architecture"] = plat.architecture
    top["os"] = plat.os
    if plat.variant:
        top["variant"] = plat.variant
    else:
        top.pop("variant", None)
    config = _config(fs, spec, dict(base.get("config") or {}))
    top["config"] = config
    top["rootfs"] = {"type": "layers", "diff_ids": []}
    history = [*(base.get("history") or []), *_history(spec)]
    if history:
        top["history"] = history
    out = _ordered(top, _TOP)
    if container_config:
        last = [history[-1].get("created_by", "")] if history else None
        out["container_config"] = {"Cmd": last, "Labels": config.get("Labels")}
    return _go_json(out)


DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _config(fs: FsValue, spec: ImageSpec, config: dict[str, Any]) -> dict[str, Any]:
    state = fs.state
    _set(config, "User", state.user)
    env = list(state.env_list())
    if not any(e.startswith("PATH=") for e in env):
        # The daemon ran every step with its default PATH; the image keeps it, as Dockerfile images do.
        env.insert(0, DEFAULT_PATH)
    _set(config, "Env", env)
    _set(config, "WorkingDir", state.cwd)
    if spec.entrypoint is not None or spec.cmd is not None:
        config.pop("ArgsEscaped", None)  # describes how the base's own command line was written
    if spec.entrypoint is not None:
        _set(config, "Entrypoint", list(spec.entrypoint))
    if spec.cmd is not None:
        _set(config, "Cmd", list(spec.cmd))
    labels = {**(config.get("Labels") or {}), **dict(spec.labels)}
    _set(config, "Labels", dict(sorted(labels.items())))
    ports = {**(config.get("ExposedPorts") or {}), **{p: {} for p in spec.exposed_ports}}
    _set(config, "ExposedPorts", dict(sorted(ports.items())))
    volumes = {**(config.get("Volumes") or {}), **{v: {} for v in spec.volumes}}
    _set(config, "Volumes", dict(sorted(volumes.items())))
    if spec.stop_signal:
        config["StopSignal"] = spec.stop_signal
    return _ordered(config, _CONFIG)


def _history(spec: ImageSpec) -> list[dict[str, Any]]:
    entries = []
    for h in spec.history:
        entry: dict[str, Any] = {"created": ZERO_TIME, "created_by": h.created_by, "comment": HISTORY_COMMENT}
        if h.empty_layer:
            entry["empty_layer"] = True
        entries.append(entry)
    return entries


def _set(d: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key``, or drop it when ``value`` is empty (Go's ``omitempty``)."""
    if value:
        d[key] = value
    else:
        d.pop(key, None)


def _ordered(d: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """The known keys in Go's struct order, then the others as the base had them."""
    out = {k: d[k] for k in order if k in d}
    out.update((k, v) for k, v in d.items() if k not in out)
    return out


def _go_json(value: Any) -> bytes:
    """Compact JSON escaped as Go's ``encoding/json`` escapes it (``<``, ``>``, ``&``, U+2028, U+2029)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text.encode("utf-8")
