"""``hlb run -o/--output``: where a target's result goes, written as ``buildx build -o`` writes it.

* ``-o DIR`` is ``type=local,dest=DIR``; ``-o -`` is ``type=tar`` to stdout;
* otherwise CSV ``type=T,key=value...`` (keys case-insensitive): ``local,dest=DIR``,
  ``tar[,dest=F|-]`` (stdout when no dest), ``image,name=R[,push=true]``,
  ``registry,name=R`` (``image`` with ``push=true``), ``docker[,name=R][,dest=F]``
  (without dest: loaded into the Docker engine), ``oci,dest=F``; other keys
  go to the exporter as they are (as buildx passes them);
* with several targets each output needs ``{target}`` in its ``dest``/``name``
  (as ``--cache-to`` has it): two targets never write one destination;
* a destination that can never be written (a local output's that is a file, a
  file output's that is a directory) and two outputs to one place are usage
  errors before anything is compiled or built.

The result is :class:`hlb.values.Exporter` values the plan attaches to each target's solve.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hlb.cache_options import TARGET_PLACEHOLDER, unknown_placeholder
from hlb.llb.reference import parse as parse_ref
from hlb.values import Exporter

FLAG = "-o/--output"
TYPES = ("local", "tar", "image", "registry", "docker", "oci")
STDOUT = "-"
_BOOLS = ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False")


class OutputFlagError(ValueError):
    """A ``-o`` value that cannot be used (a usage error: exit 2)."""


@dataclass(frozen=True, slots=True)
class Output:
    """One ``-o`` value: its text (for messages) and the exporter it asks for."""

    text: str
    exporter: Exporter

    @property
    def to_stdout(self) -> bool:
        return self.exporter.dest == STDOUT

    def for_target(self, name: str) -> Exporter:
        """The exporter for target ``name``: ``{target}`` in ``dest`` and attributes replaced by it."""
        x = self.exporter
        attrs = {k: v.replace(TARGET_PLACEHOLDER, name) for k, v in x.attrs.items()}
        return Exporter(x.type, attrs, x.dest.replace(TARGET_PLACEHOLDER, name))

    @property
    def per_target(self) -> bool:
        x = self.exporter
        return TARGET_PLACEHOLDER in x.dest or any(TARGET_PLACEHOLDER in v for v in x.attrs.values())


def parse(text: str) -> Output:
    """One ``-o`` value; raises :class:`OutputFlagError` naming the flag and what is wrong."""
    where = f"{FLAG} {text!r}"
    if not text.strip():
        raise OutputFlagError(f"{FLAG} is empty: give a directory, `-` (a tar on stdout) or type=..., {_shapes()}")
    if text.strip() == STDOUT:
        return Output(text, Exporter("tar", {}, STDOUT))
    try:
        fields = next(csv.reader([text]), [])
    except csv.Error as e:
        raise OutputFlagError(f"{where}: {e}") from e
    if len(fields) == 1 and not fields[0].strip().startswith("type="):
        key = fields[0].partition("=")[0].strip().lower()
        if key in ("dest", "name", "push"):  # buildx would make a directory named so; surely not what was meant
            raise OutputFlagError(f"{where}: no type= ({', '.join(TYPES)}), e.g. type=local,{fields[0].strip()}")
        return Output(text, Exporter("local", {}, os.path.abspath(fields[0].strip())))
    attrs: dict[str, str] = {}
    for part in fields:
        if not part.strip():
            continue
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if not eq:
            raise OutputFlagError(f"{where}: `{part}` is not key=value ({_shapes()})")
        if key in attrs:
            raise OutputFlagError(f"{where}: `{key}` is given twice")
        if not value.strip():
            raise OutputFlagError(f"{where}: `{key}=` is empty (an unset variable?)")
        attrs[key] = value.strip()
    kind = attrs.pop("type", "")
    if not kind:
        raise OutputFlagError(f"{where}: no type= ({', '.join(TYPES)})")
    if kind not in TYPES:
        raise OutputFlagError(f"{where}: unknown output type `{kind}`; known: {', '.join(TYPES)}")
    dest = attrs.pop("dest", "")
    for key in ("push", "tar", "unpack"):
        if key in attrs and attrs[key] not in _BOOLS:
            raise OutputFlagError(f"{where}: `{key}={attrs[key]}` is not a boolean (true or false)")
    if kind == "registry":
        kind = "image"
        attrs["push"] = "true"
        attrs.setdefault("unpack", "false")
    if kind == "local":
        if not dest:
            raise OutputFlagError(f"{where}: a local output needs dest=DIR")
        if dest == STDOUT:
            raise OutputFlagError(f"{where}: a local output writes a directory, not stdout (type=tar,dest=- does)")
    elif kind == "tar":
        dest = dest or STDOUT
    elif kind == "oci" and not dest:
        raise OutputFlagError(f"{where}: an oci output needs dest=FILE (the OCI layout as a tar)")
    elif kind == "image":
        if not attrs.get("name"):
            raise OutputFlagError(f"{where}: an image output needs name=REF (e.g. name=127.0.0.1:5000/app,push=true)")
        if attrs.get("push", "false").lower() in ("0", "f", "false"):
            raise OutputFlagError(
                f"{where}: an image that is not pushed stays only in the daemon's store, where hlb cannot reach it: "
                "add push=true, or use type=docker to load it into the Docker engine"
            )
        attrs["push"] = "true"
    if kind in ("oci", "docker") and attrs.get("tar", "true").lower() in ("0", "f", "false"):
        raise OutputFlagError(f"{where}: tar=false (a directory) is not supported; write the tar to a file")
    for name in attrs.get("name", "").split(","):
        if name:
            try:
                parse_ref(name.replace(TARGET_PLACEHOLDER, "target"))
            except ValueError as e:
                raise OutputFlagError(f"{where}: `name={name}` is not an image reference: {e}") from e
    if dest and dest != STDOUT:
        dest = os.path.abspath(dest)
    return Output(text, Exporter(kind, attrs, dest))


def parse_all(values: Iterable[str], targets: Sequence[str]) -> list[Output]:
    """Every ``-o`` value for the requested ``targets``: one stdout at most, never two outputs to one place, each
    destination one that can be written (:func:`check_dest`; one with ``{target}`` is checked per target when
    the plan is made), and with several targets each output must name its target (``{target}``) so that two
    targets never write one place."""
    outs = [parse(v) for v in values]
    for o in outs:
        odd = unknown_placeholder([o.exporter.dest or "", *o.exporter.attrs.values()])
        if odd:
            raise OutputFlagError(f"{FLAG} {o.text!r}: unknown placeholder {odd}: the only one is {TARGET_PLACEHOLDER}")
    if sum(o.to_stdout for o in outs) > 1:
        raise OutputFlagError(f"{FLAG}: only one output can go to stdout")
    places: dict[str, Output] = {}
    for o in outs:
        dest = o.exporter.dest
        if not dest or dest == STDOUT:
            continue
        if dest in places:
            raise OutputFlagError(
                f"{FLAG} {places[dest].text!r} and {o.text!r} write one place, {dest}: give each its own dest"
            )
        places[dest] = o
        why = check_dest(o.exporter) if not o.per_target else None
        if why:
            raise OutputFlagError(f"{FLAG} {o.text!r}: {why}")
    if len(set(targets)) > 1:
        for o in outs:
            if not o.per_target:
                what = "dest" if o.exporter.dest else "name"
                raise OutputFlagError(
                    f"{FLAG} {o.text!r}: {len(set(targets))} targets would write one place; put {TARGET_PLACEHOLDER} "
                    f"in its {what} (each target's name goes there) or build one target"
                )
    return outs


def check_dest(x: Exporter) -> str | None:
    """Why the destination of ``x`` can never be written (checked before building), or None: a local output's
    is a directory, every other's a file (a missing one, and its missing parents, are made)."""
    if not x.dest or x.dest == STDOUT:
        return None
    if x.type == "local":
        if os.path.lexists(x.dest) and not os.path.isdir(x.dest):
            return f"{x.dest} is a file; a local output writes a directory (give a directory, or type=tar,dest=FILE)"
        return _missing_parent(x.dest)
    if os.path.isdir(x.dest):
        return f"{x.dest} is a directory; a {x.type} output writes a file (e.g. dest={os.path.join(x.dest, 'out.tar')})"
    return _missing_parent(x.dest)


def _missing_parent(path: str) -> str | None:
    """Why the parents of ``path`` cannot be made: one of them is a file."""
    parent = os.path.dirname(path)
    while parent and not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        return f"cannot write {path}: {parent} is a file, not a directory"
    return None


def _shapes() -> str:
    return (
        "e.g. -o out/, -o type=local,dest=DIR, -o type=tar,dest=F, -o type=image,name=REF,push=true, "
        "-o type=docker,name=REF, -o type=oci,dest=F"
    )


__all__ = ["FLAG", "STDOUT", "TYPES", "Output", "OutputFlagError", "check_dest", "parse", "parse_all"]
