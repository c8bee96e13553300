"""Files hlb writes at paths the user names (hlb/outfile.py): through symlinks, in place into devices and
pipes (renaming over /dev/stdout replaced it with a regular file, as root), atomically otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hlb.build import metadata
from hlb.outfile import destination, is_stdout
from hlb.session.filesend import FileSink


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link.json").symlink_to(tmp_path / "real" / "md.json")
    (tmp_path / "link.tar").symlink_to(tmp_path / "real" / "out.tar")
    metadata.write(str(tmp_path / "link.json"), {"a": 1})
    sink = FileSink(str(tmp_path / "link.tar"))
    sink.write(b"tar bytes")
    sink.commit()
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "link.tar").is_symlink()
    assert json.loads((tmp_path / "real" / "md.json").read_text()) == {"a": 1}
    assert (tmp_path / "real" / "out.tar").read_bytes() == b"tar bytes"
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["md.json", "out.tar"]  # no temporaries left


def test_a_device_or_a_pipe_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    metadata.write(str(fifo), {"b": 2})
    out, _ = reader.communicate(timeout=30)
    assert json.loads(out) == {"b": 2} and fifo.exists() and not fifo.is_file()
    assert destination("/dev/null") == ("/dev/null", True)
    sink = FileSink("/dev/null")
    sink.write(b"x")
    sink.commit()
    assert Path("/dev/null").is_char_device()


def test_stdout_through_proc_stays_stdout(tmp_path: Path) -> None:
    # /dev/stdout is a link to /proc/self/fd/1, whose own target (`pipe:[N]`) names nothing: a link of the test's
    # own to it stands in for /dev/stdout, so a regression replaces that link, not the machine's /dev/stdout.
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    probe = (
        "import sys; from hlb.build import metadata; from hlb.outfile import is_stdout;"
        f"metadata.write({str(link)!r}, {{'c': 3}}); print(is_stdout({str(link)!r}), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"c": 3} and done.stderr.strip() == "True"
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    assert not is_stdout(__file__)
