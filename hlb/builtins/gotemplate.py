"""A subset of Go's ``text/template``, as ``template`` executes it.

Supported: text; ``{{.name}}`` (a field of the data, which maps names to
strings); ``{{.}}`` (the data, printed as Go prints a map, or the value ``with``
set); string literals ``{{"x"}}`` and ``{{`x`}}``; ``{{if X}}``, ``{{else if
X}}``, ``{{else}}``, ``{{with X}}``, ``{{end}}`` (a non-empty string is true);
``{{/* comments */}}``; the ``{{-`` and ``-}}`` trim markers. Variables,
pipelines, functions and ``range`` are rejected with a :class:`TemplateError`.

A field that is not in the data is an error, as with Go's
``Option("missingkey=error")``. Error texts follow Go's: ``template: :1:
unclosed action``; ``template: :1:2: executing "" at <.x>: map has no entry
for key "x"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

_SPACE = " \t\r\n"
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
_GO_FUNCTIONS = [
    "and",
    "call",
    "html",
    "index",
    "slice",
    "js",
    "len",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "ne",
    "block",
    "define",
    "template",
    "break",
    "continue",
    "range",
]


class TemplateError(Exception):
    """A parse or execution error, worded as Go's ``text/template`` words it."""


@dataclass(frozen=True, slots=True)
class Field:
    names: tuple[str, ...]
    pos: int

    def __str__(self) -> str:
        return "".join(f".{n}" for n in self.names)


@dataclass(frozen=True, slots=True)
class Dot:
    pos: int

    def __str__(self) -> str:
        return "."


@dataclass(frozen=True, slots=True)
class Literal:
    value: str
    pos: int
    text: str

    def __str__(self) -> str:
        return self.text


Operand: TypeAlias = Field | Dot | Literal


@dataclass(slots=True)
class Branch:
    """``{{if X}}`` or ``{{with X}}``: ``body`` when X is true, else ``orelse``."""

    kind: str
    cond: Operand
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)


Node: TypeAlias = str | Operand | Branch


@dataclass(frozen=True, slots=True)
class _Action:
    words: tuple[tuple[str, object, int], ...]  # (kind, value, pos): kind is word, field, dot, string
    pos: int


Item: TypeAlias = str | _Action


def execute(text: str, data: Mapping[str, str]) -> str:
    """Parse and execute ``text`` with ``data``; raises :class:`TemplateError`."""
    nodes = _Parser(text, _lex(text)).parse()
    out: list[str] = []
    _Exec(text, out).run(nodes, dict(data))
    return "".join(out)


# -- lexing -----------------------------------------------------------------------------


def _line(text: str, pos: int) -> int:
    return 1 + text.count("\n", 0, pos)


def _fail(text: str, pos: int, message: str) -> TemplateError:
    return TemplateError(f"template: :{_line(text, pos)}: {message}")


def _lex(text: str) -> list[Item]:
    items: list[Item] = []
    i, trim_next = 0, False
    while True:
        j = text.find("{{", i)
        chunk = text[i:] if j < 0 else text[i:j]
        if trim_next:
            chunk = chunk.lstrip(_SPACE)
        left_trim = j >= 0 and text[j + 2 : j + 3] == "-" and text[j + 3 : j + 4] in tuple(_SPACE)
        if left_trim:
            chunk = chunk.rstrip(_SPACE)
        if chunk:
            items.append(chunk)
        if j < 0:
            return items
        start = j + (4 if left_trim else 2)
        if text.startswith("/*", start):
            i, trim_next = _comment(text, start)
            continue
        action, i, trim_next = _action(text, start, j)
        items.append(action)


def _right_delim(text: str, i: int) -> tuple[int, bool] | None:
    """The end of ``}}`` or `` -}}`` at ``i`` and whether it trims, or None."""
    if text.startswith("}}", i):
        return i + 2, False
    if text[i : i + 1] in tuple(_SPACE) and text.startswith("-}}", i + 1):
        return i + 4, True
    return None


def _comment(text: str, start: int) -> tuple[int, bool]:
    close = text.find("*/", start + 2)
    if close < 0:
        raise _fail(text, start, "unclosed comment")
    delim = _right_delim(text, close + 2)
    if delim is None:
        raise _fail(text, start, "comment ends before closing delimiter")
    return delim


def _action(text: str, i: int, start: int) -> tuple[_Action, int, bool]:
    words: list[tuple[str, object, int]] = []
    while True:
        delim = _right_delim(text, i)
        if delim is not None:
            return _Action(tuple(words), start), delim[0], delim[1]
        if i >= len(text):
            raise _fail(text, start, "unclosed action")
        c = text[i]
        if c in _SPACE:
            i += 1
        elif c == ".":
            j = i
            names: list[str] = []
            while j < len(text) and text[j] == "." and _is_ident(text[j + 1 : j + 2]):
                k = j + 1
                while k < len(text) and _is_ident(text[k]):
                    k += 1
                names.append(text[j + 1 : k])
                j = k
            words.append(("field", tuple(names), i) if names else ("dot", None, i))
            i = j if names else i + 1
        elif _is_ident(c) and not c.isdigit():
            j = i
            while j < len(text) and _is_ident(text[j]):
                j += 1
            words.append(("word", text[i:j], i))
            i = j
        elif c in '"`':
            value, j = _string(text, i)
            words.append(("string", (value, text[i:j]), i))
            i = j
        else:
            raise _fail(text, i, _unsupported(repr(c).replace("'", '"') if c != '"' else c))


def _is_ident(c: str) -> bool:
    return bool(c) and (c.isalnum() or c == "_")


def _string(text: str, i: int) -> tuple[str, int]:
    quote = text[i]
    if quote == "`":
        close = text.find("`", i + 1)
        if close < 0:
            raise _fail(text, i, "unterminated raw quoted string")
        return text[i + 1 : close], close + 1
    out: list[str] = []
    j = i + 1
    while j < len(text) and text[j] != '"':
        if text[j] == "\n":
            break
        if text[j] == "\\":
            esc = text[j + 1 : j + 2]
            if esc not in _ESCAPES:
                raise _fail(text, i, f"invalid syntax: {text[i : j + 2]}")
            out.append(_ESCAPES[esc])
            j += 2
            continue
        out.append(text[j])
        j += 1
    if j >= len(text) or text[j] != '"':
        raise _fail(text, i, "unterminated quoted string")
    return "".join(out), j + 1


def _unsupported(what: str) -> str:
    return f"{what} is not supported by hlb templates (fields, string literals, if, with and comments are)"


# -- parsing ----------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, items: list[Item]) -> None:
        self.text, self.items, self.i = text, items, 0

    def parse(self) -> list[Node]:
        nodes, end = self.list()
        if end is not None:
            raise _fail(self.text, end.pos, f"unexpected {{{{{end.words[0][1]}}}}}")
        return nodes

    def list(self) -> tuple[list[Node], _Action | None]:
        """Nodes up to an ``{{else}}`` or ``{{end}}`` (returned) or the end of the text (None)."""
        nodes: list[Node] = []
        while self.i < len(self.items):
            item = self.items[self.i]
            self.i += 1
            if isinstance(item, str):
                nodes.append(item)
                continue
            head = item.words[0] if item.words else None
            if head is not None and head[0] == "word" and head[1] in ("else", "end"):
                return nodes, item
            if head is not None and head[0] == "word" and head[1] in ("if", "with"):
                nodes.append(self.branch(str(head[1]), item, 1))
                continue
            nodes.append(self.operand(item, item.words, "command"))
        return nodes, None

    def branch(self, kind: str, item: _Action, skip: int) -> Branch:
        node = Branch(kind, self.operand(item, item.words[skip:], kind))
        node.body, end = self.list()
        if end is None:
            raise _fail(self.text, len(self.text), "unexpected EOF")
        words = end.words
        if words[0][1] == "else":
            if len(words) > 1 and words[1] == ("word", "if", words[1][2]) and kind == "if":
                node.orelse = [self.branch("if", end, 2)]  # `else if` shares the `end`
                return node
            if len(words) > 1:
                raise _fail(self.text, end.pos, f"unexpected {_describe(words[1])} in else")
            node.orelse, end = self.list()
            if end is None:
                raise _fail(self.text, len(self.text), "unexpected EOF")
            if end.words[0][1] != "end":
                raise _fail(self.text, end.pos, "expected end; found {{else}}")
        if len(end.words) > 1:
            raise _fail(self.text, end.pos, f"unexpected {_describe(end.words[1])} in end")
        return node

    def operand(self, item: _Action, words: tuple[tuple[str, object, int], ...], where: str) -> Operand:
        if not words:
            raise _fail(self.text, item.pos, f"missing value for {where}")
        kind, value, pos = words[0]
        if kind == "word":
            name = str(value)
            if name in _GO_FUNCTIONS or name in ("if", "with", "else", "end", "nil", "true", "false"):
                raise _fail(self.text, pos, _unsupported(f"`{name}`"))
            raise _fail(self.text, pos, f'function "{name}" not defined')
        if len(words) > 1:
            raise _fail(self.text, words[1][2], _unsupported("more than one operand in an action"))
        if kind == "field":
            assert isinstance(value, tuple)
            return Field(value, pos)
        if kind == "dot":
            return Dot(pos)
        assert isinstance(value, tuple)
        return Literal(value[0], pos, value[1])


def _describe(word: tuple[str, object, int]) -> str:
    kind, value, _ = word
    if kind == "field":
        assert isinstance(value, tuple)
        return f"<{''.join(f'.{n}' for n in value)}>"
    if kind == "string":
        assert isinstance(value, tuple)
        return f"quoted string {value[1]}"
    return f"<{value if kind == 'word' else '.'}>"


# -- execution --------------------------------------------------------------------------

Data: TypeAlias = dict[str, str] | str


class _Exec:
    def __init__(self, text: str, out: list[str]) -> None:
        self.text, self.out = text, out

    def run(self, nodes: list[Node], dot: Data) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.out.append(node)
            elif isinstance(node, Branch):
                value = self.eval(node.cond, dot)
                if value:
                    self.run(node.body, value if node.kind == "with" else dot)
                else:
                    self.run(node.orelse, dot)
            else:
                self.out.append(_print(self.eval(node, dot)))

    def eval(self, op: Operand, dot: Data) -> Data:
        if isinstance(op, Dot):
            return dot
        if isinstance(op, Literal):
            return op.value
        value = dot
        for name in op.names:
            if isinstance(value, str):
                raise self.error(op, f"can't evaluate field {name} in type string")
            if name not in value:
                raise self.error(op, f'map has no entry for key "{name}"')
            value = value[name]
        return value

    def error(self, op: Operand, message: str) -> TemplateError:
        before = self.text[: op.pos]
        newline = before.rfind("\n")
        column = op.pos if newline < 0 else op.pos - newline - 1
        where = f":{_line(self.text, op.pos)}:{column}"
        return TemplateError(f'template: {where}: executing "" at <{op}>: {message}')


def _print(value: Data) -> str:
    if isinstance(value, str):
        return value
    return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(value.items())) + "]"
