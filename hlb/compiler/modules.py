"""Modules imported from an fs or a computed path: fetched while compiling, once per import, and checked.

The checker loads a module imported from a constant local path. One that is known only once something
is evaluated (``import lib from fs { ... }``, ``import lib from "git://host/repo@v1"``, a path built from
a string) is fetched here when a call first reaches into it: an fs is built on the daemon and its
``module.hlb`` read (:attr:`hlb.resolver.Services.modules`), a git URI becomes such an fs, a local path
is read from disk; the module is then parsed and checked like any other.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from hlb.builtins.call import CompileError
from hlb.checker.check import LOCAL_SCHEMES, Callee, CheckedModule, Import, ModuleLoader, check_module
from hlb.diagnostics import catalog as cat
from hlb.diagnostics.suggest import closest
from hlb.llb import Constraints, Platform, SourceLocation, State
from hlb.llb.source import git as git_source
from hlb.resolver import ModuleReader, ResolveError
from hlb.source import SourceFile, Span, client_path, module_dir
from hlb.syntax import ast
from hlb.syntax.cache import parse_cached
from hlb.values import FsValue, Value

GIT_MODULE_SCHEMES = {"git": "git://", "git+https": "https://", "git+ssh": "ssh://"}


def git_module(uri: str) -> tuple[str, str, str] | None:
    """(remote, ref, file) of a `git://host/path[@ref][:file]` module URI (file defaults to build.hlb); else None.

    `git://` keeps the git protocol, `git+https://` fetches over https, `git+ssh://` over ssh.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in GIT_MODULE_SCHEMES:
        return None
    host, _, path = rest.partition("/")
    file = "build.hlb"
    if ":" in path:
        path, file = path.rsplit(":", 1)
    ref = ""
    if "@" in path:
        path, ref = path.rsplit("@", 1)
    return f"{GIT_MODULE_SCHEMES[scheme]}{host}/{path}", ref, file.lstrip("/") or "build.hlb"


Locate = Callable[[Span], tuple[SourceLocation, ...]]  # source locations for an op made at a span


class FetchedModules:
    """The modules of one compile's fetched imports; ``reader`` reads files of filesystems the daemon builds."""

    def __init__(self, reader: ModuleReader | None, platform: Platform) -> None:
        self._reader = reader
        self._platform = platform
        self._modules: dict[Import, CheckedModule] = {}  # an Import is itself the key (it hashes by identity)

    def callee(
        self, imp: Import, ident: ast.IdentExpr, importer: CheckedModule, value: Callable[[], Value], locate: Locate
    ) -> Callee:
        """``mod.name`` (``ident``) where ``mod`` is ``imp``: the function or bind it names in the fetched module.

        ``value`` evaluates the import's expression (an fs or a string), asked only the first time.
        """
        assert ident.selector is not None
        other = self._modules.get(imp)
        if other is None:
            other = self._modules[imp] = self._fetch(imp, importer, value(), locate)
        member = ident.selector.name
        exported = member in other.exports or not other.exports
        func = other.funcs.get(member)
        bind = other.binds.get(member)
        if not exported or (func is None and bind is None):
            names = sorted(other.exports or other.funcs)
            raise CompileError(
                cat.undefined_in_module(ident.selector.span, member, imp.decl.name.span, closest(member, names))
            )
        return Callee(func=func, module=other) if func is not None else Callee(bind=bind, module=other)

    def _fetch(self, imp: Import, importer: CheckedModule, value: Value, locate: Locate) -> CheckedModule:
        decl = imp.decl
        expr = decl.expr
        path = "module.hlb"
        if isinstance(value, str):
            remote = git_module(value)
            if remote is None:
                return self._load_path(decl, value, importer)
            url, ref, path = remote
            if url.startswith("ssh://"):
                raise CompileError(
                    cat.unsupported(
                        expr.span,
                        "importing a module over ssh",
                        "use a git:// or git+https:// URI, or `import lib from fs { git ...; }`",
                    )
                )
            op = git_source(url, ref, constraints=Constraints(locations=locate(expr.span)))
            value = FsValue(State(op.output()))
        assert isinstance(value, FsValue)
        if self._reader is None:
            raise CompileError(
                cat.unsupported(
                    expr.span,
                    "importing a module from an fs without a daemon",
                    f"`hlb run` builds the fs and reads its {path} while compiling",
                )
            )
        definition = value.state.marshal(value.state.platform or self._platform)
        try:
            data = self._reader.read_file(definition, path)
        except ResolveError as e:
            raise CompileError(cat.import_fetch_failed(expr.span, decl.name.name, str(e), path)) from None
        return _check(SourceFile.from_bytes(f"<import {decl.name.name}>/{path}", data))

    def _load_path(self, decl: ast.ImportDecl, uri: str, importer: CheckedModule) -> CheckedModule:
        scheme = uri.split("://", 1)[0] if "://" in uri else ""
        if scheme not in LOCAL_SCHEMES:
            raise CompileError(
                cat.unsupported(decl.expr.span, f"importing a module from a `{scheme}://` URI", "import it from an fs")
            )
        path = uri.split("://", 1)[1] if scheme else uri
        full = client_path(path, module_dir(importer.module.file))
        try:
            source = SourceFile.read(full, os.path.relpath(full))
        except OSError as e:
            raise CompileError(cat.import_not_found(decl.expr.span, path, e)) from None
        except UnicodeError:
            raise CompileError(cat.import_not_found(decl.expr.span, path)) from None
        return _check(source)


def _check(source: SourceFile) -> CheckedModule:
    """``source`` parsed and checked; its errors (the warnings are left out) raise."""
    parsed = parse_cached(source)
    errors = [d for d in parsed.diagnostics if d.is_error]
    if parsed.module is not None and not errors:
        result = check_module(parsed.module, ModuleLoader())
        errors = [d for d in result.diagnostics if d.is_error]
        if not errors:
            return result.checked
    raise CompileError(*errors)
