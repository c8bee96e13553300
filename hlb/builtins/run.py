"""``run`` and its options: ``option::run``, ``option::mount`` and ``option::cacheMount``."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from hlb.builtins.call import Call
from hlb.builtins.registry import builtin
from hlb.diagnostics import catalog as cat
from hlb.llb import CacheSharing, Mkdir, Mount, RunOptions, State
from hlb.llb.file import Chown
from hlb.llb.state import join_dir
from hlb.values import FsValue

SHARING_MODES = ("shared", "private", "locked")

# -- option values -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunEnv:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunDir:
    path: str


@dataclass(frozen=True, slots=True)
class RunUser:
    name: str


@dataclass(frozen=True, slots=True)
class RunMount:
    mount: Mount


@dataclass(frozen=True, slots=True)
class Readonly:
    pass


@dataclass(frozen=True, slots=True)
class CacheOpt:
    id: str
    sharing: CacheSharing


@dataclass(frozen=True, slots=True)
class CacheId:
    id: str


@dataclass(frozen=True, slots=True)
class Sharing:
    mode: CacheSharing


@dataclass(frozen=True, slots=True)
class Owner:
    uid: int | None = None
    gid: int | None = None
    mode: int | None = None


# -- lowering of run -------------------------------------------------------------


def lower_run(call: Call, args: list[str], name: str) -> FsValue:
    state = call.fs.state
    opts = call.options
    env = state
    for e in opts.of(RunEnv):
        env = env.add_env(e.key, e.value)
    cwd = state.cwd
    for d in opts.of(RunDir):
        cwd = join_dir(cwd, d.path)
    user = opts.last(RunUser)
    mounts = tuple(m.mount for m in opts.of(RunMount))
    _check_mounts(call, mounts)
    run_opts = RunOptions(
        env=env.env_list(),
        cwd=cwd,
        user=user.name if user else None,
        mounts=mounts,
        constraints=call.constraints(name),
    )
    return FsValue(state.run(args, run_opts).root())


def _check_mounts(call: Call, mounts: tuple[Mount, ...]) -> None:
    seen: set[str] = set()
    for m in mounts:
        if m.target == "/":
            call.fail(cat.invalid_value(call.span, "cannot mount over the root filesystem `/`"))
        if m.target in seen:
            call.fail(cat.invalid_value(call.span, f"two mounts at `{m.target}`"))
        seen.add(m.target)


# -- option::run -------------------------------------------------------------------


@builtin("option::run env(string key, string value)")
def run_env(call: Call, key: str, value: str) -> RunEnv:
    """Set an environment variable for this `run` only.

    Example: `run "make" with option { env "CC" "clang"; }`
    """
    return RunEnv(key, value)


@builtin("option::run dir(string path)")
def run_dir(call: Call, path: str) -> RunDir:
    """Run in this working directory (relative paths join the current one).

    Example: `run "make" with option { dir "/src"; }`
    """
    return RunDir(path)


@builtin("option::run user(string name)")
def run_user(call: Call, name: str) -> RunUser:
    """Run as this user (`name`, `uid` or `uid:gid`) for this `run` only.

    Example: `run "id" with option { user "1000:1000"; }`
    """
    return RunUser(name)


@builtin("option::run mount(fs input, string mountPoint) binds (fs target)")
def mount(call: Call, input: FsValue, mount_point: str) -> RunMount:
    """Mount a filesystem at `mountPoint` for this `run`.

    Options: `readonly`, and `cache "id" "shared|private|locked"` to make it a
    persistent cache seeded from `input`. Writes to a plain mount are
    discarded after the run.

    Example: `run "ls /src" with option { mount fs { local "."; } "/src" with readonly; }`
    """
    target = _target(call, mount_point, arg=1)
    readonly = call.options.has(Readonly)
    cache = call.options.last(CacheOpt)
    source = input.state.output
    if cache is not None:
        m = Mount(target, source, readonly=readonly, cache_id=cache.id, cache_sharing=cache.sharing)
    else:
        m = Mount(target, source, readonly=readonly, no_output=True)
    return RunMount(m)


@builtin("option::run cacheMount(string mountPoint)")
def cache_mount(call: Call, mount_point: str) -> RunMount:
    """A persistent cache directory at `mountPoint`, kept between builds.

    For compiler and package-manager caches (`~/.cache/go-build`, `~/.npm`).
    The cache id defaults to the mount point and sharing to `shared`.
    Options: `id`, `sharing` (`shared`, `private`, `locked`), `readonly`,
    and `uid`, `gid`, `mode` for the directory's owner and permissions
    (as Dockerfile's `RUN --mount=type=cache` has them).

    Example: `run "go build ./..." with option { cacheMount "/root/.cache/go-build"; }`
    """
    target = _target(call, mount_point, arg=0)
    opts = call.options
    cache_id = opts.last(CacheId)
    sharing = opts.last(Sharing)
    owner = [o for o in opts.of(Owner)]
    source = None
    selector = ""
    if owner:
        uid = next((o.uid for o in reversed(owner) if o.uid is not None), 0)
        gid = next((o.gid for o in reversed(owner) if o.gid is not None), 0)
        mode = next((o.mode for o in reversed(owner) if o.mode is not None), 0o755)
        perms = State().file(
            Mkdir("/cache", mode, owner=Chown(uid, gid)),
            call.constraints("[internal] setting cache mount permissions"),
        )
        source, selector = perms.output, "/cache"
    m = Mount(
        target,
        source,
        readonly=opts.has(Readonly),
        selector=selector,
        cache_id=cache_id.id if cache_id else target,
        cache_sharing=sharing.mode if sharing else CacheSharing.SHARED,
    )
    return RunMount(m)


def _target(call: Call, mount_point: str, arg: int) -> str:
    """The absolute mount point (relative ones join the working dir); ``arg`` locates errors."""
    if not mount_point:
        call.fail(cat.invalid_value(call.arg_span(arg), "empty mount point"))
    return posixpath.normpath(join_dir(call.fs.state.cwd, mount_point))


# -- option::mount and option::cacheMount ------------------------------------------


@builtin("option::mount readonly()")
def mount_readonly(call: Call) -> Readonly:
    """Mount read-only.

    Example: `mount src "/src" with readonly`
    """
    return Readonly()


@builtin("option::mount cache(string cacheid, string sharingmode)", choices={"sharingmode": SHARING_MODES})
def mount_cache(call: Call, cacheid: str, sharingmode: str) -> CacheOpt:
    """Make the mount a persistent cache with this id and sharing mode
    (`shared`, `private` or `locked`), seeded from the mounted filesystem.
    Prefer `cacheMount` for plain cache directories.

    Example: `mount scratch "/root/.cache" with cache("go-build", "locked")`
    """
    return CacheOpt(cacheid, _sharing(call, sharingmode, 1))


@builtin("option::cacheMount readonly()")
def cache_mount_readonly(call: Call) -> Readonly:
    """Mount the cache read-only.

    Example: `cacheMount "/root/.npm" with readonly`
    """
    return Readonly()


@builtin("option::cacheMount id(string cacheid)")
def cache_mount_id(call: Call, cacheid: str) -> CacheId:
    """The cache's id: runs that use the same id share the cache. Defaults to the mount point.

    Example: `cacheMount "/root/.cache/go-build" with id("go-build")`
    """
    if not cacheid:
        call.fail(cat.invalid_value(call.arg_span(0), "empty cache id"))
    return CacheId(cacheid)


@builtin("option::cacheMount sharing(string mode)", choices={"mode": SHARING_MODES})
def cache_mount_sharing(call: Call, mode: str) -> Sharing:
    """How concurrent builds share the cache: `shared` (default, all write at once),
    `private` (a new copy per concurrent writer) or `locked` (one writer at a time).

    Example: `cacheMount "/var/cache/apt" with sharing("locked")`
    """
    return Sharing(_sharing(call, mode, 0))


@builtin("option::cacheMount uid(int id)")
def cache_mount_uid(call: Call, id: int) -> Owner:
    """The numeric owner of the cache directory (default 0).

    Example: `cacheMount "/home/node/.npm" with option { uid 1000; gid 1000; }`
    """
    return Owner(uid=id)


@builtin("option::cacheMount gid(int id)")
def cache_mount_gid(call: Call, id: int) -> Owner:
    """The numeric group of the cache directory (default 0).

    Example: `cacheMount "/home/node/.npm" with gid(1000)`
    """
    return Owner(gid=id)


@builtin("option::cacheMount mode(int filemode)")
def cache_mount_mode(call: Call, filemode: int) -> Owner:
    """The permissions of the cache directory (default 0o755).

    Example: `cacheMount "/cache" with mode(0o700)`
    """
    return Owner(mode=filemode)


def _sharing(call: Call, text: str, arg: int) -> CacheSharing:
    try:
        return CacheSharing.parse(text)
    except ValueError:
        call.fail(cat.invalid_choice(call.arg_span(arg), "sharing mode", text, SHARING_MODES))
