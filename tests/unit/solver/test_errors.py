"""Decoding the daemon's solve errors into what the user reads."""

from __future__ import annotations

import pytest

from hlb._proto import ops_pb2 as pb
from hlb.solver.errors import explain, step_paths


@pytest.mark.parametrize(
    ("daemon", "user"),
    [
        (
            "open /var/lib/hlb-engine/data/buildkit/containerd-overlayfs/cachemounts/buildkit4124484464/src/a.txt: "
            "no such file or directory",
            "open /src/a.txt: no such file or directory",
        ),
        ("lstat /var/lib/buildkit/runc-overlayfs/snapshots/snapshots/123/fs/a/b: not found", "lstat /a/b: not found"),
        ("mkdir /var/lib/docker/overlay2/0123456789abcdef0123/merged: file exists", "mkdir /: file exists"),
        # a file op's temporary mount of its source: the engine's data root, Docker's, a buildkitd's /tmp
        (
            "lstat /var/lib/hlb-engine/data/tmp/buildkit-mount1012947512/nonexist/x: no such file or directory",
            "lstat /nonexist/x: no such file or directory",
        ),
        ("failed to walk /var/lib/docker/tmp/buildkit-mount595658546/d/n: lstat ", "failed to walk /d/n: lstat "),
        ("lstat /tmp/buildkit-mount42/a: no such file or directory", "lstat /a: no such file or directory"),
        ("open /tmp/containerd-mount77/etc/x: no such file", "open /etc/x: no such file"),
        ("stat /var/lib/buildkit/runc-native/snapshots/snapshots/9/usr/x: nope", "stat /usr/x: nope"),
        ("lstat /var/lib/docker/tmp/buildkit-mount1: no such file or directory", "lstat /: no such file or directory"),
        ('process "/bin/sh -c exit 3" did not complete successfully: exit code: 3', None),
    ],
)
def test_daemon_mount_points_are_stripped_from_step_paths(daemon: str, user: str | None) -> None:
    assert step_paths(daemon) == (user or daemon)


# -- a failing step's paths told as the build wrote them, with the hint that fixes the usual cause ----------------
# The messages are the engine's (Docker 26.1.5), after step_paths: see tests/integration/test_fileops_engine.py.


def file_op(*actions: pb.FileAction) -> bytes:
    op = pb.Op()
    op.file.actions.extend(actions)
    return op.SerializeToString()


def copy_to(dest: str, create: bool = False) -> pb.FileAction:
    return pb.FileAction(copy=pb.FileActionCopy(src="/a.txt", dest=dest, createDestPath=create))


COPY_MISSING = "failed to stat /nope/deeper/a.txt: lstat /nope/deeper: no such file or directory"


def test_a_copy_into_a_missing_directory_hints_createdestpath() -> None:
    message, hint = explain(COPY_MISSING, file_op(copy_to("/nope/deeper/a.txt")))
    assert message == COPY_MISSING
    assert hint is not None and "`/nope/deeper` does not exist" in hint and "createDestPath" in hint
    assert 'mkdir "/nope/deeper" 0o755 with createParents' in hint


def test_no_copy_hint_when_createdestpath_is_set_or_another_path_failed() -> None:
    assert explain(COPY_MISSING, file_op(copy_to("/nope/deeper/a.txt", create=True)))[1] is None
    assert explain(COPY_MISSING, file_op(copy_to("/elsewhere/a.txt")))[1] is None


def test_mkfile_in_a_missing_directory_hints_mkdir() -> None:
    action = pb.FileAction(mkfile=pb.FileActionMkFile(path="/missing/dir/f", mode=0o644))
    message = "open /missing/dir/f: no such file or directory"
    hint = explain(message, file_op(action))[1]
    assert hint == (
        '`/missing/dir` does not exist: create it first, e.g. `mkdir "/missing/dir" 0o755 with createParents`'
    )


def test_mkdir_in_a_missing_directory_hints_createparents() -> None:
    action = pb.FileAction(mkdir=pb.FileActionMkDir(path="/missing/dir", mode=0o755))
    hint = explain("mkdir /missing/dir: no such file or directory", file_op(action))[1]
    assert hint is not None and hint.startswith("`/missing` does not exist: add `createParents`")
    action = pb.FileAction(mkdir=pb.FileActionMkDir(path="/missing/dir", mode=0o755, makeParents=True))
    assert explain("mkdir /missing/dir: no such file or directory", file_op(action))[1] is None


def test_a_mounts_missing_source_path_is_told_as_that_mounts() -> None:
    op = pb.Op()
    op.exec.mounts.extend(
        [pb.Mount(input=0, dest="/", output=0), pb.Mount(input=1, selector="/nonexist/deep", dest="/m", output=-1)]
    )
    daemon = 'process "/bin/sh -c ls /m" did not complete successfully: open /nonexist/deep: no such file or directory'
    message, hint = explain(daemon, op.SerializeToString())
    assert message == (
        'process "/bin/sh -c ls /m" did not complete successfully: '
        "open /nonexist/deep (the sourcePath of the mount at /m): no such file or directory"
    )
    assert hint == "the filesystem mounted at `/m` has no `/nonexist/deep`: check the mount's `sourcePath`"


def test_a_graph_too_deep_for_overlay_hints_joining_steps() -> None:
    # What the engine says at step ~430 of a 1,000-`run` chain (measured on this project's engine).
    message = 'process "/bin/sh -c echo 427 >> /log" did not complete successfully: mount options is too long'
    op = pb.Op()
    op.exec.meta.args.extend(["/bin/sh", "-c", "echo 427 >> /log"])
    told, hint = explain(message, op.SerializeToString())
    assert told == message
    assert hint is not None and "one `run`" in hint and "merge" in hint


def test_other_failures_are_left_as_they_are() -> None:
    op = pb.Op()
    op.exec.mounts.extend([pb.Mount(input=0, dest="/", output=0)])
    exit_1 = 'process "/bin/sh -c false" did not complete successfully: exit code: 1'
    assert explain(exit_1, op.SerializeToString()) == (exit_1, None)
    assert explain(COPY_MISSING, None) == (COPY_MISSING, None)
    assert explain(COPY_MISSING, b"\xff\xff") == (COPY_MISSING, None)


# -- a copy source that is not there: the filesystem it was looked for in, and what to check ------------------


def copy_from(src: str, source_op: pb.Op | None) -> tuple[bytes, dict[str, bytes]]:
    """A file op copying ``src`` from its input 0, ``source_op`` (the graph's ops by digest, for explain)."""
    op = pb.Op()
    ops: dict[str, bytes] = {}
    if source_op is not None:
        raw = source_op.SerializeToString()
        ops["sha256:src"] = raw
        op.inputs.add(digest="sha256:src", index=0)
    op.file.actions.add(input=-1, secondaryInput=0, output=0, copy=pb.FileActionCopy(src=src, dest="/y"))
    return op.SerializeToString(), ops


def image_op(ref: str) -> pb.Op:
    return pb.Op(source=pb.SourceOp(identifier=f"docker-image://{ref}"))


NOT_FOUND = 'failed to compute cache key: failed to calculate checksum of ref a::b: "/nonexist/x": not found'
LSTAT = "lstat /nonexist/x: no such file or directory"  # after step_paths
WALK = "failed to compute cache key: failed to calculate checksum of ref a::b: failed to walk /d/n: lstat /d/n: no"


@pytest.mark.parametrize("message", [NOT_FOUND, LSTAT])
def test_a_missing_copy_source_names_the_image_it_was_looked_for_in(message: str) -> None:
    op, ops = copy_from("nonexist/x", image_op("docker.io/library/busybox:latest"))
    told, hint = explain(message, op, ops)
    assert told == message
    assert hint is not None and hint.startswith(
        '`/nonexist/x` does not exist in the source of `copy`, image "docker.io/library/busybox:latest": check the path'
    )
    assert "allowWildcard" in hint and "allowEmptyWildcard" in hint and "allowNotFound" not in hint


def test_a_missing_parent_of_a_copy_source_and_other_sources() -> None:
    op, ops = copy_from("/d/n/x", pb.Op(source=pb.SourceOp(identifier="local://ctx")))
    hint = explain(WALK, op, ops)[1]
    assert hint is not None and hint.startswith("`/d/n/x` does not exist in the source of `copy`, a `local` directory")
    assert "(not even `/d/n`)" in hint and ".dockerignore" in hint
    op, ops = copy_from("/d/n/x", pb.Op(exec=pb.ExecOp()))
    assert "the fs given as its first argument (not even `/d/n`)" in str(explain(WALK, op, ops)[1])
    op, _ = copy_from("/nonexist/x", image_op("busybox"))
    assert "the fs given as its first argument" in str(explain(LSTAT, op)[1])  # without the graph


def test_no_source_hint_for_another_path() -> None:
    op, ops = copy_from("/elsewhere/x", image_op("busybox"))
    assert explain(NOT_FOUND, op, ops)[1] is None
    assert explain(LSTAT, op, ops)[1] is None
