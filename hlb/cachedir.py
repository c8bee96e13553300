"""Where hlb keeps what it computed for the next run: ``$XDG_CACHE_HOME/hlb`` (else ``~/.cache/hlb``), and how
a file there is written."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path


def user_cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/hlb`` or ``~/.cache/hlb``, created private (never world-writable /tmp); None when
    it cannot be, or is not the user's."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = Path(base) / "hlb"
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        if d.stat().st_uid != os.getuid():
            return None
    except OSError:
        return None
    return d


def replace_atomically(path: Path, parts: Iterable[bytes], prefix: str, suffix: str = "") -> None:
    """Write ``parts`` to a new private file beside ``path`` (``prefix``, ``suffix``: its name, which the cache's
    pruning may recognise) and rename it over ``path``, so a reader sees the old file or the whole new one; the
    temporary file is removed when anything fails. OSError propagates."""
    import tempfile  # only a process that writes pays for it (~2 ms: random, shutil), not every start

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(part)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
