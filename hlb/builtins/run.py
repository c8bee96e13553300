"""``run`` and its options: ``option::run``, ``option::mount`` and ``option::cacheMount``.

``shell`` and the options without a lowering below are declared and
type-checked, and compiled from issue #4 on. The options that reach the
machine running hlb through the session (``ssh``, ``forward``, ``secret``)
are in :mod:`hlb.builtins.run_session`.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from hlb.builtins.call import Call
from hlb.builtins.registry import builtin, declare
from hlb.diagnostics import catalog as cat
from hlb.llb import CacheSharing, Mkdir, Mount, RunOptions, State
from hlb.llb.file import Chown
from hlb.llb.state import join_dir
from hlb.values import FsValue

SHARING_MODES = ("shared", "private", "locked")
NETWORK_MODES = ("unset", "host", "none")
SECURITY_MODES = ("sandbox", "insecure")

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
    return call.fs.with_state(state.run(args, run_opts).root()).history("RUN " + " ".join(args))


def _check_mounts(call: Call, mounts: tuple[Mount, ...]) -> None:
    seen: set[str] = set()
    for m in mounts:
        if m.target == "/":
            call.fail(cat.invalid_value(call.span, "cannot mount over the root filesystem `/`"))
        if m.target in seen:
            call.fail(cat.invalid_value(call.span, f"two mounts at `{m.target}`"))
        seen.add(m.target)


# -- shell -------------------------------------------------------------------------

declare(
    "fs shell(variadic string arg)",
    """Set the command prefix that later one-argument `run`s use instead of `/bin/sh -c`.

    The prefix applies to the rest of the block. openllb/hlb declares
    `shell` without implementing it.

    Example: `shell "/bin/bash" "-eo" "pipefail" "-c"`
    """,
)


# -- option::run -------------------------------------------------------------------


@builtin("option::run env(string key, string value)")
def run_env(call: Call, key: str, value: str) -> RunEnv:
    """Set an environment variable for this `run` only.

    It adds to (or overrides) the filesystem's environment for this command;
    later `run`s do not see it.

    Example: `run "make" with option { env "CC" "clang"; }`
    """
    return RunEnv(key, value)


@builtin("option::run dir(string path)")
def run_dir(call: Call, path: str) -> RunDir:
    """Run in this working directory.

    A relative path joins the filesystem's working directory; later `run`s
    keep the filesystem's own.

    Example: `run "make" with option { dir "/src"; }`
    """
    return RunDir(path)


@builtin("option::run user(string name)")
def run_user(call: Call, name: str) -> RunUser:
    """Run as this user, for this `run` only.

    A `name`, `uid` or `uid:gid`; it takes precedence over the filesystem's
    user and the image config's.

    Example: `run "id" with option { user "1000:1000"; }`
    """
    return RunUser(name)


@builtin("option::run mount(fs input, string mountPoint) binds (fs target)")
def mount(call: Call, input: FsValue, mount_point: str) -> RunMount:
    """Mount a filesystem at `mountPoint` for this `run`.

    Writes to the mount are discarded, unless the mount is bound with
    `as name`: `name` is then the mount's filesystem after the run. Options:
    `readonly`, `tmpfs`, `sourcePath`, `cache`.

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
    """Mount a persistent cache directory at `mountPoint`, kept between builds.

    For compiler and package-manager caches (`~/.cache/go-build`, `~/.npm`),
    like Dockerfile's `RUN --mount=type=cache`. The id defaults to the mount
    point, sharing to `shared`. Options: `id`, `sharing`, `readonly`, `uid`,
    `gid`, `mode`.

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


declare(
    "option::run readonlyRootfs()",
    """Mount the filesystem at `/` read-only for this `run`.

    The command can still write to its other mounts; the step's result is the
    filesystem as it was.

    Example: `run "go vet ./..." with readonlyRootfs`
    """,
)

declare(
    "option::run ignoreCache()",
    """Always execute this `run`, never reusing a cached result.

    The step gets an environment variable `HLB_IGNORE_CACHE` with a new random
    value on every build, so its cache key never matches; the steps that
    follow it are rebuilt too.

    Example: `run "apk update" with ignoreCache`
    """,
)

declare(
    "option::run network(string networkmode)",
    """The network of this `run`: `unset`, `host` or `none`.

    `unset` (default) leaves it to BuildKit (its CNI network, else the host's);
    `host` shares the network namespace of the BuildKit host and needs the
    `network.host` entitlement; `none` gives the command no network at all.

    Example: `run "go test ./..." with network("none")`
    """,
    choices={"networkmode": NETWORK_MODES},
)

declare(
    "option::run security(string securitymode)",
    """The security mode of this `run`: `sandbox` or `insecure`.

    `sandbox` (default) applies the default seccomp profile and capabilities;
    `insecure` runs the command privileged, with every capability, and needs
    the `security.insecure` entitlement.

    Example: `run "mount -t tmpfs none /mnt" with security("insecure")`
    """,
    choices={"securitymode": SECURITY_MODES},
)

declare(
    "option::run shlex()",
    """Split a one-argument command into words instead of running it with `/bin/sh -c`.

    The words are split with shell quoting rules and executed directly, so
    images without a shell can run it. Commands of several arguments are
    unaffected.

    Example: `run "/bin/app --version" with shlex`
    """,
)

declare(
    "option::run host(string hostname, string address)",
    """Add an `/etc/hosts` entry for this `run`.

    `address` must be an IP address; `hostname` may list several names
    separated by spaces.

    Example: `run "ping -c 1 db" with host("db db.local", "10.0.0.2")`
    """,
)


def _target(call: Call, mount_point: str, arg: int) -> str:
    """The absolute mount point (relative ones join the working dir); ``arg`` locates errors."""
    if not mount_point:
        call.fail(cat.invalid_value(call.arg_span(arg), "empty mount point"))
    return posixpath.normpath(join_dir(call.fs.state.cwd, mount_point))


# -- option::mount and option::cacheMount ------------------------------------------


@builtin("option::mount readonly()")
def mount_readonly(call: Call) -> Readonly:
    """Mount the input read-only.

    The command cannot change the mounted files, and a bound mount's result
    is then the input as it was.

    Example: `mount src "/src" with readonly`
    """
    return Readonly()


@builtin("option::mount cache(string cacheid, string sharingmode)", choices={"sharingmode": SHARING_MODES})
def mount_cache(call: Call, cacheid: str, sharingmode: str) -> CacheOpt:
    """Make the mount a persistent cache, kept between builds under `cacheid`.

    The cache starts as the input. `sharingmode` is `shared`, `private` or
    `locked`, as for `cacheMount`'s `sharing`, which is the simpler way to
    get a plain cache directory. A cache mount cannot be bound.

    Example: `mount scratch "/root/.cache" with cache("go-build", "locked")`
    """
    return CacheOpt(cacheid, _sharing(call, sharingmode, 1))


declare(
    "option::mount tmpfs()",
    """Mount an empty in-memory tmpfs instead of the input filesystem.

    Its content is lost when the `run` ends; the input is ignored.

    Example: `mount scratch "/tmp" with tmpfs`
    """,
)

declare(
    "option::mount sourcePath(string path)",
    """Mount only the directory `path` of the input instead of its root.

    The path is relative to the input's root.

    Example: `mount fs { local "."; } "/src" with sourcePath("cmd")`
    """,
)


@builtin("option::cacheMount readonly()")
def cache_mount_readonly(call: Call) -> Readonly:
    """Mount the cache read-only.

    The command reads what earlier builds left in the cache without changing it.

    Example: `cacheMount "/root/.npm" with readonly`
    """
    return Readonly()


@builtin("option::cacheMount id(string cacheid)")
def cache_mount_id(call: Call, cacheid: str) -> CacheId:
    """Name the cache: `run`s that use the same id share one cache.

    Without it the id is the mount point, as Dockerfile's cache mounts have it.

    Example: `cacheMount "/root/.cache/go-build" with id("go-build")`
    """
    if not cacheid:
        call.fail(cat.invalid_value(call.arg_span(0), "empty cache id"))
    return CacheId(cacheid)


@builtin("option::cacheMount sharing(string mode)", choices={"mode": SHARING_MODES})
def cache_mount_sharing(call: Call, mode: str) -> Sharing:
    """How concurrent builds share the cache: `shared`, `private` or `locked`.

    `shared` (default): all write at once; `private`: each concurrent writer
    gets its own copy; `locked`: one writer at a time, the others wait.

    Example: `cacheMount "/var/cache/apt" with sharing("locked")`
    """
    return Sharing(_sharing(call, mode, 0))


@builtin("option::cacheMount uid(int id)")
def cache_mount_uid(call: Call, id: int) -> Owner:
    """Set the numeric owner of the cache directory.

    The default is 0 (root); set it when the command runs as another user.

    Example: `cacheMount "/home/node/.npm" with option { uid 1000; gid 1000; }`
    """
    return Owner(uid=id)


@builtin("option::cacheMount gid(int id)")
def cache_mount_gid(call: Call, id: int) -> Owner:
    """Set the numeric group of the cache directory.

    The default is 0 (root); set it when the command runs as another group.

    Example: `cacheMount "/home/node/.npm" with gid(1000)`
    """
    return Owner(gid=id)


@builtin("option::cacheMount mode(int filemode)")
def cache_mount_mode(call: Call, filemode: int) -> Owner:
    """Set the permissions of the cache directory.

    The default is 0o755; they apply when the cache is first created.

    Example: `cacheMount "/cache" with mode(0o700)`
    """
    return Owner(mode=filemode)


def _sharing(call: Call, text: str, arg: int) -> CacheSharing:
    try:
        return CacheSharing.parse(text)
    except ValueError:
        call.fail(cat.invalid_choice(call.arg_span(arg), "sharing mode", text, SHARING_MODES))
