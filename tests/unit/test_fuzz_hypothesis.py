"""Property fuzzing with Hypothesis: any text gets diagnostics from parse + check + compile, never an exception.

Three sources of programs:

* ``programs()`` builds syntactically plausible modules from the grammar: imports (local, deprecated,
  fs and git forms), exports, declarations of every type with parameters (variadic too) and binds
  clauses, call statements whose arguments are literals of every kind (ints in every base, bools,
  strings with escapes and interpolations, raw strings, all six heredoc openers), identifiers,
  ``mod.name`` selectors, parenthesised calls and nested ``fs {}``/``option {}`` blocks, with
  clauses, binds and comments. Most of them check cleanly or nearly so; names and types are drawn
  from small pools so that calls, arities and types line up often enough to reach the checker's
  deeper paths.
* ``typed_programs()`` (``Typed``) builds programs from the builtin table whose calls line up with
  the signatures, so most of them check cleanly and get compiled, with the shapes that once crashed
  compile (issue 10) now and then; plain functions of a ``random.Random``, which bench/fuzz_fast.py
  draws a million of without Hypothesis.
* ``mutants()`` takes a valid program of the corpus (``mutated_typed_programs()`` a typed one) and
  deletes, inserts, duplicates and swaps tokens and characters.

A program that checks without errors is compiled: every parameterless fs/pipeline target, without a
daemon and without running ``localRun``, and each fs target's LLB marshalled. Anything but hlb's
diagnostics (``HlbError``) is a failure: what the CLI reports as an internal error (exit 70).

Every program that parses without errors is also formatted (``hlb.syntax.printer``): the output must parse with no
new kind of error, format to itself, and check with the same kinds of errors as the original.

CI runs a short, derandomized sample (``HLB_FUZZ_EXAMPLES``, default 300 per test); the long run
(``bench/fuzz.sh``, marker ``fuzz_long``) draws fresh random examples.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hlb.builtins.registry import all_builtins
from hlb.builtins.spec import Builtin
from hlb.checker.check import CheckedModule, ModuleLoader, check_module
from hlb.compiler.compiler import compile_targets
from hlb.diagnostics import Diagnostic, HlbError, render_all
from hlb.llb import Platform
from hlb.source import SourceFile
from hlb.syntax.parser import parse_module
from hlb.syntax.result import ParseResult
from hlb.types import Kind

try:
    from hlb.syntax.printer import format_module
except ImportError:  # pragma: no cover - the formatter is optional for this test
    format_module = None  # type: ignore[assignment]

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

ROOT = Path(__file__).resolve().parents[2]
AMD64 = Platform("linux", "amd64")
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


def mutate(rng: random.Random, text: str, n: int) -> str:
    """``n`` random mutations of ``text`` (the operations of :func:`mutants`, without Hypothesis)."""
    toks = TOKEN.findall(text)
    for _ in range(n):
        op = rng.randrange(7)
        i = rng.randrange(max(1, len(toks)))
        if op == 0 and toks:
            del toks[i]
        elif op == 1:
            toks.insert(i, rng.choice(INSERTS))
        elif op == 2 and toks:
            j = rng.randint(i, min(len(toks), i + 8))
            toks[i:i] = toks[i:j]
        elif op == 3 and toks:
            j = rng.randrange(len(toks))
            toks[i], toks[j] = toks[j], toks[i]
        else:
            text = "".join(toks)
            k = rng.randint(0, len(text))
            ch = rng.choice(INSERTS[:19] + ["a", "0", "é", "\x00", "\r"])
            if op == 4:
                text = text[:k] + text[k + 1 :]
            elif op == 5:
                text = text[:k] + ch + text[k:]
            else:
                text = text[:k] + ch + text[k + 1 :]
            toks = TOKEN.findall(text)
    return "".join(toks)


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


# -- well-typed programs and the shapes that once crashed compile ---------------------------------
#
# The grammar above reaches the parser and the checker; these reach the compiler: programs whose
# calls line up with the builtins' signatures (read from the table), so most of them check cleanly
# and every parameterless fs target is then compiled. They are plain functions of a `random.Random`
# (``bench/fuzz_fast.py`` draws them without Hypothesis; the properties below through
# ``st.randoms()``) and carry, now and then, the shapes of issue 10: calls in a cycle, binds called
# inside their own with block, long flat bodies, copy/mount/format/paren nesting around the limits,
# import chains, URL-shaped strings (broken IPv6 hosts), NUL bytes in host paths and with-blocks on
# calls without options.

BY_TYPE: dict[str, list[Builtin]] = {}
for _b in all_builtins():
    BY_TYPE.setdefault(str(_b.type), []).append(_b)
HAS_OPTIONS = {t.removeprefix("option::") for t in BY_TYPE if t.startswith("option::")}
FUNC_TYPES = ["fs", "fs", "fs", "string", "option::run", "option::copy", "option::mount", "pipeline", "int", "bool"]
URLS = ["http://[::1/x", "https://a]b/c", "tcp://[::1", "http://[", "https://[::1]:99999/", "git://[x/y.git",
        "docker-image://[::1]/x", "unix://[x", "ssh://git@[::1/r.git", "tcp://127.0.0.1:99999", "tcp://:",
        "https://github.com/openllb/hlb.git", "http://example.com/a b", "http://%zz/", "file:///etc/x",
        "unix:///run/x.sock", "tcp://localhost:1234", "npipe:////./pipe/x", "http://[fe80::1%25en0]/",
        "http://user:pa@ss@h/", "://", "http://", "https://a:b", "docker.io/library/alpine:latest",
        "alpine@sha256:" + "0" * 64, "alpine:", "ALPINE", "a" * 300]  # fmt: skip
PATHS = ["/", "/src", "/out", ".", "..", "./x", "../x", "", "a/b", "/a/../../b", "~", "*.go", "**", "/dev/null",
         "C:\\x", "//m", "/m/", "a\x00b", "\x00", "/x\x00", "/tmp/\x00/y"]  # fmt: skip
WORDS = ["alpine", "x", "echo hi", "", " ", "%s", "%d %s", "%", "{{.x}}", "{{", "é", "a\tb", "0", "-1", "true",
         "$HOME", "a\x00b", "\u202e", "sha256:abc"]  # fmt: skip
# Values each parameter (by name) accepts, so that most builtin calls compile.
GOOD = {
    "": ["x", "a-b", "/src", "hello world"],
    "ref": ["alpine", "busybox:latest", "docker.io/library/alpine:3", "localhost:5000/a/b:t", "a@sha256:" + "a" * 64],
    "url": ["https://example.com/a.tar.gz", "http://[::1]:8080/x", "http://example.com/"],
    "remote": ["https://github.com/openllb/hlb.git", "git@github.com:openllb/hlb.git", "https://example.com/r"],
    "localPath": ["./util.hlb", "util.hlb", "./chain", ".", "out"],
    "path": ["/src", "./x", "/a/b", "chain"],
    "mountPoint": ["/m", "/run/secrets/x", "/out", "/root/.cache"],
    "mountpoints": ["/data", "/v"],
    "created": ["2024-01-01T00:00:00Z", "2024-02-29T12:30:00.5+01:00"],
    "signal": ["SIGTERM", "9", "SIGKILL"],
    "ports": ["80", "443/tcp", "53/udp"],
    "src": ["tcp://127.0.0.1:8080", "unix:///tmp/x.sock", "tcp://[::1]:22"],
    "dest": ["/run/x.sock", "/s"],
    "command": ["echo", "true", "echo hi"],
    "digest": ["sha256:" + "0" * 64],
    "address": ["10.0.0.1", "::1", "192.168.1.1"],
    "hostname": ["example", "db"],
    "owner": ["root", "1000:1000", "user:group"],
    "os": ["linux", "windows"],
    "arch": ["amd64", "arm64", "arm/v7"],
    "formatString": ["%s", "%s-%s", "%d", "%%"],
    "cache": ["localhost:5000/cache:x", "./cache"],
    "key": ["KEY", "org.opencontainers.image.title", "context"],
    "source": ["docker/dockerfile:1", "alpine"],
    "text": ["{{ .x }}", "plain"],
}  # fmt: skip
# Each chain module imports the next: an import of m{i} is a chain CHAIN - i modules long.
CHAIN = 400
(MODULE_DIR / "chain").mkdir()
for _i in range(CHAIN):
    _next = f'import n from "./m{_i + 1}.hlb"\nexport f\nfs f() {{ n.f; }}\n' if _i < CHAIN - 1 else ""
    (MODULE_DIR / "chain" / f"m{_i}.hlb").write_text(_next or 'export f\nfs f() { image "alpine"; }\n')


SHAPES = ["copy-nesting", "mount-nesting", "format-nesting", "paren-nesting", "import-chain", "nul-or-url",
          "with-on-option-less-call", "bind-in-own-with", "flat"]  # fmt: skip


class Typed:
    """A well-typed program generator over one `random.Random`."""

    def __init__(self, rng: random.Random, flat: float = 0.02) -> None:
        self.r = rng
        self.flat_chance = flat  # of a long flat body per fs function (each costs 0.1-1 s)
        self.funcs: list[tuple[str, str, list[tuple[str, str]]]] = []  # (type, name, params)
        self.binds: list[str] = []  # fs names bound with `as`
        self.scope: list[tuple[str, str]] = []  # the current function's parameters
        self.current = ""
        self.imports: list[str] = []
        self.budget = 0
        self.shapes: list[str] = []  # the shapes drawn, for the test that they all are

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    # literals
    def string(self, choices: tuple[str, ...] = (), param: str = "") -> str:
        """A string literal: for a builtin's parameter mostly a value it accepts (so compile goes on
        past it), else one of the odd pools."""
        r = self.r
        k = r.randrange(12)
        if choices and k < 10:
            s = r.choice(choices)
        elif param and k < 10:
            s = r.choice(GOOD.get(param, GOOD[""]))
        elif k < 3:
            s = r.choice(URLS)
        elif k < 6:
            s = r.choice(PATHS)
        else:
            s = r.choice(WORDS)
        s = s.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
        if self.budget > 0 and self.chance(0.15):
            self.budget -= 1
            s += "${" + self.expr("string") + "}"
        return '"' + s + '"'

    def int_(self) -> str:
        return self.r.choice(["0", "1", "0o755", "0o644", "0755", "493", "0x1ff", "65535", "4294967296"])

    # expressions of a type
    def expr(self, t: str, param: str = "") -> str:
        r = self.r
        names = [n for pt, n in self.scope if pt == t]
        names += [n for ft, n, ps in self.funcs if ft == t and not ps and self.callable(n)]
        if t == "fs":
            names += [b for b in self.binds if self.callable(b)]
        if names and self.chance(0.3):
            return r.choice(names)
        if t == "string":
            if self.budget > 0 and self.chance(0.2):
                self.budget -= 1
                b = r.choice([b for b in BY_TYPE["string"] if b.name != "localRun"] + BY_TYPE["string"][:1])
                return f"{b.name}({', '.join(self.args(b))})"
            return self.string(param=param)
        if t == "int":
            return self.int_()
        if t == "bool":
            return r.choice(["true", "false"])
        if t == "fs":
            if self.budget > 0 and self.chance(0.5):
                self.budget -= 1
                return "fs " + self.block("fs", r.randrange(1, 4))
            return r.choice(["scratch", 'image("alpine")', "scratch", 'fs { image "busybox"; }'])
        if t == "pipeline":
            stages = [n for ft, n, ps in self.funcs if ft in ("fs", "pipeline") and not ps and self.callable(n)]
            return "stage(" + ", ".join(stages[:4] or ["fs { scratch }"]) + ")"
        if t.startswith("option"):
            if self.budget > 0 and self.chance(0.6):
                self.budget -= 1
                return f"{t} " + self.block(t, r.randrange(0, 3))
            return "option {}"
        return self.string()

    def callable(self, name: str) -> bool:
        """Calls go to functions declared later (no cycles) but for one in ten, which may close a cycle."""
        if self.chance(0.1):
            return True
        order = [n for _, n, _ in self.funcs]
        if name in order and self.current in order:
            return order.index(name) > order.index(self.current)
        return name not in self.binds or self.chance(0.5)

    def args(self, b: Builtin) -> list[str]:
        out = []
        for p in b.params:
            n = self.r.choice([0, 1, 1, 1, 2, 3]) if p.variadic else 1
            for _ in range(n):
                t = str(p.type)
                use_literal = t == "string" and (p.choices or self.chance(0.7))
                out.append(self.string(p.choices, p.name) if use_literal else self.expr(t, p.name))
        return out

    def stmt(self, t: str) -> str:
        r = self.r
        users = [(n, ps) for ft, n, ps in self.funcs if ft == t and self.callable(n)]
        if t == "fs":
            users += [(b, []) for b in self.binds if self.callable(b)]
        if users and self.chance(0.2):
            name, ps = r.choice(users)
            return " ".join([name, *(self.expr(pt) for pt, _ in ps)])
        cands = BY_TYPE.get(t, []) or BY_TYPE["fs"]
        b = r.choice(cands)
        if b.name == "localRun" and self.chance(0.5):
            b = r.choice(cands)
        out = " ".join([b.name, *self.args(b)])
        if b.name in HAS_OPTIONS and self.budget > 0 and self.chance(0.4):
            self.budget -= 1
            out += " with " + (self.block_expr(f"option::{b.name}") if self.chance(0.8) else "option {}")
        elif self.chance(0.05):
            out += " with option {}"  # on a call without options, or with no options given
        if b.effects and self.chance(0.5):
            name = r.choice(["out", "dst", "bound", f"b{len(self.binds)}"])
            if str(b.effects[0].type) == "fs":
                self.binds.append(name)
            out += f" as {name}" if self.chance(0.7) else f" as ({b.effects[0].name} {name})"
        return out

    def block_expr(self, t: str) -> str:
        users = [n for ft, n, ps in self.funcs if ft == t and not ps]
        if users and self.chance(0.3):
            return self.r.choice(users)
        return "option " + self.block(t, self.r.randrange(0, 4))

    def block(self, t: str, n: int) -> str:
        stmts = [self.stmt(t) for _ in range(n)]
        if t == "fs" and stmts and self.chance(0.7):
            stmts.insert(0, self.r.choice(['image "alpine"', "scratch", 'image "busybox:latest"']))
        return "{ " + "; ".join(stmts) + " }" if stmts else "{}"

    # the shapes
    def shape(self) -> str:
        """A statement of an fs body with one of the shapes of issue 10."""
        r = self.r
        k = r.randrange(8)
        self.shapes.append(SHAPES[k])
        if k == 0:  # copy nesting
            n = r.choice([10, 40, 63, 64, 100, 200, 300])
            return "copy " + "fs { copy " * (n - 1) + "fs { scratch }" + ' "/" "/" }' * (n - 1) + ' "/" "/"'
        if k == 1:  # mount nesting
            n = r.choice([5, 30, 60, 100, 150])
            s = ""
            for _ in range(n):
                s = f'run "x" with option {{ mount fs {{ image "alpine"; {s} }} "/m" }}'
            return s
        if k == 2:  # format / interpolation nesting
            n = r.choice([5, 20, 40, 100, 250])
            e = '"a"'
            for _ in range(n):
                e = f'"${{format("%s", {e})}}"' if r.random() < 0.8 else f'format("%s", {e})'
            return f"image {e}"
        if k == 3:  # paren nesting
            n = r.choice([10, 63, 64, 100, 300])
            return "image " + "format(" * n + '"a"' + ")" * n
        if k == 4:  # an import chain
            start = r.choice([0, CHAIN - 40, CHAIN - 33, CHAIN - 31, CHAIN - 3])
            name = f"c{len(self.imports)}"
            self.imports.append(f'import {name} from "./chain/m{start}.hlb"')
            return f"{name}.f"
        if k == 5:  # a host path with a NUL byte, a broken URL
            return r.choice([
                'download "a\x00b"', 'local "x\x00"', 'downloadDockerTarball "a\x00" "x:y"',
                'run "x" with option { secret "a\x00b" "/s"; }', 'http "http://[::1/x"', 'git "https://a]b/c" "main"',
                'run "x" with option { forward "tcp://[::1" "/s"; }',
                'run "x" with option { forward "unix://a\x00" "/s"; }',
                'run "x" with option { ssh with option { localPaths "a\x00b"; }; }',
                'cacheContext "a\x00b" fs { image "alpine"; } with backend("local")', 'image "[::1]:5000/x"',
            ])  # fmt: skip
        if k == 6:  # a call without options, with an (empty) with block
            b = r.choice(
                [b for bs in BY_TYPE.values() for b in bs if str(b.type) == "fs" and b.name not in HAS_OPTIONS]
            )
            return " ".join([b.name, *self.args(b)]) + " with option {}"
        # a bind called inside its own with block
        call = r.choice(["self", 'self("a")', "fs { self; }"])
        return f'run "x" with option {{ mount {call} "/m"; mount scratch "/o" as self; }}'

    def flat(self) -> str:
        n = self.r.choice([100, 300, 600, 1000, 1500])
        self.shapes.append("flat")
        step = self.r.choice(['mkdir "/d{i}" 0o755', 'env "K{i}" "v"', 'mkfile "/f{i}" 0o644 "x"', 'run "echo {i}"'])
        return "\n\t".join(['image "alpine"', *(step.format(i=i) for i in range(n))])

    def program(self) -> str:
        r = self.r
        n = r.randrange(1, 5)
        names = ["default", *r.sample(["build", "base", "src", "opts", "tag", "a", "b", "c"], n - 1)]
        for i, name in enumerate(names):
            t = "fs" if i == 0 else r.choice(FUNC_TYPES)
            arity = r.randrange(0, 3) if i else 0
            params = [(r.choice(["fs", "string", "string", "int", "option::run"]), f"p{j}") for j in range(arity)]
            self.funcs.append((t, name, params))
        decls = []
        for t, name, params in list(self.funcs):
            self.scope, self.current = params, name
            self.budget = r.randrange(2, 10)
            if t in ("fs", "string", "pipeline") or t.startswith("option"):
                k = r.randrange(1, 5)
                if t == "pipeline":
                    body = "{ stage " + self.expr("pipeline").removeprefix("stage(")[:-1].replace(",", "") + " }"
                elif t == "fs" and self.chance(self.flat_chance):
                    body = "{\n\t" + self.flat() + "\n}"
                else:
                    stmts = [self.stmt(t) for _ in range(k)]
                    if t == "fs" and self.chance(0.25):
                        stmts.insert(r.randrange(len(stmts) + 1), self.shape())
                    if t == "fs" and r.random() < 0.6:
                        stmts.insert(0, r.choice(['image "alpine"', "scratch"]))
                    body = "{\n" + "".join(f"\t{s}\n" for s in stmts) + "}"
            else:
                body = "{ " + self.expr(t) + " }"
            ps = ", ".join(f"{pt} {pn}" for pt, pn in params)
            decls.append(f"{t} {name}({ps}) {body}")
        self.scope = []
        head = self.imports + ['import util from "./util.hlb"'] * self.chance(0.1)
        return "\n".join(head + decls) + "\n"


def typed_program(rng: random.Random, flat: float = 0.02) -> str:
    return Typed(rng, flat).program()


# Hypothesis draws the seed of a `random.Random` rather than each choice: its own random draws lean
# to the extremes (every chance taken, every body long), and the generator's proportions are the point.
def typed_programs(flat: float = 0.02) -> st.SearchStrategy[str]:
    return st.integers(0, 2**32).map(lambda s: typed_program(random.Random(s), flat))


def mutated_typed_programs() -> st.SearchStrategy[str]:
    def draw(s: int) -> str:
        r = random.Random(s)
        return mutate(r, typed_program(r, 0.0), r.randint(1, 4))

    return st.integers(0, 2**32).map(draw)


# -- the properties --------------------------------------------------------------------------------


def targets(checked: CheckedModule) -> list[str]:
    """The parameterless fs (and pipeline) functions and binds of a module: what `hlb compile -t` takes."""
    names = [n for n, f in checked.funcs.items() if not f.params and f.type.name in ("fs", "pipeline", "group")]
    names += [
        n
        for n, b in checked.binds.items()
        if not b.func.params and b.type is not None and b.type.kind in (Kind.FS, Kind.PIPELINE)
    ]
    return names


def compile_all(checked: CheckedModule) -> list[Diagnostic]:
    """Compile every target as `hlb compile` would, without a daemon and without running `localRun`,
    and marshal each fs target's LLB; the diagnostics of the targets that fail."""
    diags: list[Diagnostic] = []
    for name in targets(checked):
        try:
            result = compile_targets(checked, [name], AMD64, local_run=False)
        except HlbError as e:
            diags += e.diagnostics
            continue
        diags += result.diagnostics
        for target in result.targets:
            if target.fs is not None:
                target.definition.serialize()  # marshalled as `hlb compile --format binary` does
    return diags


def diagnose(text: str, compile: bool = False) -> tuple[list[Diagnostic], ParseResult]:
    """Diagnostics of parse + check (+ compile of every target when it checks without errors), and
    the parse."""
    parsed = parse_module(SourceFile(str(MAIN), text))
    diags = list(parsed.diagnostics)
    if parsed.module is not None and not any(d.is_error for d in diags):
        checked = check_module(parsed.module, ModuleLoader())
        diags += checked.diagnostics
        if compile and not any(d.is_error for d in diags):
            diags += compile_all(checked.checked)
    render_all(diags)
    return diags, parsed


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


def assert_only_diagnostics(text: str, report_known: bool = False, compile: bool = True) -> None:
    """Parse + check + compile ``text`` (and format it when it parses without errors); raise
    :class:`Failure` on an exception but hlb's own diagnostics (what the CLI reports as an internal
    error, exit 70) or when formatting is not faithful: it must reparse to the same kinds of errors
    and format to itself."""
    try:
        diags, first = diagnose(text, compile)
    except Exception as e:
        raise Failure(f"crash {type(e).__name__} at {where(e)}", str(e), text) from e
    if format_module is None:
        return
    if not first.ok:
        return  # `hlb format` refuses a module with parse errors, as openllb/hlb does
    assert first.module is not None
    try:
        formatted = format_module(first.module)
        again, second = diagnose(formatted, compile)
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
@given(typed_programs(flat=0.005))
def test_well_typed_programs_compile_or_produce_diagnostics(text: str) -> None:
    assert_only_diagnostics(text)


@SHORT
@given(mutated_typed_programs())
def test_mutated_well_typed_programs_only_produce_diagnostics(text: str) -> None:
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
        diags, result = diagnose(text)
        parsed += result.module is not None
        clean += not error_kinds(diags)

    run()
    assert parsed >= 100, parsed
    assert clean >= 10, clean


def test_the_typed_programs_reach_the_compiler_with_every_shape() -> None:
    """Most well-typed programs check cleanly and most of those compile to LLB; every shape of issue
    10 is drawn."""
    clean = compiled = 0
    shapes: set[str] = set()
    for i in range(300):
        gen = Typed(random.Random(i), flat=0.01)
        parsed = parse_module(SourceFile(str(MAIN), gen.program()))
        shapes.update(gen.shapes)
        if parsed.module is None or not parsed.ok:  # only a nesting past the limits
            assert {d.code.slug for d in parsed.diagnostics} == {"too-deep"}, [str(d) for d in parsed.diagnostics]
            continue
        checked = check_module(parsed.module, ModuleLoader())
        if any(d.is_error for d in checked.diagnostics):
            continue
        clean += 1
        result = compile_targets(checked.checked, ["default"], AMD64, local_run=False)
        compiled += result.ok and bool(result.targets[0].definition.ops)  # it marshals
    assert shapes == set(SHAPES), set(SHAPES) - shapes
    assert clean >= 150, clean
    assert compiled >= clean // 4, (compiled, clean)


@pytest.mark.fuzz_long
@LONG
@given(st.one_of(programs(), mutants(), mutants(), typed_programs(), mutated_typed_programs()))
def test_fuzz_long(text: str) -> None:
    assert_only_diagnostics(text)
