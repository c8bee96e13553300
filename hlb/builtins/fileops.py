"""``fs`` operations between filesystems: ``rm``, ``copy``, ``merge``, ``diff``, and their options.

Relative paths of file operations are resolved against the filesystem's
working directory. Each lowers as Go's ``client/llb`` builds it (one action per
file op; merge and diff with Go's scratch shortcuts); ``copy``, ``merge`` and
``diff`` add a layer to the image history, as openllb/hlb does.
"""

from __future__ import annotations

from dataclasses import dataclass

from hlb.builtins.call import Call, Patterns, patterns_of, permissions
from hlb.builtins.file_options import declare_file_options, owner_of, timestamp_of
from hlb.builtins.registry import builtin, flags
from hlb.diagnostics import catalog as cat
from hlb.llb import Copy, CopyInfo, Rm
from hlb.llb import diff as llb_diff
from hlb.llb import merge as llb_merge
from hlb.llb.file import copy_name, normalize_path
from hlb.values import FsValue, Options

# -- option values -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chmod:
    mode: int


# -- rm -----------------------------------------------------------------------------


@builtin("fs rm(string path)")
def rm(call: Call, path: str) -> FsValue:
    """Remove a file or directory (recursively) from the filesystem.

    A missing path fails the build unless `allowNotFound` is given.

    Example: `rm "/var/cache/apk"`
    """
    state = call.fs.state
    action = Rm(path, RM["allowNotFound"].given(call.options), RM["allowWildcard"].given(call.options))
    name = f"rm {normalize_path(state.cwd, path)}"
    return call.fs.with_state(state.file(action, call.constraints(name)))


RM = flags(
    "option::rm",
    {
        "allowNotFound": """Succeed when the path to remove does not exist.

    The filesystem is then unchanged.

    Example: `rm "/tmp/build.log" with allowNotFound`
    """,
        "allowWildcard": """Read the path as a wildcard pattern and remove every match.

    `*`, `?` and `[…]` match within one path element.

    Example: `rm "/tmp/*.log" with allowWildcard`
    """,
    },
)


# -- copy ----------------------------------------------------------------------------


@builtin("fs copy(fs input, string src, string dst)")
def copy(call: Call, input: FsValue, src: str, dst: str) -> FsValue:
    """Copy `src` of another filesystem to `dst` of this one.

    A directory is copied as a whole, or only what it holds with
    `contentsOnly`. A relative `dst` joins the working directory.

    Example: `copy fs { local "."; } "src" "/app/src"`
    """
    state = call.fs.state
    action = Copy.from_state(input.state, src, dst, copy_info(call.options))
    constraints = call.constraints(copy_name(action, state.cwd))
    return call.fs.with_state(state.file(action, constraints)).history(f"COPY {src} {dst}")


def copy_info(o: Options) -> CopyInfo:
    chmod = o.last(Chmod)
    include, exclude = patterns_of(o)
    return CopyInfo(
        owner=owner_of(o),
        mode=chmod.mode if chmod else None,
        follow_symlinks=COPY["followSymlinks"].given(o),
        dir_contents_only=COPY["contentsOnly"].given(o),
        attempt_unpack=COPY["unpack"].given(o),
        create_dest_path=COPY["createDestPath"].given(o),
        allow_wildcard=COPY["allowWildcard"].given(o),
        allow_empty_wildcard=COPY["allowEmptyWildcard"].given(o),
        timestamp=timestamp_of(o),
        include_patterns=include,
        exclude_patterns=exclude,
    )


COPY = flags(
    "option::copy",
    {
        "followSymlinks": """Copy what a symlink at `src` points to instead of the symlink itself.

    The link is resolved inside the input filesystem.

    Example: `copy src "/usr/bin/python3" "/opt/python3" with followSymlinks`
    """,
        "contentsOnly": """When `src` is a directory, copy what it holds rather than the directory itself.

    The entries of `src` land directly in `dst`.

    Example: `copy src "/build/out" "/app" with contentsOnly`
    """,
        "unpack": """When `src` is an archive (tar, optionally compressed), extract it into `dst`.

    A file that is not an archive is copied as is.

    Example: `copy src "/downloads/tool.tar.gz" "/opt/tool" with unpack`
    """,
        "createDestPath": """Create the missing parent directories of `dst`.

    Without it a missing parent fails the build.

    Example: `copy src "/config.yaml" "/etc/app/conf.d/config.yaml" with createDestPath`
    """,
        "allowWildcard": """Read `src` as a wildcard pattern and copy every match.

    `*`, `?` and `[…]` match within one path element; no match is an error
    unless `allowEmptyWildcard`.

    Example: `copy src "/src/*.go" "/app/" with allowWildcard`
    """,
        "allowEmptyWildcard": """Succeed when the wildcard `src` matches nothing.

    Nothing is copied then; use it with `allowWildcard`.

    Example: `copy src "/docs/*.md" "/app/docs/" with option { allowWildcard; allowEmptyWildcard; }`
    """,
    },
)


declare_file_options("copy", "the copied files", 'copy src "/app" "/app"')


@builtin("option::copy chmod(int filemode)")
def chmod(call: Call, filemode: int) -> Chmod:
    """Give the copied files these permissions.

    Without it the files keep the permissions they have in the input.

    Example: `copy src "/entrypoint.sh" "/entrypoint.sh" with chmod(0o755)`
    """
    return Chmod(permissions(call, filemode, example="0o755"))


@builtin("option::copy includePatterns(variadic string pattern)")
def include_patterns(call: Call, *pattern: str) -> Patterns:
    """Copy only the files under `src` that match one of these patterns.

    Ignored when `src` is a single file.

    Example: `copy src "/" "/app" with includePatterns("**/*.go", "go.mod")`
    """
    return Patterns(include=pattern)


@builtin("option::copy excludePatterns(variadic string pattern)")
def exclude_patterns(call: Call, *pattern: str) -> Patterns:
    """Skip the files under `src` that match one of these patterns.

    Ignored when `src` is a single file.

    Example: `copy src "/" "/app" with excludePatterns("**/*_test.go")`
    """
    return Patterns(exclude=pattern)


# -- merge and diff ---------------------------------------------------------------------


@builtin("fs merge(variadic fs inputs)")
def merge(call: Call, *inputs: FsValue) -> FsValue:
    """Stack the inputs on top of the current filesystem (a BuildKit merge op).

    Later inputs win where paths collide. Unlike a chain of `copy`s, each
    input stays its own layer, so changing one does not invalidate the others.
    At least one input is required; scratch inputs are left out.

    Example: `merge fs { scratch; mkfile "/a" 0o644 "a"; } fs { scratch; mkfile "/b" 0o644 "b"; }`
    """
    if not inputs:
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                "`merge` needs at least one filesystem to stack on the current one",
                hint='for example: merge fs { image "alpine:3.20"; }',
            )
        )
    merged = llb_merge([call.fs.state, *(i.state for i in inputs)], call.constraints())
    return call.fs.with_state(merged).history("MERGE / /")


@builtin("fs diff(fs base)")
def diff(call: Call, base: FsValue) -> FsValue:
    """The changes the current filesystem made on top of `base` (a BuildKit diff op).

    The result holds only the added, changed and deleted paths; merged onto
    another filesystem it replays them there. From a scratch `base` the
    result is the current filesystem.

    Example: `diff fs { image "alpine:3.20"; }`
    """
    return call.fs.with_state(llb_diff(base.state, call.fs.state, call.constraints())).history("DIFF / /")
