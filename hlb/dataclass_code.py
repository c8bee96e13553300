"""The code ``@dataclass`` generates, compiled once per user instead of once per process.

Creating a dataclass writes its methods (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, a frozen
class's ``__setattr__`` and ``__delattr__``) as source text and compiles that text with ``exec``: about
0.4 ms a class, and ``hlb run`` creates some 200 of them at start-up, a quarter of its imports. The text
depends only on the class's fields and options, so it is the same in every process: this module keeps the
code object compiled from each text in one file under the user's cache directory, and the next process
executes the stored code instead of compiling the text again (what ``.pyc`` files do for modules).

:func:`install` is called by the ``hlb`` command for its own process only (never on import: a program
that uses hlb as a library keeps its ``dataclasses`` as they are). It gives the ``dataclasses`` module an
``exec`` of its own (a module global, found before the builtin) that looks the text up first. Executing a
cached code object is what ``exec`` of its text does: the text is compiled as ``exec`` compiles it
(``"<string>"``, no ``__future__`` flags: ``dataclasses`` has none), in the same globals and namespace.
A Python whose ``dataclasses`` does not call ``exec`` this way only finds nothing to look up.

The file is ``MAGIC``, a line naming the interpreter (its version, bytecode tag and optimization level;
another one's file is ignored), then a ``marshal`` of text -> code. It is written at exit when a text was
compiled, to a temporary file renamed over the old one; a torn, foreign or corrupt file counts as empty.
A process that compiled something keeps what the file held unless that is more than half again what the process
used; then it writes only what it used, so texts of classes hlb no longer has (after an upgrade) do not make every
later start read them.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import dataclasses
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

from hlb.cachedir import replace_atomically

MAGIC = b"hlb-dataclass-code 1\n"
_DISABLE = "HLB_NO_CODE_CACHE"  # set (to anything non-empty) to compile every class's code as Python does


def _interpreter() -> bytes:
    """The line naming this interpreter: a code object is read only by the Python that wrote it."""
    name = f"{sys.version} {sys.implementation.cache_tag} -O{sys.flags.optimize}"
    return name.replace("\n", " ").encode() + b"\n"


class CodeCache:
    """Text -> compiled code, read from and written to ``path``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.codes: dict[str, CodeType] = self._read() if path is not None else {}
        self.used: set[str] = set()
        self.compiled = 0  # texts compiled by this process (not found in the file)

    def _read(self) -> dict[str, CodeType]:
        assert self.path is not None
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_uid != os.getuid() or st.st_mode & 0o022:
                    return {}  # code someone else could have written is never run
                data = f.read()
        except OSError:
            return {}
        head = MAGIC + _interpreter()
        if not data.startswith(head):
            return {}
        try:
            codes = marshal.loads(memoryview(data)[len(head) :])
        except (EOFError, ValueError, TypeError):
            return {}
        if not isinstance(codes, dict) or not all(
            type(k) is str and type(v) is CodeType for k, v in codes.items()
        ):  # pragma: no cover - only a file written by another program
            return {}
        return codes

    def code(self, text: str) -> CodeType:
        """The code ``exec(text)`` runs, compiled once."""
        code = self.codes.get(text)
        if code is None:
            code = self.codes[text] = compile(text, "<string>", "exec", dont_inherit=True)
            self.compiled += 1
        self.used.add(text)
        return code

    def exec(self, source: Any, globals: Any = None, locals: Any = None, /, **kwargs: Any) -> None:
        """``exec`` as the builtin does it, with a text's code from the cache."""
        if globals is None:  # the builtin's default: the caller's namespaces, not this function's
            frame = sys._getframe(1)
            globals = frame.f_globals
            locals = frame.f_locals if locals is None else locals
        if type(source) is str:
            source = self.code(source)
        elif not isinstance(source, CodeType):  # compiled as the builtin would, without this module's __future__
            source = compile(source, "<string>", "exec", dont_inherit=True)
        builtins.exec(source, globals, locals, **kwargs)

    def save(self) -> None:
        """Write the file when this process compiled a text that was not in it."""
        if self.path is None or not self.compiled:
            return
        codes = self.codes
        if len(codes) > len(self.used) * 3 // 2:
            codes = {text: codes[text] for text in self.used}
        with contextlib.suppress(OSError):
            replace_atomically(self.path, (MAGIC, _interpreter(), marshal.dumps(codes)), ".dataclass-code.")


def install(cache_dir: Path | None, name: str) -> CodeCache | None:
    """Make ``dataclasses`` execute its generated code from the cache file ``name`` in ``cache_dir`` (saved
    at exit; the ``hlb`` command keeps one per subcommand, so each reads only the classes it creates); None
    when ``HLB_NO_CODE_CACHE`` is set or there is no cache directory."""
    if os.environ.get(_DISABLE) or cache_dir is None:
        return None
    cache = CodeCache(cache_dir / f"dataclass-code-{sys.implementation.cache_tag}-{name}.bin")
    dataclasses.exec = cache.exec  # type: ignore[attr-defined]
    atexit.register(cache.save)
    return cache
