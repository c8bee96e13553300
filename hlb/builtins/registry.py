"""The one table of builtins, read by the compiler, the docs and the language server.

The checker reads their signatures from :mod:`hlb.builtins.signatures` (generated from this table by
``scripts/gen_signatures.py``), which imports no lowering; :func:`declaration` gives the compiler the
declared builtin of a signature the checker resolved a call to.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from types import MappingProxyType

from hlb.builtins.call import Call, Flag
from hlb.builtins.signatures import SIGNATURES
from hlb.builtins.spec import Builtin, Registry, Signature, parse_signature

_registry = Registry()
builtin = _registry.decorator
declare = _registry.declare  # for builtins made from data (the owner options), not written as functions

# Modules that declare builtins; importing them registers their declarations.
_MODULES = (
    "hlb.builtins.fs",  # scratch, image, run, file operations of one filesystem, env/dir/user
    "hlb.builtins.sources",  # http, git, local, frontend and the options of every source
    "hlb.builtins.run",  # shell, option::run, option::mount, option::cacheMount
    "hlb.builtins.run_session",  # ssh, forward, secret and their options
    "hlb.builtins.file_options",  # option::mkdir, option::mkfile
    "hlb.builtins.fileops",  # rm, copy, merge, diff and their options
    "hlb.builtins.image_config",  # entrypoint, cmd, label, expose, volumes, stopSignal
    "hlb.builtins.exporters",  # dockerPush, dockerLoad, download*
    "hlb.builtins.strings",  # format, template, manifest, local*
    "hlb.builtins.pipeline",  # stage
    "hlb.builtins.cache_context",  # cacheContext (our extension)
)


@functools.cache
def table() -> Mapping[str, tuple[Builtin, ...]]:
    """All builtins by name (each name maps to its overloads). Read-only."""
    for name in _MODULES:
        importlib.import_module(name)
    return _registry.freeze()


def all_builtins() -> list[Builtin]:
    return [b for overloads in table().values() for b in overloads]


def _key(b: Signature) -> tuple[object, ...]:
    return b.name, b.type, b.params, b.effects


@functools.cache
def _declarations() -> dict[int, tuple[Signature, Builtin]]:
    """The declaration of each signature of :mod:`hlb.builtins.signatures`, by the signature's identity (a
    dict keyed by the signature would hash all its fields at every call); the entry keeps the signature, so
    its id is never another's."""
    declared = {_key(b): b for b in all_builtins()}
    generated = {_key(s) for s in SIGNATURES}
    stale = [s.signature() for s in SIGNATURES if _key(s) not in declared]
    stale += [b.signature() for k, b in declared.items() if k not in generated]
    if stale:
        raise RuntimeError(f"hlb/builtins/signatures.py is stale ({', '.join(stale)}): run scripts/gen_signatures.py")
    return {id(s): (s, declared[_key(s)]) for s in SIGNATURES}


def declaration(b: Signature) -> Builtin:
    """The declared builtin (documentation, lowering) whose signature is ``b``, one of
    :data:`hlb.builtins.signatures.SIGNATURES` (what the checker resolves calls to) or a declaration."""
    if isinstance(b, Builtin):
        return b
    return _declarations()[id(b)][1]


def flag(signature: str, doc: str) -> Flag:
    """Declare an option without arguments (``option::copy unpack()``); its lowering gives the returned Flag,
    which the lowering of what it applies to asks with ``FLAG.given(call.options)``."""
    ret, name, params, _ = parse_signature(signature)
    if params:
        raise ValueError(f"a flag takes no arguments: {signature!r}")
    value = Flag(f"{ret} {name}")

    def lower(call: Call) -> Flag:
        return value

    declare(signature, doc, lower)
    return value


def flags(option: str, docs: Mapping[str, str]) -> Mapping[str, Flag]:
    """Declare the options without arguments of ``option`` (``option::copy``), each by its name and documentation."""
    return MappingProxyType({name: flag(f"{option} {name}()", doc) for name, doc in docs.items()})


def options_of(b: Signature) -> tuple[str, ...]:
    """The names of the options ``b`` takes (``with``), in declaration order."""
    table()
    return _registry.options_of(b)


def documentation(b: Signature) -> str:
    """``b``'s documentation with the list of its options, derived from the table, before the example."""
    doc = declaration(b).doc
    options = options_of(b)
    if not options:
        return doc
    *text, example = doc.split("\n\n")
    listed = ", ".join(f"`{o}`" for o in options)
    return "\n\n".join([*text, f"Options: {listed}.", example])
