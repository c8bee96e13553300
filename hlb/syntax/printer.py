"""The formatter: an AST back to source, with the output of openllb/hlb's ``hlb format``.

The AST keeps no layout, so the printer reads it from the source between
nodes: that text holds only blanks, ``;``, ``,``, newlines and comments. From
it the printer rebuilds the item lists openllb/hlb's parser produces (a
statement with its terminator, bare newlines, comment groups) and prints them
with the same rules:

* a block is inline (``{ a; b }``) unless it holds a bare newline or a comment;
  otherwise one statement per line, indented with tabs; runs of blank lines
  collapse to one;
* a parenthesised list is inline (``(a, b)``) unless it held a newline or a
  comment; otherwise one item per line with a trailing comma;
* top-level declarations are separated by one blank line; the file ends with
  one newline;
* literals print as written, except that interpolations are re-printed,
  prefixed integers are lower-cased and a heredoc's terminator is indented to
  its block.

A comment is never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hlb.syntax import ast
from hlb.syntax.visitor import NodeVisitor

_OPENER = re.compile(r"<<[-~]?(?:`\w+`|\w+)", re.ASCII)
_NEWLINE = "\n"


@dataclass(frozen=True, slots=True)
class _Comment:
    text: str  # `# ...` with its newline


_Tok = str | _Comment  # ";" or "\n" or a comment


@dataclass(frozen=True, slots=True)
class _Opts:
    indent: int = 0
    no_newline: bool = False  # inside a heredoc's interpolation: everything inline


def format_module(module: ast.Module) -> str:
    """The formatted text of ``module`` (ends with exactly one newline)."""
    return _Printer(module).module()


class _Printer(NodeVisitor[str]):
    """Prints a node visited with its options (``visit(node, opts)``)."""

    def __init__(self, module: ast.Module) -> None:
        self.m = module
        self.text = module.file.text

    # -- layout from the source ---------------------------------------------------

    def scan(self, pos: int) -> tuple[list[_Tok], int]:
        """The separators and comments from ``pos`` to the next node or bracket, and where they end."""
        text, n = self.text, len(self.text)
        toks: list[_Tok] = []
        while pos < n:
            ch = text[pos]
            if ch in " \t\r,":
                pos += 1
            elif ch in ";\n":
                toks.append(ch)
                pos += 1
            elif ch == "#":
                end = text.find("\n", pos)
                if end < 0:
                    toks.append(_Comment(text[pos:] + "\n"))
                    pos = n
                else:
                    toks.append(_Comment(text[pos : end + 1]))
                    pos = end + 1
            else:
                break
        return toks, pos

    @staticmethod
    def loose(toks: list[_Tok]) -> list[str]:
        """Separators that belong to no statement: bare newlines and comment groups."""
        items: list[str] = []
        group: list[str] = []
        for t in toks:
            if isinstance(t, _Comment):
                group.append(t.text)
                continue
            if group:
                items.append("\0".join(group))
                group = []
            if t == _NEWLINE:
                items.append(_NEWLINE)
        if group:
            items.append("\0".join(group))
        return items

    def interleave(self, nodes: list, start: int) -> list[object]:  # type: ignore[type-arg]
        """``nodes`` with the bare newlines and comment groups around them, from ``start`` on."""
        items: list[object] = []
        pos = start
        for node in nodes:
            toks, _ = self.scan(pos)
            items += self.loose(toks)
            items.append(node)
            pos = node.span.end
        toks, _ = self.scan(pos)
        items += self.loose(toks)
        return items

    def comment_group(self, group: str, o: _Opts) -> str:
        """A comment group: lines after the first are indented by the printer."""
        lines = group.split("\0")
        return "".join(lines[:1] + ["\t" * o.indent + c for c in lines[1:]])

    # -- module ---------------------------------------------------------------------

    def module(self) -> str:
        items: list[object] = self.interleave(list(self.m.decls), 0)

        out: list[str] = []
        skip_newlines = True
        prev = ""
        for item in items:
            if isinstance(item, str):
                s = item if item == _NEWLINE else self.comment_group(item, _Opts())
            else:
                assert isinstance(item, ast.FuncDecl | ast.ImportDecl | ast.ExportDecl)
                s = self.visit(item, _Opts())
            if len(s) == 1:
                if skip_newlines:
                    continue
                skip_newlines = True
            else:
                skip_newlines = False
            if prev and not prev.endswith("\n"):
                if s.startswith("#"):
                    s = " " + s
                elif len(s) == 1:
                    s = "\n" + s
                else:
                    s = "\n\n" + s
            out.append(s)
            prev = s
        while len(out) > 1 and len(out[-1]) == 1:
            out.pop()
        return "".join(out).strip() + "\n"

    def generic_visit(self, node: ast.Node, *args: object) -> str:
        raise AssertionError(node)  # pragma: no cover - every node the printer visits has its method

    def visit_ImportDecl(self, d: ast.ImportDecl, o: _Opts) -> str:
        if d.deprecated:
            return f"import {d.name.name} {self.visit(d.expr, o)}"
        return f"import {d.name.name} from {self.visit(d.expr, o)}"

    def visit_ExportDecl(self, d: ast.ExportDecl, o: _Opts) -> str:
        return f"export {d.name.name}"

    def visit_FuncDecl(self, d: ast.FuncDecl, o: _Opts) -> str:
        params = self.field_list(d.params, self.after(d.name.span.end, "("), o)
        sig = f"{d.type.name} {d.name.name}{params}"
        if d.effects is not None:
            start = self.after(self.close_of(d.params, self.after(d.name.span.end, "(")) + 1, "b")
            binds_open = self.after(start + len("binds"), "(")
            sig += " binds " + self.field_list(d.effects, binds_open, o)
        if d.body is not None:
            sig += " " + self.visit(d.body, o)
        return sig

    def after(self, pos: int, char: str) -> int:
        """The offset of ``char`` at or after ``pos``, past blanks and comments."""
        _, stop = self.scan(pos)
        while stop < len(self.text) and self.text[stop] in " \t" and self.text[stop] != char:
            stop += 1
        return stop

    def close_of(self, items: tuple[ast.Field, ...], open_pos: int) -> int:
        pos = items[-1].span.end if items else open_pos + 1
        _, stop = self.scan(pos)
        return stop

    # -- lists ------------------------------------------------------------------------

    def field_list(self, fields: tuple[ast.Field, ...], open_pos: int, o: _Opts) -> str:
        def show(f: ast.Field, _: _Opts) -> str:
            return f"{'variadic ' if f.variadic else ''}{f.type.name} {f.name.name}"

        return self.list(list(fields), open_pos, show, o)

    def list(self, nodes: list, open_pos: int, show: object, o: _Opts) -> str:  # type: ignore[type-arg]
        items = self.interleave(nodes, open_pos + 1)
        if not items:
            return "()"
        render = show  # a callable (node, opts) -> str
        has_newline = not o.no_newline and any(isinstance(i, str) for i in items)
        if not has_newline:
            inner = [render(i, o) for i in items if not isinstance(i, str)]  # type: ignore[operator]
            return "(" + ", ".join(inner) + ")"
        deeper = _Opts(o.indent + 1, o.no_newline)
        indent = "\t" * (o.indent + 1)
        out: list[str] = []
        skip_newlines = True
        for i in items:
            if i == _NEWLINE:
                if skip_newlines:
                    continue
                out.append(_NEWLINE)
                skip_newlines = True
            elif isinstance(i, str):
                s = self.comment_group(i, deeper)
                out.append(indent + s if skip_newlines else " " + s)
                skip_newlines = True
            else:
                s = render(i, deeper)  # type: ignore[operator]
                out.append(f"{indent}{s}," if skip_newlines else f" {s},")
                skip_newlines = False
        k = len(out) - 1
        while k > 0:
            if len(out[k]) > 1 and out[k].endswith("\n"):
                out[k] = out[k][:-1]
                break
            if out[k] != _NEWLINE:
                break
            k -= 1
        out = out[: k + 1]
        return "(\n" + "".join(out) + "\n" + "\t" * o.indent + ")"

    # -- blocks and statements -----------------------------------------------------------

    def visit_Block(self, block: ast.Block, o: _Opts) -> str:
        items: list[str | tuple[ast.Stmt, str]] = []
        toks, _ = self.scan(block.span.start + 1)
        items += self.loose(toks)
        for stmt in block.stmts:
            toks, _ = self.scan(stmt.span.end)
            end = ""
            if toks and isinstance(toks[0], _Comment):
                end = " " + toks[0].text
            rest = toks[1:] if toks else []
            items.append((stmt, end))
            items += self.loose(rest)
        if not items:
            return "{}"
        has_newline = not o.no_newline and any(isinstance(i, str) or i[1].endswith("\n") for i in items)
        if not has_newline:
            stmts = [self.visit(s, o) for s, _ in (i for i in items if not isinstance(i, str))]
            return "{ " + "; ".join(stmts) + " }" if stmts else "{}"
        deeper = _Opts(o.indent + 1, o.no_newline)
        indent = "\t" * (o.indent + 1)
        lines: list[str] = []
        skip_newlines = False
        for n, item in enumerate(items):
            if isinstance(item, str):
                s = item if item == _NEWLINE else self.comment_group(item, deeper)
            else:
                s = self.visit(item[0], deeper) + item[1]
            if n > 0 and s == _NEWLINE:
                if skip_newlines:
                    continue
                skip_newlines = True
            else:
                skip_newlines = False
            if s.endswith("\n"):
                s = s[:-1]
            lines.append(s)
        if lines and lines[0].startswith("#"):
            lines[0] = " " + lines[0]
        for k in range(1, len(lines)):
            if lines[k]:
                lines[k] = indent + lines[k]
        return "{" + "\n".join(lines) + "\n" + "\t" * o.indent + "}"

    def visit_ExprStmt(self, s: ast.ExprStmt, o: _Opts) -> str:
        return self.visit(s.expr, o)

    def visit_CallStmt(self, s: ast.CallStmt, o: _Opts) -> str:
        out = s.func.text
        if s.args:
            out += " " + " ".join(self.visit(a, o) for a in s.args)
        w = s.with_
        if w is not None and not (isinstance(w, ast.FuncLit) and not w.body.stmts):
            out += " with " + self.visit(w, o)
        if s.bind is not None:
            out += " " + self.visit(s.bind, o)
        return out

    def visit_BindClause(self, b: ast.BindClause, o: _Opts) -> str:
        if b.target is not None:
            return f"as {b.target.name}"
        if b.pairs is None:
            return "as"  # openllb/hlb prints `as _`, which would turn the error into a bind of `_`

        def show(p: ast.BindPair, _: _Opts) -> str:
            return f"{p.effect.name} {p.target.name}"

        return "as " + self.list(list(b.pairs), self.after(b.span.start + 2, "("), show, o)

    # -- expressions ---------------------------------------------------------------------

    def visit_IntLit(self, e: ast.IntLit, o: _Opts) -> str:
        if e.base == 10:
            return str(e.value)
        text = e.span.text
        try:
            int(text[2:], e.base)
        except ValueError:
            return text  # an invalid literal (already reported) is kept as written
        prefix = {2: "0b", 8: "0o", 16: "0x"}[e.base]
        return prefix + format(e.value, {2: "b", 8: "o", 16: "x"}[e.base])

    def visit_BoolLit(self, e: ast.BoolLit, o: _Opts) -> str:
        return "true" if e.value else "false"

    def visit_FuncLit(self, e: ast.FuncLit, o: _Opts) -> str:
        return f"{e.type.name} {self.visit(e.body, o)}"

    def visit_CallExpr(self, e: ast.CallExpr, o: _Opts) -> str:
        if not e.parens:
            return e.func.text
        return e.func.text + self.list(list(e.args), self.after(e.func.span.end, "("), self.visit, o)

    def visit_StringLit(self, lit: ast.StringLit, o: _Opts) -> str:
        text = lit.span.text
        if lit.raw:
            return text  # raw strings and raw heredocs print as written
        base = lit.span.start
        pieces: list[str] = []
        pos = 0
        in_heredoc = lit.heredoc is not None
        inner = _Opts(o.indent, True) if in_heredoc else o
        for part in lit.parts:
            if isinstance(part, ast.Interpolation):
                a, b = part.span.start - base, part.span.end - base
                pieces.append(text[pos:a])
                body = self.visit(part.expr, inner) if part.expr is not None else ""
                pieces.append("${" + body + "}")
                pos = b
        pieces.append(text[pos:])
        out = "".join(pieces)
        if not in_heredoc:
            return out
        m = _OPENER.match(out)
        assert m is not None
        tag = m.group().lstrip("<-~").strip("`")
        body = out[m.end() : len(out) - len(tag)].rstrip("\t")
        tabs = o.indent
        if not tabs and body and not body[-1].isspace():
            tabs = 1  # text before the terminator on its line (`x<tab>EOM`): keep a tab between them
        return m.group() + body + "\t" * tabs + tag
