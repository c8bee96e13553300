"""Where a file hlb writes at a path the user named goes (``--metadata-file``, ``-o type=tar,dest=``, a
``download`` file, ``hlb format -w``): the file the path finally names, written whole or not at all.

A symlink is written through (its target is the file; the link stays a link). A regular file, or a new one,
is written as a temporary sibling of the target and renamed over it, so a reader never sees half of it. A path
that names something else that exists (a terminal, a pipe, ``/dev/stdout``, a FIFO, ``/dev/null``) is written in
place: renaming over it would replace the device with a regular file.
"""

from __future__ import annotations

import os
import stat


def destination(path: str) -> tuple[str, bool]:
    """(the file to write, ``path`` with its symlinks resolved; whether it is written in place: it exists and is
    not a regular file or a directory, and then the path is ``path`` itself)."""
    try:
        st = os.stat(path)  # through every link, /proc/self/fd's too (their realpath, `pipe:[N]`, names nothing)
    except FileNotFoundError:
        return os.path.realpath(path), False
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return os.path.realpath(path), False
    return path, True  # opened through the path itself: open() follows the links


def is_stdout(path: str) -> bool:
    """Whether ``path`` names this process's standard output (``/dev/stdout``, ``/proc/self/fd/1``, the tty or
    the pipe it is)."""
    try:
        st, out = os.stat(path), os.fstat(1)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (out.st_dev, out.st_ino)
