"""``hlb init``: write a starter ``build.hlb`` (never over an existing one without ``--force``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

STARTER = """\
# build.hlb, written by `hlb init`.
#
# `hlb run` builds the target `default`, `hlb targets` lists the targets, `hlb check`
# checks this file without building. The language, its builtins and the command line
# are described in docs/language.md of hlb's source (also `hlb COMMAND --help`).

# The default target: files made in a busybox image, and a step whose cache
# directory (`cacheMount`) is kept on the daemon between builds, even when the step
# itself runs again (it counts the builds that ran it). Run it twice: the second
# build reports every step CACHED.
fs default() {
	image "busybox:latest"
	mkdir "/src" 0o755
	dir "/src"
	mkfile "hello.txt" 0o644 "hello from hlb\\n"
	run "cat hello.txt; date >> /cache/builds; wc -l < /cache/builds" with option {
		cacheMount "/cache"
	}
}

# A target with a parameter: `hlb run -t greet --arg name=you`.
fs greet(string name) {
	default
	run "echo hello ${name} > greeting.txt"
}
"""


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "init",
        help="write a starter build.hlb",
        description="Write a starter build.hlb (a busybox image, a step with a cacheMount, and a target with a "
        "parameter) in the current directory or the one given. An existing file is left alone unless --force.",
    )
    p.add_argument("dir", nargs="?", default=".", help="the directory to write build.hlb in (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite an existing build.hlb")
    p.set_defaults(func=run_init)


def run_init(args: argparse.Namespace) -> int:
    if not os.path.isdir(args.dir):
        print(f"hlb: error: {args.dir} is not a directory", file=sys.stderr)
        return 1
    path = os.path.join(args.dir, "build.hlb")
    shown = os.path.relpath(path)
    if os.path.lexists(path) and not args.force:
        print(f"hlb: error: {shown} exists; it is left as it is (--force overwrites it)", file=sys.stderr)
        return 1
    try:
        with open(path, "w" if args.force else "x", encoding="utf-8") as f:
            f.write(STARTER)
    except OSError as e:
        print(f"hlb: error: cannot write {shown}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"hlb: wrote {shown}; `hlb run` builds it, `hlb targets` lists its targets", file=sys.stderr)
    return 0
