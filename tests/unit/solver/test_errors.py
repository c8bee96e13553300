"""Decoding the daemon's solve errors into what the user reads."""

from __future__ import annotations

import pytest

from hlb.solver.errors import step_paths


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
