"""``State``: an immutable filesystem state plus the run metadata Go keeps on it
(env, working dir, user, platform), and hlb's ``shell`` prefix. Every method
returns a new State.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from hlb.llb.core import Constraints, Output
from hlb.llb.definition import Definition, marshal
from hlb.llb.exec import ExecMeta, ExecOp, HostIP, Mount, NetMode, SecretMount, SecurityMode, SSHMount
from hlb.llb.file import FileAction, FileOp
from hlb.llb.platform import Platform


@dataclass(frozen=True, slots=True)
class State:
    output: Output | None = None  # None: scratch
    env: tuple[tuple[str, str], ...] = ()  # insertion order; a re-set key moves to the end (as Go)
    cwd: str = "/"
    user: str = ""
    platform: Platform | None = None
    cwd_set: bool = False  # Go's state has no dir until one is set; a relative copy source stays relative then
    shell: tuple[str, ...] = ()  # hlb's `shell`: the prefix of one-argument runs; () is /bin/sh -c

    def with_output(self, output: Output | None) -> State:
        return replace(self, output=output)

    def add_env(self, key: str, value: str) -> State:
        env = tuple(kv for kv in self.env if kv[0] != key) + ((key, value),)
        return replace(self, env=env)

    def dir(self, path: str) -> State:
        """Set the working dir; a relative path joins onto the current one."""
        return replace(self, cwd=join_dir(self.cwd, path), cwd_set=True)

    def with_user(self, user: str) -> State:
        return replace(self, user=user)

    def with_platform(self, platform: Platform | None) -> State:
        return replace(self, platform=platform)

    def with_shell(self, prefix: Sequence[str]) -> State:
        return replace(self, shell=tuple(prefix))

    def shell_args(self, command: str) -> tuple[str, ...]:
        """The argv of a one-argument run: the shell prefix (``/bin/sh -c`` by default), then ``command``."""
        return (*(self.shell or ("/bin/sh", "-c")), command)

    def env_list(self) -> tuple[str, ...]:
        return tuple(f"{k}={v}" for k, v in self.env)

    def file(self, action: FileAction, constraints: Constraints | None = None) -> State:
        op = FileOp(self.output, action, self.cwd, constraints or Constraints())
        return self.with_output(op.output())

    def run(self, args: Sequence[str], opts: RunOptions | None = None) -> ExecState:
        o = opts or RunOptions()
        env = o.env if o.env is not None else self.env_list()
        # As Go: SSH sockets without a target get /run/buildkit/ssh_agent.N, and the
        # first socket is SSH_AUTH_SOCK unless the env already names one.
        ssh = tuple(s if s.target else replace(s, target=f"/run/buildkit/ssh_agent.{i}") for i, s in enumerate(o.ssh))
        if ssh and not any(kv.split("=", 1)[0] == "SSH_AUTH_SOCK" for kv in env):
            env = (*env, f"SSH_AUTH_SOCK={ssh[0].target}")
        meta = ExecMeta(
            args=tuple(args),
            env=env,
            cwd=o.cwd if o.cwd is not None else self.cwd,
            user=o.user if o.user is not None else self.user,
            network=o.network,
            security=o.security,
            extra_hosts=o.extra_hosts,
        )
        root = Mount("/", self.output, readonly=o.readonly_rootfs)
        constraints = o.constraints
        if constraints.platform is None and self.platform is not None:
            constraints = replace(constraints, platform=self.platform)
        op = ExecOp(meta, (root, *o.mounts), constraints, secrets=o.secrets, ssh=ssh)
        return ExecState(self, op)

    def marshal(self, platform: Platform, *, ignore_cache: bool = False, pull: bool = False) -> Definition:
        return marshal(self.output, self.platform or platform, ignore_cache=ignore_cache, pull=pull)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What a ``run`` changes for this exec only (None: take it from the state)."""

    env: tuple[str, ...] | None = None
    cwd: str | None = None
    user: str | None = None
    mounts: tuple[Mount, ...] = ()
    readonly_rootfs: bool = False
    network: NetMode = NetMode.SANDBOX
    security: SecurityMode = SecurityMode.SANDBOX
    extra_hosts: tuple[HostIP, ...] = ()
    secrets: tuple[SecretMount, ...] = ()
    ssh: tuple[SSHMount, ...] = ()
    constraints: Constraints = field(default_factory=Constraints)  # ignore_cache here is Go's llb.IgnoreCache


@dataclass(frozen=True, slots=True)
class ExecState:
    base: State
    op: ExecOp

    def root(self) -> State:
        """The rootfs after the exec; with a read-only rootfs, the input itself (as Go)."""
        return self.base.with_output(self.mount_output("/"))

    def mount_output(self, target: str) -> Output | None:
        """What Go's ``GetMount(target)`` refers to: a read-only mount's input, else the mount's output.

        Raises ValueError for a mount without output (tmpfs, cache, no-output).
        """
        m = self.op.mount(target)
        if m.readonly:
            return m.source
        return self.op.output(target)


def join_dir(cwd: str, path: str) -> str:
    if not path:
        return cwd
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(cwd or "/", path))
