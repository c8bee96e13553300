"""``fs`` sources other than ``scratch`` and ``image``, and the options of every source.

``http``, ``git`` and ``local`` lower to the source ops Go's ``client/llb``
builds (:mod:`hlb.llb.source`); ``frontend`` runs a frontend on the daemon
while compiling (through the resolver, when it is a
:class:`~hlb.resolver.FrontendRunner`) and continues from its result, whose
ops are kept verbatim (:mod:`hlb.llb.definition_op`). The ``option::image``
values are read by ``image`` in :mod:`hlb.builtins.fs`.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from hlb import ignorefile
from hlb.builtins.call import Call, Patterns, image_ref, patterns_of, platform_args
from hlb.builtins.registry import builtin, flag
from hlb.diagnostics import catalog as cat
from hlb.llb import Platform, State
from hlb.llb.definition_op import from_definition, source_identifiers
from hlb.llb.reference import Reference
from hlb.llb.reference import parse as parse_ref
from hlb.llb.source import GitURLError, parse_git_url
from hlb.llb.source import git as git_source
from hlb.llb.source import http as http_source
from hlb.llb.source import local as local_source
from hlb.resolver import BUILTIN_FRONTENDS, ResolveError
from hlb.source import SourceFile, Span, client_path, module_key, shown_path
from hlb.values import FsValue, LocalDir, SSHSocket

# -- option values -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolve:
    span: Span  # where `resolve` was written, for the diagnostic without a daemon


@dataclass(frozen=True, slots=True)
class ImagePlatform:
    platform: Platform


@dataclass(frozen=True, slots=True)
class HttpChecksum:
    digest: str


@dataclass(frozen=True, slots=True)
class HttpChmod:
    mode: int


@dataclass(frozen=True, slots=True)
class HttpFilename:
    name: str


# -- option::image -----------------------------------------------------------------


@builtin("option::image resolve()")
def resolve(call: Call) -> Resolve:
    """Fetch the image's config from its registry and apply it to the filesystem.

    Later `run`s get the image's env, working directory, user and platform;
    exports inherit its entrypoint, cmd, labels, ports, volumes and stop
    signal. The source is pinned to the resolved digest. Needs a BuildKit
    connection while compiling.

    Example: `image "busybox:latest" with resolve`
    """
    return Resolve(call.span)


@builtin("option::image platform(string os, string arch)")
def platform(call: Call, os_: str, arch: str) -> ImagePlatform:
    """Pick this platform's variant of a multi-platform image.

    Without it the image is for the build's platform (`--platform`, else
    `linux/` and the architecture of the machine running hlb). The source op
    records the chosen platform, so later `run`s execute on it.

    Example: `image "alpine:3.20" with platform("linux", "arm64")`
    """
    return ImagePlatform(platform_args(call, os_, arch))


def pinned_ref(ref: str, digest: str) -> Reference:
    """``name:tag@digest``, as Go's ``llb.Image`` with a meta resolver pins the source."""
    parsed = parse_ref(ref)
    if not digest:
        return parsed
    if not _DIGEST_RE.fullmatch(digest):
        raise ValueError(f"the daemon answered with an invalid digest `{digest}`")
    return replace(parsed, digest=digest)


def other_platform(config_json: bytes, wanted: Platform) -> Platform | None:
    """The platform an image config is of when it is not ``wanted`` (the image has no variant for ``wanted`` and
    the daemon falls back to the one it has), else None (also for a config that does not say)."""
    try:
        image = json.loads(config_json)
        os_, arch, variant = (str(image.get(k) or "") for k in ("os", "architecture", "variant"))
        got = Platform.parse(f"{os_}/{arch}/{variant}" if variant else f"{os_}/{arch}")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    same = (got.os, got.architecture) == (wanted.os, wanted.architecture)
    if same and (not got.variant or not wanted.variant or got.variant == wanted.variant):
        return None
    return got


def apply_image_config(fs: FsValue, config_json: bytes) -> FsValue:
    """Apply a resolved image config as openllb/hlb does and keep it for exports.

    Env entries, the working dir, the user and the platform go on the state
    (later runs use them); the rest of the config lives on the image spec.
    Raises ValueError for a config that is not an image config object.
    """
    try:
        text = config_json.decode("utf-8")
        image = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"the image config is not JSON: {e}") from None
    if not isinstance(image, dict):
        raise ValueError("the image config is not a JSON object")
    config = image.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError("the image config's `config` is not a JSON object")
    state = fs.state
    for entry in _strings(config, "Env"):
        key, _, value = entry.partition("=")
        if key:
            state = state.add_env(key, value)
    state = state.dir(_string(config, "WorkingDir"))
    if _string(config, "User"):
        state = state.with_user(_string(config, "User"))
    if _string(image, "os") and _string(image, "architecture"):
        state = state.with_platform(Platform(image["os"], image["architecture"], _string(image, "variant")))
    spec = replace(
        fs.image,
        base=text,
        entrypoint=_argv(config, "Entrypoint"),
        cmd=_argv(config, "Cmd"),
        labels=tuple((str(k), str(v)) for k, v in (_object(config, "Labels")).items()),
        exposed_ports=tuple(_object(config, "ExposedPorts")),
        volumes=tuple(_object(config, "Volumes")),
        stop_signal=_string(config, "StopSignal"),
    )
    return fs.with_state(state).with_image(spec)


_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


def _string(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"the image config's `{key}` is not a string")
    return value


def _strings(obj: dict[str, Any], key: str) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"the image config's `{key}` is not a list of strings")
    return value


def _argv(obj: dict[str, Any], key: str) -> tuple[str, ...] | None:
    return tuple(_strings(obj, key)) if obj.get(key) is not None else None


def _object(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"the image config's `{key}` is not a JSON object")
    return value


# -- http ----------------------------------------------------------------------------


@builtin("fs http(string url)")
def http(call: Call, url: str) -> FsValue:
    """A filesystem holding one file downloaded from an HTTP(S) URL.

    BuildKit, not the machine running hlb, performs the GET request and caches
    the download. The file is named after the URL's last path element unless
    `filename` says otherwise.

    Example: `http "https://dl.example.com/tool-1.0.tar.gz"`
    """
    try:
        parts = urlsplit(url)
    except ValueError as e:  # an unclosed `[` of an IPv6 host
        call.fail(cat.invalid_value(call.arg_span(0), f"`{url}` is not a valid URL: {e}"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                f"`{url}` is not an http:// or https:// URL",
                hint="`http` downloads with GET; use `git` for repositories and `local` for files of this machine",
            )
        )
    checksum = call.options.last(HttpChecksum)
    chmod = call.options.last(HttpChmod)
    filename = call.options.last(HttpFilename)
    op = http_source(
        url,
        checksum=checksum.digest if checksum else "",
        filename=filename.name if filename else "",
        perm=chmod.mode if chmod else 0,
        constraints=call.constraints(),
    )
    return FsValue(State(op.output()))


_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
_EXAMPLE_DIGEST = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"


def checksum(call: Call, digest: str) -> HttpChecksum:
    algorithm, sep, hex_ = digest.partition(":")
    if not sep or algorithm not in _DIGEST_HEX:
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                f"`{digest}` is not a digest",
                hint="write `sha256:` and 64 lowercase hex digits (sha384 and sha512 are accepted too)",
            )
        )
    if len(hex_) != _DIGEST_HEX[algorithm] or not re.fullmatch(r"[0-9a-f]*", hex_):
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                f"`{digest}` is not a {algorithm} digest",
                hint=f"a {algorithm} digest has {_DIGEST_HEX[algorithm]} lowercase hex digits after `{algorithm}:`",
            )
        )
    return HttpChecksum(digest)


# Set apart from the function: the example digest does not fit a source line.
checksum.__doc__ = f"""Fail the build unless the downloaded file has this digest.

    The digest is written `algorithm:hex`, as in OCI descriptors
    (`sha256:…`); a mismatch is reported when BuildKit fetches the file.

    Example: `http "https://dl.example.com/tool" with checksum("{_EXAMPLE_DIGEST}")`
    """
builtin("option::http checksum(string digest)")(checksum)


@builtin("option::http chmod(int filemode)")
def chmod(call: Call, filemode: int) -> HttpChmod:
    """Set the permissions of the downloaded file.

    Useful for binaries, which are otherwise not executable. Only the
    permission bits (up to `0o777`) can be set.

    Example: `http "https://dl.example.com/tool" with chmod(0o755)`
    """
    if not 0 < filemode <= 0o777:
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                f"`{filemode:#o}` is not a mode BuildKit can give a download"
                if filemode >= 0
                else f"`{filemode}` is not a file mode",
                hint="use permission bits from 0o1 to 0o777; without chmod the file is 0o600",
            )
        )
    return HttpChmod(filemode)


@builtin("option::http filename(string name)")
def filename(call: Call, name: str) -> HttpFilename:
    """Name the downloaded file `name`.

    Without it the file is named after the last element of the URL's path.

    Example: `http "https://dl.example.com/download?v=1.0" with filename("tool.tar.gz")`
    """
    if not name or "/" in name or name in (".", ".."):
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                f"`{name}` is not a file name",
                hint="the download is one file at the root of the filesystem; name it without `/`",
            )
        )
    return HttpFilename(name)


# -- git ------------------------------------------------------------------------------


@builtin("fs git(string remote, string ref)")
def git(call: Call, remote: str, ref: str) -> FsValue:
    """A filesystem with a git repository checked out at `ref`.

    BuildKit clones `remote` (`https://`, `ssh://`, `git://` or `user@host:path`)
    and checks out the branch, tag or commit `ref`; `ref:dir` checks out only
    `dir`. The `.git` directory is left out unless `keepGitDir` is given.

    Example: `git "https://github.com/openllb/hlb.git" "master"`
    """
    try:
        parsed = parse_git_url(remote)
    except GitURLError as e:
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                f"`{remote}` is not a git remote: {e}",
                hint="use an https://, ssh://, git:// or user@host:path remote",
            )
        )
    if not parsed.host:
        call.fail(cat.invalid_value(call.arg_span(0), f"the git remote `{remote}` names no host"))
    if parsed.scheme == "ssh":
        call.ctx.attach(SSHSocket("default"))  # the daemon mounts the client's SSH agent to fetch
    op = git_source(remote, ref, keep_git_dir=KEEP_GIT_DIR.given(call.options), constraints=call.constraints())
    return FsValue(State(op.output()))


KEEP_GIT_DIR = flag(
    "option::git keepGitDir()",
    """Keep the repository's `.git` directory in the checkout.

    Needed by builds that run `git describe` or read commit metadata.

    Example: `git "https://github.com/openllb/hlb.git" "master" with keepGitDir`
    """,
)


# -- local ----------------------------------------------------------------------------


@builtin("fs local(string path)")
def local(call: Call, path: str) -> FsValue:
    """A filesystem with files of the machine running hlb, synced to BuildKit.

    A relative path is relative to the directory of the module that calls
    `local`; `~/` is the home directory and `~user/` another user's. A
    directory is synced whole; a single file is synced alone (its include and
    exclude patterns are ignored).

    Example: `local "."`
    """
    written = call.host_text(path, 0) or "."
    key_path = written if os.path.isabs(written) else posixpath.normpath(written)
    absolute = client_path(written, call.module_dir)
    if not os.path.exists(absolute):
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                f"`{path}` does not exist",
                hint=f"looked for {absolute}; a relative path is relative to the module's directory",
            )
        )
    includes, excludes = patterns_of(call.options, last=True)
    directory = absolute
    ignored: ignorefile.IgnoreFile | None = None
    if not os.path.isdir(absolute):
        directory, base = os.path.split(absolute)
        includes, excludes = (base,), ()
    else:
        ignored = _ignore_file(call, absolute)
        if ignored is not None:
            # The file's patterns first: the option's come later, so they decide where both match.
            excludes = (*ignored.patterns, *excludes)
    # The id names the directory as the program wrote it (module, path, patterns), never by
    # where it lies on disk: digests stay the same between runs and between checkouts. The module is
    # named relative to the working directory, so `build.hlb`, `./build.hlb` and its absolute path
    # are one module (and one id), while two modules of one build stay apart.
    key = json.dumps([module_key(call.span.file), key_path, includes, excludes])
    unique = "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    name = "hlb-" + unique[7:23]
    op = local_source(
        name,
        unique=unique,
        include_patterns=includes,
        exclude_patterns=excludes,
        shared_key_hint=unique,
        constraints=call.constraints(f"local {key_path}"),
    )
    applied = ignored.path if ignored is not None else ""
    from_file = ignored.patterns if ignored is not None else ()
    call.ctx.attach(
        LocalDir(
            name=name,
            path=directory,
            include_patterns=includes,
            exclude_patterns=excludes,
            ignore_file=applied,
            ignore_patterns=from_file,
        )
    )
    return FsValue(State(op.output()))


def _ignore_file(call: Call, directory: str) -> ignorefile.IgnoreFile | None:
    """The directory's `.hlbignore` or `.dockerignore`; a pattern the matcher would refuse is a diagnostic there."""
    try:
        found = ignorefile.read(directory)
    except OSError as e:
        where = shown_path(ignorefile.find(directory) or directory)
        call.fail(cat.invalid_value(call.arg_span(0), f"cannot read {where}: {e.strerror or e}"))
    if found is None:
        return None
    for line, _, problem in ignorefile.problems(found):
        source = SourceFile(shown_path(found.path), found.text)  # named as other diagnostics name files
        start = source.offset(line, 1)
        text = source.text[start:].split("\n", 1)[0]
        span = Span(source, start, start + max(1, len(text)))
        call.fail(
            cat.invalid_value(
                span,
                f"`{text.strip()}` in {found.name}: {problem}",
                hint=f"read by `local` at {call.span}; fix or remove the line",
            )
        )
    return found


@builtin("option::local includePatterns(variadic string pattern)")
def include_patterns(call: Call, *patterns: str) -> Patterns:
    """Sync only the files matching one of these patterns.

    Patterns use the `.dockerignore` syntax and are relative to the synced
    directory (`./src` is `src`). A pattern that can never match is an
    error: an empty one, `.`, an absolute one (`/src`) and one that climbs
    out with `..`. Ignored when the path is a single file.

    Example: `local "." with includePatterns("go.mod", "go.sum", "**/*.go")`
    """
    _check_patterns(call, patterns, include=True)
    return Patterns(include=patterns)


@builtin("option::local excludePatterns(variadic string pattern)")
def exclude_patterns(call: Call, *patterns: str) -> Patterns:
    """Do not sync the files matching one of these patterns.

    Patterns use the `.dockerignore` syntax and are relative to the synced
    directory (`./src` is `src`). A pattern that can never match is an
    error, as for `includePatterns`. Ignored when the path is a single file.

    Example: `local "." with excludePatterns(".git", "node_modules")`
    """
    _check_patterns(call, patterns, include=False)
    return Patterns(exclude=patterns)


def _check_patterns(call: Call, patterns: tuple[str, ...], include: bool) -> None:
    """A pattern that can never match a path inside the synced directory is a diagnostic at it.

    Patterns are cleaned like Go's ``filepath.Clean`` (``./a`` is ``a``, ``a/../b`` is ``b``) and matched
    against paths relative to the directory (``src/main.go``): after cleaning, a pattern that is empty,
    ``.`` (the directory itself, never one of its paths), absolute (``/a``: no relative path starts with
    ``/``; only a ``.dockerignore`` file drops a leading ``/``) or that climbs out with ``..`` matches nothing.
    """
    for i, pattern in enumerate(patterns):
        problem = _never_matches(pattern)
        if problem is None:
            continue
        reason, hint = problem
        if hint is None and include:
            hint = "to sync everything, leave out includePatterns; `**` matches every path"
        call.fail(cat.invalid_value(call.arg_span(i), f"the pattern `{pattern}` can never match: {reason}", hint))


def _never_matches(pattern: str) -> tuple[str, str | None] | None:
    """(why, hint) when ``pattern`` can match no path inside the synced directory."""
    text = pattern.strip()
    if not text:
        return "it is empty", "leave it out"
    cleaned = posixpath.normpath(text)  # Go's Clean on the relative paths that matter here
    bang = "!" if cleaned.startswith("!") else ""
    body = cleaned[len(bang) :]
    if not body:
        return "`!` excepts nothing", "an exception names what to keep, e.g. `!keep.txt`"
    if body.startswith("/"):
        relative = body.lstrip("/") or "**"
        return (
            "it is absolute, and patterns match paths relative to the synced directory",
            f"write `{bang}{relative}`",
        )
    if body == ".." or body.startswith("../"):
        return (
            "it climbs out of the synced directory with `..`",
            "only files inside the directory are synced: sync a directory that contains them",
        )
    if body == ".":
        return "`.` is the synced directory itself, and patterns match the paths inside it", None
    return None


# -- frontend -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrontendInput:
    key: str
    value: FsValue


@dataclass(frozen=True, slots=True)
class FrontendOpt:
    key: str
    value: str


@builtin("fs frontend(string source)")
def frontend(call: Call, source: str) -> FsValue:
    """The filesystem a BuildKit frontend builds.

    `source` is `dockerfile.v0` (the daemon's Dockerfile frontend) or a gateway frontend image
    (`docker/dockerfile:1`). It builds on the daemon while the module compiles, so a failing step fails
    the compile; its result and image config (env, working dir, user...) become this filesystem. Its
    inputs cannot read `local` directories yet.

    Example: `frontend "dockerfile.v0" with option { input "dockerfile" fs { git "https://x.org/app.git" "main"; }; }`
    """
    if source not in BUILTIN_FRONTENDS:
        source = str(image_ref(call, source))
    runner = call.needs(
        call.ctx.frontends,
        call.span,
        f"`frontend` runs `{source}` on the BuildKit daemon while compiling, and there is none",
        "compile with a reachable daemon (BUILDKIT_HOST or DOCKER_HOST)",
    )
    platform = call.ctx.platform
    inputs = {i.key: i.value for i in call.options.of(FrontendInput)}  # a key given twice: the last wins
    definitions = {key: fs.state.marshal(platform) for key, fs in inputs.items()}
    for key, definition in definitions.items():
        local = next((s for s in source_identifiers(definition) if s.startswith("local://")), None)
        if local is not None:
            call.fail(
                cat.unsupported(
                    call.span,
                    f"frontend input `{key}` reads a local directory, which a frontend cannot be sent yet",
                    hint="copy the files into the input from an image, git or http source instead",
                )
            )
    opts = {o.key: o.value for o in call.options.of(FrontendOpt)}
    try:
        result = runner.frontend(source, opts, definitions, platform)
        output = from_definition(result.definition) if result.definition else None
        fs = FsValue(State(output))
        if result.image_config:
            fs = apply_image_config(fs, result.image_config)
    except ResolveError as e:  # its message names the frontend and the cause, on one line
        call.fail(cat.build_failed(call.span, str(e)))
    except ValueError as e:  # DefinitionError, or an image config that is not one
        call.fail(cat.build_failed(call.span, f"cannot use the result of frontend `{source}`: {e}"))
    return fs.with_effects(*(e for v in inputs.values() for e in v.effects))


@builtin("option::frontend input(string key, fs value)")
def input_(call: Call, key: str, value: FsValue) -> FrontendInput:
    """Hand a filesystem to the frontend under `key`.

    What keys a frontend reads is up to the frontend; the Dockerfile frontend
    reads `context` (the build context) and `dockerfile` (the directory of
    the `Dockerfile`).

    Example: `frontend "dockerfile.v0" with option { input "context" fs { git "https://x.org/app.git" "main"; }; }`
    """
    return FrontendInput(key, value)


@builtin("option::frontend opt(string key, string value)")
def opt(call: Call, key: str, value: str) -> FrontendOpt:
    """Hand a key-value option to the frontend.

    What options a frontend reads is up to the frontend; the Dockerfile
    frontend reads, for example, `target`, `filename` and `build-arg:NAME`.
    The build's platform is passed as `platform` unless an `opt` sets it.

    Example: `frontend "dockerfile.v0" with option { opt "target" "release"; }`
    """
    return FrontendOpt(key, value)
