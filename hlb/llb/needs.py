"""What a marshalled Definition asks of the client and of the daemon's policy.

The solve plan gives each solve's session exactly the local directories,
secrets and SSH agents its own ops refer to, and asks for the entitlements its
exec ops need (``network.host``, ``security.insecure``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hlb._proto import ops_pb2 as pb
from hlb.llb.definition import Definition

LOCAL_SCHEME = "local://"


@dataclass
class Needs:
    local_names: list[str] = field(default_factory=list)  # the NAME of each local://NAME source
    secret_ids: list[str] = field(default_factory=list)
    ssh_ids: list[str] = field(default_factory=list)
    entitlements: list[str] = field(default_factory=list)
    cache_ids: list[str] = field(default_factory=list)  # each cache mount's id (its target when it has none)
    image_cache_ids: list[str] = field(default_factory=list)  # those of cache_ids whose base is an image (persist)
    images: list[str] = field(default_factory=list)  # the ref of each docker-image:// source


def needs_of(definition: Definition) -> Needs:
    out = Needs()

    def add(items: list[str], item: str) -> None:
        if item not in items:
            items.append(item)

    ops = []
    for data in definition.ops[:-1]:  # the last op is the terminal one
        op = pb.Op()
        op.ParseFromString(data)
        ops.append(op)
    images = {  # the digests of the image sources (a cache mount's base that is one is a persisted cache)
        d
        for d, op in zip(definition.digests(), ops, strict=False)
        if op.WhichOneof("op") == "source" and op.source.identifier.startswith("docker-image://")
    }
    for op in ops:
        kind = op.WhichOneof("op")
        if kind == "source" and op.source.identifier.startswith("docker-image://"):
            add(out.images, op.source.identifier.removeprefix("docker-image://"))
        if kind == "source" and op.source.identifier.startswith(LOCAL_SCHEME):
            add(out.local_names, op.source.identifier[len(LOCAL_SCHEME) :])
        elif kind == "source" and "git.mountsshsock" in op.source.attrs:
            add(out.ssh_ids, op.source.attrs["git.mountsshsock"])  # an ssh git remote uses the agent
        elif kind == "exec":
            if op.exec.network == pb.NetMode.HOST:
                add(out.entitlements, "network.host")
            if op.exec.security == pb.SecurityMode.INSECURE:
                add(out.entitlements, "security.insecure")
            for m in op.exec.mounts:
                if m.mountType == pb.MountType.SECRET:
                    add(out.secret_ids, m.secretOpt.ID)
                elif m.mountType == pb.MountType.SSH:
                    add(out.ssh_ids, m.SSHOpt.ID or "default")
                elif m.mountType == pb.MountType.CACHE:
                    add(out.cache_ids, m.cacheOpt.ID or m.dest)
                    if 0 <= m.input < len(op.inputs) and op.inputs[m.input].digest in images:
                        add(out.image_cache_ids, m.cacheOpt.ID or m.dest)  # `persist REF` pinned by digest
            for e in op.exec.secretenv:
                add(out.secret_ids, e.ID)
    return out
