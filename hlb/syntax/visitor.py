"""Walking the syntax tree without writing the walk again for each pass.

A node's children are not listed by hand: they are the values of its dataclass
fields whose annotations name a node type (alone, optional or in a tuple), in
field order: source order, except a ``Module``'s comments, which come after all
its declarations. :func:`child_fields` works them out once
per class; :func:`iter_child_nodes` yields a node's children, :func:`walk` a
node and everything below it.

:class:`NodeVisitor` dispatches on the node's class: ``visit(node, *args)``
calls ``visit_<ClassName>(node, *args)`` when the visitor has one, else
:meth:`NodeVisitor.generic_visit`, which visits the node's children with the
same arguments. Which method serves a class is looked up once per visitor
class, not on every visit.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Generic, TypeVar

from hlb.syntax.ast import Node

T = TypeVar("T")
N = TypeVar("N", bound=Node)


@dataclass(frozen=True, slots=True)
class _Slot:
    """A field that holds nodes: one node or a tuple of them (either may be None)."""

    name: str
    types: tuple[type[Node], ...]  # the node classes its annotation names
    many: bool  # a tuple
    mixed: bool  # other values (text) may stand in it beside the nodes


_SLOTS: dict[type[Node], tuple[_Slot, ...]] = {}


def _slots(cls: type[Node]) -> tuple[_Slot, ...]:
    found = _SLOTS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = ()
        for f in fields(cls):
            named, others = _named(hints[f.name])
            if named:
                found += (_Slot(f.name, named, _origin(hints[f.name]) is tuple, others),)
        _SLOTS[cls] = found
    return found


def _origin(hint: object) -> object:
    """``tuple`` for ``tuple[X, ...]`` and ``tuple[X, ...] | None``."""
    if isinstance(hint, types.UnionType):
        origins = {typing.get_origin(a) for a in typing.get_args(hint) if a is not type(None)}
        return origins.pop() if len(origins) == 1 else None
    return typing.get_origin(hint)


def _named(hint: object) -> tuple[tuple[type[Node], ...], bool]:
    """The node classes an annotation names, and whether it admits other values (``str``; None aside)."""
    if typing.get_origin(hint) is None and isinstance(hint, type):
        if issubclass(hint, Node):
            return (hint,), False
        return (), hint is not type(None)
    if isinstance(hint, types.UnionType):
        nodes: tuple[type[Node], ...] = ()
        others = False
        for arg in typing.get_args(hint):
            n, o = _named(arg)
            nodes, others = nodes + n, others or o
        return nodes, others
    if _origin(hint) is tuple:
        return _named(typing.get_args(hint)[0])
    return (), True


def child_fields(cls: type[Node]) -> tuple[str, ...]:
    """The names of the fields of ``cls`` that hold child nodes, in declaration order."""
    return tuple(slot.name for slot in _slots(cls))


def _children(node: Node, slots: tuple[_Slot, ...]) -> list[Node]:
    out: list[Node] = []
    for slot in slots:
        value = getattr(node, slot.name)
        if value is None:
            continue
        if not slot.many:
            if not slot.mixed or isinstance(value, Node):
                out.append(value)
        elif slot.mixed:
            for v in value:
                if isinstance(v, Node):
                    out.append(v)
        else:
            out += value
    return out


def iter_child_nodes(node: Node) -> Iterator[Node]:
    """The direct children of ``node``, in field order (``None`` fields and plain values left out)."""
    return iter(_children(node, _slots(type(node))))


def walk(node: Node) -> Iterator[Node]:
    """``node`` and every node below it, depth first in source order (iterative: any depth is fine)."""
    todo = [node]
    while todo:
        node = todo.pop()
        yield node
        children = _children(node, _slots(type(node)))
        children.reverse()
        todo += children


def find_all(node: Node, *wanted: type[N]) -> Iterator[N]:
    """The nodes of the ``wanted`` classes in ``node`` (itself included), in source order.

    Like ``(n for n in walk(node) if isinstance(n, wanted))``, but it only goes down the fields
    whose annotations can lead to a wanted node (no calls hide in an identifier)."""
    paths = _PATHS.setdefault(wanted, {})
    todo = [node]
    while todo:
        node = todo.pop()
        if isinstance(node, wanted):
            yield node
        slots = paths.get(type(node))
        if slots is None:
            slots = paths[type(node)] = _paths(type(node), wanted)
        if slots:
            children = _children(node, slots)
            children.reverse()
            todo += children


# find_all's paths: for each wanted tuple, each node class's slots that can lead to a wanted node
_PATHS: dict[tuple[type[Node], ...], dict[type[Node], tuple[_Slot, ...]]] = {}


def _paths(cls: type[Node], wanted: tuple[type[Node], ...]) -> tuple[_Slot, ...]:
    """The slots of ``cls`` that can lead to a node of a ``wanted`` class."""
    leads = _leading_to(cls, wanted)
    return tuple(s for s in _slots(cls) if any(t in leads for t in s.types))


def _leading_to(cls: type[Node], wanted: tuple[type[Node], ...]) -> set[type[Node]]:
    """The node classes that fields below ``cls`` name and that can hold a ``wanted`` node at some depth.

    A field annotated ``T`` holds a wanted node itself when ``T`` is a wanted class, or a base of one."""
    below = [cls]
    for c in below:
        below += [t for s in _slots(c) for t in s.types if t not in below]
    leads = {c for c in below if any(issubclass(c, w) or issubclass(w, c) for w in wanted)}
    grew = True
    while grew:
        more = {c for c in below if c not in leads and any(t in leads for s in _slots(c) for t in s.types)}
        leads |= more
        grew = bool(more)
    return leads


class NodeVisitor(Generic[T]):
    """Calls ``visit_<ClassName>`` for each node it visits; :meth:`generic_visit` for the others.

    Extra positional arguments of :meth:`visit` are passed on to the method
    (and by :meth:`generic_visit` to the children), so a pass can carry its
    context (an expected type, a scope) down the tree.
    """

    _dispatch: ClassVar[dict[type[Node], Callable[..., Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._dispatch = {}  # each visitor class its own: a subclass may override a method

    def visit(self, node: Node, *args: Any) -> T:
        method = self._dispatch.get(type(node)) or type(self)._method_for(type(node))
        result: T = method(self, node, *args)
        return result

    @classmethod
    def _method_for(cls, node_type: type[Node]) -> Callable[..., Any]:
        method: Callable[..., Any] = getattr(cls, "visit_" + node_type.__name__, cls.generic_visit)
        cls._dispatch[node_type] = method
        return method

    def generic_visit(self, node: Node, *args: Any) -> Any:
        """Visit the children of ``node`` with the same arguments (returns None)."""
        for child in _children(node, _slots(type(node))):
            self.visit(child, *args)
        return None
