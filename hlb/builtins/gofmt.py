"""Go's ``fmt.Sprintf`` for string operands, as ``format`` uses it.

Every operand of ``format`` is a string, so only the string verbs print a
value (``%s``, ``%v``, ``%q``, ``%x``, ``%X``, ``%T``); any other verb prints
Go's error text ``%!d(string=x)``. Missing and extra operands, bad argument
indexes and ``*`` widths (which want an int) print Go's texts too:
``%!s(MISSING)``, ``%!(EXTRA string=x)``, ``%!s(BADINDEX)``,
``%!(BADWIDTH)``, ``%!(BADPREC)``, ``%!(NOVERB)``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

_STRING_VERBS = "svqxXT"
_SHORT_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}


@dataclass
class _Flags:
    minus: bool = False
    plus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    width: int | None = None
    prec: int | None = None


def sprintf(fmt: str, args: Sequence[str]) -> str:
    """``fmt.Sprintf(fmt, args...)`` where every argument is a Go ``string``."""
    p = _Printer(fmt, args)
    p.run()
    return "".join(p.out)


class _Printer:
    """Go's ``doPrintf`` loop: flags, ``[n]`` indexes, width, precision, verb."""

    def __init__(self, fmt: str, args: Sequence[str]) -> None:
        self.fmt, self.args = fmt, args
        self.out: list[str] = []
        self.argnum = 0
        self.reordered = False
        self.good = True  # the argument index of this verb is valid

    def run(self) -> None:
        fmt, end, i = self.fmt, len(self.fmt), 0
        while i < end:
            j = fmt.find("%", i)
            if j < 0:
                self.out.append(fmt[i:])
                break
            self.out.append(fmt[i:j])
            self.good = True
            f = _Flags()
            i = _parse_flags(fmt, j + 1, f)
            after_index = self._index(i)
            i = self.i
            if i < end and fmt[i] == "*":
                i = self._star(i, "%!(BADWIDTH)")
                after_index = False
            else:
                f.width, i = _number(fmt, i)
                if after_index and f.width is not None:  # "%[3]2s"
                    self.good = False
            if i + 1 < end and fmt[i] == ".":
                if after_index:  # "%[3].2s"
                    self.good = False
                after_index = self._index(i + 1)
                i = self.i
                if i < end and fmt[i] == "*":
                    i = self._star(i, "%!(BADPREC)")
                    after_index = False
                else:
                    prec, i = _number(fmt, i)
                    f.prec = prec or 0
            if not after_index:
                self._index(i)
                i = self.i
            if i >= end:
                self.out.append("%!(NOVERB)")
                break
            verb, i = fmt[i], i + 1
            self._verb(verb, f)
        if not self.reordered and self.argnum < len(self.args):
            extra = ", ".join(f"string={a}" for a in self.args[self.argnum :])
            self.out.append(f"%!(EXTRA {extra})")

    def _verb(self, verb: str, f: _Flags) -> None:
        if verb == "%":
            self.out.append("%")  # takes no operand; width and precision are ignored
        elif not self.good:
            self.out.append(f"%!{verb}(BADINDEX)")
        elif self.argnum >= len(self.args):
            self.out.append(f"%!{verb}(MISSING)")
        else:
            self.out.append(_format_arg(self.args[self.argnum], verb, f))
            self.argnum += 1

    def _star(self, i: int, bad: str) -> int:
        # `*` takes its value from an int operand; every operand here is a string.
        if self.argnum < len(self.args):
            self.argnum += 1
        self.out.append(bad)
        return i + 1

    def _index(self, i: int) -> bool:
        """Parse an ``[n]`` at ``i`` into ``self.argnum``/``self.i``; True when one was found."""
        self.i = i
        fmt = self.fmt
        if i >= len(fmt) or fmt[i] != "[":
            return False
        self.reordered = True
        close = fmt.find("]", i + 1)
        if len(fmt) - i < 3 or close < 0 or close == i + 1:
            self.good = False
            self.i = i + 1 if len(fmt) - i < 3 or close < 0 else close + 1
            return False
        text = fmt[i + 1 : close]
        self.i = close + 1
        if not (text.isascii() and text.isdigit()):
            self.good = False
            return False
        n = int(text) - 1
        if 0 <= n < len(self.args):
            self.argnum = n
        else:
            self.good = False
        return True


def _parse_flags(fmt: str, i: int, f: _Flags) -> int:
    while i < len(fmt):
        c = fmt[i]
        if c == "-":
            f.minus = True
        elif c == "+":
            f.plus = True
        elif c == "#":
            f.sharp = True
        elif c == " ":
            f.space = True
        elif c == "0":
            f.zero = True
        else:
            break
        i += 1
    return i


def _number(fmt: str, i: int) -> tuple[int | None, int]:
    j = i
    while j < len(fmt) and fmt[j].isascii() and fmt[j].isdigit():
        j += 1
    return (int(fmt[i:j]) if j > i else None), j


def _format_arg(arg: str, verb: str, f: _Flags) -> str:
    if verb not in _STRING_VERBS:
        return f"%!{verb}(string={_pad(_truncate(arg, f), f)})"  # Go prints the operand with %v and the flags
    if verb == "T":
        return _pad(_truncate("string", f), f)
    if verb in "sv" and not (verb == "v" and f.sharp):
        return _pad(_truncate(arg, f), f)
    if verb in "qv":  # %q and %#v
        text = _truncate(arg, f)
        if f.sharp and verb == "q" and _can_backquote(text):
            return _pad(f"`{text}`", f)
        return _pad(quote(text, ascii_only=f.plus and verb == "q"), f)
    return _hex(arg, f, "0123456789abcdefx" if verb == "x" else "0123456789ABCDEFX")


def _truncate(s: str, f: _Flags) -> str:
    return s[: f.prec] if f.prec is not None else s


def _pad(s: str, f: _Flags) -> str:
    if f.width is None or len(s) >= f.width:
        return s
    fill = " " * (f.width - len(s))  # Go ignores the 0 flag for strings
    return s + fill if f.minus else fill + s


def _hex(s: str, f: _Flags, digits: str) -> str:
    data = s.encode("utf-8")
    if f.prec is not None:
        data = data[: f.prec]
    if not data:
        return _pad("", f)
    prefix = "0" + digits[16] if f.sharp else ""
    parts = [digits[b >> 4] + digits[b & 0xF] for b in data]
    if f.space:
        text = " ".join(prefix + p for p in parts)
    else:
        text = prefix + "".join(parts)
    if f.width is None or len(text) >= f.width:
        return text
    fill = " " * (f.width - len(text))
    return text + fill if f.minus else fill + text


def quote(s: str, *, ascii_only: bool = False) -> str:
    """``strconv.Quote`` (or ``QuoteToASCII``): a double-quoted Go string literal."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif _is_print(ch) and not (ascii_only and ord(ch) >= 0x80):
            out.append(ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:  # a lone surrogate is not valid UTF-8: Go sees U+FFFD
            out.append("\\ufffd")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _is_print(ch: str) -> bool:
    """Go's ``strconv.IsPrint``: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def _can_backquote(s: str) -> bool:
    """``strconv.CanBackquote``: no backquote, no control character except tab, no U+FEFF."""
    return all(ch != "`" and ch != "\ufeff" and (ch == "\t" or not (ord(ch) < 0x20 or ord(ch) == 0x7F)) for ch in s)
