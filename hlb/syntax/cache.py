"""The front end through the per-user cache (:mod:`hlb.syntax.store`): a module's parse, and what
``hlb format`` makes of it, for a text seen before under the same name.

:func:`parse_cached` is :func:`~hlb.syntax.parser.parse_module` through the cache: the module's AST and
diagnostics, complete (comments included, for the formatter), with spans that point at the caller's
:class:`~hlb.source.SourceFile`. :func:`format_cached` is ``hlb format``'s answer for a module: its
formatted text, or the diagnostics that stop it being formatted. Both import the parser and the
printer on a miss only, so ``hlb format --check`` of an unchanged file never loads them (the parser imports
Lark only to build its table the first time, or to report a syntax error).
"""

from __future__ import annotations

from hlb.diagnostics import Diagnostic
from hlb.source import SourceFile
from hlb.syntax.result import ParseResult
from hlb.syntax.store import load, make_key, store


def parse_cached(source: SourceFile) -> ParseResult:
    """:func:`~hlb.syntax.parser.parse_module`, from the cache when this text was parsed before under this name."""
    key = make_key("parse", source.name, source.original)
    hit = load(key, source)
    if isinstance(hit, ParseResult) and (hit.module is None or hit.module.file is source):
        return hit
    from hlb.syntax.parser import parse_module  # loaded by a miss only

    result = parse_module(source)
    store(key, result, source)
    return result


def format_cached(source: SourceFile) -> tuple[str | None, list[Diagnostic]]:
    """``source`` formatted as ``hlb format`` prints it (before :meth:`SourceFile.styled` restores its line
    endings), with None and the diagnostics when it does not parse; from the cache for a text formatted before
    under this name."""
    key = make_key("format", source.name, source.original)
    hit = load(key, source)
    if isinstance(hit, tuple) and len(hit) == 2 and isinstance(hit[0], str | None) and isinstance(hit[1], list):
        return hit
    from hlb.syntax.printer import format_module  # loaded by a miss only

    parsed = parse_cached(source)
    if parsed.module is None or not parsed.ok:
        value: tuple[str | None, list[Diagnostic]] = (None, list(parsed.diagnostics))
    else:
        value = (format_module(parsed.module), [])
    store(key, value, source)
    return value
