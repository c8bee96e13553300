"""Every diagnostic kind and its message, declared once.

Stages call the constructors below and never format user-facing messages
inline, so wording stays consistent and each kind is documented in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hlb.diagnostics.diagnostic import Code, Diagnostic, Label, Severity
from hlb.diagnostics.suggest import closest
from hlb.source import Span

# Every kind of diagnostic: its id, its slug (what messages and tests name it by) and what it is.
# The constructors below name the kind by its slug.
_KINDS = (
    # E01xx: lexical and syntax errors
    ("E0101", "syntax", "the parser met a token it did not expect"),
    ("E0102", "unexpected-character", "a character that starts no token"),
    ("E0103", "unterminated", "a string, block or list that is never closed"),
    ("E0104", "invalid-escape", "an escape sequence Go's strconv rejects"),
    ("E0105", "invalid-number", "a digit outside the literal's base"),
    ("E0106", "invalid-utf8", "a source file that is not valid UTF-8"),
    ("E0107", "too-deep", "blocks, lists, strings or imports nested past hlb's limit"),
    # E02xx: names and scopes
    ("E0201", "undefined-name", "an identifier that is not in scope"),
    ("E0202", "duplicate-decl", "a name declared twice in one scope"),
    # E03xx: calls and types
    ("E0301", "type-mismatch", "a value of the wrong type"),
    ("E0302", "wrong-arg-count", "a call with too many or too few arguments"),
    ("E0303", "invalid-value", "an argument whose value the builtin rejects"),
    ("E0304", "unsupported", "a construct this version of hlb does not implement yet"),
    ("E0305", "recursion", "a function that calls itself, directly or through others"),
    # E04xx: modules and binds
    ("E0401", "call-import", "an imported module's name used as a call"),
    ("E0402", "dot-on-non-import", "`x.y` where `x` is not an import"),
    ("E0403", "call-unexported", "`mod.f` where the module does not export `f`"),
    ("E0404", "import-not-found", "a local import whose file does not exist or cannot be read as a module"),
    ("E0405", "import-cycle", "modules that import each other in a cycle"),
    ("E0406", "invalid-module-uri", "an import path with a scheme hlb cannot fetch"),
    ("E0411", "no-bind-target", "`as` with no name after it"),
    ("E0412", "no-bind-effects", "`as` on a call that has no side outputs"),
    ("E0413", "undefined-bind-effect", "`as (e name)` where `e` is not an effect of the call"),
    ("E0414", "no-bind-closure", "`as` inside an option function or an argument literal"),
    # W0xxx: warnings, reported by `hlb check`/`run` and failing `hlb lint`
    ("W0001", "deprecated", "a deprecated form that still works; `hlb lint --fix` rewrites it"),
    ("W0002", "unused", "a function or import that nothing uses"),
    ("W0003", "cache-sharing-conflict", "one cache used with different sharing modes"),
    ("W0004", "cache-base-conflict", "one cache id used with different uid/gid/mode or inputs: separate caches"),
    ("W0005", "cache-id-collision", "a module's default cache id that another module also uses: one shared cache"),
    # E05xx: compilation
    ("E0501", "invalid-image-ref", "an image reference that does not parse"),
    ("E0502", "target-not-found", "`hlb run -t X` where X is not defined"),
    ("E0503", "invalid-target", "a target that cannot be built as given"),
    ("E0504", "invalid-argument", "a target argument (`--arg`) that is malformed, repeated, unknown or ill-typed"),
    ("E0505", "missing-input", "a secret or ssh id the build needs that no `--secret`/`--ssh` flag of `hlb run` gives"),
    # E09xx: the build itself
    ("E0901", "build-failed", "a step failed on the BuildKit daemon"),
)
CODES: dict[str, Code] = {slug: Code(id, slug, description) for id, slug, description in _KINDS}
DEPRECATED = CODES["deprecated"]  # lint fixes the checker's deprecations


def _diag(
    slug: str,
    span: Span,
    message: str,
    *,
    label: str = "",
    hint: str | None = None,
    secondary: Iterable[Label] = (),
    notes: Sequence[str] = (),
) -> Diagnostic:
    """A diagnostic of the kind ``slug``: a warning when its id is a W one, else an error."""
    code = CODES[slug]
    severity = Severity.WARNING if code.id.startswith("W") else Severity.ERROR
    return Diagnostic(code, severity, message, Label(span, label), tuple(secondary), hint, tuple(notes))


def _did_you_mean(suggestion: str | None, otherwise: str | None = None) -> str | None:
    return f"did you mean `{suggestion}`?" if suggestion else otherwise


def _hints(*hints: str | None) -> str:
    return " ".join(h for h in hints if h)


# The diagnostics whose words only fill in the constructor's arguments: (kind, message, hint), each
# text a str.format template over the arguments ("" for no hint).
_FIXED = {
    "unbalanced": ("syntax", "unexpected {found}", "there is no open bracket for this {found} to close"),
    "invalid_escape": (
        "invalid-escape",
        "invalid escape sequence {seq}",
        r"valid escapes are \a \b \f \n \r \t \v \\ \" and \$",
    ),
    "redefined_builtin": (
        "duplicate-decl",
        "`{name}` is redefined in this scope",
        "`{name}` is a builtin; choose another name",
    ),
    "call_import": (
        "call-import",
        "cannot call an imported module",
        "call one of its exported functions: `{name}.<function>`",
    ),
    "dot_on_non_import": (
        "dot-on-non-import",
        "cannot use dot notation with non-import",
        "`{name}` is not an imported module",
    ),
    "call_unexported": (
        "call-unexported",
        "cannot call unexported function `{name}`",
        "add `export {name}` to {module}",
    ),
    "invalid_module_uri": (
        "invalid-module-uri",
        '"{uri}" is not a valid module uri scheme `{scheme}`',
        "import a local path, a `git://` uri, or an fs expression such as `image(...)`",
    ),
    "no_bind_target": ("no-bind-target", "cannot bind, has no target", "write `as name` after the call"),
    "no_bind_effects": (
        "no-bind-effects",
        "cannot bind, `{name}` has no function effects",
        "only `mount`, `dockerPush` and `manifest` have side outputs to bind",
    ),
    "no_bind_closure": (
        "no-bind-closure",
        "cannot bind, no closure in option blocks",
        "bind inside a function body or a `with` block of a call in a function body",
    ),
    "parameter_not_on_command_line": (
        "invalid-target",
        "the parameter `{param}` of target `{target}` cannot be given on the command line",
        "only `string`, `int` and `bool` parameters can; build a target that calls `{target}` with it",
    ),
    "malformed_argument": (
        "invalid-argument",
        "`{text}` is not NAME=VALUE",
        "write `--arg NAME=VALUE`, or `--arg TARGET.NAME=VALUE` for one target only",
    ),
    "duplicate_argument": ("invalid-argument", "the argument `{name}` is given twice", ""),
}


def _fixed(kind: str, span: Span, /, *, label: str = "", secondary: Iterable[Label] = (), **words: str) -> Diagnostic:
    """The diagnostic ``_FIXED[kind]`` (``kind`` is its constructor's name) with ``words`` filled in."""
    slug, message, hint = _FIXED[kind]
    return _diag(
        slug, span, message.format(**words), label=label, hint=hint.format(**words) or None, secondary=secondary
    )


def syntax_error(span: Span, found: str, expected: Sequence[str]) -> Diagnostic:
    hint = None
    if expected:
        hint = "expected " + _one_of(expected)
    return _diag("syntax", span, f"unexpected {found}", hint=hint)


def unbalanced(span: Span, found: str) -> Diagnostic:
    return _fixed("unbalanced", span, found=found)


def unexpected_character(span: Span, char: str) -> Diagnostic:
    return _diag("unexpected-character", span, f"unexpected character {char!r}")


def too_deep(span: Span, what: str, limit: int | None, hint: str | None = None) -> Diagnostic:
    """``what`` nests past ``limit`` at ``span``; None: past what Python's stack holds (no fixed limit)."""
    if limit is None:
        return _diag("too-deep", span, f"{what} nest too deeply to evaluate", hint=hint)
    return _diag("too-deep", span, f"{what} nest more than {limit} deep", label=f"level {limit + 1}", hint=hint)


def unterminated(span: Span, what: str, hint: str | None = None) -> Diagnostic:
    return _diag("unterminated", span, f"unterminated {what}", hint=hint)


def invalid_escape(span: Span, seq: str) -> Diagnostic:
    return _fixed("invalid_escape", span, seq=seq)


def invalid_utf8(span: Span) -> Diagnostic:
    """The first character of ``span`` is a byte that is not UTF-8 (decoded as a lone surrogate)."""
    ch = ord(span.text[:1] or "\0")
    what = f"byte 0x{ch - 0xDC00:02x}" if 0xDC80 <= ch <= 0xDCFF else f"U+{ch:04X} (a lone surrogate)"
    return _diag(
        "invalid-utf8",
        span,
        f"the file is not valid UTF-8: {what}",
        hint="hlb source files are UTF-8: save this one as UTF-8 (e.g. with `iconv -t UTF-8`)",
    )


def invalid_number(span: Span, text: str, base_name: str) -> Diagnostic:
    return _diag("invalid-number", span, f"invalid {base_name} literal `{text}`")


def undefined_name(span: Span, name: str, suggestion: str | None = None) -> Diagnostic:
    hint = _did_you_mean(suggestion)
    return _diag("undefined-name", span, f"`{name}` is undefined or not in scope", hint=hint)


def shell_variable_hint(name: str, suggestion: str | None) -> str:
    """The hint of an undefined name inside a string's ``${...}``: most often the shell's variable."""
    escape = f"to pass `${{{name}}}` to the shell, write `\\${{{name}}}` (hlb interpolates `${{...}}` in strings)"
    return f"did you mean `{suggestion}`? Or, {escape}" if suggestion else escape


def leading_zero(span: Span, name: str) -> Diagnostic:
    """``0755``: a decimal with a leading zero, which hlb reads as a name (it has no C-style octal)."""
    digits = name.lstrip("0") or "0"
    if all(c in "01234567" for c in digits):
        hint = f"write `0o{digits}` for octal (a file mode) or `{digits}` for decimal"
    else:
        hint = f"write `{digits}`; octal is written `0o...`"
    return _diag("invalid-number", span, f"`{name}` is not a number: a leading 0 does not make it octal", hint=hint)


def option_as_statement_hint(written: str, name: str, targets: Sequence[str]) -> str:
    """The hint of an option (``written``, a call of ``name``) written as a statement, not in its call's ``with``."""
    example = f"`{targets[0]} ... with option {{ {written} }}`"
    return f"`{name}` is an option of {all_of_code(targets)}: write it inside `with option {{ ... }}` ({example})"


def all_of_code(items: Sequence[str]) -> str:
    """`a`, `b` and `c`."""
    return _all_of([f"`{i}`" for i in items])


def unknown_type(span: Span, name: str) -> Diagnostic:

    types = ["fs", "string", "int", "bool", "pipeline", "option::<builtin>"]
    guess = closest(name, types[:-1])
    hint = _did_you_mean(guess, "types are " + _one_of([f"`{t}`" for t in types]))
    return _diag("undefined-name", span, f"unknown type `{name}`", hint=hint)


def recursion(span: Span, chain: Sequence[str], along: Sequence[tuple[Span, str]]) -> Diagnostic:
    """A call cycle; ``chain`` names the callers along it then the first again (`a`, `b`, `a`).

    One element (`a`): a function that calls itself.
    """
    if len(chain) == 1:
        message = f"recursive call: {chain[0]} calls itself"
    else:
        message = "recursive call: " + " calls ".join(chain)
    return _diag(
        "recursion",
        span,
        message,
        label="closes the cycle",
        secondary=[Label(s, m) for s, m in along],
        hint="hlb evaluates every call when it compiles, so a call cycle never ends; break the cycle",
    )


def unsupported(span: Span, what: str, hint: str | None = None) -> Diagnostic:
    return _diag("unsupported", span, f"{what} is not supported yet", hint=hint)


def redefined_builtin(span: Span, name: str) -> Diagnostic:
    return _fixed("redefined_builtin", span, name=name, label="redefines a builtin")


def redefined(first: Span, name: str, duplicates: Sequence[Span]) -> Diagnostic:
    """openllb/hlb anchors a redefinition at the first definition and marks each duplicate."""
    times = "" if len(duplicates) == 1 else f" {len(duplicates)} times"
    return _diag(
        "duplicate-decl",
        first,
        f"`{name}` is redefined{times} in this scope",
        label="defined here",
        secondary=[Label(d, "duplicate") for d in duplicates],
    )


def call_import(span: Span, name: str, decl: Span) -> Diagnostic:
    return _fixed("call_import", span, name=name, secondary=[Label(decl, "imported here")])


def dot_on_non_import(span: Span, name: str) -> Diagnostic:
    return _fixed("dot_on_non_import", span, name=name)


def call_unexported(span: Span, name: str, module: str, decl: Span | None) -> Diagnostic:
    return _fixed(
        "call_unexported", span, name=name, module=module, secondary=[Label(decl, "defined here")] if decl else ()
    )


def undefined_in_module(span: Span, name: str, imported: Span, suggestion: str | None) -> Diagnostic:
    hint = _did_you_mean(suggestion)
    return _diag(
        "undefined-name",
        span,
        f"`{name}` is undefined or not in scope",
        secondary=[Label(imported, "imported here")],
        hint=hint,
    )


def import_not_found(span: Span, path: str, error: OSError | None = None) -> Diagnostic:
    """A local import that cannot be read: missing, a directory, unreadable, not a regular file..."""
    if error is None or isinstance(error, FileNotFoundError):
        return _diag(
            "import-not-found", span, f'no such file "{path}"', hint="paths are relative to the importing module"
        )
    if isinstance(error, IsADirectoryError):
        reason, hint = "is a directory", "an import names a module file (a .hlb file), not a directory"
    elif isinstance(error, PermissionError):
        reason, hint = "permission denied", "the file must be readable by the user running hlb"
    else:
        reason = error.strerror or str(error)
        hint = "an import names a module file (a .hlb file)"
    return _diag("import-not-found", span, f'cannot import "{path}": {reason}', hint=hint)


def import_fetch_failed(span: Span, name: str, reason: str, path: str = "module.hlb") -> Diagnostic:
    hint = (
        "an fs import reads the file module.hlb at the root of that filesystem"
        if path == "module.hlb"
        else "a git module URI names the file after `:` (default build.hlb)"
    )
    return _diag("import-not-found", span, f"cannot read {path} of import `{name}`: {reason}", hint=hint)


def import_cycle(span: Span, chain: Sequence[str]) -> Diagnostic:
    return _diag("import-cycle", span, "import cycle: " + " -> ".join(chain), hint="modules cannot import each other")


def invalid_module_uri(span: Span, uri: str, scheme: str) -> Diagnostic:
    return _fixed("invalid_module_uri", span, uri=uri, scheme=scheme)


def no_bind_target(span: Span) -> Diagnostic:
    return _fixed("no_bind_target", span)


def no_bind_effects(span: Span, name: str) -> Diagnostic:
    return _fixed("no_bind_effects", span, name=name)


def undefined_bind_effect(span: Span, effect: str, name: str, effects: Sequence[str]) -> Diagnostic:
    hint = f"the effects of `{name}` are " + _one_of([f"`{e}`" for e in effects]) if effects else None
    return _diag(
        "undefined-bind-effect", span, f"cannot bind, `{effect}` is an undefined effect of `{name}`", hint=hint
    )


def no_bind_closure(span: Span) -> Diagnostic:
    return _fixed("no_bind_closure", span)


def deprecated(span: Span, message: str, replacement: str) -> Diagnostic:
    return _diag(
        "deprecated",
        span,
        message,
        hint=f"write {replacement}; `hlb lint --fix` rewrites it",
    )


def unused(span: Span, what: str, name: str, hint: str | None = None) -> Diagnostic:
    return _diag("unused", span, f"{what} `{name}` is never used", hint=hint)


def cache_sharing_conflict(span: Span, cache_id: str, mode: str, other: Span | None, other_mode: str) -> Diagnostic:
    where = f" at {other}" if other is not None else " elsewhere"
    return _diag(
        "cache-sharing-conflict",
        span,
        f"cache `{cache_id}` is used with sharing `{mode}` here and `{other_mode}`{where}",
        label=f"sharing `{mode}`",
        secondary=[Label(other, f"sharing `{other_mode}`")] if other is not None else [],
        hint="sharing is not part of a cache's identity: both uses get the same cache, each with its own mode, "
        "so neither mode holds; give every use of the cache the same sharing mode",
    )


def cache_base_conflict(span: Span, cache_id: str, base: str, other: Span | None, other_base: str) -> Diagnostic:
    where = f" at {other}" if other is not None else " elsewhere"
    return _diag(
        "cache-base-conflict",
        span,
        f"cache id `{cache_id}` is used with {base} here and with {other_base}{where}: "
        "BuildKit keeps a separate cache for each",
        label=base,
        secondary=[Label(other, other_base)] if other is not None else [],
        hint="a cache is its id plus the mount's base, and `uid`, `gid`, `mode` (or a mount's input) make the base; "
        "use the same ones everywhere to share one cache, or different ids if two caches are meant",
    )


def cache_id_collision(
    span: Span, cache_id: str, module: str, other: Span, other_module: str, namespaced: str, default: bool
) -> Diagnostic:
    owner = f"module `{module}`" if module else "this module"
    user = f"module `{other_module}`" if other_module else f"{other.file.name}"
    return _diag(
        "cache-id-collision",
        span,
        f"cache `{cache_id}` of {owner} is also used by {user}: they share one cache and each other's files",
        label="the id defaults to the mount point" if default else f"id `{cache_id}`",
        secondary=[Label(other, "also used here")],
        hint=f'give the module\'s mount an id of its own, e.g. `with id("{namespaced}")`; '
        "keep the id only if the two are meant to share",
    )


def type_mismatch(span: Span, actual: str, expected: Sequence[str], hint: str | None = None) -> Diagnostic:
    if len(expected) == 1:
        message = f"cannot use {actual} as type {expected[0]}"
    else:
        message = f"cannot use {actual} as one of types [{' '.join(expected)}]"
    return _diag("type-mismatch", span, message, hint=hint)


def wrong_arg_count(
    span: Span, name: str, expected: int, found: int, signature: str, variadic: bool = False
) -> Diagnostic:
    at_least = "at least " if variadic else ""
    return _diag(
        "wrong-arg-count",
        span,
        f"`{name}` expected {at_least}{expected} args, found {found}",
        hint=f"the signature is `{signature}`",
    )


def invalid_value(span: Span, message: str, hint: str | None = None) -> Diagnostic:
    return _diag("invalid-value", span, message, hint=hint)


def invalid_choice(span: Span, what: str, value: str, choices: Sequence[str]) -> Diagnostic:

    guess = closest(value, choices)
    hint = _hints(_did_you_mean(guess), "valid values are " + _one_of([f"`{c}`" for c in choices]))
    return _diag("invalid-value", span, f"invalid {what} `{value}`", hint=hint)


def invalid_image_ref(span: Span, ref: str, reason: str) -> Diagnostic:
    return _diag("invalid-image-ref", span, f"failed to parse image reference `{ref}`: {reason}")


def target_not_found(span: Span, target: str, module: str, suggestion: str | None) -> Diagnostic:
    hint = _did_you_mean(suggestion)
    return _diag("target-not-found", span, f'target "{target}" is not defined in {module}', hint=hint)


def invalid_target(span: Span, message: str, hint: str | None = None) -> Diagnostic:
    return _diag("invalid-target", span, message, hint=hint)


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
        "invalid-target",
        span,
        message,
        label=label,
        hint=f"give {'it' if len(names) == 1 else 'them'} on the command line: `{flags}`",
        secondary=[Label(s, f"`{n}` declared here") for n, s in missing],
    )


def parameter_not_on_command_line(span: Span, target: str, param: str, decl: Span) -> Diagnostic:
    """A target parameter of a type (or a variadic one) that the command line cannot give."""
    return _fixed(
        "parameter_not_on_command_line", span, param=param, target=target, secondary=[Label(decl, "declared here")]
    )


def malformed_argument(span: Span, text: str) -> Diagnostic:
    return _fixed("malformed_argument", span, text=text)


def duplicate_argument(span: Span, name: str, first: Span) -> Diagnostic:
    return _fixed("duplicate_argument", span, name=name, label="again", secondary=[Label(first, "first given here")])


def unknown_argument(
    span: Span, message: str, suggestion: str | None, hint: str, secondary: Sequence[Label] = ()
) -> Diagnostic:
    return _diag("invalid-argument", span, message, hint=_hints(_did_you_mean(suggestion), hint), secondary=secondary)


def ill_typed_argument(span: Span, value: str, param: str, target: str, decl: Span, hint: str) -> Diagnostic:
    kind = param.split()[0]
    article = "an" if kind[0] in "aeiou" else "a"
    return _diag(
        "invalid-argument",
        span,
        f"`{value}` is not {article} {kind} (the parameter `{param}` of target `{target}`)",
        hint=hint,
        secondary=[Label(decl, "declared here")],
    )


def missing_input(span: Span, what: str, flags: Sequence[str], others: Sequence[Span] = ()) -> Diagnostic:
    """A required ``what`` (the secret `tok`) used at ``span`` (and ``others``) that none of ``flags`` gives."""
    return _diag(
        "missing-input",
        span,
        f"{what} is not given on the command line",
        hint="pass " + " or ".join(f"`{f}`" for f in flags) + " to `hlb run`",
        secondary=[Label(s, "also used here") for s in others],
    )


def build_failed(span: Span, message: str, notes: Sequence[str] = (), hint: str | None = None) -> Diagnostic:
    return _diag("build-failed", span, message, notes=notes, hint=hint)


def _all_of(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _one_of(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]
