"""What a `local` directory looked like when the session sent it: a small, bounded summary for `hlb explain`.

Every record the filesync sender lists (path, size, mtime, Go file mode) is kept, and each small
regular file is hashed and its lines counted, so a later run can say *which* file changed and
how ("package-lock.json (+3 lines)") without asking the daemon. Bounds: files up to
:data:`SMALL` bytes are hashed, at most :data:`HASH_BUDGET` bytes per directory per run; at most
:data:`MAX_FILES` entries are kept (the rest are only counted, and folded into ``digest``).
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from typing import Any

from hlb._proto.fsutil_stat_pb2 import Stat
from hlb.session.fswalk import MODE_TYPE, open_file_beneath

SMALL = 64 * 1024
HASH_BUDGET = 8 << 20
MAX_FILES = 2000
_READ = 1 << 16


class LocalSummary:
    """The files of one `local` directory as sent, built one listed record at a time (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.files: dict[str, list[Any]] = {}  # path -> [size, mtime_ns, mode, sha256[:16] or "", lines or -1]
        self.count = 0
        self.hashed_bytes = 0
        self._digest = hashlib.sha256()
        self._behind: list[threading.Thread] = []  # threads still summarizing a listing (:meth:`beside`)

    def beside(self, root: int) -> Beside:
        """Summarize a listing of ``root`` on a thread of its own, so the sender only hands records over:
        reading and hashing small files is not on the listing's path (:meth:`to_json` waits for it)."""
        b = Beside(self, os.dup(root))
        with self.lock:
            self._behind.append(b.thread)
        return b

    def wait(self) -> None:
        """Wait until every record handed over (:meth:`beside`) is summarized."""
        while True:
            with self.lock:
                if not self._behind:
                    return
                thread = self._behind.pop()
            thread.join()

    def add(self, root: int, record: Stat) -> None:
        """Note ``record`` (as listed below the directory opened as ``root``); hash it if it is small."""
        regular = record.mode & MODE_TYPE == 0 and not record.linkname
        digest, lines = "", -1
        if regular and record.size <= SMALL and self.hashed_bytes + record.size <= HASH_BUDGET:
            digest, lines = _hash(root, record.path)
            self.hashed_bytes += record.size
        entry = [int(record.size), int(record.modTime), int(record.mode), digest or record.linkname, lines]
        with self.lock:
            self.count += 1
            self._digest.update(f"{record.path}\0{entry[0]}\0{entry[2]}\0{digest or entry[1]}\n".encode())
            if len(self.files) < MAX_FILES or record.path in self.files:
                self.files[record.path] = entry

    def to_json(self) -> dict[str, Any]:
        self.wait()
        with self.lock:
            return {
                "count": self.count,
                "digest": self._digest.hexdigest()[:32],
                "files": dict(self.files),
                "kept": len(self.files),
            }


class Beside:
    """Hands a listing's records to a thread that adds them to a :class:`LocalSummary` in order."""

    def __init__(self, summary: LocalSummary, root: int) -> None:
        self.summary = summary
        self.root = root  # a duplicate of the listing's directory descriptor, closed when the thread ends
        self.records: queue.SimpleQueue[Stat | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="hlb-summary", daemon=True)
        self.thread.start()

    def add(self, record: Stat) -> None:
        self.records.put(record)

    def end(self) -> None:
        """No more records (idempotent)."""
        self.records.put(None)

    def _run(self) -> None:
        try:
            while (record := self.records.get()) is not None:
                self.summary.add(self.root, record)
        finally:
            os.close(self.root)


def _hash(root: int, path: str) -> tuple[str, int]:
    """The file's sha256 (16 hex digits) and its number of lines (-1 when it is not text)."""
    try:
        fd = open_file_beneath(root, path)
    except OSError:
        return "", -1
    h = hashlib.sha256()
    newlines, binary, last = 0, False, b""
    try:
        while chunk := os.read(fd, _READ):
            h.update(chunk)
            newlines += chunk.count(b"\n")
            binary = binary or b"\0" in chunk
            last = chunk
    except OSError:
        return "", -1
    finally:
        os.close(fd)
    lines = newlines + (1 if last and not last.endswith(b"\n") else 0)
    return h.hexdigest()[:16], -1 if binary else lines
