"""The AST visitor: children come from the nodes' dataclass fields, walks reach every node in source
order, and a visitor looks its method up once per node class."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from hlb.source import SourceFile, Span
from hlb.syntax import ast
from hlb.syntax.parser import parse_module
from hlb.syntax.visitor import NodeVisitor, child_fields, find_all, iter_child_nodes, walk

# Every node class appears in it: raw strings, heredocs, an empty interpolation, binds with pairs
# and a bare `as`, effects, both import forms, an export, comments, selectors, calls with parens.
PROGRAM = """\
# every syntax form
import lib from "./lib.hlb"
import old "./old.hlb"
export build

# Builds it.
fs build(string ref, variadic int modes) binds (string digest) {
	image ref as (digest d1, config c1)
	lib.base
	run "echo ${ref} ${}" with option {
		mount fs { scratch; } "/in" as mounted
		dir `/raw`
	}
	mkfile "/f" 0o644 <<-EOM
		text ${format("%d", 1)}
	EOM
	env "B" "${true}"
	dockerPush "x" as
}

string s() { "lit"; }
int n() { 0x1F; }
"""

NODE_CLASSES = {c for _, c in inspect.getmembers(ast, inspect.isclass) if issubclass(c, ast.Node) and c is not ast.Node}


def module() -> ast.Module:
    r = parse_module(SourceFile("every.hlb", PROGRAM))
    assert r.module is not None and r.ok, [str(d) for d in r.diagnostics]
    return r.module


def by_values(node: ast.Node) -> list[ast.Node]:
    """The reference pre-order: every node found in any field's value (no annotations read)."""
    out = [node]
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, ast.Node):
                out += by_values(v)
    return out


def test_children_are_the_node_valued_fields_in_order() -> None:
    assert child_fields(ast.CallStmt) == ("func", "args", "with_", "bind")
    assert child_fields(ast.StringLit) == ("parts",)  # text and interpolations: only interpolations are nodes
    assert child_fields(ast.Module) == ("decls", "comments")  # not `file`, and never `span`
    assert child_fields(ast.IntLit) == child_fields(ast.Ident) == child_fields(ast.TypeRef) == ()


@dataclasses.dataclass(frozen=True, slots=True)
class _Probe(ast.Node):
    """A node class no code knows about: its children come from its annotations alone."""

    one: ast.Ident
    maybe: ast.Ident | None
    many: tuple[ast.Ident | str, ...]
    some: tuple[ast.Ident, ...] | None
    either: ast.Ident | str
    count: int
    label: str


def test_a_new_node_class_gets_children_from_its_fields() -> None:
    span = Span(SourceFile("p", "abcdef"), 0, 6)
    a, b, c, d = (ast.Ident(Span(span.file, i, i + 1), n) for i, n in enumerate("abcd"))
    probe = _Probe(span, a, None, ("text", b, c), (d,), "text", 3, "e")
    assert child_fields(_Probe) == ("one", "maybe", "many", "some", "either")
    assert list(iter_child_nodes(probe)) == [a, b, c, d]
    assert list(iter_child_nodes(_Probe(span, a, b, (), None, c, 0, ""))) == [a, b, c]


def test_walk_reaches_every_node_in_source_order() -> None:
    m = module()
    nodes = list(walk(m))
    assert nodes == by_values(m)
    assert {type(n) for n in nodes} == NODE_CLASSES  # the program uses every syntax form
    spans = [n.span.start for n in nodes if not isinstance(n, ast.Module | ast.Comment)]
    assert spans == sorted(spans)  # declarations before their parts, parts left to right


class _Recorder(NodeVisitor[None]):
    def __init__(self) -> None:
        self.seen: list[tuple[ast.Node, tuple[Any, ...]]] = []

    def generic_visit(self, node: ast.Node, *args: Any) -> None:
        self.seen.append((node, args))
        super().generic_visit(node, *args)


def test_generic_visit_reaches_every_node_with_the_arguments() -> None:
    m = module()
    r = _Recorder()
    r.visit(m, "ctx", 7)
    assert [n for n, _ in r.seen] == by_values(m)
    assert {args for _, args in r.seen} == {("ctx", 7)}


def test_dispatch_is_looked_up_once_per_class_and_per_visitor_class() -> None:
    """Each visitor class (made here, so its tables start empty) looks each node class up once."""

    class _Calls(NodeVisitor[None]):
        """Counts calls, and how often the method for a node class was looked up."""

        lookups: list[type[ast.Node]] = []

        def __init__(self) -> None:
            self.calls: list[str] = []

        @classmethod
        def _method_for(cls, node_type: type[ast.Node]) -> Any:
            cls.lookups.append(node_type)
            return super()._method_for(node_type)

        def visit_CallStmt(self, node: ast.CallStmt) -> None:
            self.calls.append(node.func.text)
            self.generic_visit(node)

        def visit_CallExpr(self, node: ast.CallExpr) -> None:
            self.calls.append(node.func.text)
            self.generic_visit(node)

    class _CallStmtsOnly(_Calls):
        lookups: list[type[ast.Node]] = []

        def visit_CallExpr(self, node: ast.CallExpr) -> None:
            self.generic_visit(node)

    m = module()
    first = _Calls()
    first.visit(m)
    _Calls().visit(m)  # a second instance uses the class's table
    assert sorted(c.__name__ for c in _Calls.lookups) == sorted(c.__name__ for c in NODE_CLASSES)
    # statements and expressions alike, in source order (`ref` is a call, in an argument and an interpolation)
    assert first.calls == [
        "image",
        "ref",
        "lib.base",
        "run",
        "ref",
        "mount",
        "scratch",
        "dir",
        "mkfile",
        "format",
        "env",
        "dockerPush",
    ]
    # A subclass overriding a method has its own table: the base's cached method does not leak into it.
    sub = _CallStmtsOnly()
    sub.visit(m)
    assert "format" not in sub.calls and "image" in sub.calls
    assert len(_CallStmtsOnly.lookups) == len(NODE_CLASSES)


def test_visit_returns_the_methods_value_and_generic_visit_none() -> None:
    class Names(NodeVisitor[str | None]):
        def visit_Ident(self, node: ast.Ident) -> str:
            return node.name

    m = module()
    decl = m.funcs()["build"]
    assert Names().visit(decl.name) == "build"
    assert Names().visit(decl) is None


@pytest.mark.parametrize(
    "wanted",
    [
        (ast.CallStmt, ast.CallExpr),
        (ast.Interpolation,),
        (ast.Ident,),  # TypeRef is an Ident: found where fields name TypeRef or Ident
        (ast.TypeRef,),
        (ast.BindPair, ast.Comment),
        (ast.Module,),
    ],
    ids=lambda w: "-".join(c.__name__ for c in w),
)
def test_find_all_is_walk_filtered(wanted: tuple[type[ast.Node], ...]) -> None:
    m = module()
    assert list(find_all(m, *wanted)) == [n for n in walk(m) if isinstance(n, wanted)]


def test_walk_and_find_all_do_not_recurse() -> None:
    """A statement nested far deeper than Python's recursion limit is still walked."""
    file = SourceFile("deep", "x")
    span = Span(file, 0, 1)
    call = ast.CallStmt(span, ast.IdentExpr(span, ast.Ident(span, "scratch")), ())
    node = ast.Block(span, (call,))
    for _ in range(5000):
        lit = ast.FuncLit(span, ast.TypeRef(span, "fs"), node)
        node = ast.Block(span, (ast.ExprStmt(span, ast.StringLit(span, (ast.Interpolation(span, lit),))),))
    assert list(find_all(node, ast.CallStmt)) == [call]
    assert (
        sum(1 for _ in walk(node)) == 5000 * 6 + 4
    )  # Block ExprStmt StringLit Interpolation FuncLit TypeRef; the call's four
