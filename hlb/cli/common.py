"""What the front-end commands (check, lint, format) share: finding files and printing diagnostics.

Kept free of hlb.llb (and so of the generated protobufs): `hlb format` imports nothing else of the compiler.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from hlb.diagnostics import Diagnostic, Severity, render_all
from hlb.source import SourceFile, Span

STDIN = "-"
FORMATS = ("text", "json", "github")  # how `hlb check` and `hlb lint` print diagnostics


def add_files_command(
    commands: Any, name: str, func: Callable[[argparse.Namespace], int], help: str, description: str
) -> argparse.ArgumentParser:
    """The parser of a command over modules (``hlb check``, ``hlb lint``): ``files``, by default build.hlb."""
    p: argparse.ArgumentParser = commands.add_parser(name, help=help, description=description)
    p.add_argument("files", nargs="*", default=["build.hlb"], help="files or directories (default: build.hlb)")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text: diagnostics with the source line and a caret on stderr (default); json: one JSON array of "
        "them on stdout; github: GitHub Actions workflow commands (annotations) on stdout",
    )
    p.set_defaults(func=func)
    return p


def hlb_files(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    """The files named by ``paths`` (directories are searched for ``*.hlb``), and the paths that do not exist."""
    found: list[str] = []
    missing: list[str] = []
    for p in paths:
        if p != STDIN and os.path.isdir(p):
            found += sorted(str(f) for f in Path(p).rglob("*.hlb") if f.is_file())
        elif p == STDIN or os.path.exists(p):  # a device or FIFO is refused when it is read
            found.append(p)
        else:
            missing.append(p)
    return found, missing


def read_source(path: str) -> SourceFile:
    """The module at ``path`` (``-`` reads stdin's bytes); OSError propagates."""
    if path == STDIN:
        stdin = getattr(sys.stdin, "buffer", None)
        return SourceFile.from_bytes("<stdin>", stdin.read()) if stdin else SourceFile("<stdin>", sys.stdin.read())
    return SourceFile.read(path, pipe=True)  # named on the command line: process substitution works


def use_color() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR")


def print_diagnostics(diagnostics: Iterable[Diagnostic], format: str = "text") -> None:
    """Print ``diagnostics`` as ``format`` (one of :data:`FORMATS`); ``json`` prints one array, so a command that
    reports several files collects them in a :class:`DiagnosticOutput` instead."""
    diagnostics = list(diagnostics)
    if format == "json":
        sys.stdout.write(_json([diagnostic_json(d) for d in diagnostics]))
    elif format == "github":
        sys.stdout.write("".join(github_command(d) + "\n" for d in diagnostics))
    elif diagnostics:
        print(render_all(diagnostics, color=use_color()), file=sys.stderr)


class DiagnosticOutput:
    """The diagnostics of a command over several files: text and github print as they come, json as one array
    when closed (``[]`` when there is none, so a script can always parse stdout)."""

    def __init__(self, format: str) -> None:
        self.format = format
        self.held: list[dict[str, Any]] = []

    def add(self, diagnostics: Iterable[Diagnostic]) -> None:
        if self.format == "json":
            self.held.extend(diagnostic_json(d) for d in diagnostics)
        else:
            print_diagnostics(diagnostics, self.format)

    def unreadable(self, path: str, e: OSError) -> None:
        """A file named on the command line that cannot be read: an error in every format (in json an entry
        of kind ``cannot-read`` without a position, so ``[]`` always means every file was checked and clean)."""
        message = f"cannot read {path}: {e.strerror or e}"
        if self.format == "json":
            where = {"file": path, "line": None, "col": None, "end_line": None, "end_col": None}
            self.held.append(
                {**where, "severity": "error", "code": None, "kind": "cannot-read", "message": message}
                | {"label": "", "hints": [], "labels": []}
            )
        elif self.format == "github":
            sys.stdout.write(f"::error file={github_property(path)},title=cannot-read::{github_data(message)}\n")
        else:
            cannot_read(path, e)

    def close(self) -> None:
        if self.format == "json":
            sys.stdout.write(_json(self.held))
            self.held = []


def _where(span: Span) -> dict[str, Any]:
    begin, last = span.begin, span.finish
    return {
        "file": span.file.name,
        "line": begin.line,
        "col": begin.column,
        "end_line": last.line,
        "end_col": last.column,
    }


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    """One diagnostic for ``--format json``: where (1-based; ``end_line``/``end_col`` are the span's last
    character), ``severity`` (error, warning, note), ``code`` (``E0201``), ``kind`` (``undefined-name``), the
    message, ``label`` (what the caret says, often ""), ``hints`` (the hint, then the notes) and ``labels``
    (the other spans it points at, each with its message)."""
    hints = ([d.hint] if d.hint else []) + list(d.notes)
    labels = [{**_where(lab.span), "message": lab.message} for lab in d.secondary]
    return {
        **_where(d.span),
        "severity": d.severity.value,
        "code": d.code.id,
        "kind": d.code.slug,
        "message": d.message,
        "label": d.primary.message,
        "hints": hints,
        "labels": labels,
    }


_GITHUB_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def github_data(text: str) -> str:
    """A workflow command's message as GitHub reads it: ``%``, CR and LF escaped."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_property(text: str) -> str:
    """A workflow command's property value: the message's escapes, and ``:`` and ``,`` too."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


def github_command(d: Diagnostic) -> str:
    """``::error file=F,line=L,col=C,endLine=..,endColumn=..,title=KIND::message``: a GitHub Actions annotation
    (a file named by an absolute path under the working directory is made relative, as the checkout is)."""
    w = _where(d.span)
    name = w["file"]
    if os.path.isabs(name) and not os.path.relpath(name).startswith(".."):
        name = os.path.relpath(name)
    props = {
        "file": name,
        "line": w["line"],
        "col": w["col"],
        "endLine": w["end_line"],
        "endColumn": w["end_col"],
        "title": f"{d.code.slug} ({d.code.id})",
    }
    text = d.message + "".join(f"\nhint: {h}" for h in ([d.hint] if d.hint else []) + list(d.notes))
    shown = ",".join(f"{k}={github_property(str(v))}" for k, v in props.items())
    return f"::{_GITHUB_COMMANDS[d.severity]} {shown}::{github_data(text)}"


def cannot_read(path: str, e: OSError) -> None:
    print(f"hlb: error: cannot read {path}: {e.strerror or e}", file=sys.stderr)


def source_of(path: str) -> SourceFile | None:
    """The module named on the command line (``-``: stdin), or None once why it cannot be read is printed."""
    try:
        return read_source(path)
    except OSError as e:
        cannot_read(path, e)
        return None


def add_module_argument(p: argparse.ArgumentParser, stdin: bool = True) -> None:
    """The optional FILE argument of a command that reads one module."""
    also = "; - reads stdin" if stdin else ""
    p.add_argument("file", nargs="?", default="build.hlb", help=f"the .hlb module (default: build.hlb{also})")


def cannot_write(path: str, e: OSError) -> None:
    print(f"hlb: error: cannot write {path}: {e.strerror or e}; it is unchanged", file=sys.stderr)


def rewrite(path: str, source: SourceFile, text: str) -> bool:
    """Write ``text`` (LF line breaks) over the file ``source`` was read from, in the file's line ending style.

    Nothing is written when that is what the file already holds (its mtime stays); returns whether it was written.
    """
    styled = source.styled(text)
    if styled == source.original:
        return False
    replace_file(path, styled)
    return True


def replace_file(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file in the same directory renamed over it.

    A symlink is written through: its final target is replaced and the link stays a link. The target's
    permissions are kept, and its owner and group when running as root.
    """
    target = os.path.realpath(path)
    st = os.stat(target)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".hlb-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8", errors="surrogateescape"))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, st.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def _json(value: object) -> str:
    import json  # only for --format json

    return json.dumps(value, indent=2) + "\n"
