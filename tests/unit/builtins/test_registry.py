"""The builtin table: openllb/hlb's signatures, our extensions, docs and choices."""

from __future__ import annotations

import importlib
import re

from hlb.builtins.registry import _MODULES, all_builtins, table
from hlb.builtins.spec import Builtin, lookup
from hlb.types import FS, STRING, Type

# Every builtin of openllb/hlb's language/builtin.hlb, as declared there.
OPENLLB = [
    "fs scratch()",
    "fs image(string ref)",
    "option::image resolve()",
    "option::image platform(string os, string arch)",
    "fs http(string url)",
    "option::http checksum(string digest)",
    "option::http chmod(int filemode)",
    "option::http filename(string name)",
    "fs git(string remote, string ref)",
    "option::git keepGitDir()",
    "fs local(string path)",
    "option::local includePatterns(variadic string pattern)",
    "option::local excludePatterns(variadic string pattern)",
    "fs frontend(string source)",
    "option::frontend input(string key, fs value)",
    "option::frontend opt(string key, string value)",
    "fs shell(variadic string arg)",
    "fs run(variadic string arg)",
    "option::run readonlyRootfs()",
    "option::run env(string key, string value)",
    "option::run dir(string path)",
    "option::run user(string name)",
    "option::run ignoreCache()",
    "option::run network(string networkmode)",
    "option::run security(string securitymode)",
    "option::run shlex()",
    "option::run host(string hostname, string address)",
    "option::run ssh()",
    "option::run forward(string src, string dest)",
    "option::forward uid(int id)",
    "option::forward gid(int id)",
    "option::forward mode(int filemode)",
    "option::run secret(string localPath, string mountPoint)",
    "option::run mount(fs input, string mountPoint) binds (fs target)",
    "option::ssh target(string mountPoint)",
    "option::ssh localPaths(variadic string path)",
    "option::ssh uid(int id)",
    "option::ssh gid(int id)",
    "option::ssh mode(int filemode)",
    "option::secret uid(int id)",
    "option::secret gid(int id)",
    "option::secret mode(int filemode)",
    "option::secret includePatterns(variadic string pattern)",
    "option::secret excludePatterns(variadic string pattern)",
    "option::mount readonly()",
    "option::mount tmpfs()",
    "option::mount sourcePath(string path)",
    "option::mount cache(string cacheid, string sharingmode)",
    "fs env(string key, string value)",
    "fs dir(string path)",
    "fs user(string name)",
    "fs mkdir(string path, int filemode)",
    "option::mkdir createParents()",
    "option::mkdir chown(string owner)",
    "option::mkdir createdTime(string created)",
    "fs mkfile(string path, int filemode, string content)",
    "option::mkfile chown(string owner)",
    "option::mkfile createdTime(string created)",
    "fs rm(string path)",
    "option::rm allowNotFound()",
    "option::rm allowWildcard()",
    "fs copy(fs input, string src, string dst)",
    "option::copy followSymlinks()",
    "option::copy contentsOnly()",
    "option::copy unpack()",
    "option::copy createDestPath()",
    "option::copy allowWildcard()",
    "option::copy allowEmptyWildcard()",
    "option::copy chown(string owner)",
    "option::copy chmod(int filemode)",
    "option::copy createdTime(string created)",
    "option::copy includePatterns(variadic string pattern)",
    "option::copy excludePatterns(variadic string pattern)",
    "fs merge(variadic fs inputs)",
    "fs diff(fs base)",
    "fs dockerPush(string ref) binds (string digest)",
    "option::dockerPush stargz()",
    "fs dockerLoad(string ref)",
    "fs download(string localPath)",
    "fs downloadTarball(string localPath)",
    "fs downloadOCITarball(string localPath)",
    "fs downloadDockerTarball(string localPath, string ref)",
    "fs entrypoint(variadic string args)",
    "fs cmd(variadic string args)",
    "fs label(string key, string value)",
    "fs expose(variadic string ports)",
    "fs volumes(variadic string mountpoints)",
    "fs stopSignal(string signal)",
    "string format(string formatString, variadic string values)",
    "string localArch()",
    "string localCwd()",
    "string localEnv(string key)",
    "string localOs()",
    "string localRun(string command, variadic string args)",
    "option::localRun ignoreError()",
    "option::localRun includeStderr()",
    "option::localRun onlyStderr()",
    "option::localRun shlex()",
    "string manifest(string ref) binds (string digest, string config, string index)",
    "option::manifest platform(string os, string arch)",
    "string template(string text)",
    "option::template stringField(string name, string value)",
    "pipeline stage(variadic pipeline pipelines)",
]

OURS = [
    "option::run cacheMount(string mountPoint)",
    "option::cacheMount readonly()",
    "option::cacheMount id(string cacheid)",
    "option::cacheMount sharing(string mode)",
    "option::cacheMount persist(string ref)",
    "option::cacheMount uid(int id)",
    "option::cacheMount gid(int id)",
    "option::cacheMount mode(int filemode)",
    "fs cacheContext(fs cache, fs section)",
    "fs cacheContext(string ref, fs section)",
    "option::cacheContext mode(string mode)",
    "option::cacheContext ignoreError()",
    "option::cacheContext backend(string backend)",
    "option::mount requireImage()",
    "option::run secretMount(string mountPoint)",
    "option::secretMount id(string secretid)",
    "option::secretMount required()",
    "option::secretMount env(string name)",
    "option::secretMount uid(int id)",
    "option::secretMount gid(int id)",
    "option::secretMount mode(int filemode)",
    "option::ssh id(string sshid)",
]


def test_the_table_is_openllb_hlb_plus_our_extensions() -> None:
    signatures = [b.signature() for b in all_builtins()]
    assert len(signatures) == len(set(signatures))
    assert sorted(signatures) == sorted(OPENLLB + OURS)


def test_effects_are_declared_as_in_openllb_hlb() -> None:
    effects = {b.signature(): [str(e) for e in b.effects] for b in all_builtins() if b.effects}
    assert effects == {
        "option::run mount(fs input, string mountPoint) binds (fs target)": ["fs target"],
        "fs dockerPush(string ref) binds (string digest)": ["string digest"],
        "string manifest(string ref) binds (string digest, string config, string index)": [
            "string digest",
            "string config",
            "string index",
        ],
    }


def test_options_with_one_name_for_several_builtins_are_one_overload_each() -> None:
    def option_types(name: str) -> list[str]:
        return sorted(str(b.type) for b in table()[name])

    assert option_types("uid") == [
        "option::cacheMount",
        "option::forward",
        "option::secret",
        "option::secretMount",
        "option::ssh",
    ]
    assert option_types("chown") == ["option::copy", "option::mkdir", "option::mkfile"]
    assert option_types("createdTime") == ["option::copy", "option::mkdir", "option::mkfile"]
    assert option_types("platform") == ["option::image", "option::manifest"]
    assert option_types("shlex") == ["option::localRun", "option::run"]


def _paragraphs(b: Builtin) -> list[str]:
    return b.doc.split("\n\n")


def test_every_builtin_is_documented_with_a_summary_its_behaviour_and_an_example() -> None:
    for b in all_builtins():
        paragraphs = _paragraphs(b)
        assert len(paragraphs) == 3, f"summary, behaviour, example: {b.signature()}"
        summary, behaviour, example = paragraphs
        assert summary.strip() and "\n" not in summary, f"one summary line: {b.signature()}"
        assert 1 <= len(behaviour.splitlines()) <= 4, f"behaviour in 1-4 lines: {b.signature()}"
        assert re.fullmatch(r"Example: `[^`\n]+`", example), f"one example in backticks: {b.signature()}"
        assert re.search(rf"\b{b.name}\b", example), f"the example does not use {b.name}: {b.signature()}"


def test_docs_are_our_own_words_not_openllb_hlb_comments() -> None:
    # builtin.hlb's comments use `@param`/`@return` tags; our docs are prose with an example.
    for b in all_builtins():
        assert "@param" not in b.doc and "@return" not in b.doc, b.signature()


def test_enum_parameters_have_choices() -> None:
    choices = {(b.name, str(b.type), p.name): p.choices for b in all_builtins() for p in b.params if p.choices}
    assert choices == {
        ("network", "option::run", "networkmode"): ("unset", "host", "none"),
        ("security", "option::run", "securitymode"): ("sandbox", "insecure"),
        ("cache", "option::mount", "sharingmode"): ("shared", "private", "locked"),
        ("sharing", "option::cacheMount", "mode"): ("shared", "private", "locked"),
        ("mode", "option::cacheContext", "mode"): ("min", "max"),
        ("backend", "option::cacheContext", "backend"): ("registry", "local", "inline"),
    }


def test_cache_context_overloads_are_told_apart_by_the_first_argument() -> None:
    def first_is(t: Type) -> object:
        return lambda candidate: candidate == t

    by_ref = lookup(table(), "cacheContext", [FS], first_arg=first_is(STRING))  # type: ignore[arg-type]
    by_fs = lookup(table(), "cacheContext", [FS], first_arg=first_is(FS))  # type: ignore[arg-type]
    assert by_ref is not None and by_ref.signature() == "fs cacheContext(string ref, fs section)"
    assert by_fs is not None and by_fs.signature() == "fs cacheContext(fs cache, fs section)"


def test_cache_context_docs_state_the_semantics() -> None:
    for b in table()["cacheContext"]:
        assert "own solve" in b.doc and "imported from and exported to" in b.doc, b.signature()
        assert "nest" in b.doc and "`hlb run --tree`" in b.doc, b.signature()
    backend = next(b for b in table()["backend"] if str(b.type) == "option::cacheContext")
    assert all(f"`{name}`" in backend.doc for name in ("registry", "local", "inline"))


def test_every_module_of_the_registry_declares_builtins() -> None:
    for name in _MODULES:
        module = importlib.import_module(name)
        source = module.__loader__.get_source(name)  # type: ignore[union-attr]
        assert source is not None and ("@builtin(" in source or "declare(" in source), name
