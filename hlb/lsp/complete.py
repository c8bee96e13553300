"""Completion: what may be written at the cursor, read from the text before it.

The text being typed rarely parses, so the context is read from the characters before the cursor: the
blocks open around it (a function's body, a ``with option { ... }`` block of a call, a ``fs { ... }``
literal) give the type a statement there must have, and the statement so far tells whether the cursor
is at the callee, at an argument (a string argument with a fixed set of values, such as ``sharing``'s
modes, completes those values), or after ``module.``. The names of the module (functions, binds,
imports, the enclosing function's parameters) come from the document's last check that parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hlb.builtins.registry import documentation, table
from hlb.builtins.spec import Builtin, Choice
from hlb.checker.check import CheckedModule, declared_or_none
from hlb.lsp.project import signature
from hlb.syntax import ast
from hlb.types import Kind, Type, accepts

_HEREDOC = re.compile(r"<<[-~]?(`?)(\w+)\1")
_DECL = re.compile(r"^\s*(?P<type>[\w:]+)\s+(?P<name>\w+)\s*\((?P<params>[^)]*)\)")
_WITH = re.compile(r"\bwith\s+(?P<type>option(?:::\w+)?)\s*$")
_LITERAL = re.compile(r"(?:^|[\s(,])(?P<type>fs|string|int|bool|pipeline|group|option(?:::\w+)?)\s*$")
_ATOM = re.compile(
    r'\s*(?:"(?:\\.|[^"\\])*"?|`[^`]*`?|<<[-~]?`?\w+`?|[\w:]+\s*\{\}|[\w.]+\s*\(\)|[\w.]+|\(\)|\{\})', re.S
)


@dataclass(frozen=True)
class Item:
    label: str
    kind: str  # "builtin", "function", "parameter", "module", "value", "keyword"
    detail: str = ""
    doc: str = ""


@dataclass
class Context:
    """Where the cursor is: the type its statement must have and what of the statement is written."""

    block: Type | None  # the type of the innermost block (None at the top level)
    params: dict[str, str]  # the enclosing function's parameters: name -> type name
    statement: str  # the statement's text up to the cursor, nested blocks emptied
    comment: bool = False  # the cursor is in a comment
    string: bool = False  # the cursor is in a string


def context(text: str, offset: int) -> Context:
    """Read the blocks and the statement around ``offset`` (strings, heredocs and comments skipped)."""
    frames: list[tuple[str, int]] = []  # (header text, statement start before the block)
    stmt = 0
    parens = 0
    i, n = 0, min(offset, len(text))
    out: list[str] = []  # the current statement, with nested blocks' bodies left out
    comment = string = False
    while i < n:
        c = text[i]
        if c == "#":
            j = text.find("\n", i)
            comment = j < 0 or j >= n  # the comment goes on to the cursor
            i = n if comment else j
            continue
        if c == '"' or c == "`":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if c == '"' and text[j] == "\\" else 1
            string = j >= n  # not closed before the cursor
            out.append(text[i : min(j + 1, n)])
            i = j + 1
            continue
        if c == "<" and (m := _HEREDOC.match(text, i)):
            end = re.compile(r"^[ \t]*" + re.escape(m.group(2)) + r"\b", re.M).search(text, m.end(), n)
            j = end.end() if end else n
            out.append(text[i:j])
            i = j
            continue
        if c == "{":
            frames.append(("".join(out), stmt))
            out = []
            parens = 0
            i += 1
            continue
        if c == "}":
            header = frames.pop()[0] if frames else ""
            out = [header, "{}"]
            i += 1
            continue
        if c in "(":
            parens += 1
        elif c == ")":
            parens = max(0, parens - 1)
        elif c == ";" or (c == "\n" and parens == 0):
            out = []
        out.append(c)
        i += 1
    statement = "".join(out).lstrip(";\n")
    block: Type | None = None
    params: dict[str, str] = {}
    for depth, (header, _) in enumerate(frames):
        decl = _DECL.match(header) if depth == 0 else None
        if decl is not None:
            block = Type.parse("pipeline" if decl["type"] == "group" else decl["type"])
            params = {}
            for p in filter(None, (x.strip() for x in decl["params"].split(","))):
                words = p.split()
                if len(words) >= 2:
                    params[words[-1]] = words[-2]
            continue
        w = _WITH.search(header)
        if w is not None:
            head = _ATOM.match(header)
            callee = head.group(0).strip() if head else ""
            block = Type.parse(w["type"]) if "::" in w["type"] else Type.option(callee.split(".")[-1])
            continue
        lit = _LITERAL.search(header)
        block = Type.parse("pipeline" if lit and lit["type"] == "group" else lit["type"]) if lit else None
    return Context(block, params, statement, comment, string)


def complete(text: str, offset: int, checked: CheckedModule | None) -> list[Item]:
    """The completions at ``offset`` of ``text``; ``checked`` is the document's last check that parsed."""
    ctx = context(text, offset)
    if ctx.comment or (ctx.string and ctx.block is None):
        return []  # no names in a comment; at the top level a string is an import's path
    if ctx.block is None:
        return [Item(k, "keyword") for k in ("fs", "string", "int", "bool", "pipeline", "option", "import", "export")]
    s = ctx.statement
    head = re.match(r"\s*([\w.]*)\Z", s)
    if head is not None:  # the callee of a statement
        return _callees(ctx.block, head.group(1), ctx, checked, statement=True)
    atoms = []
    pos = 0
    m = _ATOM.match(s, pos)
    while m is not None and m.end() > pos:
        atoms.append(m.group(0).strip())
        pos = m.end()
        m = _ATOM.match(s, pos)
    rest = s[pos:]
    if not atoms:
        return []
    callee = atoms[0]
    args = atoms[1:]
    if "with" in args or "as" in args:
        return [Item("option", "keyword")] if args[-1:] == ["with"] and not rest.strip() else []
    b = _builtin(callee, ctx.block)
    last = args[-1] if args else ""
    if last.startswith('"') and (len(last) == 1 or not last.endswith('"') or last.endswith('\\"')) and not rest:
        # Inside a string argument: its values, if the parameter has a fixed set.
        at = _param(b, len(args) - 1)
        return _choice(at[1]) if at is not None and at[1] is not None else []
    if rest.strip() or (s and not s[-1].isspace() and not re.search(r"[\w.]\Z", s)):
        return []
    typing = re.search(r"[\w.]*\Z", s)
    prefix = typing.group(0) if typing else ""
    index = len(args) - (1 if prefix and args and args[-1] == prefix else 0)
    p = _param(b, index)
    if p is None:
        return [Item("with", "keyword"), Item("as", "keyword")] if b is not None and index >= len(b.params) else []
    t, choice = p
    items = _callees(t, prefix, ctx, checked, statement=False)
    if choice is not None:
        items += [Item(f'"{v}"', "value", choice.label) for v in choice.names]
    return items


def _builtin(name: str, block: Type) -> Builtin | None:
    for b in table().get(name, ()):
        if _fits(block, b.type, statement=True):
            return b
    return None


def _param(b: Builtin | None, index: int) -> tuple[Type, Choice | None] | None:
    if b is None or not b.params:
        return None
    if index >= len(b.params):
        if not b.params[-1].variadic:
            return None
        index = len(b.params) - 1
    p = b.params[index]
    return p.type, p.choice


def _choice(choice: Choice) -> list[Item]:
    return [Item(v, "value", choice.label) for v in choice.names]


def _fits(expected: Type, actual: Type, statement: bool) -> bool:
    if statement:
        return expected == actual or (expected.is_option and expected.target is not None and actual == Type.option())
    return accepts(expected, actual) if expected.kind is Kind.PIPELINE else expected == actual


def _callees(t: Type, prefix: str, ctx: Context, checked: CheckedModule | None, statement: bool) -> list[Item]:
    if "." in prefix:
        return _members(t, prefix.split(".")[0], checked, statement)
    items: list[Item] = []
    for name, overloads in table().items():
        for b in overloads:
            if _fits(t, b.type, statement):
                items.append(Item(name, "builtin", b.signature(), documentation(b)))
                break
    for name, tname in ctx.params.items():
        pt = Type.parse(tname)
        if pt is not None and _fits(t, pt, statement):
            items.append(Item(name, "parameter", f"{tname} {name}"))
    if checked is not None:
        items += _functions(checked.funcs.values(), t, statement)
        for name, bind in checked.binds.items():
            if bind.type is not None and _fits(t, bind.type, statement):
                items.append(Item(name, "function", f"{bind.type} {name} (bound in {bind.func.name.name})"))
        for name, imp in checked.imports.items():
            items.append(Item(name, "module", f"import {imp.decl.expr.span.text}"))
    return items


def _functions(funcs: Iterable[ast.FuncDecl], t: Type, statement: bool) -> list[Item]:
    out = []
    for f in funcs:
        ft = declared_or_none(f.type)
        if ft is not None and _fits(t, ft, statement):
            out.append(Item(f.name.name, "function", signature(f), f.doc or ""))
    return out


def _members(t: Type, module: str, checked: CheckedModule | None, statement: bool) -> list[Item]:
    imp = checked.imports.get(module) if checked is not None else None
    other = imp.module if imp is not None else None
    if other is None:
        return []
    exported = [f for name, f in other.funcs.items() if name in other.exports]
    return _functions(exported, t, statement)
