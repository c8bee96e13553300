"""``hlb check``'s answer for a module set that has not changed since it was last checked.

The diagnostics of parsing and checking a module and the local modules it imports are stored under a key
made of the module's bytes, its name as given, where it lies (its absolute path, the working directory and
the home directory, which resolve its imports and name them in diagnostics) and hlb's code
(:func:`hlb.syntax.store.code_key`). With them is what every path the check consulted for an import
held (:attr:`ModuleLoader.seen`: the sha256 of the bytes read, or the error that refused the path); a hit is
used only while each of those paths still holds the same, so an edited, created or deleted import is
checked again.

A hit loads neither Lark, the parser nor the checker: :mod:`hlb.checker.check` is imported on a miss only
(``hlb check`` of an unchanged module then costs the interpreter's start and a few files' hashes).
"""

from __future__ import annotations

import os

from hlb.diagnostics import Diagnostic
from hlb.source import STDIN_NAMES, SourceFile, source_digest
from hlb.syntax import store


def path_digest(path: str) -> str:
    """What :attr:`ModuleLoader.seen` records for ``path`` when a check reads it now."""
    try:
        source = SourceFile.read(path)
    except OSError as e:
        return f"errno:{e.errno}"
    except UnicodeError:
        return "unicode"
    return source_digest(source)


def _key(source: SourceFile) -> bytes:
    where = "" if source.name in STDIN_NAMES else os.path.abspath(source.name)
    data = source.original.encode("utf-8", "surrogateescape")
    return store.make_key("check", source.name, where, os.getcwd(), os.path.expanduser("~"), data)


def check_diagnostics(source: SourceFile) -> list[Diagnostic]:
    """Every diagnostic of parsing and checking ``source`` and its local imports (with a loader of its own),
    from the cache when none of their files changed since they were last checked."""
    key = _key(source)
    hit = store.load(key, source)
    if (
        isinstance(hit, tuple)
        and len(hit) == 2
        and isinstance(hit[0], dict)
        and isinstance(hit[1], list)
        and all(path_digest(p) == d for p, d in hit[0].items())
    ):
        return hit[1]
    # A miss only: a hit answers without loading Lark, the parser or the checker.
    from hlb.checker.check import ModuleLoader, check_module
    from hlb.syntax.parser import parse_module

    loader = ModuleLoader()
    parsed = parse_module(source)  # not kept by itself: this text is this key's (imports are, by parse_cached)
    diagnostics = list(parsed.diagnostics)
    if parsed.module is not None:
        diagnostics += check_module(parsed.module, loader).diagnostics
    store.store(key, (dict(loader.seen), diagnostics), source)
    return diagnostics
