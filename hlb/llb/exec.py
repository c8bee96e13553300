"""Exec ops: run a command with mounts (Go's ``llb.ExecOp``).

As Go marshals them: the mounts sorted by target (the rootfs first), outputs
numbered in that order over the writable bind mounts, each distinct input
once; then the secret mounts and the SSH socket mounts in the order they were
added, with no input (``-1``) and output 0, which the daemon ignores. Secrets
exposed as environment variables go to ``secretenv``, in the order added.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hlb._proto import ops_pb2 as pb
from hlb.llb.core import Constraints, Output

if TYPE_CHECKING:
    from hlb.llb.definition import Marshaller


class CacheSharing(enum.Enum):
    SHARED = pb.CacheSharingOpt.SHARED
    PRIVATE = pb.CacheSharingOpt.PRIVATE
    LOCKED = pb.CacheSharingOpt.LOCKED


class NetMode(enum.Enum):
    SANDBOX = pb.NetMode.UNSET
    HOST = pb.NetMode.HOST
    NONE = pb.NetMode.NONE


class SecurityMode(enum.Enum):
    SANDBOX = pb.SecurityMode.SANDBOX
    INSECURE = pb.SecurityMode.INSECURE


@dataclass(frozen=True, slots=True)
class Mount:
    target: str
    source: Output | None = None  # None: scratch (empty)
    readonly: bool = False
    selector: str = ""
    cache_id: str = ""
    cache_sharing: CacheSharing = CacheSharing.SHARED
    tmpfs: bool = False
    tmpfs_size: int = 0
    no_output: bool = False

    @property
    def has_output(self) -> bool:
        return not (self.no_output or self.readonly or self.cache_id or self.tmpfs)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServedFile:
    """What a file the client serves into an exec has: its owner, mode, and whether it may be missing."""

    uid: int = 0
    gid: int = 0
    mode: int = 0o600
    optional: bool = False


@dataclass(frozen=True, slots=True)
class SecretMount(ServedFile):
    """A secret served by the client, mounted as a file at ``target`` (Go's ``AddSecret``).

    With ``env`` (Go's ``SecretAsEnv``) it is the environment variable ``target``
    instead: an ``ExecOp.secretenv`` entry, which has no owner or mode.
    """

    target: str
    id: str
    mode: int = field(default=0o400, kw_only=True)
    env: bool = field(default=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class SSHMount(ServedFile):
    """An SSH agent socket (or a forwarded socket) served by the client (Go's ``AddSSHSocket``).

    An empty ``target`` becomes ``/run/buildkit/ssh_agent.N``, N the socket's
    index in the exec, when the exec is built.
    """

    id: str = ""
    target: str = ""


@dataclass(frozen=True, slots=True)
class HostIP:
    """An ``/etc/hosts`` entry; ``ip`` is already in Go's ``net.IP.String()`` form."""

    host: str
    ip: str


@dataclass(frozen=True, slots=True)
class ExecMeta:
    args: tuple[str, ...]
    env: tuple[str, ...] = ()  # KEY=VALUE
    cwd: str = "/"
    user: str = ""
    hostname: str = ""
    network: NetMode = NetMode.SANDBOX
    security: SecurityMode = SecurityMode.SANDBOX
    extra_hosts: tuple[HostIP, ...] = ()


@dataclass(frozen=True, eq=False, slots=True)
class ExecOp:
    meta: ExecMeta
    mounts: tuple[Mount, ...]  # includes the root mount at "/"
    constraints: Constraints = field(default_factory=Constraints)
    secrets: tuple[SecretMount, ...] = ()  # appended after the sorted mounts, in this order
    ssh: tuple[SSHMount, ...] = ()  # then these; their targets must be set (see State.run)

    def __post_init__(self) -> None:
        # Go sorts mounts by target before numbering outputs.
        ordered = tuple(sorted(self.mounts, key=lambda m: m.target))
        object.__setattr__(self, "mounts", ordered)
        if not any(m.target == "/" for m in ordered):
            raise ValueError("exec op needs a root mount")
        if not self.meta.args:
            raise ValueError("exec op needs arguments")
        if any(not s.target for s in self.ssh):
            raise ValueError("ssh mounts need a target")

    def inputs(self) -> tuple[Output, ...]:
        seen: list[Output] = []
        for m in self.mounts:
            if m.source is not None and m.source not in seen:
                seen.append(m.source)
        return tuple(seen)

    def mount(self, target: str) -> Mount:
        for m in self.mounts:
            if m.target == target:
                return m
        raise KeyError(target)

    def output(self, target: str = "/") -> Output:
        """The output of the mount at ``target`` (the rootfs by default)."""
        index = 0
        for m in self.mounts:
            if m.target == target:
                if not m.has_output:
                    raise ValueError(f"mount {target} has no output")
                return Output(self, index)
            if m.has_output:
                index += 1
        raise KeyError(target)

    def to_pb(self, m: Marshaller) -> tuple[pb.Op, set[str]]:
        meta = self.meta
        caps = {"exec.meta.base"}
        pmeta = pb.Meta(
            args=list(meta.args),
            env=list(meta.env),
            cwd=meta.cwd,
            user=meta.user,
            hostname=meta.hostname,
            removeMountStubsRecursive=True,
        )
        for h in meta.extra_hosts:
            pmeta.extraHosts.append(pb.HostIP(Host=h.host, IP=h.ip))
        exe = pb.ExecOp(meta=pmeta, network=meta.network.value, security=meta.security.value)
        if meta.network is not NetMode.SANDBOX:
            caps.add("exec.meta.network")
        if meta.security is SecurityMode.INSECURE:
            caps.add("exec.meta.security")
        op = pb.Op()
        op.platform.CopyFrom(m.platform_pb(self.constraints))
        out_index = 0
        for mount in self.mounts:
            caps |= _mount_caps(mount)
            input_index = -1
            if mount.source is not None:
                if mount.tmpfs:
                    raise ValueError("tmpfs mounts must use scratch")
                input_index = _input_index(op, m.input_pb(mount.source))
            output_index = -1
            if mount.has_output:
                output_index = out_index
                out_index += 1
            exe.mounts.append(_mount_pb(mount, input_index, output_index))
        if self.secrets:
            caps.add("exec.mount.secret")  # as Go: also when every secret is an environment variable
        if any(s.env for s in self.secrets):
            caps.add("exec.secretenv")
        for s in self.secrets:
            if s.env:
                exe.secretenv.append(pb.SecretEnv(ID=s.id, name=s.target, optional=s.optional))
                continue
            opt = pb.SecretOpt(ID=s.id, uid=s.uid, gid=s.gid, mode=s.mode, optional=s.optional)
            exe.mounts.append(pb.Mount(input=-1, dest=s.target, mountType=pb.MountType.SECRET, secretOpt=opt))
        if self.ssh:
            caps.add("exec.mount.ssh")
        for sock in self.ssh:
            sopt = pb.SSHOpt(ID=sock.id, uid=sock.uid, gid=sock.gid, mode=sock.mode, optional=sock.optional)
            exe.mounts.append(pb.Mount(input=-1, dest=sock.target, mountType=pb.MountType.SSH, SSHOpt=sopt))
        op.exec.CopyFrom(exe)
        return op, caps


def _input_index(op: pb.Op, inp: pb.Input) -> int:
    """Index of ``inp`` in the op's inputs, appending it if new (Go compares digest and index)."""
    for i, existing in enumerate(op.inputs):
        if existing.digest == inp.digest and existing.index == inp.index:
            return i
    op.inputs.append(inp)
    return len(op.inputs) - 1


def _mount_caps(mount: Mount) -> set[str]:
    caps = set()
    if mount.selector:
        caps.add("exec.mount.selector")
    if mount.cache_id:
        caps |= {"exec.mount.cache", "exec.mount.cache.sharing"}
    elif mount.tmpfs:
        caps.add("exec.mount.tmpfs")
        if mount.tmpfs_size > 0:
            caps.add("exec.mount.tmpfs.size")
    elif mount.source is not None:
        caps.add("exec.mount.bind")
    return caps


def _mount_pb(mount: Mount, input_index: int, output_index: int) -> pb.Mount:
    pm = pb.Mount(
        input=input_index,
        dest=mount.target,
        readonly=mount.readonly,
        output=output_index,
        selector=mount.selector,
    )
    if mount.cache_id:
        pm.mountType = pb.MountType.CACHE
        pm.cacheOpt.SetInParent()
        pm.cacheOpt.ID = mount.cache_id
        pm.cacheOpt.sharing = mount.cache_sharing.value
    if mount.tmpfs:
        pm.mountType = pb.MountType.TMPFS
        pm.TmpfsOpt.SetInParent()  # Go always sets it, even when empty
        pm.TmpfsOpt.size = mount.tmpfs_size
    return pm
