"""The per-user cache of what the front end computed for unchanged sources: where it lives, its keys and
its entries.

Entries live in ``$XDG_CACHE_HOME/hlb/front/`` (else ``~/.cache/hlb/front/``; the directory that keeps
Lark's tables), one file per key. A key is a sha256 over what determines the value: the caller's inputs
(a module's bytes and name...) and :func:`code_key`, which changes with hlb's version, its source files,
Lark's and Python's versions. An entry is ``MAGIC``, the key, the sha256 of its payload, then the payload
(a pickle); it is written to a temporary file and renamed, so a reader sees a whole entry or none, and a
torn, corrupt or foreign file (another key, another format) is a miss, never an error. The directory is
kept under :data:`MAX_BYTES` by removing the least recently used entries.

This module imports neither Lark nor the parser, so a command answered from the cache never loads them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import io
import itertools
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import hlb
from hlb.cachedir import replace_atomically
from hlb.cachedir import user_cache_dir as user_cache_dir  # the parser keeps Lark's tables there
from hlb.source import SourceFile

MAGIC = b"hlb-front-cache 1\n"
MAX_BYTES = 64 << 20
PRUNE_EVERY = 64  # stores between two looks at the whole directory (each a stat of every entry)
_STORES = itertools.count()
_DISABLE = "HLB_NO_FRONT_CACHE"  # set (to anything non-empty) to bypass the cache


def _dir() -> Path | None:
    if os.environ.get(_DISABLE):
        return None
    base = user_cache_dir()
    if base is None:
        return None
    d = base / "front"
    try:
        d.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    return d


@functools.cache
def code_key() -> bytes:
    """What the front end's results depend on besides their inputs: hlb's version and the name, size and
    modification time of each of its source files (an edited checker is another checker), Lark's and
    Python's versions."""
    h = hashlib.sha256()
    h.update(f"{hlb.__version__}\0{_lark_stamp()}\0{sys.version}\0{sys.implementation.cache_tag}\0".encode())
    root = Path(hlb.__file__).parent
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".py", ".lark")):
                st = os.stat(os.path.join(dirpath, name))
                h.update(
                    f"{os.path.relpath(os.path.join(dirpath, name), root)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode()
                )
    return h.digest()


def _lark_stamp() -> str:
    """Which Lark is installed, without importing it: where its package lies and its ``__init__``'s size and
    modification time (an upgrade rewrites that file)."""
    spec = importlib.util.find_spec("lark")
    if spec is None or spec.origin is None:
        return "no lark"
    try:
        st = os.stat(spec.origin)
    except OSError:
        return spec.origin
    return f"{spec.origin}\0{st.st_size}\0{st.st_mtime_ns}"


def make_key(kind: str, *parts: bytes | str) -> bytes:
    h = hashlib.sha256(kind.encode() + b"\0" + code_key())
    for p in parts:
        b = p.encode("utf-8", "surrogateescape") if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.digest()


class _Pickler(pickle.Pickler):
    """Writes ``source`` (the module the entry is about) as a reference, so a hit's spans point at the
    caller's file and the entry does not repeat its text."""

    def __init__(self, file: io.BytesIO, source: SourceFile | None) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._source = source

    def persistent_id(self, obj: Any) -> Any:
        return "source" if obj is self._source and obj is not None else None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, source: SourceFile | None) -> None:
        super().__init__(file)
        self._source = source

    def persistent_load(self, pid: Any) -> Any:
        if pid != "source" or self._source is None:
            raise pickle.UnpicklingError("foreign entry")
        return self._source

    def find_class(self, module: str, name: str) -> Any:
        # An entry holds hlb's own objects (the parser's table: functions of ToAst, named `ToAst.name`), paths
        # and containers, nothing else: no other builtin, and no dotted name that walks out of a class of hlb's
        # (`hlb.syntax.store` `os.getcwd` reaches os through this module's import).
        top = module.split(".", 1)[0]
        if top == "builtins":
            allowed = name in _BUILTINS
        elif top in ("hlb", "pathlib", "collections"):
            allowed = "." not in name or (top == "hlb" and _own_class(module, name.split(".", 1)[0]))
        else:
            allowed = False
        if not allowed:
            raise pickle.UnpicklingError(f"foreign class {module}.{name}")
        return super().find_class(module, name)


_BUILTINS = frozenset({"set", "frozenset", "complex", "bytearray", "range", "slice"})


def _own_class(module: str, name: str) -> bool:
    """Whether ``module.name`` is a class defined in ``module``."""
    found = getattr(importlib.import_module(module), name, None)
    return isinstance(found, type) and found.__module__ == module


def load(key: bytes, source: SourceFile | None = None) -> Any | None:
    """The value stored under ``key``, or None (no entry, or one that is unreadable, torn or foreign)."""
    d = _dir()
    if d is None:
        return None
    path = d / key.hex()
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_uid != os.getuid():
                return None
            data = f.read()
    except OSError:
        return None
    head = len(MAGIC) + 64
    if len(data) < head or not data.startswith(MAGIC) or data[len(MAGIC) : len(MAGIC) + 32] != key:
        return None
    payload = memoryview(data)[head:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC) + 32 : head]:
        return None
    try:
        value = _Unpickler(io.BytesIO(payload), source).load()
    except Exception:  # a corrupt or foreign entry is a miss  # noqa: BLE001
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: kept by prune
    return value


def store(key: bytes, value: Any, source: SourceFile | None = None) -> None:
    """Keep ``value`` under ``key`` (atomically: a temporary file renamed over the entry); failures are ignored."""
    d = _dir()
    if d is None:
        return
    buf = io.BytesIO()
    try:
        _Pickler(buf, source).dump(value)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return
    payload = buf.getvalue()
    try:
        replace_atomically(d / key.hex(), (MAGIC + key + hashlib.sha256(payload).digest(), payload), ".tmp-")
    except OSError:
        return
    if next(_STORES) % PRUNE_EVERY == 0:  # a process's first store, then one in PRUNE_EVERY, scans the directory
        prune(d, MAX_BYTES)


def prune(d: Path, max_bytes: int) -> None:
    """Remove the least recently used entries (and stale temporary files) until ``d`` holds at most
    ``max_bytes``."""
    try:
        entries = []
        total = 0
        for e in os.scandir(d):
            st = e.stat(follow_symlinks=False)
            entries.append((st.st_mtime_ns, st.st_size, e.path))
            total += st.st_size
        if total <= max_bytes:
            return
        entries.sort()
        for _, size, p in entries:
            if total <= max_bytes * 3 // 4:
                break
            try:
                os.unlink(p)
                total -= size
            except FileNotFoundError:
                pass
    except OSError:
        return
