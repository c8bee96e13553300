"""``hlb langserver``: the language server for editors, over stdio (``--tcp PORT`` to debug it).

It needs the optional extra ``pip install 'hlb[lsp]'`` (pygls); without it the command says so and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "langserver",
        help="run the language server (LSP) for editors",
        description="Speak the Language Server Protocol over stdin/stdout: diagnostics (check and lint, with "
        "quick fixes), hover, completion, definition, references, rename, symbols and formatting. "
        "Needs `pip install 'hlb[lsp]'`.",
    )
    p.add_argument("--tcp", type=int, metavar="PORT", help="listen on a TCP port instead (for debugging)")
    p.add_argument("--host", default="127.0.0.1", help="the address --tcp listens on (default: %(default)s)")
    p.set_defaults(func=run_langserver)


def run_langserver(args: argparse.Namespace) -> int:
    try:
        import pygls  # noqa: F401  (the optional extra)
    except ImportError:
        print("hlb: error: `hlb langserver` needs pygls: pip install 'hlb[lsp]'", file=sys.stderr)
        return 2
    if args.tcp is not None and not 0 < args.tcp < 65536:
        print(f"hlb: error: --tcp: {args.tcp} is not a TCP port", file=sys.stderr)
        return 2
    from hlb.lsp.server import serve  # pygls and the checker, once the command runs

    serve(tcp=args.tcp, host=args.host)
    return 0
