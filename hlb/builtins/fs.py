"""``fs`` builtins: sources, run, file operations and state metadata."""

from __future__ import annotations

from dataclasses import replace

from hlb.builtins.call import Call, image_ref
from hlb.builtins.file_options import CREATE_PARENTS, owner_of, timestamp_of
from hlb.builtins.registry import builtin
from hlb.builtins.run import lower_run
from hlb.builtins.sources import ImagePlatform, Resolve, apply_image_config, other_platform, pinned_ref
from hlb.diagnostics import catalog as cat
from hlb.llb import Mkdir, Mkfile, State
from hlb.llb import image as image_source
from hlb.llb.definition import marshal
from hlb.llb.file import normalize_path
from hlb.resolver import ResolveError
from hlb.values import FsValue, Notice

NO_DAEMON = "compile with a reachable daemon (BUILDKIT_HOST or DOCKER_HOST), or drop `resolve`"

# -- sources -------------------------------------------------------------------


@builtin("fs scratch()")
def scratch(call: Call) -> FsValue:
    """An empty filesystem.

    The start of filesystems built from nothing (static binaries, exported
    artifacts); building it alone produces no output.

    Example: `fs empty() { scratch; }`
    """
    return FsValue.scratch()


@builtin("fs image(string ref)")
def image(call: Call, ref: str) -> FsValue:
    """A container image's filesystem.

    The reference is normalised as Docker does: `alpine` is
    `docker.io/library/alpine:latest`. A Docker engine uses images of its
    image store without contacting a registry. With `resolve` the image's
    config (env, working dir, user...) applies too.

    Example: `image "busybox:latest"`
    """
    parsed = image_ref(call, ref)
    chosen = call.options.last(ImagePlatform)
    platform = chosen.platform if chosen else call.ctx.platform
    constraints = call.constraints()
    if chosen:
        constraints = replace(constraints, platform=platform)
    want = call.options.last(Resolve)
    if want is None:
        op = image_source(str(parsed), constraints=constraints)
        return FsValue(State(op.output(), platform=platform))
    resolver = call.needs(call.ctx.resolver, want.span, f"resolving `{ref}` needs a BuildKit connection", NO_DAEMON)
    try:
        resolved = resolver.resolve(str(parsed), platform)
        # A reference with a digest is already pinned; otherwise pin the digest it resolved to.
        pinned = parsed if parsed.digest else pinned_ref(resolved.ref or str(parsed), resolved.digest)
        op = image_source(str(pinned), constraints=constraints)
        got = other_platform(resolved.config, platform)
        if got is not None:  # a single-platform image: the daemon builds on it whatever platform is asked for
            text = f"{call.span}: image {ref} has no {platform} variant; the daemon uses its {got} one for the "
            text += f"{platform} build"
            call.ctx.notice(Notice(text, marshal(op.output(), platform).head or "", warning=True))
        return apply_image_config(FsValue(State(op.output(), platform=platform)), resolved.config)
    except ResolveError as e:  # its message names the reference and the cause
        call.fail(cat.invalid_value(call.arg_span(0), str(e)))
    except ValueError as e:
        call.fail(cat.invalid_value(call.arg_span(0), f"cannot use the config of image `{parsed}`: {e}"))


# -- run -----------------------------------------------------------------------


@builtin("fs run(variadic string arg)")
def run(call: Call, *command: str) -> FsValue:
    """Run a command in the filesystem and continue with the result.

    One argument runs through `/bin/sh -c` (or the `shell` prefix; split into
    words with `shlex`); several are the argv as given.

    Example: `run "echo hello > /hello"`
    """
    return lower_run(call, command)


# -- file operations -------------------------------------------------------------


@builtin("fs mkdir(string path, int filemode)")
def mkdir(call: Call, path: str, filemode: int) -> FsValue:
    """Create a directory with the given permissions.

    A relative path joins the working directory; a missing parent fails the
    build unless `createParents`.

    Example: `mkdir "/out" 0o755`
    """
    o = call.options
    action = Mkdir(path, filemode, CREATE_PARENTS.given(o), owner_of(o), timestamp_of(o))
    name = f"mkdir {normalize_path(call.fs.state.cwd, path)}"
    return call.fs.with_state(call.fs.state.file(action, call.constraints(name)))


@builtin("fs mkfile(string path, int filemode, string content)")
def mkfile(call: Call, path: str, filemode: int, content: str) -> FsValue:
    """Create a file with the given permissions and content.

    A relative path joins the working directory; an existing file is
    replaced.

    Example: `mkfile "/hello" 0o644 "hello world"`
    """
    action = Mkfile(path, filemode, content.encode("utf-8"), owner_of(call.options), timestamp_of(call.options))
    name = f"mkfile {normalize_path(call.fs.state.cwd, path)}"
    return call.fs.with_state(call.fs.state.file(action, call.constraints(name)))


# -- state metadata --------------------------------------------------------------


@builtin("fs env(string key, string value)")
def env(call: Call, key: str, value: str) -> FsValue:
    """Set an environment variable for every later `run`.

    It applies to the rest of the block and is recorded in the image config
    that exporters write.

    Example: `env "PATH" "/usr/local/bin:/usr/bin:/bin"`
    """
    return call.fs.with_state(call.fs.state.add_env(key, value))


@builtin("fs dir(string path)")
def dir_(call: Call, path: str) -> FsValue:
    """Set the working directory for later `run`s and relative file paths.

    A relative path is joined onto the current working directory. It is
    recorded in the image config that exporters write.

    Example: `dir "/src"`
    """
    return call.fs.with_state(call.fs.state.dir(path)).history(f"WORKDIR {call.fs.state.dir(path).cwd}", True)


@builtin("fs user(string name)")
def user(call: Call, name: str) -> FsValue:
    """Set the user later `run`s execute as.

    A `name`, `uid` or `uid:gid`, looked up in the filesystem's `/etc/passwd`
    when the command runs. It is recorded in the image config that exporters
    write.

    Example: `user "nobody"`
    """
    return call.fs.with_state(call.fs.state.with_user(name)).history(f"USER {name}", True)
