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
