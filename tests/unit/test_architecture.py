"""Dependencies point one way: source -> syntax -> checker -> compiler -> llb -> solver -> cli.

Generated protobuf code stays at the edge: only hlb.llb, hlb.solver and
hlb.session import hlb._proto.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "hlb"

# What a module beside hlb.values (read by several stages) must not import: any stage.
BESIDE_VALUES = ["hlb.syntax", "hlb.checker", "hlb.compiler", "hlb.builtins", "hlb.solver", "hlb.session", "hlb.cli"]

# package -> packages it must not import
FORBIDDEN = {
    "hlb.source": ["hlb.syntax", "hlb.checker", "hlb.compiler", "hlb.llb", "hlb.solver", "hlb.cli"],
    "hlb.diagnostics": ["hlb.syntax", "hlb.checker", "hlb.compiler", "hlb.llb", "hlb.solver", "hlb.cli"],
    "hlb.syntax": ["hlb.checker", "hlb.compiler", "hlb.builtins", "hlb.llb", "hlb.solver", "hlb.session", "hlb.cli"],
    "hlb.checker": ["hlb.compiler", "hlb.solver", "hlb.session", "hlb.cli", "hlb.progress"],
    "hlb.builtins": ["hlb.checker", "hlb.compiler", "hlb.solver", "hlb.session", "hlb.cli"],
    "hlb.compiler": ["hlb.solver", "hlb.session", "hlb.cli", "hlb.progress"],
    "hlb.llb": ["hlb.syntax", "hlb.checker", "hlb.compiler", "hlb.builtins", "hlb.solver", "hlb.cli"],
    "hlb.progress": ["hlb.syntax", "hlb.checker", "hlb.compiler", "hlb.solver", "hlb.cli", "hlb._proto"],
    "hlb.solver": ["hlb.syntax", "hlb.checker", "hlb.compiler", "hlb.builtins", "hlb.cli"],
    "hlb.session": ["hlb.syntax", "hlb.checker", "hlb.compiler", "hlb.builtins", "hlb.solver", "hlb.cli"],
    "hlb.transport": ["hlb.solver", "hlb.session", "hlb.cli"],
    "hlb.address": ["hlb.solver", "hlb.session", "hlb.transport", "hlb.cli"],
    "hlb.oci_config": ["hlb.builtins", "hlb.compiler", "hlb.solver", "hlb.cli"],
    # What compiling asks of a daemon and registries: interfaces only, implemented by hlb.solver (and by fakes).
    "hlb.resolver": BESIDE_VALUES,
    # How an ignore file reads: read by `local` (the builtins) and by the file transfer's matcher (the session).
    "hlb.ignorefile": BESIDE_VALUES,
    "hlb.outfile": [*BESIDE_VALUES, "hlb.build", "hlb.values"],  # where a file the user named is written: stdlib only
    # The compiler evaluates; the plan turns its results into solves. The compiler never reaches for the plan.
    "hlb.compiler.compiler": ["hlb.compiler.plan"],
    # Fetching imported modules knows nothing of evaluation: the compiler hands it the import's value.
    "hlb.compiler.modules": ["hlb.compiler.compiler", "hlb.compiler.plan"],
    "hlb.compiler.plan": ["hlb.builtins", "hlb.solver", "hlb.session"],
    # Running a plan is the library's (hlb.build), not the command line's.
    "hlb.build": ["hlb.cli"],
    # `hlb cache`'s library: below the CLI, beside the runner.
    "hlb.cache_admin": ["hlb.cli", "hlb.build"],
    # What a persisted cache mount pushes: a value beside hlb.values, read by the builtins and the plan.
    "hlb.persist": [*BESIDE_VALUES, "hlb.build"],
    "hlb.api": ["hlb.cli"],
    # The language server checks and lints as `hlb lint` does, without a daemon: never the solver, sessions or plan.
    "hlb.lsp": ["hlb.solver", "hlb.session", "hlb.build", "hlb.compiler.plan", "hlb.progress", "hlb.cli", "hlb.api"],
    # The Pygments lexer is loaded by Pygments' plugin lookup in any process: it reads no stage (no Lark, no grpc).
    "hlb.highlight": [*BESIDE_VALUES, "hlb.llb", "hlb.progress", "hlb.diagnostics"],
}
# Modules that import hlb modules inside functions, and why that is not a cycle being hidden.
LAZY_ALLOWED = {
    "hlb": "the package's facade loads hlb.api on first use, so `import hlb` stays cheap",
    "hlb.api": "build(), cache_admin() and explain() load the solver, sessions and grpc only when called",
    "hlb.cli.main": "each command's module is imported only when that command runs (importlib)",
    "hlb.progress.display": "rich (~70 ms) is imported only by the tty display, the rawjson writer by rawjson",
    "hlb.checker.cache": "a hit answers `hlb check` from the cache; the parser and checker load on a miss only",
    "hlb.syntax.cache": "a hit answers `hlb format` from the cache; the parser (Lark) loads on a miss only",
    "hlb.syntax.parser": "Lark (hlb.syntax.lark_driver) loads only to build the LALR table or report a syntax error",
    "hlb.cli.langserver": "pygls and the language server load only once pygls is known to be installed",
    "hlb.cli.fmt": "the Pygments lexer loads only when `hlb format` prints to a terminal",
    # `hlb run` imports a session service only when its plan needs it (a plan without `local` never loads filesync)
    "hlb.build.attachments": "the `local` transfer and the SSH forwarding load only for a solve that has one",
    "hlb.build.record": "the `local` transfer loads only where a solve or a plan has a `local` directory",
    "hlb.build.metadata": "the file writer (hlb.session.filesend) loads only when --metadata-file is given",
    "hlb.solver.export": "the file transfer and content store load only for an output or cache that comes back here",
}
PROTO_USERS = ("hlb.llb", "hlb.solver", "hlb.session")


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        if not name.startswith("hlb._proto"):
            out.append((name, path))
    return out


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from hlb import cli` imports hlb.cli
    return {m for m in found if m.startswith("hlb")}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_layering(name: str, path: Path) -> None:
    imported = imports_of(path)
    for package, banned in FORBIDDEN.items():
        if within(name, package):
            bad = sorted(i for i in imported for b in banned if within(i, b))
            assert bad == [], f"{name} must not import {bad}"
    if any(within(i, "hlb._proto") for i in imported):
        assert any(within(name, p) for p in PROTO_USERS), f"{name} imports generated code; wrap it in hlb.llb/solver"


def lazy_imports_of(path: Path) -> set[str]:
    """hlb modules imported inside a function or method (not at module level or under TYPE_CHECKING)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module and inner.module.startswith("hlb"):
                    found.add(inner.module)
                    found.update(f"{inner.module}.{a.name}" for a in inner.names)
                elif isinstance(inner, ast.Import):
                    found.update(a.name for a in inner.names if a.name.startswith("hlb"))
    return found


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_no_lazy_import_hides_a_cycle(name: str, path: Path) -> None:
    lazy = lazy_imports_of(path)
    if name in LAZY_ALLOWED:
        return
    assert lazy == set(), f"{name} imports {sorted(lazy)} inside a function; import at the top (no cycle to hide)"
