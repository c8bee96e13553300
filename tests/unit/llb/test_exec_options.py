"""Exec op encoding where Go's client/llb has subtle rules: mount order, output numbers, caps, defaults."""

from __future__ import annotations

from hlb._proto import ops_pb2 as pb
from hlb.llb import Constraints, Mount, NetMode, Platform, RunOptions, SecurityMode, State, image
from hlb.llb.definition import Definition, digest_of, marshal
from hlb.llb.exec import HostIP, SecretMount, SSHMount

AMD64 = Platform("linux", "amd64")


def busybox() -> State:
    return State().with_output(image("docker.io/library/busybox:latest").output())


def ops(d: Definition) -> list[pb.Op]:
    out = []
    for data in d.ops:
        op = pb.Op()
        op.ParseFromString(data)
        out.append(op)
    return out


def exec_op(d: Definition) -> tuple[pb.Op, pb.OpMetadata]:
    for data in d.ops:
        op = pb.Op()
        op.ParseFromString(data)
        if op.WhichOneof("op") == "exec":
            return op, d.metadata[digest_of(data)]
    raise AssertionError("no exec op")


def test_secret_then_ssh_mounts_follow_the_sorted_mounts_in_the_order_given() -> None:
    opts = RunOptions(
        mounts=(Mount("/z", None, no_output=True), Mount("/b", None, tmpfs=True)),
        secrets=(SecretMount("/s2", "two"), SecretMount("/a", "one", uid=1, gid=2, mode=0o440)),
        ssh=(SSHMount("default"), SSHMount("k", target="/k.sock")),
    )
    op, _ = exec_op(marshal(busybox().run(["true"], opts).root().output, AMD64))
    mounts = op.exec.mounts
    assert [m.dest for m in mounts] == ["/", "/b", "/z", "/s2", "/a", "/run/buildkit/ssh_agent.0", "/k.sock"]
    secret = mounts[4]
    assert (secret.input, secret.output, secret.readonly, secret.mountType) == (-1, 0, False, pb.MountType.SECRET)
    assert (secret.secretOpt.ID, secret.secretOpt.uid, secret.secretOpt.gid, secret.secretOpt.mode) == (
        "one",
        1,
        2,
        0o440,
    )
    assert mounts[3].secretOpt.mode == 0o400  # Go's AddSecret default
    ssh = mounts[5]
    assert (ssh.input, ssh.output, ssh.mountType, ssh.SSHOpt.ID, ssh.SSHOpt.mode) == (
        -1,
        0,
        pb.MountType.SSH,
        "default",
        0o600,
    )
    assert mounts[6].SSHOpt.ID == "k"


def test_the_first_ssh_socket_is_ssh_auth_sock_unless_the_env_has_one() -> None:
    one = busybox().run(["true"], RunOptions(ssh=(SSHMount("a", target="/x.sock"), SSHMount("b"))))
    assert one.op.meta.env == ("SSH_AUTH_SOCK=/x.sock",)
    assert [s.target for s in one.op.ssh] == ["/x.sock", "/run/buildkit/ssh_agent.1"]  # N counts every socket
    kept = busybox().add_env("SSH_AUTH_SOCK", "/mine").run(["true"], RunOptions(ssh=(SSHMount("a"),)))
    assert kept.op.meta.env == ("SSH_AUTH_SOCK=/mine",)
    none = busybox().run(["true"])
    assert none.op.meta.env == ()


def test_outputs_are_numbered_over_writable_bind_mounts_in_target_order() -> None:
    opts = RunOptions(
        mounts=(
            Mount("/out", None),  # writable: output 2 (after / and /a)
            Mount("/a", None),  # writable: output 1
            Mount("/ro", None, readonly=True),
            Mount("/c", None, cache_id="c"),
            Mount("/t", None, tmpfs=True),
            Mount("/n", None, no_output=True),
        )
    )
    es = busybox().run(["true"], opts)
    op, _ = exec_op(marshal(es.root().output, AMD64))
    outputs = {m.dest: m.output for m in op.exec.mounts}
    assert outputs == {"/": 0, "/a": 1, "/c": -1, "/n": -1, "/out": 2, "/ro": -1, "/t": -1}
    out = es.mount_output("/out")
    assert out is not None and out.index == 2 and out.vertex is es.op


def test_a_readonly_rootfs_has_no_output_and_the_run_result_is_its_input() -> None:
    base = busybox()
    es = base.run(["true"], RunOptions(readonly_rootfs=True, mounts=(Mount("/out", None),)))
    assert es.root().output is base.output  # as Go: the exec is not part of the root's graph
    out = es.mount_output("/out")
    assert out is not None and out.index == 0
    op, _ = exec_op(marshal(out, AMD64))
    root = op.exec.mounts[0]
    assert (root.dest, root.readonly, root.output, root.input) == ("/", True, -1, 0)


def test_a_readonly_mount_refers_to_its_input() -> None:
    src = State().with_output(image("docker.io/library/alpine:latest").output())
    es = busybox().run(["true"], RunOptions(mounts=(Mount("/src", src.output, readonly=True),)))
    assert es.mount_output("/src") is src.output


def test_caps_follow_the_features_used() -> None:
    opts = RunOptions(
        network=NetMode.NONE,
        security=SecurityMode.INSECURE,
        mounts=(Mount("/t", None, tmpfs=True), Mount("/s", busybox().output, selector="/etc", no_output=True)),
        secrets=(SecretMount("/x", "x"),),
        ssh=(SSHMount("default"),),
    )
    op, md = exec_op(marshal(busybox().run(["true"], opts).root().output, AMD64))
    assert op.exec.network == pb.NetMode.NONE and op.exec.security == pb.SecurityMode.INSECURE
    assert set(md.caps) == {
        "exec.meta.base",
        "exec.meta.network",
        "exec.meta.security",
        "exec.mount.bind",
        "exec.mount.selector",
        "exec.mount.tmpfs",
        "exec.mount.secret",
        "exec.mount.ssh",
    }
    plain_op, plain = exec_op(marshal(busybox().run(["true"], RunOptions(network=NetMode.HOST)).root().output, AMD64))
    assert set(plain.caps) == {"exec.meta.base", "exec.meta.network", "exec.mount.bind"}
    assert plain_op.exec.network == pb.NetMode.HOST


def test_tmpfs_always_carries_tmpfs_opt_even_when_empty() -> None:
    op, _ = exec_op(
        marshal(busybox().run(["true"], RunOptions(mounts=(Mount("/t", None, tmpfs=True),))).root().output, AMD64)
    )
    tmpfs = op.exec.mounts[1]
    assert tmpfs.HasField("TmpfsOpt") and tmpfs.TmpfsOpt.size == 0
    assert tmpfs.SerializeToString().endswith(b"\x9a\x01\x00")  # field 19, empty: written as Go does


def test_extra_hosts_keep_their_order() -> None:
    hosts = (HostIP("db", "10.0.0.2"), HostIP("a b", "fd00::1"))
    op, _ = exec_op(marshal(busybox().run(["true"], RunOptions(extra_hosts=hosts)).root().output, AMD64))
    assert [(h.Host, h.IP) for h in op.exec.meta.extraHosts] == [("db", "10.0.0.2"), ("a b", "fd00::1")]


def test_ignore_cache_is_metadata_only_and_a_graph_cap() -> None:
    plain = marshal(busybox().run(["true"]).root().output, AMD64)
    ignored = marshal(
        busybox().run(["true"], RunOptions(constraints=Constraints(ignore_cache=True))).root().output, AMD64
    )
    assert plain.ops == ignored.ops  # the same op bytes, so the same digests
    _, md = exec_op(ignored)
    assert md.ignore_cache
    terminal = ignored.metadata[digest_of(ignored.ops[-1])]
    assert "meta.ignorecache" in terminal.caps
    assert "meta.ignorecache" not in plain.metadata[digest_of(plain.ops[-1])].caps


def test_shell_prefix_replaces_bin_sh_c() -> None:
    assert busybox().shell_args("x") == ("/bin/sh", "-c", "x")
    assert busybox().with_shell(["/bin/bash", "-c"]).shell_args("x") == ("/bin/bash", "-c", "x")
