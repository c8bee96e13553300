"""Property fuzzing with Hypothesis: any text gets diagnostics from parse + check, never an exception.

Two sources of programs:

* ``programs()`` builds syntactically plausible modules from the grammar: imports (local, deprecated,
  fs and git forms), exports, declarations of every type with parameters (variadic too) and binds
  clauses, call statements whose arguments are literals of every kind (ints in every base, bools,
  strings with escapes and interpolations, raw strings, all six heredoc openers), identifiers,
  ``mod.name`` selectors, parenthesised calls and nested ``fs {}``/``option {}`` blocks, with
  clauses, binds and comments. Most of them check cleanly or nearly so; names and types are drawn
  from small pools so that calls, arities and types line up often enough to reach the checker's
  deeper paths.
* ``mutants()`` takes a valid program of the corpus and deletes, inserts, duplicates and swaps
  tokens and characters.

Every program that parses without errors is also formatted (``hlb.syntax.printer``): the output must parse with no
new kind of error, format to itself, and check with the same kinds of errors as the original.

CI runs a short, derandomized sample (``HLB_FUZZ_EXAMPLES``, default 300 per test); the long run
(``bench/fuzz.sh``, marker ``fuzz_long``) draws fresh random examples.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hlb.builtins.registry import all_builtins
from hlb.checker import ModuleLoader, check_module
from hlb.diagnostics import Diagnostic, render_all
from hlb.source import SourceFile
from hlb.syntax import parse_module

try:
    from hlb.syntax.printer import format_module
except ImportError:  # pragma: no cover - the formatter is optional for this test
    format_module = None  # type: ignore[assignment]

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("HLB_FUZZ_EXAMPLES", "300"))
SHORT = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
LONG = settings(
    max_examples=int(os.environ.get("HLB_FUZZ_EXAMPLES", "20000")),
    deadline=None,
    derandomize=False,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# Imports resolve against this directory: a module that exists, one that imports back (a cycle)
# and one with errors, so generated imports reach the loader's paths.
MODULE_DIR = Path(tempfile.mkdtemp(prefix="hlb-fuzz-"))
(MODULE_DIR / "util.hlb").write_text(
    "export build\nexport opts\nexport tag\n\nfs build(string ref) { image ref; }\n"
    'option::run opts() { dir "/src"; }\nstring tag() { "latest"; }\nfs hidden() { scratch; }\n'
)
(MODULE_DIR / "cycle.hlb").write_text('import back from "./build.hlb"\nexport f\nfs f() { scratch; }\n')
(MODULE_DIR / "broken.hlb").write_text("export f\nfs f() { imgae 1 }\n")
MAIN = MODULE_DIR / "build.hlb"

# -- the grammar ---------------------------------------------------------------------------------

BUILTINS = sorted({b.name for b in all_builtins()})
USER_NAMES = ["default", "build", "base", "src", "ref", "opts", "out", "tag", "a", "b"]
SOFT = ["from", "binds", "variadic"]
KEYWORDS = ["with", "as", "import", "export"]
TYPES = ["fs", "string", "int", "bool", "pipeline", "option", "option::run", "option::copy", "option::mount"]
ODD_TYPES = ["group", "option::cacheMount", "option::cacheContext", "option::image", "fz", "option::"]
MODULES = ["util", "lib", "cycle", "broken"]

words = st.from_regex(r"[a-z][A-Za-z0-9_]{0,6}", fullmatch=True)
# Odd names (keywords, soft keywords, names that are not ints, colons) are rare: one draw in 40.
odd_names = st.sampled_from([*SOFT, *KEYWORDS, "0755", "1abc", "a:b", "True"])
names = st.integers(0, 39).flatmap(
    lambda i: odd_names if i == 0 else st.one_of(st.sampled_from(USER_NAMES), st.sampled_from(BUILTINS), words)
)
call_names = st.one_of(st.sampled_from(BUILTINS), st.sampled_from(BUILTINS), st.sampled_from(USER_NAMES), names)
types = st.one_of(st.sampled_from(TYPES), st.sampled_from(TYPES), st.sampled_from(ODD_TYPES))

odd_ints = st.one_of(
    st.integers(2**62, 2**70).map(str),  # near and past the 64-bit limit
    st.tuples(
        st.sampled_from(["0x", "0o", "0b", "0X", "0O", "0B"]),
        st.text("0123456789abcdefABCDEF", min_size=1, max_size=20),
    ).map("".join),
)
ints = st.integers(0, 9).flatmap(
    lambda i: (
        odd_ints
        if i == 0
        else st.one_of(
            st.integers(0, 2**16).map(str),
            st.integers(0, 0o7777).map(oct),
            st.integers(0, 2**16).map(hex),
            st.integers(0, 255).map(bin),
        )
    )
)
bools = st.sampled_from(["true", "false"])
plain_text = st.text(st.characters(blacklist_characters='"\\$`\r', codec="utf-8"), max_size=12)
escapes = st.sampled_from(
    ["\\n", "\\t", '\\"', "\\\\", "\\$", "\\a", "\\v", "\\q", "\\x41", "\\u00e9", "\\'", "$", "\\${x}"]
)
raw_strings = st.text(st.characters(blacklist_characters="`", codec="utf-8"), min_size=1, max_size=12).map(
    lambda s: f"`{s}`"
)
tags = st.sampled_from(["EOM", "EOF", "SCRIPT", "x"])


def strings(exprs: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    part = st.one_of(plain_text, escapes, exprs.map(lambda e: "${" + e + "}"), st.just("${}"), st.just("${ tag }"))
    return st.lists(part, max_size=4).map(lambda parts: '"' + "".join(parts) + '"')


@st.composite
def heredocs(draw: st.DrawFn, exprs: st.SearchStrategy[str]) -> str:
    raw = draw(st.booleans())
    mode = draw(st.sampled_from(["", "-", "~"]))
    tag = draw(tags)
    opener = f"<<{mode}`{tag}`" if raw else f"<<{mode}{tag}"
    piece = st.one_of(words, st.sampled_from(["$HOME", "\\$", "\\n", tag + "x", "x" + tag, "\t", "  "]))
    if not raw:
        piece = st.one_of(piece, exprs.map(lambda e: "${" + e + "}"))
    lines = draw(st.lists(st.lists(piece, max_size=4).map(" ".join), max_size=4))
    indent = draw(st.sampled_from(["", "\t", "  "]))
    if draw(st.integers(0, 9)) == 0:
        return f"{opener} {' '.join(lines)} {tag}"  # a one-line heredoc
    return opener + "\n" + "".join(indent + line + "\n" for line in lines) + indent + tag


def literals(exprs: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(ints, bools, strings(exprs), raw_strings, heredocs(exprs))


@st.composite
def calls_with_parens(draw: st.DrawFn, exprs: st.SearchStrategy[str]) -> str:
    args = draw(st.lists(exprs, max_size=3))
    sep = draw(st.sampled_from([", ", ",\n", "\n", ", # note\n"]))
    trailing = draw(st.sampled_from(["", ","])) if args else ""
    return f"{draw(call_names)}(" + sep.join(args) + trailing + ")"


def selectors() -> st.SearchStrategy[str]:
    return st.tuples(
        st.sampled_from(MODULES + USER_NAMES), st.sampled_from(["build", "opts", "tag", "f", "hidden", "nope"])
    ).map(".".join)


def exprs_of(stmt_blocks: Callable[[st.SearchStrategy[str]], st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            literals(inner),
            calls_with_parens(inner),
            st.tuples(types, stmt_blocks(inner)).map(" ".join),  # fs { ... }, option::run { ... }
        )

    base = st.one_of(ints, bools, st.just('"alpine"'), raw_strings, call_names, selectors())
    return st.recursive(base, extend, max_leaves=8)


@st.composite
def binds(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return " as " + draw(names)
    if kind == 1:
        pairs = draw(
            st.lists(st.tuples(st.sampled_from(["target", "digest", "config", "index", "nope"]), names), max_size=3)
        )
        return " as (" + ", ".join(f"{e} {n}" for e, n in pairs) + ")"
    return " as" if kind == 2 else " as ()"


@st.composite
def statements(draw: st.DrawFn, exprs: st.SearchStrategy[str]) -> str:
    if draw(st.integers(0, 7)) == 0:
        return draw(literals(exprs))  # an expression statement
    head = draw(st.one_of(call_names, selectors()))
    args = draw(st.lists(exprs, max_size=3))
    out = " ".join([head, *args])
    if draw(st.integers(0, 3)) == 0:
        out += " with " + draw(st.one_of(exprs, st.just("option {}")))
    if draw(st.integers(0, 5)) == 0:
        out += draw(binds())
    if draw(st.integers(0, 7)) == 0:
        out += " # " + draw(words)
    return out


def blocks(exprs: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    @st.composite
    def block(draw: st.DrawFn) -> str:
        stmts = draw(st.lists(statements(exprs), max_size=4))
        if draw(st.booleans()):
            return "{ " + "; ".join(stmts) + " }" if stmts else "{}"
        body = "".join("\t" + s + draw(st.sampled_from(["\n", ";\n", "\n\n"])) for s in stmts)
        return "{\n" + body + "}"

    return block()


EXPRS = exprs_of(blocks)


@st.composite
def fields(draw: st.DrawFn) -> str:
    fs = draw(st.lists(st.tuples(st.booleans(), types, names), max_size=3))
    last_variadic = draw(st.booleans())
    if fs and last_variadic:
        fs[-1] = (True, fs[-1][1], fs[-1][2])  # variadic last parameter
    items = [("variadic " if v and draw(st.integers(0, 2)) == 0 else "") + f"{t} {n}" for v, t, n in fs]
    sep = draw(st.sampled_from([", ", ",\n\t", " "]))
    return "(" + sep.join(items) + ")"


@st.composite
def func_decls(draw: st.DrawFn, name: str) -> str:
    out = f"{draw(types)} {name}{draw(fields())}"
    if draw(st.integers(0, 7)) == 0:
        out += " binds " + draw(fields())
    if draw(st.integers(0, 9)) != 0:
        out += " " + draw(blocks(EXPRS))
    return out


@st.composite
def import_decls(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(MODULES + ["other"]))
    path = draw(st.sampled_from(['"./util.hlb"', '"./cycle.hlb"', '"./broken.hlb"', '"./missing.hlb"', '"s3://b/x.hlb"',
                                 '"git://github.com/openllb/hlb@master:build.hlb"']))  # fmt: skip
    form = draw(st.integers(0, 4))
    if form == 0:
        return f"import {name} {path}"
    if form == 1:
        return f"import {name} from " + draw(
            st.sampled_from(['image("openllb/go.hlb")', "fs { scratch }", "util.tag", "42"])
        )
    return f"import {name} from {path}"


@st.composite
def programs(draw: st.DrawFn) -> str:
    # Function names are unique but for the odd duplicate (or builtin name), so most bodies get checked.
    funcs = draw(st.lists(st.one_of(st.sampled_from(USER_NAMES), words), max_size=5, unique=True))
    if funcs and draw(st.integers(0, 9)) == 0:
        funcs.append(draw(st.one_of(st.sampled_from(funcs), names)))
    decls = [draw(func_decls(name)) for name in funcs]
    decls += draw(
        st.lists(
            st.one_of(
                import_decls(),
                st.sampled_from(USER_NAMES + MODULES).map(lambda n: "export " + n),
                words.map(lambda w: "# " + w + "\n"),
            ),
            max_size=3,
        )
    )
    decls = draw(st.permutations(decls)) if decls else ["# empty\n"]
    seps = st.sampled_from(["\n\n", "\n", " "])
    out = decls[0]
    for d in decls[1:]:
        out += draw(seps) + d
    return out + draw(st.sampled_from(["\n", "", "\n# end"]))


# -- mutations of valid programs -----------------------------------------------------------------


def _seeds() -> list[str]:
    files = sorted((ROOT / "tests" / "cases" / "valid").glob("*.hlb"))
    files += sorted((ROOT / "tests" / "cases" / "compile").glob("*.hlb"))
    files += sorted((ROOT / "examples").glob("*.hlb"))
    return [p.read_text(encoding="utf-8") for p in files]


SEEDS = _seeds()
TOKEN = re.compile(r"\w+|\s+|.", re.ASCII | re.DOTALL)
INSERTS = [*'{}()",;\n\t #$\\`.:', "with", "as", "option", "option::run", "fs", "string", "int", "pipeline", "image",
           "run", "${", "}", "<<EOM", "<<-`EOM`", "EOM", "0o", "0x1f", '""', "``", "import", "export", "variadic",
           "binds", "from", "as (", "with option {", "cacheMount", "mount", "stage", "format", "\\q"]  # fmt: skip


@st.composite
def mutants(draw: st.DrawFn) -> str:
    toks = TOKEN.findall(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 6))
        i = draw(st.integers(0, max(0, len(toks) - 1)))
        if op == 0 and toks:
            del toks[i]
        elif op == 1:
            toks.insert(i, draw(st.sampled_from(INSERTS)))
        elif op == 2 and toks:
            j = draw(st.integers(i, min(len(toks), i + 8)))
            toks[i:i] = toks[i:j]  # duplicate a run of tokens
        elif op == 3 and toks:
            j = draw(st.integers(0, len(toks) - 1))
            toks[i], toks[j] = toks[j], toks[i]
        else:  # characters: delete, insert or replace one
            text = "".join(toks)
            k = draw(st.integers(0, len(text)))
            ch = draw(st.sampled_from(INSERTS[:19] + ["a", "0", "é", "\x00", "\r"]))
            if op == 4:
                text = text[:k] + text[k + 1 :]
            elif op == 5:
                text = text[:k] + ch + text[k:]
            else:
                text = text[:k] + ch + text[k + 1 :]
            toks = TOKEN.findall(text)
    return "".join(toks)


# -- the properties --------------------------------------------------------------------------------


def diagnose(text: str) -> tuple[list[Diagnostic], bool]:
    """Diagnostics of parse + check; the flag tells whether the module parsed."""
    parsed = parse_module(SourceFile(str(MAIN), text))
    diags = list(parsed.diagnostics)
    if parsed.module is not None and not any(d.is_error for d in diags):
        diags += check_module(parsed.module, ModuleLoader()).diagnostics
    render_all(diags)
    return diags, parsed.module is not None


def error_kinds(diags: list[Diagnostic]) -> set[str]:
    return {d.code.slug for d in diags if d.is_error}


class Failure(AssertionError):
    """A property violation; ``kind`` groups failures of one cause (see bench/fuzz_long.py)."""

    def __init__(self, kind: str, detail: str, text: str) -> None:
        super().__init__(f"{kind}: {detail}\ninput:\n{text!r}")
        self.kind = kind


def where(e: BaseException) -> str:
    """The innermost hlb frame of a traceback, e.g. ``hlb/checker/check.py:412``."""
    tb, last = e.__traceback__, "?"
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if "/hlb/" in name and "/tests/" not in name:
            last = f"{name[name.rindex('/hlb/') + 1 :]}:{tb.tb_lineno}"
        tb = tb.tb_next
    return last


# Formatter bugs already reported: the short tests skip them (so CI stays green until they are
# fixed); bench/fuzz_long.py counts them apart. Each predicate sees the input and the formatted text.
KNOWN_FORMATTER_BUGS: dict[str, tuple[str, Callable[[str, str], bool]]] = {}


def assert_only_diagnostics(text: str, report_known: bool = False) -> None:
    """Parse + check ``text`` (and format it when it parses without errors); raise :class:`Failure`
    on an exception or when formatting is not faithful: it must reparse to the same kinds of errors
    and format to itself."""
    try:
        diags, _ = diagnose(text)
    except Exception as e:
        raise Failure(f"crash {type(e).__name__} at {where(e)}", str(e), text) from e
    if format_module is None:
        return
    first = parse_module(SourceFile(str(MAIN), text))
    if not first.ok:
        return  # `hlb format` refuses a module with parse errors, as openllb/hlb does
    assert first.module is not None
    try:
        formatted = format_module(first.module)
        again, _ = diagnose(formatted)
        second = parse_module(SourceFile(str(MAIN), formatted))
        twice = format_module(second.module) if second.module is not None else None
    except Exception as e:
        raise Failure(f"format crash {type(e).__name__} at {where(e)}", str(e), text) from e
    failure = None
    if error_kinds(again) != error_kinds(diags):
        before = [str(d) for d in diags if d.is_error]
        after = [str(d) for d in again if d.is_error]
        failure = Failure("format changes the errors", f"{before} -> {after}\nformatted:\n{formatted!r}", text)
    elif twice != formatted:
        failure = Failure("format is not idempotent", f"once:\n{formatted!r}\ntwice:\n{twice!r}", text)
    if failure is None:
        return
    known = next(
        (name for name, (kind, bug) in KNOWN_FORMATTER_BUGS.items() if kind == failure.kind and bug(text, formatted)),
        None,
    )
    if known is None:
        raise failure
    if report_known:
        raise Failure(f"{failure.kind} (known: {known})", str(failure), text)


@SHORT
@given(programs())
def test_generated_programs_only_produce_diagnostics(text: str) -> None:
    assert_only_diagnostics(text)


@SHORT
@given(mutants())
def test_mutated_programs_only_produce_diagnostics(text: str) -> None:
    assert_only_diagnostics(text)


@SHORT
@given(st.text(max_size=200))
def test_arbitrary_text_only_produces_diagnostics(text: str) -> None:
    assert_only_diagnostics(text)


def test_the_generators_reach_the_checker() -> None:
    """Most generated programs parse, and some check cleanly: the fuzzing is not all syntax errors."""
    parsed = clean = 0

    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(programs())
    def run(text: str) -> None:
        nonlocal parsed, clean
        diags, ok = diagnose(text)
        parsed += ok
        clean += not error_kinds(diags)

    run()
    assert parsed >= 100, parsed
    assert clean >= 10, clean


@pytest.mark.fuzz_long
@LONG
@given(st.one_of(programs(), mutants(), mutants()))
def test_fuzz_long(text: str) -> None:
    assert_only_diagnostics(text)
