"""Every diagnostic kind and its message, declared once.

Stages call the constructors below and never format user-facing messages
inline, so wording stays consistent and each kind is documented in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hlb.diagnostics.diagnostic import Code, Diagnostic, Label, Severity
from hlb.source import Span

CODES: dict[str, Code] = {}


def _code(id: str, slug: str, description: str) -> Code:
    code = Code(id, slug, description)
    assert slug not in CODES, slug
    CODES[slug] = code
    return code


# E01xx: lexical and syntax errors
SYNTAX = _code("E0101", "syntax", "the parser met a token it did not expect")
UNEXPECTED_CHARACTER = _code("E0102", "unexpected-character", "a character that starts no token")
UNTERMINATED = _code("E0103", "unterminated", "a string, block or list that is never closed")
INVALID_ESCAPE = _code("E0104", "invalid-escape", "an escape sequence Go's strconv rejects")
INVALID_NUMBER = _code("E0105", "invalid-number", "a digit outside the literal's base")

# E02xx: names and scopes
UNDEFINED_NAME = _code("E0201", "undefined-name", "an identifier that is not in scope")
DUPLICATE_DECL = _code("E0202", "duplicate-decl", "a name declared twice in one scope")

# E03xx: calls and types
TYPE_MISMATCH = _code("E0301", "type-mismatch", "a value of the wrong type")
WRONG_ARG_COUNT = _code("E0302", "wrong-arg-count", "a call with too many or too few arguments")
INVALID_VALUE = _code("E0303", "invalid-value", "an argument whose value the builtin rejects")

UNSUPPORTED = _code("E0304", "unsupported", "a construct this version of hlb does not implement yet")

# E05xx: compilation
INVALID_IMAGE_REF = _code("E0501", "invalid-image-ref", "an image reference that does not parse")
TARGET_NOT_FOUND = _code("E0502", "target-not-found", "`hlb run -t X` where X is not defined")
INVALID_TARGET = _code("E0503", "invalid-target", "a target that cannot be built as given")

# E09xx: the build itself
BUILD_FAILED = _code("E0901", "build-failed", "a step failed on the BuildKit daemon")


def _diag(
    code: Code,
    span: Span,
    message: str,
    *,
    label: str = "",
    hint: str | None = None,
    secondary: Iterable[Label] = (),
    severity: Severity = Severity.ERROR,
    notes: Sequence[str] = (),
) -> Diagnostic:
    return Diagnostic(code, severity, message, Label(span, label), tuple(secondary), hint, tuple(notes))


def syntax_error(span: Span, found: str, expected: Sequence[str]) -> Diagnostic:
    hint = None
    if expected:
        hint = "expected " + _one_of(expected)
    return _diag(SYNTAX, span, f"unexpected {found}", hint=hint)


def unbalanced(span: Span, found: str) -> Diagnostic:
    return _diag(SYNTAX, span, f"unexpected {found}", hint=f"there is no open bracket for this {found} to close")


def unexpected_character(span: Span, char: str) -> Diagnostic:
    return _diag(UNEXPECTED_CHARACTER, span, f"unexpected character {char!r}")


def unterminated(span: Span, what: str, hint: str | None = None) -> Diagnostic:
    return _diag(UNTERMINATED, span, f"unterminated {what}", hint=hint)


def invalid_escape(span: Span, seq: str) -> Diagnostic:
    return _diag(
        INVALID_ESCAPE,
        span,
        f"invalid escape sequence {seq}",
        hint=r"valid escapes are \a \b \f \n \r \t \v \\ \" and \$",
    )


def invalid_number(span: Span, text: str, base_name: str) -> Diagnostic:
    return _diag(INVALID_NUMBER, span, f"invalid {base_name} literal `{text}`")


def undefined_name(span: Span, name: str, suggestion: str | None = None) -> Diagnostic:
    hint = f"did you mean `{suggestion}`?" if suggestion else None
    return _diag(UNDEFINED_NAME, span, f"`{name}` is undefined or not in scope", hint=hint)


def unknown_type(span: Span, name: str) -> Diagnostic:
    from hlb.diagnostics.suggest import closest

    types = ["fs", "string", "int", "bool", "pipeline", "option::<builtin>"]
    guess = closest(name, types[:-1])
    hint = f"did you mean `{guess}`?" if guess else "types are " + _one_of([f"`{t}`" for t in types])
    return _diag(UNDEFINED_NAME, span, f"unknown type `{name}`", hint=hint)


def unsupported(span: Span, what: str, hint: str | None = None) -> Diagnostic:
    return _diag(UNSUPPORTED, span, f"{what} is not supported yet", hint=hint)


def duplicate_decl(span: Span, name: str, first: Span) -> Diagnostic:
    return _diag(
        DUPLICATE_DECL,
        span,
        f"`{name}` is redefined in this scope",
        label="duplicate",
        secondary=[Label(first, "defined here")],
    )


def type_mismatch(span: Span, actual: str, expected: Sequence[str], hint: str | None = None) -> Diagnostic:
    if len(expected) == 1:
        message = f"cannot use {actual} as type {expected[0]}"
    else:
        message = f"cannot use {actual} as one of types [{' '.join(expected)}]"
    return _diag(TYPE_MISMATCH, span, message, hint=hint)


def wrong_arg_count(
    span: Span, name: str, expected: int, found: int, signature: str, variadic: bool = False
) -> Diagnostic:
    at_least = "at least " if variadic else ""
    return _diag(
        WRONG_ARG_COUNT,
        span,
        f"`{name}` expected {at_least}{expected} args, found {found}",
        hint=f"the signature is `{signature}`",
    )


def invalid_value(span: Span, message: str, hint: str | None = None) -> Diagnostic:
    return _diag(INVALID_VALUE, span, message, hint=hint)


def invalid_choice(span: Span, what: str, value: str, choices: Sequence[str]) -> Diagnostic:
    from hlb.diagnostics.suggest import closest

    guess = closest(value, choices)
    hint = f"did you mean `{guess}`?" if guess else None
    hint = (hint + " " if hint else "") + "valid values are " + _one_of([f"`{c}`" for c in choices])
    return _diag(INVALID_VALUE, span, f"invalid {what} `{value}`", hint=hint)


def invalid_image_ref(span: Span, ref: str, reason: str) -> Diagnostic:
    return _diag(INVALID_IMAGE_REF, span, f"failed to parse image reference `{ref}`: {reason}")


def target_not_found(span: Span, target: str, module: str, suggestion: str | None) -> Diagnostic:
    hint = f"did you mean `{suggestion}`?" if suggestion else None
    return _diag(TARGET_NOT_FOUND, span, f'target "{target}" is not defined in {module}', hint=hint)


def invalid_target(span: Span, message: str, hint: str | None = None) -> Diagnostic:
    return _diag(INVALID_TARGET, span, message, hint=hint)


def build_failed(span: Span, message: str, notes: Sequence[str] = ()) -> Diagnostic:
    return _diag(BUILD_FAILED, span, message, notes=notes)


def _one_of(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]
