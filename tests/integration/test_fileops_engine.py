"""File ops, merge and diff on the real engine, checked from inside a later `run`.

Each build ends with a `run` that tests the files the ops made and exits
non-zero when anything is wrong, so a wrong result fails the build.
"""

from __future__ import annotations

from pathlib import Path

from conftest import Engine


def build(engine: Engine, tmp_path: Path, text: str) -> str:
    path = tmp_path / "build.hlb"
    path.write_text(text)
    done = engine.hlb("run", str(path))
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_mkdir_with_parents_and_owner_and_mkfile_with_owner_and_time(
    engine: Engine, tmp_path: Path, nonce: str
) -> None:
    out = build(
        engine,
        tmp_path,
        f"""
fs default() {{
	image "busybox:latest"
	mkdir "/a-{nonce}/b/c" 0o750 with option {{
		createParents
		chown "1000:1000"
	}}
	mkfile "/a-{nonce}/b/c/f" 0o640 "{nonce}" with option {{
		chown "nobody:nogroup"
		createdTime "2020-04-27T15:04:05Z"
	}}
	mkdir "/dated" 0o755 with createdTime("2001-09-09T01:46:40Z")
	run "set -e
		test \\"$(stat -c '%u:%g %a' /a-{nonce}/b/c)\\" = '1000:1000 750'
		test \\"$(stat -c '%u:%g %a %Y' /a-{nonce}/b/c/f)\\" = '65534:65534 640 1587999845'
		test \\"$(cat /a-{nonce}/b/c/f)\\" = {nonce}
		test \\"$(stat -c %Y /dated)\\" = 1000000000
		echo fileops-ok-{nonce}"
}}
""",
    )
    assert f"fileops-ok-{nonce}" in out, out


def test_rm_with_wildcard_and_allow_not_found(engine: Engine, tmp_path: Path, nonce: str) -> None:
    out = build(
        engine,
        tmp_path,
        f"""
fs default() {{
	image "busybox:latest"
	mkdir "/logs" 0o755
	dir "/logs"
	mkfile "a-{nonce}.log" 0o644 "a"
	mkfile "b.log" 0o644 "b"
	mkfile "keep.txt" 0o644 "k"
	rm "*.log" with allowWildcard
	rm "/no/such/path" with allowNotFound
	rm "/etc/group"
	run "set -e
		test ! -e /logs/a-{nonce}.log
		test ! -e /logs/b.log
		test -f /logs/keep.txt
		test ! -e /etc/group
		echo rm-ok-{nonce}"
}}
""",
    )
    assert f"rm-ok-{nonce}" in out, out


def test_copy_with_options(engine: Engine, tmp_path: Path, nonce: str) -> None:
    out = build(
        engine,
        tmp_path,
        f"""
fs tree() {{
	scratch
	mkdir "/src/sub" 0o755 with createParents
	mkfile "/src/a.go" 0o600 "package a // {nonce}"
	mkfile "/src/a_test.go" 0o644 "package a"
	mkfile "/src/sub/b.go" 0o644 "package b"
	mkfile "/src/README" 0o644 "read me"
}}

fs default() {{
	image "busybox:latest"
	# the directory itself, then only what it holds
	copy tree "/src" "/whole"
	copy tree "/src" "/contents" with option {{
		contentsOnly
		createDestPath
	}}
	copy tree "/src" "/go" with option {{
		contentsOnly
		includePatterns "**/*.go"
		excludePatterns "*_test.go"
	}}
	copy tree "/src/*.go" "/wild/" with option {{
		allowWildcard
		createDestPath
		chown "nobody:nogroup"
		chmod 0o755
	}}
	copy tree "/src/*.rs" "/none/" with option {{
		allowWildcard
		allowEmptyWildcard
	}}
	run "set -e
		test -f /whole/a.go
		test -f /contents/a.go
		test ! -e /contents/src
		test -f /go/a.go
		test -f /go/sub/b.go
		test ! -e /go/a_test.go
		test ! -e /go/README
		test \\"$(stat -c '%u:%g %a' /wild/a.go)\\" = '65534:65534 755'
		test -f /wild/a_test.go
		test ! -e /wild/README
		grep -q {nonce} /go/a.go
		echo copy-ok-{nonce}"
}}
""",
    )
    assert f"copy-ok-{nonce}" in out, out


def test_merge_stacks_layers_and_diff_keeps_only_the_changes(engine: Engine, tmp_path: Path, nonce: str) -> None:
    out = build(
        engine,
        tmp_path,
        f"""
fs changes() {{
	image "busybox:latest"
	mkfile "/new-{nonce}" 0o644 "new"
	rm "/bin/vi"
	diff fs {{ image "busybox:latest"; }}
}}

fs default() {{
	image "busybox:latest"
	merge fs {{
		scratch
		mkfile "/one" 0o644 "first"
		mkfile "/shared" 0o644 "from one"
	}} fs {{
		scratch
		mkfile "/two" 0o644 "second"
		mkfile "/shared" 0o644 "from two"
	}}
	run "set -e
		test -f /one
		test -f /two
		test \\"$(cat /shared)\\" = 'from two'
		test -e /bin/vi
		echo merge-ok-{nonce}"
	# the diff holds only the changes (the new file, not the unchanged /bin/ls), and merged
	# onto busybox it replays the removal too
	run "set -e
		ls -AR /changes; test -f /changes/new-{nonce}
		test ! -e /changes/bin/ls
		test ! -e /changes/etc
		echo diff-ok-{nonce}" with option {{
		mount changes "/changes" with readonly
	}}
	merge changes
	run "test -f /new-{nonce} && test ! -e /bin/vi && test -x /bin/ls && echo replay-ok-{nonce}"
}}
""",
    )
    for step in ("merge", "diff", "replay"):
        assert f"{step}-ok-{nonce}" in out, out


def test_a_wrong_result_fails_the_build(engine: Engine, tmp_path: Path) -> None:
    # The checks above are real: an owner that differs from the expected one fails the run.
    path = tmp_path / "build.hlb"
    path.write_text(
        """
fs default() {
	image "busybox:latest"
	mkdir "/d" 0o755 with chown("1000:1000")
	run "test \\"$(stat -c %u:%g /d)\\" = 0:0"
}
"""
    )
    done = engine.hlb("run", str(path))
    assert done.returncode != 0
    assert "build.hlb:5" in done.stderr, done.stderr


def test_a_failing_file_op_names_the_path_as_the_build_sees_it(engine: Engine, tmp_path: Path, nonce: str) -> None:
    f = tmp_path / "build.hlb"
    f.write_text(f'fs default() {{\n\timage "busybox:latest"\n\tmkfile "/missing-{nonce}/a.txt" 0o644 "x"\n}}\n')
    done = engine.hlb("run", "--progress", "plain", str(f))
    assert done.returncode == 1, done.stderr
    assert f"build.hlb:3:2: error: open /missing-{nonce}/a.txt: no such file or directory" in done.stderr
    assert "/var/lib/" not in done.stderr and "cachemounts" not in done.stderr and "snapshots" not in done.stderr


def failing(engine: Engine, tmp_path: Path, target: str) -> str:
    done = engine.hlb("run", "--progress", "plain", "-t", target, str(tmp_path / "build.hlb"))
    assert done.returncode == 1, done.stderr
    assert "/var/lib/" not in done.stderr and "cachemounts" not in done.stderr and "snapshots" not in done.stderr
    assert "buildkit-mount" not in done.stderr
    return done.stderr


def test_a_missing_directory_gets_the_option_that_creates_it(engine: Engine, tmp_path: Path, nonce: str) -> None:
    """Issue 14 item 6: the daemon's error, as the step sees its paths, and the hint that fixes it."""
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "a.txt").write_text(nonce)
    (tmp_path / "build.hlb").write_text(
        f'fs copied() {{\n\timage "busybox:latest"\n\tcopy local("ctx") "a.txt" "/nope-{nonce}/deeper/a.txt"\n}}\n'
        f'fs made() {{\n\tscratch\n\tmkdir "/missing-{nonce}/dir" 0o755\n}}\n'
        "fs mounted() {\n"
        '\timage "busybox:latest"\n'
        f'\trun "ls /m # {nonce}" with option {{\n'
        f'\t\tmount image("busybox:latest") "/m" with sourcePath("/nonexist-{nonce}/deep")\n'
        "\t}\n"
        "}\n"
    )
    err = failing(engine, tmp_path, "copied")
    assert f"build.hlb:3:2: error: failed to stat /nope-{nonce}/deeper/a.txt: lstat /nope-{nonce}/deeper: " in err
    assert f"hint: `/nope-{nonce}/deeper` does not exist where `copy` writes: add `createDestPath`" in err

    err = failing(engine, tmp_path, "made")
    assert f"build.hlb:7:2: error: mkdir /missing-{nonce}/dir: no such file or directory" in err
    assert f"hint: `/missing-{nonce}` does not exist: add `createParents`" in err

    err = failing(engine, tmp_path, "mounted")
    assert f"open /nonexist-{nonce}/deep (the sourcePath of the mount at /m): no such file or directory" in err
    assert (
        f"hint: the filesystem mounted at `/m` has no `/nonexist-{nonce}/deep`: check the mount's `sourcePath`" in err
    )


def test_a_missing_copy_source_is_told_as_the_source_has_it(engine: Engine, tmp_path: Path, nonce: str) -> None:
    """Onto an image the daemon reads the source through a temporary mount (DATA_ROOT/tmp/buildkit-mountN),
    onto scratch it fails computing the cache key: both say the path as the source has it, and what to check."""
    (tmp_path / "build.hlb").write_text(
        f'fs onto() {{\n\timage "busybox:latest"\n\tcopy image("busybox:latest") "/nonexist-{nonce}/x" "/y"\n}}\n'
        f'fs fresh() {{\n\tscratch\n\tcopy image("busybox:latest") "/nonexist-{nonce}/x" "/y"\n}}\n'
    )
    hint = (
        f'hint: `/nonexist-{nonce}/x` does not exist in the source of `copy`, image "docker.io/library/busybox:latest":'
        " check the path"
    )
    err = failing(engine, tmp_path, "onto")
    assert f"build.hlb:3:2: error: lstat /nonexist-{nonce}/x: no such file or directory" in err
    assert "buildkit-mount" not in err and hint in err, err
    err = failing(engine, tmp_path, "fresh")
    assert f'"/nonexist-{nonce}/x": not found' in err and hint in err, err


def test_mkfile_in_a_missing_directory_gets_the_mkdir_that_creates_it(
    engine: Engine, tmp_path: Path, nonce: str
) -> None:
    (tmp_path / "build.hlb").write_text(f'fs default() {{\n\tscratch\n\tmkfile "/gone-{nonce}/f" 0o644 "x"\n}}\n')
    err = failing(engine, tmp_path, "default")
    assert f"build.hlb:3:2: error: open /gone-{nonce}/f: no such file or directory" in err
    assert (
        f'hint: `/gone-{nonce}` does not exist: create it first, e.g. `mkdir "/gone-{nonce}" 0o755 with createParents`'
        in err
    )
