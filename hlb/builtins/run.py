"""``run`` and its options: ``shell``, ``option::run``, ``option::mount`` and ``option::cacheMount``.

The options that reach the machine running hlb through the session (``ssh``,
``forward``, ``secret``) are in :mod:`hlb.builtins.run_session`. A ``run``
lowers to one exec op as Go's ``llb.State.Run`` builds it; its result is the
rootfs after the exec, or, while a ``mount ... as name`` bind is evaluated,
that mount's filesystem after the exec.
"""

from __future__ import annotations

import ipaddress
import posixpath
import shlex as _shlex
from dataclasses import dataclass, replace

from hlb.builtins.call import Call, image_ref
from hlb.builtins.owner import Owned, Owner, declare_owner_options, owner_of
from hlb.builtins.registry import builtin, flag
from hlb.builtins.run_session import RunSecret, RunSSH, mount_point
from hlb.builtins.sources import pinned_ref
from hlb.builtins.spec import Enumerated
from hlb.diagnostics import catalog as cat
from hlb.llb import (
    CacheSharing,
    Constraints,
    Mkdir,
    Mkfile,
    Mount,
    NetMode,
    Output,
    Platform,
    RunOptions,
    SecurityMode,
    State,
)
from hlb.llb.definition import marshal
from hlb.llb.exec import HostIP
from hlb.llb.file import Chown
from hlb.llb.reference import parse as parse_ref
from hlb.llb.source import SourceOp
from hlb.llb.source import image as image_source
from hlb.llb.state import join_dir
from hlb.persist import IMAGE_DIR, persist_effect
from hlb.resolver import Presence, ResolveError
from hlb.source import Span
from hlb.values import Effect, FsValue, Notice

SHARING = Enumerated("sharing mode", {m.name.lower(): m for m in CacheSharing})
NETWORK = Enumerated("network mode", {"unset": NetMode.SANDBOX, "host": NetMode.HOST, "none": NetMode.NONE})
SECURITY = Enumerated("security mode", {"sandbox": SecurityMode.SANDBOX, "insecure": SecurityMode.INSECURE})

CACHE_DIR = Owned(
    "the cache directory",
    0o755,
    "readable by everyone and writable by its owner",
    'cacheMount "/home/node/.npm"',
    0o700,
    note="Each `uid`/`gid`/`mode` combination is a cache of its own, and a mount with any of them is another cache "
    "than one without.",
)

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
    """A mount of a ``run``; ``fs`` is the mounted filesystem (None for ``cacheMount``).

    ``bound``: the mount is the ``as`` bind being evaluated, so the ``run``
    returns it. ``note``: what the run summary says about it (a primed mount
    that starts empty), located at the exec.
    """

    mount: Mount
    fs: FsValue | None = None
    bound: bool = False
    note: str = ""
    persist: Seeded | None = None  # a persisted cache mount: how it was seeded, where it is pushed


@dataclass(frozen=True, slots=True)
class Persist:
    """A cache mount's `persist "REF"`: ``ref`` normalised, with a tag; ``span`` the option call."""

    ref: str
    span: Span


@dataclass(frozen=True, slots=True)
class Seeded:
    """How a persisted cache mount starts: from ``seed`` (REF@digest), or empty ("").

    ``note`` is shown under every solve that runs the step; ``warning`` (the
    registry could not be asked) is a warning of the plan.
    """

    persist: Persist
    seed: str
    note: str
    warning: str = ""


@dataclass(frozen=True, slots=True)
class CacheOpt:
    """A mount's `cache(cacheid, sharingmode)`."""

    id: str
    sharing: CacheSharing


@dataclass(frozen=True, slots=True)
class RequireImage:
    span: Span  # where `requireImage` was written


@dataclass(frozen=True, slots=True)
class SourcePath:
    path: str


@dataclass(frozen=True, slots=True)
class CacheId:
    id: str


# -- lowering of run -------------------------------------------------------------


def lower_run(call: Call, command: tuple[str, ...]) -> FsValue:
    """The exec of ``run`` (``command`` as written) with the options of ``call``."""
    args = _argv(call, command)
    name = _shlex.join(args).replace("\n", "\\n")
    state = call.fs.state
    opts = call.options
    env = state
    for e in opts.of(RunEnv):
        env = env.add_env(e.key, e.value)
    cwd = state.cwd
    for d in opts.of(RunDir):
        cwd = join_dir(cwd, d.path)
    user = opts.last(RunUser)
    network, security = opts.last(NetMode), opts.last(SecurityMode)
    constraints = call.constraints(name)
    if IGNORE_CACHE.given(opts):
        constraints = replace(constraints, ignore_cache=True)
    run_mounts = _shim_readonly_mountpoints(call, [i for i in opts.items if isinstance(i, (RunMount, RunSecret))])
    _check_mounts(call, tuple(m.mount for m in run_mounts))
    run_opts = RunOptions(
        env=env.env_list(),
        cwd=cwd,
        user=user.name if user else None,
        mounts=tuple(m.mount for m in run_mounts),
        readonly_rootfs=READONLY_ROOTFS.given(opts),
        network=network if network is not None else NetMode.SANDBOX,
        security=security if security is not None else SecurityMode.SANDBOX,
        extra_hosts=tuple(opts.of(HostIP)),
        secrets=tuple(s for r in opts.of(RunSecret) for s in r.mounts),
        ssh=tuple(s.mount for s in opts.of(RunSSH)),
        constraints=constraints,
    )
    exec_state = state.run(args, run_opts)
    notes = [m.note for m in run_mounts if m.note]
    persisted = [m for m in run_mounts if m.persist is not None]
    effects = []
    if notes or persisted:
        # The step is the exec: every solve whose graph has it shows the notes.
        step = marshal(Output(exec_state.op), state.platform or call.ctx.platform).head
        assert step is not None
        for text in notes:
            call.ctx.notice(Notice(text, step))
        # The state the command ran in (its env, working dir and platform): the copy of the cache runs there.
        ran_in = replace(state, env=env.env)
        effects = [_persist(call, m, ran_in, step) for m in persisted]
    history = "RUN " + " ".join(args)
    bound = next((m for m in reversed(run_mounts) if m.bound), None)
    if bound is not None and bound.fs is not None:
        out = exec_state.mount_output(bound.mount.target)
        return bound.fs.with_state(bound.fs.state.with_output(out)).history(history).with_effects(*effects)
    return call.fs.with_state(exec_state.root()).history(history).with_effects(*effects)


def _persist(call: Call, m: RunMount, ran_in: State, step: str) -> Effect:
    """The push of a persisted cache mount (made by the plan only with `--persist-caches`) and its seed note."""
    seeded = m.persist
    assert seeded is not None
    call.ctx.notice(Notice(seeded.note, step))
    p = seeded.persist
    name = f"[persist] copy the cache mount {m.mount.target} (id {m.mount.cache_id}) out for {p.ref}"
    return persist_effect(
        ref=p.ref,
        mount=m.mount,
        rootfs=FsValue(ran_in),
        step=step,
        seed=seeded.seed,
        warning=seeded.warning,
        constraints=Constraints(locations=call.ctx.locations(p.span)).with_name(name),
        span=p.span,
    )


def _argv(call: Call, command: tuple[str, ...]) -> list[str]:
    if not command:
        call.fail(cat.invalid_value(call.span, "`run` needs a command", hint='for example: run "make install"'))
    if len(command) > 1:
        return list(command)
    if not SHLEX.given(call.options):
        return list(call.fs.state.shell_args(command[0]))
    try:
        words = _shlex.split(command[0])
    except ValueError as e:
        call.fail(cat.invalid_value(call.arg_span(0), f"cannot split the command into words: {str(e).lower()}"))
    if not words:
        call.fail(cat.invalid_value(call.arg_span(0), "the command has no words to run"))
    return words


def _check_mounts(call: Call, mounts: tuple[Mount, ...]) -> None:
    seen: set[str] = set()
    for m in mounts:
        if m.target == "/":
            call.fail(cat.invalid_value(call.span, "cannot mount over the root filesystem `/`"))
        if m.target in seen:
            call.fail(cat.invalid_value(call.span, f"two mounts at `{m.target}`"))
        seen.add(m.target)


def _inside(path: str, root: str) -> bool:
    return path != root and (root == "/" or path.startswith(root + "/"))


def _shim_readonly_mountpoints(call: Call, items: list[RunMount | RunSecret]) -> list[RunMount]:
    """openllb/hlb's read-only mount shim: a mount point inside an earlier read-only mount is created in its input.

    Scanning the mounts and secrets from the last, the nearest earlier mount
    containing the mount point decides: when it is a read-only bind mount, a
    ``mkdir -p`` (0o755) of the mount point, or for a secret its parent dir
    and an empty 0o644 file, is added to that mount's input.
    """
    mounts = [i for i in items if isinstance(i, RunMount)]
    if not any(m.mount.readonly for m in mounts):
        return mounts
    targets: list[tuple[str, int | None]] = []  # (mount point, index in mounts or None for a secret)
    for item in items:
        if isinstance(item, RunMount):
            targets.append((item.mount.target, mounts.index(item)))
        else:
            targets.extend((s.target, None) for s in item.mounts if not s.env)  # an env secret is no file
    made: set[tuple[str, str]] = set()  # (read-only mount point, directory created in its input)
    for i in range(len(targets) - 1, -1, -1):
        target, own = targets[i]
        for outer, index in reversed(targets[:i]):
            if index is None or not _inside(target, outer):
                continue
            m = mounts[index].mount
            if m.readonly and not m.cache_id and not m.tmpfs:
                rel = posixpath.relpath(target, outer)
                mounts[index] = _with_mountpoint(call, mounts[index], rel, own is None, made)
            break
    return mounts


def _with_mountpoint(call: Call, rm: RunMount, rel: str, is_file: bool, made: set[tuple[str, str]]) -> RunMount:
    m = rm.mount
    base = "/" + m.selector.strip("/") if m.selector.strip("/") else "/"
    path = posixpath.join(base, rel)
    state = State(m.source)
    key = m.target
    parent = posixpath.dirname(path) if is_file else path
    if parent != base and (key, parent) not in made:
        made.add((key, parent))
        where = posixpath.join(m.target, posixpath.relpath(parent, base))
        c = call.constraints(f"[internal] creating mount point {where}")
        state = state.file(Mkdir(parent, 0o755, make_parents=True), c)
    if is_file:
        c = call.constraints(f"[internal] creating mount point {posixpath.join(m.target, rel)}")
        state = state.file(Mkfile(path, 0o644, b""), c)
    return replace(rm, mount=replace(m, source=state.output))


# -- shell -------------------------------------------------------------------------


@builtin("fs shell(variadic string arg)")
def shell(call: Call, *prefix: str) -> FsValue:
    """Set the command prefix that later one-argument `run`s use instead of `/bin/sh -c`.

    `run "cmd"` then executes the prefix followed by `cmd`, for the rest of
    this filesystem's block and what it flows into; runs of several arguments
    and `shlex` runs are unaffected. openllb/hlb declares it without a lowering.

    Example: `shell "/bin/bash" "-eo" "pipefail" "-c"`
    """
    if not prefix:
        hint = 'for example: shell "/bin/bash" "-c"'
        call.fail(cat.invalid_value(call.span, "`shell` needs a command prefix", hint=hint))
    return call.fs.with_state(call.fs.state.with_shell(prefix))


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

    Writes are discarded unless the mount is bound with `as name`: `name` is
    then the mount's filesystem after the run. A writable mount of an image by
    tag bound with `as` (a primed mount) starts empty while the image does not
    exist yet.

    Example: `run "ls /src" with option { mount fs { local "."; } "/src" with readonly; }`
    """
    target = _target(call, mount_point, arg=1)
    opts = call.options
    readonly = MOUNT_READONLY.given(opts)
    cache = opts.last(CacheOpt)
    source_path = opts.last(SourcePath)
    selector = source_path.path if source_path else ""
    bound = "target" in call.binds
    source = input.state.output
    # A primed mount is the snapshot pattern: written with `as` (its result is pushed back), writable, of an
    # image by tag. Any other mount of a missing image stays an error (a misspelt tag is not an empty mount).
    declared = bound or "target" in call.declared
    writable = not (readonly or cache or source_path or MOUNT_TMPFS.given(opts))
    primed = primed_image(input) if declared and writable else None
    require = opts.last(RequireImage)
    if require is not None and primed is None:
        call.fail(
            cat.invalid_value(
                require.span,
                "`requireImage` applies to a primed mount (a writable mount of an image by tag, bound with `as`), "
                "which otherwise starts empty while the image does not exist",
                hint="other mounts always need their input: drop `requireImage`",
            )
        )
    if MOUNT_TMPFS.given(opts):
        if cache is not None or source_path is not None:
            call.fail(cat.invalid_value(call.span, "a `tmpfs` mount cannot also be a `cache` or have a `sourcePath`"))
        if source is not None:
            hint = f'mount `scratch` instead: mount scratch "{mount_point}" with tmpfs'
            call.fail(cat.invalid_value(call.arg_span(0), "a `tmpfs` mount starts empty", hint=hint))
        if bound:
            why = "a `tmpfs` mount cannot be bound with `as`: its content is lost after the run"
            call.fail(cat.invalid_value(call.span, why))
        return RunMount(Mount(target, None, readonly=readonly, tmpfs=True), input)
    if cache is not None:
        if bound:
            call.fail(
                cat.invalid_value(
                    call.span,
                    "a `cache` mount cannot be bound with `as`: its content stays in the cache",
                    hint="copy what you need out of the cache into a mount that is bound",
                )
            )
        m = Mount(target, source, readonly=readonly, selector=selector, cache_id=cache.id, cache_sharing=cache.sharing)
        return RunMount(m, input)
    note = ""
    if primed is not None:
        source, note = _prime(call, primed, input, target, require is not None)
    # A mount written with `as` keeps its output even while its bind is not evaluated, so the
    # target that runs it and the bind (`snapshotModules`) share one exec, which runs once.
    has_output = declared
    m = Mount(target, source, readonly=readonly, selector=selector, no_output=not has_output)
    return RunMount(m, input, bound, note)


def primed_image(input: FsValue) -> str | None:
    """The reference of ``input`` when it is exactly an ``image`` source by tag (no digest), else None."""
    out = input.state.output
    if out is None or not isinstance(out.vertex, SourceOp):
        return None
    ident = out.vertex.identifier
    if not ident.startswith("docker-image://"):
        return None
    ref = parse_ref(ident.removeprefix("docker-image://"))
    return None if ref.digest else str(ref)


def _prime(call: Call, ref: str, input: FsValue, target: str, required: bool) -> tuple[Output | None, str]:
    """The source of a primed mount and the note about it: its image, or nothing while the image is missing."""
    found = call.ctx.image_presence(ref, input.state.platform or call.ctx.platform)
    starts_empty = f"{call.span}: the mount at {target} starts empty"
    if found is Presence.MISSING:
        if required:
            call.fail(
                cat.invalid_value(
                    call.arg_span(0),
                    f"image `{ref}` does not exist (`requireImage`)",
                    hint="push it first, or drop `requireImage` so that the mount starts empty",
                )
            )
        return None, f"{starts_empty}: `{ref}` does not exist yet"
    if found is Presence.NOT_IN_REGISTRY:  # no daemon to ask (`hlb run --tree`)
        if required:
            return input.state.output, (
                f"{call.span}: `{ref}` is not in its registry: the build fails unless the engine has it in its "
                "own image store (`requireImage`)"
            )
        return None, f"{starts_empty}: `{ref}` is not in its registry (unless the engine has it in its own image store)"
    return input.state.output, ""


@builtin("option::run cacheMount(string mountPoint)")
def cache_mount(call: Call, mount_point: str) -> RunMount:
    """Mount a persistent cache directory at `mountPoint`, kept between builds.

    Like Dockerfile's `RUN --mount=type=cache`. One id with one `uid`/`gid`/`mode`
    is one cache, whatever its sharing (default `shared`); the id defaults to the
    cleaned mount point (`/root/.npm/` is `/root/.npm`).

    Example: `run "go build ./..." with option { cacheMount "/root/.cache/go-build"; }`
    """
    target = _target(call, mount_point, arg=0)
    opts = call.options
    cache_id = opts.last(CacheId)
    sharing = opts.last(CacheSharing)
    source = None
    selector = ""
    if opts.has(Owner):  # the cache's base: a directory of that owner and mode
        uid, gid, mode = owner_of(opts, CACHE_DIR.default_mode)
        perms = State().file(
            Mkdir("/cache", mode, owner=Chown(uid, gid)),
            call.constraints("[internal] setting cache mount permissions"),
        )
        source, selector = perms.output, "/cache"
    persist = opts.last(Persist)
    seeded = None
    if persist is not None:
        seeded, seed_source = _seed(call, persist, target)
        if seed_source is not None:  # the pushed image's /cache, with the owner and mode it was pushed with
            source, selector = seed_source, IMAGE_DIR
    m = Mount(
        target,
        source,
        readonly=CACHE_MOUNT_READONLY.given(opts),
        selector=selector,
        cache_id=cache_id.id if cache_id else target,
        cache_sharing=sharing if sharing is not None else CacheSharing.SHARED,
    )
    return RunMount(m, persist=seeded)


def _seed(call: Call, p: Persist, target: str) -> tuple[Seeded, Output | None]:
    """How a persisted cache mount starts: from its image pinned by digest, or empty while there is none.

    A pinned seed keeps the step's cache key stable until a new image is pushed (the key has the mount's
    input); an image that does not exist yet is a cold start, and a registry that cannot be asked a
    cold start with a warning (never a failed build: the cache is an optimisation).
    """
    platform = call.fs.state.platform or call.ctx.platform
    found = call.ctx.image_presence(p.ref, platform)
    where = f"{p.span}: the cache mount at {target}"
    if found is Presence.MISSING:
        return Seeded(p, "", f"{where} starts empty: `{p.ref}` does not exist yet (the first push creates it)"), None
    if found is Presence.NOT_IN_REGISTRY:  # no daemon to ask (`hlb run --tree`)
        text = (
            f"{where} starts empty: `{p.ref}` is not in its registry (unless the engine has it in its own image store)"
        )
        return Seeded(p, "", text), None
    if found is Presence.UNKNOWN:
        note = f"{where} starts empty: the registry of `{p.ref}` could not be asked"
        warning = f"{p.span}: cannot tell whether `{p.ref}` exists (its registry could not be asked), so the cache "
        warning += f"mount at {target} starts empty, and pushing it (--persist-caches) fails if it stays unreachable"
        return Seeded(p, "", note, warning), None
    seed, unpinned = _pinned(call, p.ref, platform)
    constraints = call.constraints(f"[persist] seed of the cache mount {target}: {seed}")
    op = image_source(seed, constraints=replace(constraints, locations=call.ctx.locations(p.span)))
    note = f"{where} is seeded from {seed} when this daemon has no such cache yet"
    return Seeded(p, seed, note + (f" (not pinned: {unpinned})" if unpinned else "")), op.output()


def _pinned(call: Call, ref: str, platform: Platform) -> tuple[str, str]:
    """``ref@digest`` as its registry (else the daemon) resolves it, or ``ref`` and why it is not pinned."""
    why = "no registry or daemon to resolve its digest"
    registry, daemon = call.ctx.manifests, call.ctx.resolver
    for service in (registry, daemon):
        if service is None:
            continue
        try:
            if service is registry:
                digest = registry.manifest(ref, platform).digest
            else:
                assert daemon is not None
                digest = daemon.resolve(ref, platform).digest
            return str(pinned_ref(ref, digest)), ""
        except (ResolveError, ValueError) as e:
            why = str(e)
    return ref, why


READONLY_ROOTFS = flag(
    "option::run readonlyRootfs()",
    """Mount the filesystem at `/` read-only for this `run`.

    The command can still write to its other mounts. As in BuildKit's Go
    client, the step's result is the filesystem as it was, so the command only
    runs when a mount bound with `as` (or a later step using one) needs it.

    Example: `run "go vet ./..." with option { readonlyRootfs; mount scratch "/out" as report; }`
    """,
)


IGNORE_CACHE = flag(
    "option::run ignoreCache()",
    """Always execute this `run`, never reusing a cached result.

    The exec op is marked with LLB's `ignore_cache` (openllb/hlb adds a random
    env var instead): BuildKit runs it again and rebuilds the steps after it,
    and first empties the caches of its cache mounts' ids (on v0.13 only for
    mounts without `uid`/`gid`/`mode`).

    Example: `run "apk update" with ignoreCache`
    """,
)


@builtin("option::run network(string networkmode)", choices={"networkmode": NETWORK})
def network(call: Call, networkmode: NetMode) -> NetMode:
    """The network of this `run`: `unset`, `host` or `none`.

    `unset` (default) leaves it to BuildKit (its CNI network, else the host's);
    `host` shares the network namespace of the BuildKit host and needs the
    `network.host` entitlement; `none` gives the command no network at all.

    Example: `run "go test ./..." with network("none")`
    """
    return networkmode


@builtin("option::run security(string securitymode)", choices={"securitymode": SECURITY})
def security(call: Call, securitymode: SecurityMode) -> SecurityMode:
    """The security mode of this `run`: `sandbox` or `insecure`.

    `sandbox` (default) applies the default seccomp profile and capabilities;
    `insecure` runs the command privileged, with every capability, and needs
    the `security.insecure` entitlement.

    Example: `run "mount -t tmpfs none /mnt" with security("insecure")`
    """
    return securitymode


SHLEX = flag(
    "option::run shlex()",
    """Split a one-argument command into words instead of running it with `/bin/sh -c`.

    The words are split with shell quoting rules and executed directly, so
    images without a shell can run it; an unbalanced quote is an error.
    Commands of several arguments are unaffected.

    Example: `run "/bin/app --version" with shlex`
    """,
)


@builtin("option::run host(string hostname, string address)")
def host(call: Call, hostname: str, address: str) -> HostIP:
    """Add an `/etc/hosts` entry for this `run`.

    `address` must be an IP address; `hostname` may list several names
    separated by spaces.

    Example: `run "ping -c 1 db" with host("db db.local", "10.0.0.2")`
    """
    if not hostname.strip():
        call.fail(cat.invalid_value(call.arg_span(0), "empty host name"))
    return HostIP(hostname, _ip(call, address))


def _target(call: Call, text: str, arg: int) -> str:
    return mount_point(call, text, arg)


def _ip(call: Call, address: str) -> str:
    """``address`` as Go's ``net.IP.String()`` prints it; a diagnostic unless it is an IP address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    if ip is None or "%" in address:
        hint = "for example 10.0.0.2 or fd00::2"
        call.fail(cat.invalid_value(call.arg_span(1), f"`{address}` is not an IP address", hint=hint))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)  # Go prints IPv4-mapped addresses as IPv4
    return str(ip)


# -- option::mount and option::cacheMount ------------------------------------------


MOUNT_READONLY = flag(
    "option::mount readonly()",
    """Mount the input read-only.

    The command cannot change the mounted files, and a bound mount's result
    is then the input as it was.

    Example: `mount src "/src" with readonly`
    """,
)


@builtin("option::mount cache(string cacheid, string sharingmode)", choices={"sharingmode": SHARING})
def mount_cache(call: Call, cacheid: str, sharingmode: CacheSharing) -> CacheOpt:
    """Make the mount a persistent cache, kept between builds under `cacheid`.

    The cache starts as the input, which is part of its identity: one `cacheid`
    over another input is another cache. `sharingmode` is `shared`, `private`
    or `locked`, as for `cacheMount`'s `sharing`, the simpler way to get a
    plain cache directory. A cache mount cannot be bound.

    Example: `mount scratch "/root/.cache" with cache("go-build", "locked")`
    """
    return CacheOpt(cacheid, sharingmode)


MOUNT_TMPFS = flag(
    "option::mount tmpfs()",
    """Mount an empty in-memory tmpfs instead of the input filesystem.

    Its content is lost when the `run` ends. The input must be `scratch`,
    and a tmpfs mount cannot be bound, cached or given a `sourcePath`.

    Example: `mount scratch "/tmp" with tmpfs`
    """,
)


@builtin("option::mount requireImage()")
def mount_require_image(call: Call) -> RequireImage:
    """Make a missing image an error instead of a mount that starts empty.

    A writable mount of an image by tag bound with `as` (a primed mount)
    starts empty while the image does not exist yet; with `requireImage`
    compiling fails instead. Only such mounts take it.

    Example: `mount fs { image "127.0.0.1:5000/app/node-modules:latest"; } "/src/node_modules" with requireImage as x`
    """
    return RequireImage(call.span)


@builtin("option::mount sourcePath(string path)")
def mount_source_path(call: Call, path: str) -> SourcePath:
    """Mount only the directory `path` of the input instead of its root.

    The path is relative to the input's root.

    Example: `mount fs { local "."; } "/src" with sourcePath("cmd")`
    """
    if not path:
        call.fail(cat.invalid_value(call.arg_span(0), "empty source path"))
    return SourcePath(path)


CACHE_MOUNT_READONLY = flag(
    "option::cacheMount readonly()",
    """Mount the cache read-only.

    The command reads what earlier builds left in the cache without changing it.

    Example: `cacheMount "/root/.npm" with readonly`
    """,
)


@builtin("option::cacheMount id(string cacheid)")
def cache_mount_id(call: Call, cacheid: str) -> CacheId:
    """Name the cache: `run`s that use the same id (and `uid`/`gid`/`mode`) share one cache.

    Without it the id is the mount point, cleaned as Dockerfile's frontend
    does. The id is not part of the step's cache key (unless it is the mount
    point and sharing is `shared`), so renaming it does not rerun a cached step.

    Example: `cacheMount "/root/.cache/go-build" with id("go-build")`
    """
    if not cacheid:
        call.fail(cat.invalid_value(call.arg_span(0), "empty cache id"))
    return CacheId(cacheid)


@builtin("option::cacheMount persist(string ref)")
def cache_mount_persist(call: Call, ref: str) -> Persist:
    """Move the cache between machines as the image `ref`: seed it from there, push it back on request.

    The cache starts from `ref` pinned by digest (empty, with a note, while
    `ref` does not exist); `hlb run --persist-caches` pushes its contents to
    `ref` after every other solve succeeded. A push that changes the cache
    changes the digest, so the next builds run the step once on the new seed.

    Example: `cacheMount "/root/.npm" with persist("127.0.0.1:5000/cache/npm:latest")`
    """
    parsed = image_ref(call, ref)
    if parsed.digest:
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                f"`{ref}` names a digest, and a persisted cache is pushed back to a tag",
                hint=f'name a tag: persist "{parsed.name}:{parsed.tag or "latest"}"',
            )
        )
    return Persist(str(parsed), call.span)


@builtin("option::cacheMount sharing(string mode)", choices={"mode": SHARING})
def cache_mount_sharing(call: Call, mode: CacheSharing) -> CacheSharing:
    """How concurrent builds share the cache: `shared`, `private` or `locked`.

    `shared` (default): all write at once; `private`: each concurrent writer
    gets its own copy; `locked`: one writer at a time, the others wait. It is
    not part of the cache: uses with other modes share its contents.

    Example: `cacheMount "/var/cache/apt" with sharing("locked")`
    """
    return mode


declare_owner_options("cacheMount", CACHE_DIR)
