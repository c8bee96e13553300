"""``hlb completion bash|zsh|fish``: a shell completion script, generated from hlb's own argument parser.

shtab writes the script from the parser, so every command and flag completes as ``hlb --help`` lists them.
Two arguments get more than shtab infers: the module arguments complete ``.hlb`` files (and directories),
and ``-t/--target`` completes the target names that ``hlb targets --format names`` prints for the module on
the command line (``build.hlb`` when none is named), after a comma too (``-t app,<TAB>``), in all three shells.
"""

from __future__ import annotations

import argparse
import sys
from textwrap import dedent
from typing import Any

import shtab

from hlb.cli.main import build_parser
from hlb.syntax import store

SHELLS = ("bash", "zsh", "fish")

# The module a command line names: its last word ending in .hlb, else build.hlb (what `hlb run` builds).
_TARGETS: dict[str, Any] = {
    "bash": "_hlb_complete_targets",
    "zsh": "_hlb_complete_targets",
    "fish": "(_hlb_complete_targets)",
    "preamble": {
        "bash": dedent(
            """
            # $1: the word being completed; -t takes a comma-separated list
            _hlb_complete_targets() {
              local file=build.hlb word cur="$1" before=""
              for word in "${COMP_WORDS[@]}"; do
                case "$word" in *.hlb) file="$word" ;; esac
              done
              case "$cur" in *,*) before="${cur%,*},"; cur="${cur##*,}" ;; esac
              compgen -P "$before" -W "$(hlb targets --format names -- "$file" 2>/dev/null)" -- "$cur"
            }
            """
        ),
        "zsh": dedent(
            """
            _hlb_complete_targets() {
              local file=build.hlb word
              for word in "${words[@]}"; do
                [[ "$word" == *.hlb ]] && file="$word"
              done
              local -a names
              names=(${(f)"$(hlb targets --format names -- "$file" 2>/dev/null)"})
              (( ${#names} )) && _values -s , target "${names[@]}"
            }
            """
        ),
        "fish": dedent(
            """
            function _hlb_complete_targets
              set -l file build.hlb
              for word in (commandline -opc)
                string match -q -- '*.hlb' "$word"; and set file "$word"
              end
              set -l before (string replace -r -- '[^,]*$' '' (commandline -ct))
              for name in (hlb targets --format names -- "$file" 2>/dev/null)
                printf '%s%s\\n' "$before" "$name"
              end
            end
            """
        ),
    },
}


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="Print the completion script of a shell: commands, flags, .hlb files, and the targets of "
        "the module on the command line for -t. Load it with: bash: `source <(hlb completion bash)`; zsh: "
        '`hlb completion zsh > "${fpath[1]}/_hlb"`; fish: `hlb completion fish > '
        "~/.config/fish/completions/hlb.fish`.",
    )
    p.add_argument("shell", choices=SHELLS, help="the shell")
    p.set_defaults(func=run_completion)


def run_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(cached_script(args.shell))
    return 0


def cached_script(shell: str) -> str:
    """:func:`script`, from hlb's per-user cache (keyed by hlb's code, :mod:`hlb.syntax.store`) after the first
    time: `source <(hlb completion bash)` runs in every new shell, and generating the script imports every
    command's module (grpc, the solver: half a second), which a shell's start-up should not pay."""
    key = store.make_key("completion", shell, shtab.__version__)
    hit = store.load(key)
    if isinstance(hit, str):
        return hit
    text = script(shell)
    store.store(key, text)
    return text


def script(shell: str) -> str:
    """The completion script of ``shell`` for every command of ``hlb`` (this imports every command's module)."""
    parser = build_parser()
    hlb_files = shtab.glob("*.hlb")
    for action in _actions(parser):
        if action.dest == "target" and action.option_strings:
            action.complete = _TARGETS  # type: ignore[attr-defined]
        elif action.dest in ("file", "files", "file_option"):  # file_option: `hlb run -f/--file`
            action.complete = hlb_files  # type: ignore[attr-defined]
    text: str = shtab.complete(parser, shell=shell)
    return text if text.endswith("\n") else text + "\n"


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Every action of ``parser`` and of its subcommands' parsers, each once."""
    out: list[argparse.Action] = []
    for action in parser._actions:
        out.append(action)
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                out += _actions(sub)
    return out
