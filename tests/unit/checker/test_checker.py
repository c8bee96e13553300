"""Checker and compile-time diagnostics: kind, position, message and hint."""

from __future__ import annotations

import pytest

from hlb.api import compile_source
from hlb.checker.check import check_module
from hlb.diagnostics import Diagnostic, HlbError, render
from hlb.llb import Platform
from hlb.source import SourceFile
from hlb.syntax.parser import parse_module

AMD64 = Platform("linux", "amd64")


def check(text: str) -> list[Diagnostic]:
    parsed = parse_module(SourceFile("t.hlb", text))
    assert parsed.ok, [str(d) for d in parsed.diagnostics]
    assert parsed.module is not None
    return check_module(parsed.module).diagnostics


def one(diags: list[Diagnostic]) -> tuple[str, str, str, str | None]:
    assert len(diags) == 1, [str(d) for d in diags]
    d = diags[0]
    p = d.span.begin
    return d.code.slug, f"{p.line}:{p.column}", d.message, d.hint


CASES = [
    (
        "misspelt builtin",
        'fs default() {\n\timgae "busybox"\n}',
        ("undefined-name", "2:2", "`imgae` is undefined or not in scope", "did you mean `image`?"),
    ),
    (
        "misspelt user function",
        "fs base() { scratch }\nfs default() { bsae }",
        ("undefined-name", "2:16", "`bsae` is undefined or not in scope", "did you mean `base`?"),
    ),
    (
        "too many args",
        'fs default() { image "a" "b" }',
        ("wrong-arg-count", "1:16", "`image` expected 1 args, found 2", "the signature is `fs image(string ref)`"),
    ),
    (
        "two statements on one line",
        'fs default() { image "a" run "x" }',
        ("wrong-arg-count", "1:16", "`image` expected 1 args, found 3", "the signature is `fs image(string ref)`"),
    ),
    (
        "too few args",
        'fs default() { mkfile "/a" 0o644 }',
        (
            "wrong-arg-count",
            "1:16",
            "`mkfile` expected 3 args, found 2",
            "the signature is `fs mkfile(string path, int filemode, string content)`",
        ),
    ),
    (
        "int where string expected",
        "fs default() { image 42 }",
        ("type-mismatch", "1:22", "cannot use int as type string", None),
    ),
    (
        "string where int expected",
        'fs default() { mkdir "/a" "0755" }',
        ("type-mismatch", "1:27", "cannot use string as type int", None),
    ),
    (
        "octal needs 0o",
        'fs default() { mkdir "/a" 0755 }',
        (
            "invalid-number",
            "1:27",
            "`0755` is not a number: a leading 0 does not make it octal",
            "write `0o755` for octal (a file mode) or `755` for decimal",
        ),
    ),
    (
        "fs option in the wrong block",
        'fs default() { image "a"; run "x" with option { mkdir "/a" 0o755 } }',
        (
            "type-mismatch",
            "1:49",
            "cannot use fs as type option::run",
            "the options of `run` are `cacheMount`, `dir`, `env`, `forward`, `host`, `ignoreCache`, `mount`, "
            "`network`, `readonlyRootfs`, `secret`, `secretMount`, `security`, `shlex`, `ssh`, `user`",
        ),
    ),
    (
        "builtin without options",
        'fs default() { env "a" "x" with option { readonly } }',
        ("invalid-value", "1:33", "`env` takes no options", None),
    ),
    (
        "cacheMount option misspelt",
        'fs default() { run "x" with option { cacheMount "/c" with option { sharin "locked" } } }',
        ("undefined-name", "1:68", "`sharin` is undefined or not in scope", "did you mean `sharing`?"),
    ),
    (
        "duplicate function",
        "fs a() {}\nfs a() {}",
        ("duplicate-decl", "1:4", "`a` is redefined in this scope", None),
    ),
    (
        "redefining a builtin",
        "fs image() {}",
        ("duplicate-decl", "1:4", "`image` is redefined in this scope", "`image` is a builtin; choose another name"),
    ),
    (
        "unknown type",
        "fz default() {}",
        ("undefined-name", "1:1", "unknown type `fz`", "did you mean `fs`?"),
    ),
    (
        "calling a function whose declaration is broken reports only the declaration",
        "fz helper() {}\nfs default() { helper }",
        ("undefined-name", "1:1", "unknown type `fz`", "did you mean `fs`?"),
    ),
    (
        "fs function used as a string",
        "fs a() {}\nfs default() { image a }",
        ("type-mismatch", "2:22", "cannot use fs as type string", None),
    ),
    (
        "interpolating an fs",
        'fs a() {}\nfs default() { image "x${a}" }',
        ("type-mismatch", "2:26", "cannot use fs as one of types [string int bool]", None),
    ),
    (
        "empty interpolation",
        'fs default() { image "x${}" }',
        ("invalid-value", "1:24", "empty interpolation", "write `${name}`"),
    ),
    (
        "binding a call without effects",
        'fs default() { run "x" with option { dir "/o" as out } }',
        (
            "no-bind-effects",
            "1:47",
            "cannot bind, `dir` has no function effects",
            "only `mount`, `dockerPush` and `manifest` have side outputs to bind",
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in CASES], ids=[c[0] for c in CASES])
def test_check_errors(text: str, expected: tuple[str, str, str, str | None]) -> None:
    assert one(check(text)) == expected


def test_several_independent_errors_are_reported() -> None:
    diags = check('fs a() { imgae "x" }\nfs b() { image 1 }\nfs c() { mkfile "/x" }')
    assert [(d.code.slug, d.span.begin.line) for d in diags] == [
        ("undefined-name", 1),
        ("type-mismatch", 2),
        ("wrong-arg-count", 3),
    ]


def test_valid_program_has_no_diagnostics() -> None:
    text = """
fs base() {
	image "busybox:latest"
	env "A" "1"
	dir "/src"
	user "nobody"
}

fs default() {
	base
	mkdir "out" 0o755 with option { createParents; }
	mkfile "out/a" 0o644 "x ${"nested"} ${42} ${true}"
	run "make" with option {
		env "B" "2"
		dir "sub"
		user "root"
		mount fs { image "busybox"; } "/tools" with option { readonly; }
		mount scratch "/cache" with cache("c", "locked")
		cacheMount "/root/.cache" with option { id "x"; sharing "private"; uid 1000; gid 1000; mode 0o700; readonly; }
	}
}
"""
    assert check(text) == []


COMPILE_CASES = [
    (
        "bad sharing mode",
        'fs default() { run "x" with option { cacheMount "/c" with option { sharing "lockd" } } }',
        ("invalid-value", "1:76", "invalid sharing mode `lockd`"),
        "did you mean `locked`?",
    ),
    (
        "bad sharing in cache()",
        'fs default() { run "x" with option { mount scratch "/c" with cache("id", "Shared") } }',
        ("invalid-value", "1:74", "invalid sharing mode `Shared`"),
        "did you mean `shared`?",
    ),
    (
        "bad image reference",
        'fs default() { image "Busybox:latest" }',
        (
            "invalid-image-ref",
            "1:22",
            "failed to parse image reference `Busybox:latest`: repository name must be lowercase",
        ),
        None,
    ),
    (
        "run with no command",
        'fs default() { image "a"; run }',
        ("invalid-value", "1:27", "`run` needs a command"),
        'for example: run "make install"',
    ),
    (
        "mount over root",
        'fs default() { run "x" with option { mount scratch "/" } }',
        ("invalid-value", "1:16", "cannot mount over the root filesystem `/`"),
        None,
    ),
]


@pytest.mark.parametrize(
    ("text", "expected", "hint"), [(t, e, h) for _, t, e, h in COMPILE_CASES], ids=[c[0] for c in COMPILE_CASES]
)
def test_compile_errors(text: str, expected: tuple[str, str, str], hint: str | None) -> None:
    with pytest.raises(HlbError) as info:
        compile_source(SourceFile("t.hlb", text), ["default"], AMD64)
    (d,) = info.value.diagnostics
    p = d.span.begin
    assert (d.code.slug, f"{p.line}:{p.column}", d.message) == expected
    if hint:
        assert d.hint is not None and hint in d.hint


def test_target_not_found_suggests_and_points_at_the_command_line() -> None:
    from hlb.cli.target_args import command_line

    spans = command_line("run", ["biuld"]).target_spans
    with pytest.raises(HlbError) as info:
        compile_source(SourceFile("b.hlb", "fs build() {}"), ["biuld"], AMD64, spans)
    text = render(info.value.diagnostics[0])
    assert (
        text.splitlines()[0] == '<command line>:1:12: error: target "biuld" is not defined in b.hlb [target-not-found]'
    )
    assert "^^^^^" in text and "did you mean `build`?" in text


def test_a_misspelling_repeated_everywhere_is_suggested_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Renaming a helper that 200 functions call made 200 errors, each comparing the name with every symbol:
    # quadratic (1,000 calls: 6 s). Each distinct misspelling is now looked up once.
    from hlb.diagnostics import suggest

    calls = 0
    real = suggest.levenshtein

    def counted(a: str, b: str) -> int:
        nonlocal calls
        calls += 1
        return real(a, b)

    monkeypatch.setattr(suggest, "levenshtein", counted)
    funcs = "".join(f"fs f{i:03d}() {{\n\tbuidl\n}}\n" for i in range(200))
    diags = check("fs build() {\n\tscratch\n}\n" + funcs)
    assert sum(d.code.slug == "undefined-name" for d in diags) == 200
    assert all("build" in (d.hint or "") for d in diags if d.code.slug == "undefined-name")
    assert calls < 2 * 300, calls  # one pass over the ~200 functions and the builtins, not 200


def test_suggestions_skip_names_whose_length_cannot_be_close(monkeypatch: pytest.MonkeyPatch) -> None:
    from hlb.diagnostics import suggest

    monkeypatch.setattr(suggest, "levenshtein", lambda a, b: pytest.fail(f"compared {a} with {b}"))
    assert suggest.closest("abcd", ["abcdefgh", "a"]) is None
