"""The ``hlb`` command line."""

from __future__ import annotations

import argparse
import atexit
import importlib
import io
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from hlb import __version__, _gc, dataclass_code
from hlb.cachedir import user_cache_dir

# Each command's module, imported only when that command runs: `hlb check` must not pay for grpc.
COMMANDS = {
    "run": "hlb.cli.run",
    "compile": "hlb.cli.compile",
    "explain": "hlb.cli.explain",
    "check": "hlb.cli.check",
    "lint": "hlb.cli.lint",
    "format": "hlb.cli.fmt",
    "fmt": "hlb.cli.fmt",
    "cache": "hlb.cli.cache",
    "langserver": "hlb.cli.langserver",
    "targets": "hlb.cli.targets",
    "init": "hlb.cli.init",
    "completion": "hlb.cli.completion",
}


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: unwound like Ctrl-C (solves cancelled, sessions and partial files cleaned up)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # one clean-up at a time; a second signal does not cut it short
    raise Terminated(signum)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` (one of :data:`COMMANDS`) only that command's module is imported."""
    parser = argparse.ArgumentParser(
        prog="hlb",
        description="hlb compiles .hlb build files to BuildKit LLB and builds them.",
    )
    parser.add_argument("--version", action="version", version=f"hlb {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = COMMANDS.get(command or "")
    for module in dict.fromkeys(COMMANDS.values()):
        if wanted is None or module == wanted:
            importlib.import_module(module).add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in ``argv`` and return its exit status; without ``argv`` (the ``hlb`` command itself),
    run ``sys.argv``'s and end the process with :func:`exit_now`."""
    if argv is None:
        # before any command's module creates its dataclasses; a file per command, each holding what it creates
        command = _command_of(sys.argv[1:])
        dataclass_code.install(user_cache_dir(), command if command in COMMANDS else "hlb")
        if command != "langserver":  # a process that ends soon: see promote_after_pauses
            _gc.promote_after_pauses()
        exit_now(dispatch(sys.argv[1:]))
    return dispatch(argv)


def exit_now(status: int) -> NoReturn:
    """End the process with ``status`` without the interpreter's teardown (freeing every module and object:
    ~40 ms after ``hlb run``, a tenth of a warm no-op build). What that teardown would still do for the user is
    done first: the other non-daemon threads are waited for, the ``atexit`` functions run, stdout and stderr
    are flushed. Every file hlb writes is closed by then (``with`` blocks, atomic renames)."""
    # What the interpreter's finalization does first, in its order: threading's own exit hooks (they wake a
    # thread pool's idle workers, which would otherwise wait for work forever) and the non-daemon threads
    # joined (threading._shutdown), then the atexit functions.
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            if status == 0:
                status = 1
    os._exit(status)


def _command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (its first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def dispatch(argv: Sequence[str]) -> int:
    argv = list(argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if isinstance(sys.stdin, io.TextIOWrapper):
        # Source read from stdin is UTF-8 whatever the locale; bytes that are not reach the lexer, which reports them.
        sys.stdin.reconfigure(encoding="utf-8", errors="surrogateescape")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    try:
        return int(args.func(args))
    except Terminated as e:
        print(f"hlb: terminated ({signal.Signals(e.signum).name})", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("hlb: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as e:  # the CLI boundary: a bug in hlb, not a user mistake
        import traceback  # only here: with linecache and tokenize, ~1.5 ms of every start

        if os.environ.get("HLB_BACKTRACE"):
            traceback.print_exc()
        else:
            where = traceback.extract_tb(e.__traceback__)[-1]
            print(
                f"hlb: internal error: {type(e).__name__}: {e} (at {where.filename}:{where.lineno})\n"
                "  this is a bug in hlb; rerun with HLB_BACKTRACE=1 for the full traceback and report it",
                file=sys.stderr,
            )
        return 70


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
