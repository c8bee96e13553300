"""Persisted cache mounts: ``cacheMount ... with persist "REF"`` (see docs/language.md, "Persisted cache mounts").

The lowering (:mod:`hlb.builtins.run`) seeds the mount from ``REF`` pinned by
digest, or starts it empty while ``REF`` does not exist, and leaves a
:class:`PersistEffect` on the run's value. The solve plan (:mod:`hlb.compiler.plan`)
turns it into a push only when asked (``hlb run --persist-caches``): a side solve,
after every other solve succeeded, whose one exec mounts the same cache (same id,
base and selector, sharing ``locked``) and copies its contents into an image pushed
to ``REF``. The exec carries a value that changes every run (:func:`copy_out`'s
``stamp``), so it always runs; ``ignore_cache`` would detach the cache mounts of its
id before the build (BuildKit's ``--no-cache``), so it is never used.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, replace

from hlb.llb import CacheSharing, Constraints, Mount, NetMode, Platform, RunOptions, State, marshal
from hlb.source import Span
from hlb.values import Effect, Exporter, FsValue

# Where the copy lands in the copying exec, and where the cache's files are in the pushed image.
OUT = "/hlb-persist"
IMAGE_DIR = "/cache"
STAMP_ENV = "HLB_PERSIST_RUN"


@dataclass(frozen=True, eq=False, slots=True, kw_only=True)
class PersistEffect(Effect):
    """A cache mount to push to ``ref`` after the build (``hlb run --persist-caches``).

    ``mount`` is the build's cache mount as lowered (its id, sharing and base:
    the push reads the same cache); ``rootfs`` the filesystem the ``run`` ran in
    (the copy runs there, as root); ``step`` the run's op digest; ``seed`` the
    pinned reference the mount was seeded from ("" when it started empty);
    ``warning`` what the user must be told (the registry could not be asked).
    """

    ref: str
    mount: Mount
    rootfs: State
    step: str
    seed: str = ""
    warning: str = ""
    copy_constraints: Constraints

    def identity(self, platform: Platform) -> tuple[str, str, str, str]:
        """What makes two pushes one: the ref and the cache (its id, its base's digest, the base's directory;
        one base digest is one BuildKit record while the daemon keeps it)."""
        head = marshal(self.mount.source, self.rootfs.platform or platform).head or ""
        return (self.ref, self.mount.cache_id, head, self.mount.selector)


def persist_effect(
    *,
    ref: str,
    mount: Mount,
    rootfs: FsValue,
    step: str,
    seed: str,
    warning: str,
    constraints: Constraints,
    span: Span,
) -> PersistEffect:
    """The push of ``mount`` to ``ref`` (not run unless ``--persist-caches``)."""
    fs = copy_out_fs(rootfs.state, mount, constraints, "")
    return PersistEffect(
        "persist",
        f"persist {ref}",
        fs,
        span,
        (Exporter("image", {"name": ref, "push": "true"}),),
        image_name=ref,
        ref=ref,
        mount=mount,
        rootfs=rootfs.state,
        step=step,
        seed=seed,
        warning=warning,
        copy_constraints=constraints,
    )


def copy_out_fs(rootfs: State, mount: Mount, constraints: Constraints, stamp: str) -> FsValue:
    """The image pushed: the cache's files under ``/cache``, copied by one exec in ``rootfs`` that mounts the
    cache as the build did (sharing ``locked``: it waits for a concurrent writer on this daemon to finish).

    ``stamp`` is an env value of the exec only, so a new stamp reruns the copy without touching the cache's
    identity (the exec's cache key leaves the mount's id out and keeps its base).
    """
    cache = replace(mount, readonly=False, cache_sharing=CacheSharing.LOCKED, no_output=False)
    env = (*(kv for kv in rootfs.env_list() if not kv.startswith(STAMP_ENV + "=")), f"{STAMP_ENV}={stamp}")
    src = posixpath.join(mount.target, ".")
    dest = posixpath.join(OUT, IMAGE_DIR.lstrip("/"))
    exec_state = rootfs.run(
        ["cp", "-a", src, dest],
        RunOptions(
            env=env,
            cwd="/",
            user="0:0",
            mounts=(cache, Mount(OUT)),
            network=NetMode.NONE,
            constraints=constraints,
        ),
    )
    out = exec_state.mount_output(OUT)
    return FsValue(State(out, platform=rootfs.platform)).history(f"hlb persist: copy of cache {mount.cache_id}")


def copy_out(p: PersistEffect, stamp: str) -> FsValue:
    """The pushed filesystem of ``p`` for one run (``stamp`` differs every run)."""
    return copy_out_fs(p.rootfs, p.mount, p.copy_constraints, stamp)
