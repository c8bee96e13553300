"""The HLB lexer: a modal scanner that feeds Lark's LALR parser.

HLB's lexical rules are stateful (openllb/hlb uses participle's stateful lexer),
so the grammar in ``grammar/hlb.lark`` declares its terminals and this module
produces them:

* root tokens are tried **in order** at each position, as participle does, so
  ``0755`` is an identifier (no word boundary after ``0``) and ``option::run``
  is one identifier (identifiers contain colons);
* ``"...`` strings are scanned in their own mode; ``${`` switches back to root
  mode until the matching ``}``;
* newlines are statement terminators, except directly inside ``( ... )``
  (parameter, argument and bind lists), where they only separate items;
* comments are not passed to the parser; they are kept in :attr:`Lexer.comments`
  for doc strings and the formatter.

Lexical errors raise :class:`LexError` carrying a diagnostic.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.source import SourceFile, Span
from hlb.syntax.ast import Comment

KEYWORDS = {"import": "IMPORT", "export": "EXPORT", "with": "WITH", "as": "AS"}
SOFT_KEYWORDS = {"from": "FROM", "binds": "BINDS", "variadic": "VARIADIC"}

_ROOT = [
    ("KEYWORD", re.compile(r"\b(import|export|with|as)\b", re.ASCII)),
    ("NUMERIC", re.compile(r"\b0[bBoOxX][a-fA-F0-9]+\b", re.ASCII)),
    ("DECIMAL", re.compile(r"\b(0|[1-9][0-9]*)\b", re.ASCII)),
    ("BOOL", re.compile(r"\b(true|false)\b", re.ASCII)),
    ("NAME", re.compile(r"[\w:]+", re.ASCII)),
]
# One regex for the ordered alternatives: Python tries them left to right, as participle tries its rules.
_WORD = re.compile("|".join(f"(?P<{kind}>{rx.pattern})" for kind, rx in _ROOT), re.ASCII)
_NAME = _ROOT[-1][1]
_SPACE = re.compile(r"[\r\t ]+")
_COMMENT = re.compile(r"#[^\n]*")
# Root mode's next token after any blanks, in one match: the group that matched says which kind it starts.
# A string without interpolation is matched whole (group _T_STRING: its text, _STR_RUN's tokens), else its quote.
_ROOT_TOKEN = re.compile(
    r'[\r\t ]*+(?:([\w:]++)|(\n)|([{}(),;.])|"((?:[^"$\\]++|\$(?!\{)|\\[^\n])*+)"|(")|(#[^\n]*+)|(`)|(<<))', re.ASCII
)
_T_WORD, _T_NL, _T_PUNCT, _T_STRING, _T_QUOTE, _T_COMMENT, _T_RAW, _T_HEREDOC = range(1, 9)
_HEREDOC = re.compile(r"<<[-~]?(?:(\w+)\b|`(\w+)`)", re.ASCII)
# Go's RE2 `\s` is [\t\n\f\r ] (no \v), spelled out so Python agrees.
# A heredoc's body is a sequence of fragments, each tried in openllb/hlb's order at the end of the last: the
# terminator, spaces, an escape (a backslash and any character but a newline), `${`, a lone `$`, other text.
# One HD_CHARS token covers a whole run of fragments up to a terminator or a `${` (the transformer finds the
# escapes in it again); the repetition is possessive (`++`), so the regex engine keeps no backtracking state per
# fragment, which costs it ~170 bytes each.
_HD_FRAGMENT = r"[\t\n\f\r ]+|\\[^\n]|\$(?!\{)|[^\t\n\f\r $]+"
_HD_RAW_FRAGMENT = r"[\t\n\f\r ]+|[^\t\n\f\r ]+"
# A string's text up to `"`, `${` or a backslash that starts no escape (an error): plain text and escapes.
_STR_RUN = re.compile(r'(?:[^"$\\]+|\$(?!\{)|\\[^\n])++')
_PUNCT = {
    "{": "LBRACE",
    "}": "RBRACE",
    "(": "LPAR",
    ")": "RPAR",
    ",": "COMMA",
    ";": "_SEMI",
    "\n": "_NL",
    ".": "STRAY_DOT",  # `.` only belongs in `module.name`, which _word lexes; others are syntax errors
}
# How many blocks, lists, strings, interpolations and heredocs may be open at once: deeper
# nesting is a `too-deep` diagnostic at the opener past the limit (every later stage walks
# the syntax tree recursively; this bound keeps them all within Python's stack).
MAX_NESTING = 64
# What each open construct on the stack is called, and the character that closes it.
_CLOSERS = {"LBRACE": "}", "LPAR": ")", "INTERP": "}", "STRING": '"', "HEREDOC": "heredoc terminator"}
_OPENED = {"LBRACE": "block", "LPAR": "list", "INTERP": "interpolation", "STRING": "string", "HEREDOC": "heredoc"}


# A token of the fast driver (hlb/syntax/parser.py): its type and offsets; its text is ``text[start:end]``.
Tok = tuple[str, int, int]

# A word with neither a colon nor a leading digit is a keyword, a boolean, a soft keyword or a name as a whole
# (the ordered rules of _ROOT agree on it); the others go through _WORD.
_WORD_KINDS = {**KEYWORDS, **SOFT_KEYWORDS, "true": "BOOL", "false": "BOOL"}
_SELECTOR_KINDS = ("NAME", "FROM", "BINDS", "VARIADIC")  # the kinds a `module.name` selector may start with


@functools.cache
def grammar() -> str:
    """The grammar's text (``hlb.lark``, whose terminals this module produces): Lark's input, and part of the
    key of the LALR table kept in the front cache."""
    # Beside this file (importlib.resources would import zipfile, ~2 ms, for a package that is never zipped)
    return Path(__file__).with_name("hlb.lark").read_text(encoding="utf-8")


class LexError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(str(diagnostic))
        self.diagnostic = diagnostic


class Scanner:
    """Turns one source file into tokens: :meth:`scan`'s (type, start, end) for hlb/syntax/parser.py's own
    driver (hlb/syntax/lark_driver.py `lark_tokens` makes them Lark Tokens for Lark's, which reports syntax
    errors)."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.text = source.text
        self.pos = 0  # where scanning starts
        self.stack: list[tuple[str, int]] = []  # (opener kind, offset)
        self.heredocs: list[tuple[re.Pattern[str], re.Pattern[str]]] = []  # open heredocs: (terminator, text run)
        self.comments: list[Comment] = []

    # -- helpers -----------------------------------------------------------

    def _span(self, start: int, end: int) -> Span:
        return Span(self.source, start, end)

    def _fail(self, diagnostic: Diagnostic) -> LexError:
        return LexError(diagnostic)

    def _open(self, kind: str, start: int, end: int) -> None:
        if len(self.stack) >= MAX_NESTING:
            raise self._fail(
                cat.too_deep(
                    self._span(start, end),
                    "blocks, lists, strings and interpolations",
                    MAX_NESTING,
                    hint="move the inner part into a function of its own and call it",
                )
            )
        self.stack.append((kind, start))

    # -- root mode ---------------------------------------------------------

    def scan(self) -> Iterator[Tok]:
        """The tokens as (type, start, end), from :attr:`pos` to the end of :attr:`text`.

        The common tokens are made in this loop (a method call per token cost as much as the token).
        """
        if self.source.invalid is not None:  # source is UTF-8: a file that is not is rejected whole
            raise self._fail(cat.invalid_utf8(self._span(self.source.invalid, self.source.invalid + 1)))
        text, n = self.text, len(self.text)
        stack = self.stack
        pos = self.pos
        root, space, str_run = _ROOT_TOKEN.match, _SPACE.match, _STR_RUN.match
        word_kinds = _WORD_KINDS
        while pos < n:
            top = stack[-1][0] if stack else None
            if top == "STRING":
                start = pos
                ch = text[pos]
                if ch == '"':
                    stack.pop()
                    pos += 1
                    yield "DQUOTE_END", start, pos
                elif ch == "$" and text.startswith("${", pos):
                    self._open("INTERP", pos, pos + 2)
                    pos += 2
                    yield "INTERP_START", start, pos
                else:
                    m = str_run(text, pos)
                    if m is None:  # a backslash before a newline or the end of the file
                        raise self._fail(cat.invalid_escape(self._span(pos, min(pos + 2, n)), "\\<newline>"))
                    pos = m.end()
                    yield "STR_CHARS", start, pos
                continue
            if top == "HEREDOC":
                tok = self._heredoc_body(pos)
                pos = tok[2]
                yield tok
                continue
            m = root(text, pos)
            if m is None:  # blanks up to the end, or a character no token starts with
                pos = space(text, pos).end() if text[pos] in " \t\r" else pos  # type: ignore[union-attr]
                if pos == n:
                    break
                raise self._fail(cat.unexpected_character(self._span(pos, pos + 1), text[pos]))
            group = m.lastindex
            end = m.end()
            if group == _T_WORD:
                word = m.group(1)
                start = end - len(word)
                if ":" in word or "0" <= word[0] <= "9" or (end < n and text[end] == "."):
                    for tok in self._word(start):  # a tuple: one token, or three for `module.name`
                        pos = tok[2]
                        yield tok
                    continue
                pos = end
                yield word_kinds.get(word, "NAME"), start, end
            elif group == _T_NL:
                pos = end
                if top != "LPAR":  # newlines separate items inside (...): not tokens there
                    yield "_NL", end - 1, end
            elif group == _T_PUNCT:
                start = end - 1
                pos = end
                punct = _PUNCT[text[start]]
                if punct == "LBRACE" or punct == "LPAR":
                    self._open(punct, start, end)
                elif punct == "RBRACE" or punct == "RPAR":
                    punct = self._close(start)
                yield punct, start, end
            elif group == _T_STRING and len(stack) < MAX_NESTING:  # one token: see :meth:`tokens`
                yield "STRING", m.start(_T_STRING) - 1, end
                pos = end
            elif group in (_T_STRING, _T_QUOTE):  # a string that goes on in string mode
                quote = m.start(group) - 1 if group == _T_STRING else end - 1  # _T_STRING: past the nesting limit
                self._open("STRING", quote, quote + 1)
                pos = quote + 1
                yield "DQUOTE", quote, pos
            elif group == _T_COMMENT:
                start = m.start(_T_COMMENT)
                self.comments.append(Comment(self._span(start, end), text[start + 1 : end]))
                pos = end
            elif group == _T_RAW:
                tok = self._raw_string(end - 1)
                pos = tok[2]
                yield tok
            else:  # `<<`
                start = end - 2
                m = _HEREDOC.match(text, start)
                if m is None:
                    raise self._fail(cat.unexpected_character(self._span(start, start + 1), "<"))
                tok = self._heredoc_start(m)
                pos = tok[2]
                yield tok
        yield self._eof()

    def _close(self, start: int) -> str:
        """The kind of the token that closes the innermost construct at ``start``, a `}` or a `)`."""
        stack = self.stack
        top = stack[-1][0] if stack else None
        if top is None or _CLOSERS[top] != self.text[start]:
            span = self._span(start, start + 1)
            found = f"`{self.text[start]}`"
            if top is None:
                raise self._fail(cat.unbalanced(span, found))
            raise self._fail(cat.syntax_error(span, found, [f"`{_CLOSERS[top]}`"]))
        stack.pop()
        if top == "INTERP":
            return "INTERP_END"
        return "RBRACE" if top == "LBRACE" else "RPAR"

    def _word(self, pos: int) -> tuple[Tok, ...]:
        """The word at ``pos`` by participle's ordered rules: one token, or three for `module.name`."""
        text = self.text
        m = _WORD.match(text, pos)
        if m is None:  # pragma: no cover - the caller has matched _NAME there, and _WORD ends with it
            raise self._fail(cat.unexpected_character(self._span(pos, pos + 1), text[pos]))
        kind = m.lastgroup
        assert kind is not None
        start, end = m.start(), m.end()
        word = m.group()
        if kind == "KEYWORD":
            kind = KEYWORDS[word]
        elif kind == "NAME":
            kind = SOFT_KEYWORDS.get(word, "NAME")
        if kind in _SELECTOR_KINDS and text.startswith(".", end):
            m2 = _NAME.match(text, end + 1)
            if m2:  # selector: module.name
                return (kind, start, end), ("DOT", end, end + 1), ("NAME", m2.start(), m2.end())
        return ((kind, start, end),)

    def _raw_string(self, start: int) -> Tok:
        end = self.text.find("`", start + 1)
        if end < 0:
            raise self._fail(cat.unterminated(self._span(start, start + 1), "raw string", "add a closing `"))
        if end == start + 1:
            raise self._fail(
                cat.syntax_error(self._span(start, end + 1), "empty raw string", ['a double-quoted string ""'])
            )
        return ("RAW_STRING", start, end + 1)

    # -- heredoc mode --------------------------------------------------------

    def _heredoc_start(self, m: re.Match[str]) -> Tok:
        tag = m.group(1) or m.group(2)
        raw = m.group(2) is not None
        self._open("HEREDOC", m.start(), m.end())
        terminator = rf"\b{tag}\b"
        fragment = _HD_RAW_FRAGMENT if raw else _HD_FRAGMENT
        run = re.compile(rf"(?:(?!{terminator})(?:{fragment}))++", re.ASCII)
        self.heredocs.append((re.compile(terminator, re.ASCII), run))
        return ("RAW_HEREDOC_START" if raw else "HEREDOC_START", m.start(), m.end())

    def _heredoc_body(self, pos: int) -> Tok:
        """The terminator, a `${`, or the run of text fragments up to one of them.

        The terminator is the tag as a whole word wherever a fragment starts, even mid-line.
        """
        text = self.text
        end, run = self.heredocs[-1]
        m = end.match(text, pos)
        if m:
            self.stack.pop()
            self.heredocs.pop()
            return ("HEREDOC_END", pos, m.end())
        m = run.match(text, pos)
        if m is None:  # only `${` starts no text fragment (a raw heredoc has no interpolation)
            assert text.startswith("${", pos)
            self._open("INTERP", pos, pos + 2)
            return ("INTERP_START", pos, pos + 2)
        return ("HD_CHARS", pos, m.end())

    def _eof(self) -> Tok:
        if self.stack:
            kind, offset = self.stack[-1]
            hint = f"add a closing `{_CLOSERS[kind]}`"
            if kind == "HEREDOC":
                hint = "end the heredoc with its tag as a word of its own, e.g. `EOM`"
            raise self._fail(cat.unterminated(self._span(offset, offset + 1), _OPENED[kind], hint))
        # A final newline terminates the last statement, as openllb/hlb's lexer appends one.
        end = len(self.text)
        return ("_NL", end, end)
