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

import re
from collections.abc import Callable, Iterator

from lark import Token
from lark.lexer import Lexer as LarkLexer

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


# Lark's Token constructor without its deprecated-keyword shim (a call and a dict per token).
_new_token: Callable[..., Token] = Token._future_new
_str_new = str.__new__


class LexError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(str(diagnostic))
        self.diagnostic = diagnostic


class Scanner:
    """Turns one source file into Lark tokens."""

    def __init__(self, source: SourceFile, *, lean: bool = False) -> None:
        self.source = source
        if lean:
            self._tok = self._tok_lean  # type: ignore[method-assign]
        self.text = source.text
        self.pos = 0
        self.stack: list[tuple[str, int]] = []  # (opener kind, offset)
        self.heredocs: list[tuple[re.Pattern[str], re.Pattern[str]]] = []  # open heredocs: (terminator, text run)
        self.comments: list[Comment] = []

    # -- helpers -----------------------------------------------------------

    def _span(self, start: int, end: int) -> Span:
        return Span(self.source, start, end)

    def _tok(self, type_: str, start: int, end: int, value: str | None = None) -> Token:
        # Only offsets are carried: spans compute lines and columns when a diagnostic needs them.
        value = self.text[start:end] if value is None else value
        return _new_token(type_, value, start, None, None, None, None, end)

    def _tok_lean(self, type_: str, start: int, end: int, value: str | None = None) -> Token:
        """A Token with only what the AST reads (type, value, offsets): for hlb/syntax/parser.py's own driver;
        Lark's, which reports syntax errors, reads the other fields and gets :meth:`_tok`'s."""
        value = self.text[start:end] if value is None else value
        tok: Token = _str_new(Token, value)
        tok.type, tok.value, tok.start_pos, tok.end_pos = type_, value, start, end
        return tok

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

    def _top(self) -> str | None:
        return self.stack[-1][0] if self.stack else None

    # -- root mode ---------------------------------------------------------

    def tokens(self) -> Iterator[Token]:
        if self.source.invalid is not None:  # source is UTF-8: a file that is not is rejected whole
            raise self._fail(cat.invalid_utf8(self._span(self.source.invalid, self.source.invalid + 1)))
        text, n = self.text, len(self.text)
        stack = self.stack
        while self.pos < n:
            top = stack[-1][0] if stack else None
            if top == "STRING":
                yield self._string_body()
                continue
            if top == "HEREDOC":
                yield self._heredoc_body()
                continue
            ch = text[self.pos]
            if ch in " \t\r":
                m = _SPACE.match(text, self.pos)
                assert m
                self.pos = m.end()
                continue
            if ch == "#":
                m = _COMMENT.match(text, self.pos)
                assert m
                self.comments.append(Comment(self._span(m.start(), m.end()), m.group()[1:]))
                self.pos = m.end()
                continue
            if ch == "\n" and top == "LPAR":
                self.pos += 1  # newlines separate items inside (...): not tokens there
                continue
            kind = _PUNCT.get(ch)
            if kind is not None:
                yield self._punct(kind)
                continue
            if ch == '"':
                self._open("STRING", self.pos, self.pos + 1)
                yield self._tok("DQUOTE", self.pos, self.pos + 1)
                self.pos += 1
                continue
            if ch == "`":
                yield self._raw_string()
                continue
            if text.startswith("<<", self.pos):
                m = _HEREDOC.match(text, self.pos)
                if m:
                    yield self._heredoc_start(m)
                    continue
            yield from self._word()  # a tuple: one token, or three for `module.name`
        yield from self._eof()

    def _punct(self, kind: str) -> Token:
        start = self.pos
        self.pos += 1
        if kind in ("LBRACE", "LPAR"):
            self._open(kind, start, start + 1)
        elif kind in ("RBRACE", "RPAR"):
            return self._close(kind, start)
        return self._tok(kind, start, start + 1)

    def _close(self, kind: str, start: int) -> Token:
        top = self._top()
        if top is None or _CLOSERS[top] != self.text[start]:
            span = self._span(start, start + 1)
            found = f"`{self.text[start]}`"
            if top is None:
                raise self._fail(cat.unbalanced(span, found))
            raise self._fail(cat.syntax_error(span, found, [f"`{_CLOSERS[top]}`"]))
        self.stack.pop()
        if top == "INTERP":
            return self._tok("INTERP_END", start, start + 1)
        return self._tok(kind, start, start + 1)

    def _word(self) -> tuple[Token, ...]:
        text = self.text
        m = _WORD.match(text, self.pos)
        if m is not None:
            kind = m.lastgroup
            assert kind is not None
            start, end = m.start(), m.end()
            word = m.group()
            if kind == "KEYWORD":
                kind = KEYWORDS[word]
            elif kind == "NAME":
                kind = SOFT_KEYWORDS.get(word, "NAME")
            self.pos = end
            tok = self._tok(kind, start, end)
            if kind in ("NAME", "FROM", "BINDS", "VARIADIC") and text.startswith(".", end):
                m2 = _NAME.match(text, end + 1)
                if m2:  # selector: module.name
                    self.pos = m2.end()
                    return tok, self._tok("DOT", end, end + 1), self._tok("NAME", m2.start(), m2.end())
            return (tok,)
        ch = text[self.pos]
        raise self._fail(cat.unexpected_character(self._span(self.pos, self.pos + 1), ch))

    def _raw_string(self) -> Token:
        start = self.pos
        end = self.text.find("`", start + 1)
        if end < 0:
            raise self._fail(cat.unterminated(self._span(start, start + 1), "raw string", "add a closing `"))
        if end == start + 1:
            raise self._fail(
                cat.syntax_error(self._span(start, end + 1), "empty raw string", ['a double-quoted string ""'])
            )
        self.pos = end + 1
        return self._tok("RAW_STRING", start, end + 1)

    # -- string mode -------------------------------------------------------

    def _string_body(self) -> Token:
        """The next token inside a string (the caller has checked there is more text)."""
        text, pos = self.text, self.pos
        ch = text[pos]
        if ch == '"':
            self.stack.pop()
            self.pos = pos + 1
            return self._tok("DQUOTE_END", pos, pos + 1)
        if text.startswith("${", pos):
            self._open("INTERP", pos, pos + 2)
            self.pos = pos + 2
            return self._tok("INTERP_START", pos, pos + 2)
        m = _STR_RUN.match(text, pos)
        if m is None:  # a backslash before a newline or the end of the file
            raise self._fail(cat.invalid_escape(self._span(pos, min(pos + 2, len(text))), "\\<newline>"))
        self.pos = m.end()
        return self._tok("STR_CHARS", pos, m.end())

    # -- heredoc mode --------------------------------------------------------

    def _heredoc_start(self, m: re.Match[str]) -> Token:
        tag = m.group(1) or m.group(2)
        raw = m.group(2) is not None
        self._open("HEREDOC", m.start(), m.end())
        terminator = rf"\b{tag}\b"
        fragment = _HD_RAW_FRAGMENT if raw else _HD_FRAGMENT
        run = re.compile(rf"(?:(?!{terminator})(?:{fragment}))++", re.ASCII)
        self.heredocs.append((re.compile(terminator, re.ASCII), run))
        self.pos = m.end()
        return self._tok("RAW_HEREDOC_START" if raw else "HEREDOC_START", m.start(), m.end())

    def _heredoc_body(self) -> Token:
        """The terminator, a `${`, or the run of text fragments up to one of them.

        The terminator is the tag as a whole word wherever a fragment starts, even mid-line.
        """
        text, pos = self.text, self.pos
        end, run = self.heredocs[-1]
        m = end.match(text, pos)
        if m:
            self.stack.pop()
            self.heredocs.pop()
            self.pos = m.end()
            return self._tok("HEREDOC_END", pos, m.end())
        m = run.match(text, pos)
        if m is None:  # only `${` starts no text fragment (a raw heredoc has no interpolation)
            assert text.startswith("${", pos)
            self._open("INTERP", pos, pos + 2)
            self.pos = pos + 2
            return self._tok("INTERP_START", pos, pos + 2)
        self.pos = m.end()
        return self._tok("HD_CHARS", pos, m.end())

    def _eof(self) -> Iterator[Token]:
        if self.stack:
            kind, offset = self.stack[-1]
            hint = f"add a closing `{_CLOSERS[kind]}`"
            if kind == "HEREDOC":
                hint = "end the heredoc with its tag as a word of its own, e.g. `EOM`"
            raise self._fail(cat.unterminated(self._span(offset, offset + 1), _OPENED[kind], hint))
        # A final newline terminates the last statement, as openllb/hlb's lexer appends one.
        end = len(self.text)
        yield self._tok("_NL", end, end, "\n")


class LarkAdapter(LarkLexer):
    """Lets Lark drive a :class:`Scanner`. The parser passes the scanner as the text."""

    def __init__(self, lexer_conf: object) -> None:
        pass

    def lex(self, scanner: Scanner) -> Iterator[Token]:  # type: ignore[override]
        yield from scanner.tokens()
