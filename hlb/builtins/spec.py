"""Builtins are declared once: signature, documentation and lowering together.

Each builtin is a function decorated with its HLB signature::

    @builtin("fs image(string ref)")
    def image(call: Call, ref: str) -> FsValue:
        '''Docs shown by `hlb doc`, the generated reference and the language server.'''

The compiler calls the function and ``scripts/gen_docs.py`` renders the docstring. The checker reads
the signature (a :class:`Signature`: what a :class:`Builtin` is less its documentation and lowering)
from :mod:`hlb.builtins.signatures`, which ``scripts/gen_signatures.py`` writes from the declarations:
reading the declarations imports every lowering and, through them, the compiler's half (``hlb.llb``,
protobuf, ``hlb.values``), which ``hlb check`` does not need. Overloads are builtins with the
same name and different return types (``env`` is both ``fs`` and ``option::run``).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from hlb.diagnostics import catalog as cat
from hlb.types import Type, same_kind

if TYPE_CHECKING:
    from hlb.builtins.call import Call

Lowering = Callable[..., Any]

_SIGNATURE = re.compile(
    r"^\s*(?P<type>[\w:]+)\s+(?P<name>\w+)\s*\((?P<params>[^)]*)\)"
    r"(?:\s*binds\s*\((?P<effects>[^)]*)\))?\s*$"
)


@dataclass(frozen=True, slots=True)
class Enumerated:
    """An enum-like string parameter, as a declaration gives it: each accepted value maps to what the
    lowering receives (converted, or reported at the argument, before it runs).

    ``label`` names the parameter in messages (``sharing mode``).
    """

    label: str
    values: Mapping[str, object]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.values)

    @property
    def choice(self) -> Choice:
        return Choice(self.label, self.names)


@dataclass(frozen=True, slots=True)
class Choice:
    """What a signature says of an enum-like string parameter: its label in messages and the values
    accepted; the checker rejects a constant outside ``names``."""

    label: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: Type
    variadic: bool = False
    choice: Choice | None = None  # the accepted values of an enum-like string

    @property
    def choices(self) -> tuple[str, ...]:
        return self.choice.names if self.choice else ()

    def __str__(self) -> str:
        return f"{'variadic ' if self.variadic else ''}{self.type} {self.name}"


@dataclass(frozen=True, slots=True)
class Signature:
    """What the checker reads of a builtin: its name, the kind of value a call produces, its parameters
    and what it binds (``binds (...)``)."""

    name: str
    type: Type  # the kind of value a call produces
    params: tuple[Param, ...]
    effects: tuple[Param, ...] = ()

    @property
    def option_type(self) -> Type:
        """The type of ``with`` options this builtin accepts."""
        return Type.option(self.name)

    @property
    def variadic(self) -> bool:
        return bool(self.params) and self.params[-1].variadic

    def signature(self) -> str:
        s = f"{self.type} {self.name}({', '.join(map(str, self.params))})"
        if self.effects:
            s += f" binds ({', '.join(map(str, self.effects))})"
        return s


@dataclass(frozen=True, slots=True)
class Builtin(Signature):
    """A declared builtin: its signature, documentation and lowering."""

    doc: str = field(kw_only=True)
    lower: Lowering = field(kw_only=True)  # the arguments of a choice parameter arrive converted


def by_name(builtins: Iterable[Signature]) -> Mapping[str, tuple[Signature, ...]]:
    """``builtins`` by name, each name mapped to its overloads in the order given. Read-only."""
    out: dict[str, list[Signature]] = {}
    for b in builtins:
        out.setdefault(b.name, []).append(b)
    return MappingProxyType({k: tuple(v) for k, v in out.items()})


def parse_signature(text: str) -> tuple[Type, str, tuple[Param, ...], tuple[Param, ...]]:
    m = _SIGNATURE.match(text)
    if not m:
        raise ValueError(f"malformed builtin signature {text!r}")
    ret = Type.parse(m["type"])
    if ret is None:
        raise ValueError(f"unknown type in {text!r}")
    return ret, m["name"], _params(m["params"], text), _params(m["effects"] or "", text)


def signature_of(text: str, choices: Mapping[str, Choice]) -> Signature:
    """The signature written ``text``, its parameters named in ``choices`` taking those values only."""
    ret, name, params, effects = parse_signature(text)
    unknown = set(choices) - {p.name for p in params if not p.variadic}
    if unknown:
        raise ValueError(f"choices for unknown parameters {sorted(unknown)} in {text!r}")
    params = tuple(Param(p.name, p.type, p.variadic, choices[p.name]) if p.name in choices else p for p in params)
    return Signature(name, ret, params, effects)


def _params(text: str, sig: str) -> tuple[Param, ...]:
    params = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        words = part.split()
        variadic = words[0] == "variadic"
        if variadic:
            words = words[1:]
        if len(words) != 2 or Type.parse(words[0]) is None:
            raise ValueError(f"malformed parameter {part!r} in {sig!r}")
        params.append(Param(words[1], Type.parse(words[0]), variadic))  # type: ignore[arg-type]
    if any(p.variadic for p in params[:-1]):
        raise ValueError(f"only the last parameter may be variadic in {sig!r}")
    return tuple(params)


class Registry:
    """Builtins by name; each name maps to its overloads (one per return type)."""

    def __init__(self) -> None:
        self._by_name: dict[str, list[Builtin]] = {}
        self._declared: list[Builtin] = []  # in declaration order
        self._frozen = False

    def register(self, b: Builtin) -> None:
        if self._frozen:
            raise RuntimeError("the builtin registry is frozen")
        overloads = self._by_name.setdefault(b.name, [])
        if any(o.type == b.type and _param_types(o) == _param_types(b) for o in overloads):
            raise ValueError(f"builtin {b.signature()} declared twice")
        same_type = [o for o in overloads if o.type == b.type]
        if same_type and any(not o.params or not b.params or o.params[0].type == b.params[0].type for o in same_type):
            # Overloads of one type are told apart by their first argument's type.
            raise ValueError(f"builtin {b.signature()} overloads another with the same first parameter type")
        overloads.append(b)
        self._declared.append(b)

    def freeze(self) -> Mapping[str, tuple[Builtin, ...]]:
        self._frozen = True
        return MappingProxyType({k: tuple(v) for k, v in self._by_name.items()})

    def decorator(
        self, signature: str, *, choices: Mapping[str, Enumerated] | None = None
    ) -> Callable[[Lowering], Builtin]:
        """``@builtin("fs image(string ref)")`` over the lowering; its docstring is the documentation."""

        def wrap(fn: Lowering) -> Builtin:
            return self.declare(signature, fn.__doc__ or "", fn, choices=choices)

        return wrap

    def declare(
        self, signature: str, doc: str, lower: Lowering, *, choices: Mapping[str, Enumerated] | None = None
    ) -> Builtin:
        """Declare a builtin: its signature, documentation and lowering."""
        choices = dict(choices or {})
        sig = signature_of(signature, {k: c.choice for k, c in choices.items()})
        doc = inspect.cleandoc(doc)
        if not doc:
            raise ValueError(f"builtin {signature!r} has no documentation")
        converted = [(i, choices[p.name]) for i, p in enumerate(sig.params) if p.name in choices]
        if converted:
            lower = _converting(lower, converted)
        b = Builtin(sig.name, sig.type, sig.params, sig.effects, doc=doc, lower=lower)
        self.register(b)
        return b

    def options_of(self, b: Signature) -> tuple[str, ...]:
        """The names of the options ``b`` takes with ``with``, in declaration order."""
        return tuple(dict.fromkeys(o.name for o in self._declared if o.type == b.option_type))


def _converting(lower: Lowering, chosen: list[tuple[int, Enumerated]]) -> Lowering:
    """``lower`` given each choice argument (the parameters ``chosen`` by index) as its mapped value; a
    value outside the choice is a diagnostic."""

    @functools.wraps(lower)
    def convert(call: Call, *args: Any) -> Any:
        converted = list(args)
        for i, choice in chosen:
            value = args[i]
            if value not in choice.values:
                call.fail(cat.invalid_choice(call.arg_span(i), choice.label, value, choice.names))
            converted[i] = choice.values[value]
        return lower(call, *converted)

    return convert


def lookup(
    table: Mapping[str, tuple[Signature, ...]],
    name: str,
    expected: Iterable[Type],
    first_arg: Callable[[Type], bool] | None = None,
) -> Signature | None:
    """Pick the overload of ``name`` whose type is expected.

    Overloads of the same type are told apart by their first parameter:
    ``first_arg(t)`` says whether the call's first argument can be a ``t``.
    When nothing matches, the first overload is returned so the caller
    reports a type mismatch rather than an unknown name.
    """
    overloads = table.get(name, ())
    expected = list(expected)
    matching = [b for b in overloads if any(same_kind(e, b.type) for e in expected)]
    if len(matching) > 1 and first_arg is not None:
        for b in matching:
            if b.params and first_arg(b.params[0].type):
                return b
    if matching:
        return matching[0]
    # As openllb/hlb: a builtin of the wrong kind is a type mismatch, not an unknown name.
    return overloads[0] if overloads else None


def _param_types(b: Signature) -> tuple[Type, ...]:
    return tuple(p.type for p in b.params)
