"""Target arguments: binding ``NAME=VALUE`` pairs to the parameters of the requested targets.

A target is a function called from the command line (``hlb run -t release``).
When it has parameters, ``hlb run -t release --arg tag=1.4`` gives them:

* ``NAME=VALUE`` binds ``NAME`` of every requested target that declares it;
  ``TARGET.NAME=VALUE`` binds it for that target only and wins over ``NAME``;
* an argument that no requested target declares is an error, and so is a
  target parameter that no argument gives;
* ``string`` takes the text as it is, ``int`` what hlb's integer literals
  accept (``42``, ``0x2a``, ``0o52``, ``0b101010``; 64-bit, no sign), ``bool``
  ``true`` or ``false``; ``fs``, ``option`` and ``pipeline`` parameters and
  variadic ones cannot be given this way.

Library callers may also pass an ``int`` or a ``bool`` for those parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hlb.builtins.gofmt import quote
from hlb.checker.check import Bind, declared
from hlb.diagnostics import Diagnostic
from hlb.diagnostics import catalog as cat
from hlb.diagnostics.diagnostic import Label
from hlb.diagnostics.suggest import closest
from hlb.source import SourceFile, Span
from hlb.syntax import ast
from hlb.types import Kind, Type

ArgValue = str | int | bool
Bound = str | int | bool  # what a parameter receives

COMMAND_LINE_KINDS = (Kind.STRING, Kind.INT, Kind.BOOL)
INT64_MAX = 2**63 - 1
_INT = re.compile(r"0|[1-9][0-9]*|0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+")
INT_HINT = "write an int as hlb does: decimal `42`, or `0x2a`, `0o52`, `0b101010` (64-bit, no sign)"
BOOL_HINT = "a bool is `true` or `false`"


@dataclass(frozen=True)
class Requested:
    """The targets' parameters as given (``NAME`` or ``TARGET.NAME`` -> value) and, for diagnostics, where
    a command line wrote each target name and each ``NAME=VALUE`` (a library caller may give none)."""

    args: Mapping[str, ArgValue] = field(default_factory=dict)
    target_spans: Mapping[str, Span] = field(default_factory=dict)
    arg_spans: Mapping[str, Span] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetDecl:
    """A requested target, found in the module."""

    name: str
    span: Span  # where the command line names it (its declaration when it has no such span)
    anchor: Span  # its name in the declaration
    func: ast.FuncDecl  # the function evaluated (a bind's enclosing function)
    type: Type
    bind: Bind | None = None

    @property
    def params(self) -> tuple[ast.Field, ...]:
        return self.func.params


def bind_arguments(
    targets: Sequence[TargetDecl],
    args: Mapping[str, ArgValue],
    arg_spans: Mapping[str, Span] | None = None,
    *,
    requested: Sequence[str] | None = None,
) -> tuple[dict[str, dict[str, Bound]], list[Diagnostic]]:
    """The parameter values of each target whose parameters ``args`` all give, and the errors.

    ``arg_spans`` locate each ``NAME=VALUE`` as written (the name is its first
    ``len(NAME)`` characters, the value follows the ``=``); arguments without a
    span are located in a ``<arguments>`` pseudo-file. ``requested`` names every
    target asked for (default: those of ``targets``); one missing from
    ``targets`` was not found (reported already), so an argument that only it
    might declare is not reported.
    """
    complete = requested is None or set(requested) <= {t.name for t in targets}
    spans = _spans(args, arg_spans or {})
    by_name = {t.name: t for t in targets}
    given: dict[str, dict[str, tuple[ArgValue, str]]] = {t.name: {} for t in targets}  # target -> param -> (v, key)
    diags: list[Diagnostic] = []
    failed: set[str] = set()  # targets with an argument error

    # Unqualified names first: `TARGET.NAME` then overrides `NAME` for its target.
    for key in sorted(args, key=lambda k: "." in k):
        target_name, dot, pname = key.partition(".")
        key_span = Span(spans[key].file, spans[key].start, spans[key].start + len(key))
        if not dot:
            pname = key
            takers = [t for t in targets if _param(t, pname) is not None]
            if not takers:
                if complete:
                    diags.append(_no_taker(key_span, pname, targets))
                continue
        else:
            target = by_name.get(target_name)
            if target is None:
                if requested is None or target_name not in requested:
                    diags.append(_not_requested(key_span, key, target_name, pname, list(by_name)))
                continue
            if _param(target, pname) is None:
                diags.append(_no_such_param(key_span, target, pname))
                failed.add(target.name)
                continue
            takers = [target]
        for t in takers:
            given[t.name][pname] = (args[key], key)

    bound: dict[str, dict[str, Bound]] = {}
    for t in targets:
        values: dict[str, Bound] = {}
        missing: list[tuple[str, Span]] = []
        for p in t.params:
            pname = p.name.name
            ptype = declared(p.type)
            shown = f"{'variadic ' if p.variadic else ''}{ptype} {pname}"
            if pname not in given[t.name]:
                if p.variadic or ptype.kind not in COMMAND_LINE_KINDS:
                    diags.append(cat.parameter_not_on_command_line(t.span, t.name, shown, p.span))
                    failed.add(t.name)
                else:
                    missing.append((pname, p.span))
                continue
            raw, key = given[t.name][pname]
            if p.variadic or ptype.kind not in COMMAND_LINE_KINDS:
                key_span = Span(spans[key].file, spans[key].start, spans[key].start + len(key))
                diags.append(cat.parameter_not_on_command_line(key_span, t.name, shown, p.span))
                failed.add(t.name)
                continue
            value, hint = _convert(raw, ptype.kind)
            if value is None:
                value_span = Span(spans[key].file, spans[key].start + len(key) + 1, spans[key].end)
                diags.append(cat.ill_typed_argument(value_span, _text(raw), shown, t.name, p.span, hint))
                failed.add(t.name)
                continue
            values[pname] = value
        if missing:
            label = "needs " + ", ".join(f"`{n}`" for n, _ in missing) if t.span.file is not t.anchor.file else ""
            diags.append(cat.target_needs_arguments(t.span, t.name, missing, bool(given[t.name]), label=label))
            failed.add(t.name)
        if t.name not in failed:
            bound[t.name] = values
    diags.sort(key=lambda d: (d.span.file.name, d.span.start))  # in command line order
    return bound, diags


def display_name(name: str, func: ast.FuncDecl, values: Mapping[str, Bound]) -> str:
    """``release(tag="1.4")``: how the plan and progress name a target called with arguments."""
    if not func.params:
        return name
    return f"{name}({', '.join(f'{p.name.name}={show_value(values[p.name.name])}' for p in func.params)})"


def show_value(v: Bound) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return quote(v)


def parse_int(text: str) -> int | None:
    """An int as hlb's integer literals write it, or None."""
    if not _INT.fullmatch(text):
        return None
    value = int(text, 0)
    return value if value <= INT64_MAX else None


def _convert(raw: ArgValue, kind: Kind) -> tuple[Bound | None, str]:
    """The value ``raw`` gives a parameter of ``kind``, or None and a hint."""
    match kind:
        case Kind.STRING:
            return (raw if isinstance(raw, str) else None), "a string parameter takes the text as written"
        case Kind.INT:
            if isinstance(raw, bool):
                return None, INT_HINT
            if isinstance(raw, int):
                return (raw if 0 <= raw <= INT64_MAX else None), INT_HINT
            return parse_int(raw), INT_HINT
        case _:
            if isinstance(raw, bool):
                return raw, BOOL_HINT
            return {"true": True, "false": False}.get(raw) if isinstance(raw, str) else None, BOOL_HINT


def _text(raw: ArgValue) -> str:
    return raw if isinstance(raw, str) else show_value(raw)


def _param(t: TargetDecl, name: str) -> ast.Field | None:
    return next((p for p in t.params if p.name.name == name), None)


def _signature(t: TargetDecl) -> str:
    params = ", ".join(f"{'variadic ' if p.variadic else ''}{p.type.name} {p.name.name}" for p in t.params)
    return f"`{t.name}({params})`"


def _no_taker(span: Span, name: str, targets: Sequence[TargetDecl]) -> Diagnostic:
    names = [p.name.name for t in targets for p in t.params]
    are = "the requested target is " if len(targets) == 1 else "the requested targets are "
    hint = are + ", ".join(_signature(t) for t in targets)
    return cat.unknown_argument(span, f"no requested target has a parameter `{name}`", closest(name, names), hint)


def _not_requested(span: Span, key: str, target: str, name: str, requested: list[str]) -> Diagnostic:
    hint = f"request it with `-t {target}`, or write `{name}=...` for every requested target with `{name}`"
    return cat.unknown_argument(
        span, f"`{key}` names the target `{target}`, which is not requested", closest(target, requested), hint
    )


def _no_such_param(span: Span, t: TargetDecl, name: str) -> Diagnostic:
    names = [p.name.name for p in t.params]
    hint = f"`{t.name}` is declared as {_signature(t)}"
    return cat.unknown_argument(
        span,
        f"target `{t.name}` has no parameter `{name}`",
        closest(name, names),
        hint,
        [Label(t.anchor, "declared here")],
    )


def _spans(args: Mapping[str, ArgValue], given: Mapping[str, Span]) -> dict[str, Span]:
    """Each argument's span: the one given, else one in an ``<arguments>`` pseudo-file."""
    missing = [k for k in args if k not in given]
    out = {k: given[k] for k in args if k in given}
    if missing:
        texts = [f"{k}={_text(args[k])}" for k in missing]
        file = SourceFile("<arguments>", " ".join(texts))
        pos = 0
        for k, text in zip(missing, texts, strict=True):
            out[k] = Span(file, pos, pos + len(text))
            pos += len(text) + 1
    return out
