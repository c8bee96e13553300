"""Where hlb keeps what it computed for the next run: ``$XDG_CACHE_HOME/hlb`` (else ``~/.cache/hlb``)."""

from __future__ import annotations

import os
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
