"""Every diagnostic kind and its message, declared once.

Stages call the constructors below and never format user-facing messages
inline, so wording stays consistent and each kind is documented in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hlb.diagnostics.diagnostic import Code, Diagnostic, Label, Severity
from hlb.diagnostics.suggest import closest
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
INVALID_UTF8 = _code("E0106", "invalid-utf8", "a source file that is not valid UTF-8")
TOO_DEEP = _code("E0107", "too-deep", "blocks, lists, strings or imports nested past hlb's limit")

# E02xx: names and scopes
UNDEFINED_NAME = _code("E0201", "undefined-name", "an identifier that is not in scope")
DUPLICATE_DECL = _code("E0202", "duplicate-decl", "a name declared twice in one scope")

# E03xx: calls and types
TYPE_MISMATCH = _code("E0301", "type-mismatch", "a value of the wrong type")
WRONG_ARG_COUNT = _code("E0302", "wrong-arg-count", "a call with too many or too few arguments")
INVALID_VALUE = _code("E0303", "invalid-value", "an argument whose value the builtin rejects")

UNSUPPORTED = _code("E0304", "unsupported", "a construct this version of hlb does not implement yet")
RECURSION = _code("E0305", "recursion", "a function that calls itself, directly or through others")

# E04xx: modules and binds
CALL_IMPORT = _code("E0401", "call-import", "an imported module's name used as a call")
DOT_ON_NON_IMPORT = _code("E0402", "dot-on-non-import", "`x.y` where `x` is not an import")
CALL_UNEXPORTED = _code("E0403", "call-unexported", "`mod.f` where the module does not export `f`")
IMPORT_NOT_FOUND = _code(
    "E0404", "import-not-found", "a local import whose file does not exist or cannot be read as a module"
)
IMPORT_CYCLE = _code("E0405", "import-cycle", "modules that import each other in a cycle")
INVALID_MODULE_URI = _code("E0406", "invalid-module-uri", "an import path with a scheme hlb cannot fetch")
NO_BIND_TARGET = _code("E0411", "no-bind-target", "`as` with no name after it")
NO_BIND_EFFECTS = _code("E0412", "no-bind-effects", "`as` on a call that has no side outputs")
UNDEFINED_BIND_EFFECT = _code("E0413", "undefined-bind-effect", "`as (e name)` where `e` is not an effect of the call")
NO_BIND_CLOSURE = _code("E0414", "no-bind-closure", "`as` inside an option function or an argument literal")

# W0xxx: warnings, reported by `hlb check`/`run` and failing `hlb lint`
DEPRECATED = _code("W0001", "deprecated", "a deprecated form that still works; `hlb lint --fix` rewrites it")
UNUSED = _code("W0002", "unused", "a function or import that nothing uses")
CACHE_SHARING_CONFLICT = _code("W0003", "cache-sharing-conflict", "one cache used with different sharing modes")
CACHE_BASE_CONFLICT = _code(
    "W0004", "cache-base-conflict", "one cache id used with different uid/gid/mode or inputs: separate caches"
)
CACHE_ID_COLLISION = _code(
    "W0005", "cache-id-collision", "a module's default cache id that another module also uses: one shared cache"
)

# E05xx: compilation
INVALID_IMAGE_REF = _code("E0501", "invalid-image-ref", "an image reference that does not parse")
TARGET_NOT_FOUND = _code("E0502", "target-not-found", "`hlb run -t X` where X is not defined")
INVALID_TARGET = _code("E0503", "invalid-target", "a target that cannot be built as given")
INVALID_ARGUMENT = _code(
    "E0504", "invalid-argument", "a target argument (`--arg`) that is malformed, repeated, unknown or ill-typed"
)

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


def too_deep(span: Span, what: str, limit: int | None, hint: str | None = None) -> Diagnostic:
    """``what`` nests past ``limit`` at ``span``; None: past what Python's stack holds (no fixed limit)."""
    if limit is None:
        return _diag(TOO_DEEP, span, f"{what} nest too deeply to evaluate", hint=hint)
    return _diag(TOO_DEEP, span, f"{what} nest more than {limit} deep", label=f"level {limit + 1}", hint=hint)


def unterminated(span: Span, what: str, hint: str | None = None) -> Diagnostic:
    return _diag(UNTERMINATED, span, f"unterminated {what}", hint=hint)


def invalid_escape(span: Span, seq: str) -> Diagnostic:
    return _diag(
        INVALID_ESCAPE,
        span,
        f"invalid escape sequence {seq}",
        hint=r"valid escapes are \a \b \f \n \r \t \v \\ \" and \$",
    )


def invalid_utf8(span: Span) -> Diagnostic:
    """The first character of ``span`` is a byte that is not UTF-8 (decoded as a lone surrogate)."""
    ch = ord(span.text[:1] or "\0")
    what = f"byte 0x{ch - 0xDC00:02x}" if 0xDC80 <= ch <= 0xDCFF else f"U+{ch:04X} (a lone surrogate)"
    return _diag(
        INVALID_UTF8,
        span,
        f"the file is not valid UTF-8: {what}",
        hint="hlb source files are UTF-8: save this one as UTF-8 (e.g. with `iconv -t UTF-8`)",
    )


def invalid_number(span: Span, text: str, base_name: str) -> Diagnostic:
    return _diag(INVALID_NUMBER, span, f"invalid {base_name} literal `{text}`")


def undefined_name(span: Span, name: str, suggestion: str | None = None) -> Diagnostic:
    hint = f"did you mean `{suggestion}`?" if suggestion else None
    return _diag(UNDEFINED_NAME, span, f"`{name}` is undefined or not in scope", hint=hint)


def unknown_type(span: Span, name: str) -> Diagnostic:

    types = ["fs", "string", "int", "bool", "pipeline", "option::<builtin>"]
    guess = closest(name, types[:-1])
    hint = f"did you mean `{guess}`?" if guess else "types are " + _one_of([f"`{t}`" for t in types])
    return _diag(UNDEFINED_NAME, span, f"unknown type `{name}`", hint=hint)


def recursion(span: Span, chain: Sequence[str], along: Sequence[tuple[Span, str]]) -> Diagnostic:
    """A call cycle; ``chain`` names the callers along it then the first again (`a`, `b`, `a`).

    One element (`a`): a function that calls itself.
    """
    if len(chain) == 1:
        message = f"recursive call: {chain[0]} calls itself"
    else:
        message = "recursive call: " + " calls ".join(chain)
    return _diag(
        RECURSION,
        span,
        message,
        label="closes the cycle",
        secondary=[Label(s, m) for s, m in along],
        hint="hlb evaluates every call when it compiles, so a call cycle never ends; break the cycle",
    )


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


def redefined_builtin(span: Span, name: str) -> Diagnostic:
    return _diag(
        DUPLICATE_DECL,
        span,
        f"`{name}` is redefined in this scope",
        label="redefines a builtin",
        hint=f"`{name}` is a builtin; choose another name",
    )


def redefined(first: Span, name: str, duplicates: Sequence[Span]) -> Diagnostic:
    """openllb/hlb anchors a redefinition at the first definition and marks each duplicate."""
    times = "" if len(duplicates) == 1 else f" {len(duplicates)} times"
    return _diag(
        DUPLICATE_DECL,
        first,
        f"`{name}` is redefined{times} in this scope",
        label="defined here",
        secondary=[Label(d, "duplicate") for d in duplicates],
    )


def call_import(span: Span, name: str, decl: Span) -> Diagnostic:
    return _diag(
        CALL_IMPORT,
        span,
        "cannot call an imported module",
        secondary=[Label(decl, "imported here")],
        hint=f"call one of its exported functions: `{name}.<function>`",
    )


def dot_on_non_import(span: Span, name: str) -> Diagnostic:
    return _diag(
        DOT_ON_NON_IMPORT,
        span,
        "cannot use dot notation with non-import",
        hint=f"`{name}` is not an imported module",
    )


def call_unexported(span: Span, name: str, module: str, decl: Span | None) -> Diagnostic:
    return _diag(
        CALL_UNEXPORTED,
        span,
        f"cannot call unexported function `{name}`",
        secondary=[Label(decl, "defined here")] if decl else (),
        hint=f"add `export {name}` to {module}",
    )


def undefined_in_module(span: Span, name: str, imported: Span, suggestion: str | None) -> Diagnostic:
    hint = f"did you mean `{suggestion}`?" if suggestion else None
    return _diag(
        UNDEFINED_NAME,
        span,
        f"`{name}` is undefined or not in scope",
        secondary=[Label(imported, "imported here")],
        hint=hint,
    )


def import_not_found(span: Span, path: str, error: OSError | None = None) -> Diagnostic:
    """A local import that cannot be read: missing, a directory, unreadable, not a regular file..."""
    if error is None or isinstance(error, FileNotFoundError):
        return _diag(
            IMPORT_NOT_FOUND, span, f'no such file "{path}"', hint="paths are relative to the importing module"
        )
    if isinstance(error, IsADirectoryError):
        reason, hint = "is a directory", "an import names a module file (a .hlb file), not a directory"
    elif isinstance(error, PermissionError):
        reason, hint = "permission denied", "the file must be readable by the user running hlb"
    else:
        reason = error.strerror or str(error)
        hint = "an import names a module file (a .hlb file)"
    return _diag(IMPORT_NOT_FOUND, span, f'cannot import "{path}": {reason}', hint=hint)


def import_fetch_failed(span: Span, name: str, reason: str, path: str = "module.hlb") -> Diagnostic:
    hint = (
        "an fs import reads the file module.hlb at the root of that filesystem"
        if path == "module.hlb"
        else "a git module URI names the file after `:` (default build.hlb)"
    )
    return _diag(IMPORT_NOT_FOUND, span, f"cannot read {path} of import `{name}`: {reason}", hint=hint)


def import_cycle(span: Span, chain: Sequence[str]) -> Diagnostic:
    return _diag(IMPORT_CYCLE, span, "import cycle: " + " -> ".join(chain), hint="modules cannot import each other")


def invalid_module_uri(span: Span, uri: str, scheme: str) -> Diagnostic:
    return _diag(
        INVALID_MODULE_URI,
        span,
        f'"{uri}" is not a valid module uri scheme `{scheme}`',
        hint="import a local path, a `git://` uri, or an fs expression such as `image(...)`",
    )


def no_bind_target(span: Span) -> Diagnostic:
    return _diag(NO_BIND_TARGET, span, "cannot bind, has no target", hint="write `as name` after the call")


def no_bind_effects(span: Span, name: str) -> Diagnostic:
    return _diag(
        NO_BIND_EFFECTS,
        span,
        f"cannot bind, `{name}` has no function effects",
        hint="only `mount`, `dockerPush` and `manifest` have side outputs to bind",
    )


def undefined_bind_effect(span: Span, effect: str, name: str, effects: Sequence[str]) -> Diagnostic:
    hint = f"the effects of `{name}` are " + _one_of([f"`{e}`" for e in effects]) if effects else None
    return _diag(UNDEFINED_BIND_EFFECT, span, f"cannot bind, `{effect}` is an undefined effect of `{name}`", hint=hint)


def no_bind_closure(span: Span) -> Diagnostic:
    return _diag(
        NO_BIND_CLOSURE,
        span,
        "cannot bind, no closure in option blocks",
        hint="bind inside a function body or a `with` block of a call in a function body",
    )


def deprecated(span: Span, message: str, replacement: str) -> Diagnostic:
    return _diag(
        DEPRECATED, span, message, severity=Severity.WARNING, hint=f"write {replacement}; `hlb lint --fix` rewrites it"
    )


def unused(span: Span, what: str, name: str, hint: str | None = None) -> Diagnostic:
    return _diag(UNUSED, span, f"{what} `{name}` is never used", severity=Severity.WARNING, hint=hint)


def cache_sharing_conflict(span: Span, cache_id: str, mode: str, other: Span | None, other_mode: str) -> Diagnostic:
    where = f" at {other}" if other is not None else " elsewhere"
    return _diag(
        CACHE_SHARING_CONFLICT,
        span,
        f"cache `{cache_id}` is used with sharing `{mode}` here and `{other_mode}`{where}",
        label=f"sharing `{mode}`",
        secondary=[Label(other, f"sharing `{other_mode}`")] if other is not None else [],
        severity=Severity.WARNING,
        hint="sharing is not part of a cache's identity: both uses get the same cache, each with its own mode, "
        "so neither mode holds; give every use of the cache the same sharing mode",
    )


def cache_base_conflict(span: Span, cache_id: str, base: str, other: Span | None, other_base: str) -> Diagnostic:
    where = f" at {other}" if other is not None else " elsewhere"
    return _diag(
        CACHE_BASE_CONFLICT,
        span,
        f"cache id `{cache_id}` is used with {base} here and with {other_base}{where}: "
        "BuildKit keeps a separate cache for each",
        label=base,
        secondary=[Label(other, other_base)] if other is not None else [],
        severity=Severity.WARNING,
        hint="a cache is its id plus the mount's base, and `uid`, `gid`, `mode` (or a mount's input) make the base; "
        "use the same ones everywhere to share one cache, or different ids if two caches are meant",
    )


def cache_id_collision(
    span: Span, cache_id: str, module: str, other: Span, other_module: str, namespaced: str, default: bool
) -> Diagnostic:
    owner = f"module `{module}`" if module else "this module"
    user = f"module `{other_module}`" if other_module else f"{other.file.name}"
    return _diag(
        CACHE_ID_COLLISION,
        span,
        f"cache `{cache_id}` of {owner} is also used by {user}: they share one cache and each other's files",
        label="the id defaults to the mount point" if default else f"id `{cache_id}`",
        secondary=[Label(other, "also used here")],
        severity=Severity.WARNING,
        hint=f'give the module\'s mount an id of its own, e.g. `with id("{namespaced}")`; '
        "keep the id only if the two are meant to share",
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


def target_needs_arguments(
    span: Span, target: str, missing: Sequence[tuple[str, Span]], any_given: bool, *, label: str = ""
) -> Diagnostic:
    """A requested target whose parameters the arguments do not all give (``missing``: name, declaration)."""
    names = [n for n, _ in missing]
    if any_given:
        s = "s" if len(names) > 1 else ""
        message = f"target `{target}` is missing the argument{s} " + _all_of([f"`{n}`" for n in names])
    else:
        message = f"target `{target}` takes parameters"
    flags = " ".join(f"--arg {n}=VALUE" for n in names)
    return _diag(
        INVALID_TARGET,
        span,
        message,
        label=label,
        hint=f"give {'it' if len(names) == 1 else 'them'} on the command line: `{flags}`",
        secondary=[Label(s, f"`{n}` declared here") for n, s in missing],
    )


def parameter_not_on_command_line(span: Span, target: str, param: str, decl: Span) -> Diagnostic:
    """A target parameter of a type (or a variadic one) that the command line cannot give."""
    return _diag(
        INVALID_TARGET,
        span,
        f"the parameter `{param}` of target `{target}` cannot be given on the command line",
        hint=f"only `string`, `int` and `bool` parameters can; build a target that calls `{target}` with it",
        secondary=[Label(decl, "declared here")],
    )


def malformed_argument(span: Span, text: str) -> Diagnostic:
    return _diag(
        INVALID_ARGUMENT,
        span,
        f"`{text}` is not NAME=VALUE",
        hint="write `--arg NAME=VALUE`, or `--arg TARGET.NAME=VALUE` for one target only",
    )


def duplicate_argument(span: Span, name: str, first: Span) -> Diagnostic:
    return _diag(
        INVALID_ARGUMENT,
        span,
        f"the argument `{name}` is given twice",
        label="again",
        secondary=[Label(first, "first given here")],
    )


def unknown_argument(
    span: Span, message: str, suggestion: str | None, hint: str, secondary: Sequence[Label] = ()
) -> Diagnostic:
    did = f"did you mean `{suggestion}`? " if suggestion else ""
    return _diag(INVALID_ARGUMENT, span, message, hint=did + hint, secondary=secondary)


def ill_typed_argument(span: Span, value: str, param: str, target: str, decl: Span, hint: str) -> Diagnostic:
    kind = param.split()[0]
    article = "an" if kind[0] in "aeiou" else "a"
    return _diag(
        INVALID_ARGUMENT,
        span,
        f"`{value}` is not {article} {kind} (the parameter `{param}` of target `{target}`)",
        hint=hint,
        secondary=[Label(decl, "declared here")],
    )


def build_failed(span: Span, message: str, notes: Sequence[str] = ()) -> Diagnostic:
    return _diag(BUILD_FAILED, span, message, notes=notes)


def _all_of(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _one_of(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]
