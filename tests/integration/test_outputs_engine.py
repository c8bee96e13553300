"""`hlb run`'s buildx flags on the real engine (issue 14 item 2): -o local/tar/image (with --cache-to), a
two-platform build pushed as a manifest list, --no-cache rerunning a cached step, --progress quiet.

The engine is amd64 with no binfmt emulation, so the arm64 half of the two-platform build runs no step: it is
scratch plus a file, which needs no exec for either platform.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

from conftest import Engine, PrivateEngine

REGISTRY = "127.0.0.1:5000"
DOCKER = "/var/lib/hlb-engine/prefix/usr/bin/docker"
INDEX_TYPES = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"

BUILD = """
fs default() {{
	image "busybox:latest"
	run "mkdir -p /out && echo {nonce} > /out/a.txt" with network("none")
}}

fs files() {{
	scratch
	mkfile "/hello.txt" 0o644 "{nonce}"
}}

fs counted(string stamp) {{
	image "busybox:latest"
	run "echo {nonce} ${{stamp}}; ls /cache > /listing; touch /cache/$(date +%s%N)" with option {{
		network "none"
		cacheMount "/cache" with option {{ id "outputs-{nonce}" }}
	}}
}}
"""


def module(tmp_path: Path, nonce: str) -> Path:
    f = tmp_path / "build.hlb"
    f.write_text(BUILD.format(nonce=nonce))
    return f


def registry_get(path: str, accept: str) -> tuple[dict[str, object], dict[str, str]]:
    req = urllib.request.Request(f"http://{REGISTRY}{path}", headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read()), dict(r.headers)


def test_output_local_writes_each_targets_tree(engine: Engine, tmp_path: Path, nonce: str) -> None:
    f = module(tmp_path, nonce)
    r = engine.hlb("run", str(f), "-o", str(tmp_path / "dir"))  # -o DIR is type=local,dest=DIR
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "dir" / "out" / "a.txt").read_text() == f"{nonce}\n"
    assert (tmp_path / "dir" / "bin" / "busybox").exists()
    r = engine.hlb("run", "-f", str(f), "-t", "default,files", "-o", f"type=local,dest={tmp_path}/each-{{target}}")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "each-default" / "out" / "a.txt").read_text() == f"{nonce}\n"
    assert [p.name for p in (tmp_path / "each-files").iterdir()] == ["hello.txt"]
    assert f"exported local to {tmp_path}/each-files" in r.stderr


def test_output_tar_to_a_file_and_to_stdout(engine: Engine, tmp_path: Path, nonce: str) -> None:
    f = module(tmp_path, nonce)
    r = engine.hlb("run", str(f), "-t", "files", "-o", f"type=tar,dest={tmp_path / 'files.tar'}")
    assert r.returncode == 0, r.stderr
    with tarfile.open(tmp_path / "files.tar") as t:
        assert t.getnames() == ["hello.txt"]
        assert t.extractfile("hello.txt").read() == nonce.encode()  # type: ignore[union-attr]
    # -o - : the tar is stdout, and stdout is nothing else
    p = subprocess.run(
        [sys.executable, "-m", "hlb", "run", str(f), "-o", "-"], env=engine.env, capture_output=True, timeout=300
    )
    assert p.returncode == 0, p.stderr.decode()
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
        assert t.extractfile("out/a.txt").read() == f"{nonce}\n".encode()  # type: ignore[union-attr]
        assert "bin/busybox" in t.getnames()


def test_image_push_and_registry_cache_export_together(
    engine: Engine, fresh_engine: PrivateEngine, tmp_path: Path, nonce: str
) -> None:
    f = module(tmp_path, nonce)
    image, cache = f"{REGISTRY}/outputs/app:{nonce}", f"{REGISTRY}/outputs/cache:{nonce}"
    r = engine.hlb(
        "run", str(f), "-o", f"type=image,name={image},push=true", "--cache-to", f"type=registry,ref={cache},mode=max"
    )
    assert r.returncode == 0, r.stderr
    assert f"pushed {image}@sha256:" in r.stderr
    assert f"cache to type=registry,ref={cache},mode=max: exported" in r.stderr
    manifest, _ = registry_get(f"/v2/outputs/app/manifests/{nonce}", MANIFEST_TYPES)
    assert manifest["layers"]  # type: ignore[truthy-bool]
    # another machine builds nothing: the step comes from the cache the same solve exported
    r = fresh_engine.hlb("run", str(f), "--cache-from", f"type=registry,ref={cache}", "-o", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert "hlb: default: 1 of 1 steps cached" in r.stderr, r.stderr
    assert (tmp_path / "o" / "out" / "a.txt").read_text() == f"{nonce}\n"


def test_two_platforms_push_a_manifest_list(engine: Engine, tmp_path: Path, nonce: str) -> None:
    f = module(tmp_path, nonce)
    image = f"{REGISTRY}/outputs/multi:{nonce}"
    meta = tmp_path / "m.json"
    r = engine.hlb(
        "run",
        str(f),
        "-t",
        "files",
        "--platform",
        "linux/amd64,linux/arm64",
        "-o",
        f"type=registry,name={image}",
        "--metadata-file",
        str(meta),
    )
    assert r.returncode == 0, r.stderr
    assert "for linux/amd64, linux/arm64" in r.stderr
    index, headers = registry_get(f"/v2/outputs/multi/manifests/{nonce}", INDEX_TYPES)
    assert f"pushed {image}@{headers['Docker-Content-Digest']}" in r.stderr
    doc = json.loads(meta.read_text())  # the target's own object holds the index's digest
    assert doc["files"]["containerimage.digest"] == headers["Docker-Content-Digest"], doc
    assert "hlb.persisted" not in doc
    platforms = {
        (m["platform"]["os"], m["platform"]["architecture"]): m["digest"]  # type: ignore[index]
        for m in index["manifests"]  # type: ignore[attr-defined]
    }
    assert set(platforms) == {("linux", "amd64"), ("linux", "arm64")}
    for (_, arch), digest in platforms.items():  # each manifest's config is its own platform's
        manifest, _ = registry_get(f"/v2/outputs/multi/manifests/{digest}", MANIFEST_TYPES)
        config_digest = manifest["config"]["digest"]  # type: ignore[index]
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/outputs/multi/blobs/{config_digest}", timeout=10) as c:
            assert json.loads(c.read())["architecture"] == arch
    # the same build to a directory: one tree per platform
    r = engine.hlb(
        "run",
        str(f),
        "-t",
        "files",
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64",
        "-o",
        str(tmp_path / "d"),
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d" / "linux_arm64" / "hello.txt").read_text() == nonce
    assert (tmp_path / "d" / "linux_amd64" / "hello.txt").read_text() == nonce


def test_no_cache_reruns_a_cached_step_and_empties_its_cache_mount(engine: Engine, tmp_path: Path, nonce: str) -> None:
    f = module(tmp_path, nonce)

    def run(stamp: str, *flags: str) -> tuple[str, int]:
        out = tmp_path / f"o-{stamp}"
        r = engine.hlb("run", str(f), "-t", "counted", "--arg", f"stamp={stamp}", "-o", str(out), *flags)
        assert r.returncode == 0, r.stderr
        return r.stderr, len((out / "listing").read_text().split())

    assert run("1")[1] == 0
    err, seen = run("2")
    assert seen == 1  # the cache mount kept the first run's file
    err, _ = run("2")
    assert "1 of 1 steps cached" in err
    err, seen = run("2", "--no-cache")
    assert "0 of 1 steps cached" in err  # the cached step ran again
    assert f"--no-cache empties the cache mounts of the steps it reruns (outputs-{nonce})" in err
    assert seen == 0  # as hlb warned: BuildKit detached the cache mount of the ignore-cache step


def test_quiet_prints_only_the_image_id_and_errors_when_it_fails(engine: Engine, tmp_path: Path, nonce: str) -> None:
    f = module(tmp_path, nonce)
    image = f"{REGISTRY}/outputs/quiet:{nonce}"
    r = engine.hlb("run", str(f), "--progress", "quiet", "-o", f"type=image,name={image},push=true")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    manifest, _ = registry_get(f"/v2/outputs/quiet/manifests/{nonce}", MANIFEST_TYPES)
    assert r.stdout == manifest["config"]["digest"] + "\n"  # type: ignore[index]
    r = engine.hlb("run", str(f), "--progress", "quiet", "-o", str(tmp_path / "q"))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")  # no image: nothing to print
    (tmp_path / "bad.hlb").write_text(
        'fs default() {\n\timage "busybox:latest"\n\trun "exit 3" with network("none")\n}\n'
    )
    r = engine.hlb("run", str(tmp_path / "bad.hlb"), "--progress", "quiet", "--no-cache")
    assert r.returncode == 1 and r.stdout == ""
    assert "exit code: 3" in r.stderr and "bad.hlb:3" in r.stderr, r.stderr


def test_outputs_go_with_the_builds_own_push_on_every_platform(engine: Engine, tmp_path: Path, nonce: str) -> None:
    f = tmp_path / "both.hlb"
    image = f"{REGISTRY}/outputs/own:{nonce}"
    f.write_text(f'fs default() {{\n\tscratch\n\tmkfile "/f" 0o644 "{nonce}"\n\tdockerPush "{image}"\n}}\n')
    r = engine.hlb("run", str(f), "--platform", "linux/amd64,linux/arm64", "-o", str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr
    assert f"pushed {image}@sha256:" in r.stderr  # the .hlb's own push, now of both platforms
    index, _ = registry_get(f"/v2/outputs/own/manifests/{nonce}", INDEX_TYPES)
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == ["amd64", "arm64"]  # type: ignore[attr-defined,index]
    assert (tmp_path / "d" / "linux_arm64" / "f").read_text() == nonce


def test_pull_looks_the_image_up_in_its_registry(engine: Engine, tmp_path: Path, nonce: str) -> None:
    """An image the engine's store has under a registry's name, never pushed there: the engine's copy serves a
    build, and --pull goes to the registry instead, which has no such image."""
    ref = f"{REGISTRY}/outputs/localonly:{nonce}"
    subprocess.run([DOCKER, "tag", "busybox:latest", ref], env=engine.env, check=True, capture_output=True)
    try:
        f = tmp_path / "pull.hlb"
        f.write_text(f'fs default() {{\n\timage "{ref}"\n\trun "echo {nonce} > /ok" with network("none")\n}}\n')
        r = engine.hlb("run", str(f), "-o", str(tmp_path / "a"))
        assert r.returncode == 0, r.stderr
        r = engine.hlb("run", str(f), "-o", str(tmp_path / "b"), "--pull")
        assert r.returncode == 1
        assert f"{ref}: not found" in r.stderr and "pull.hlb:2:2" in r.stderr, r.stderr
    finally:
        subprocess.run([DOCKER, "rmi", ref], env=engine.env, capture_output=True)


def test_a_digest_bound_while_compiling_is_refused_with_several_platforms(
    engine: Engine, tmp_path: Path, nonce: str
) -> None:
    f = tmp_path / "bound.hlb"
    image = f"{REGISTRY}/outputs/bound:{nonce}"
    f.write_text(
        f'fs default() {{\n\tscratch\n\tmkfile "/f" 0o644 "x"\n\tdockerPush "{image}" as digest\n'
        '\tmkfile "/d" 0o644 digest\n}\n'
    )
    r = engine.hlb("run", str(f), "--platform", "linux/amd64,linux/arm64", "-o", str(tmp_path / "d"))
    assert r.returncode == 2
    assert f"bound.hlb:4:2: `dockerPush {image}` binds the digest of one image while compiling" in r.stderr
    assert not (tmp_path / "d").exists()
    r = engine.hlb("run", str(f), "--platform", "linux/arm64", "-o", str(tmp_path / "d"))  # one platform: fine
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d" / "d").read_text().startswith("sha256:")


def test_a_base_image_without_the_platform_is_a_warning(engine: Engine, tmp_path: Path, nonce: str) -> None:
    """The engine's busybox is amd64 only: the daemon uses it for the arm64 half too. With `resolve` hlb has the
    config, and warns exactly when the arm64 tree holds another machine's binaries."""
    f = tmp_path / "resolve.hlb"
    f.write_text(f'fs default() {{\n\timage "busybox:latest" with resolve\n\tmkfile "/n" 0o644 "{nonce}"\n}}\n')
    r = engine.hlb("run", str(f), "--platform", "linux/amd64,linux/arm64", "-o", str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr
    elf = (tmp_path / "d" / "linux_arm64" / "bin" / "busybox").read_bytes()[:20]
    x86_64 = int.from_bytes(elf[18:20], "little") == 0x3E  # ELF e_machine: EM_X86_64
    warning = (
        f"hlb: warning: {f}:2:2: image busybox:latest has no linux/arm64 variant; the daemon uses its "
        "linux/amd64 one for the linux/arm64 build"
    )
    assert x86_64 == (warning in r.stderr), r.stderr
    assert x86_64  # this engine's busybox is amd64 only (if it gains arm64, the line above still checks hlb)


def test_no_cache_keeps_a_persisted_cache_mount_as_it_says(engine: Engine, tmp_path: Path, nonce: str) -> None:
    """BuildKit v0.13 empties the plain cache mounts of an ignore-cache step but not one whose base is its
    persisted image: hlb says which is which, and the files show it."""
    ref = f"{REGISTRY}/outputs/persisted:{nonce}"
    f = tmp_path / "p.hlb"
    f.write_text(
        "fs default(string s) {\n"
        '\timage "busybox:latest"\n'
        f'\trun "echo {nonce} ${{s}}; ls /c > /listing; touch /c/$(date +%s%N)" with option {{\n'
        '\t\tnetwork "none"\n'
        f'\t\tcacheMount "/c" with option {{ id "kept-{nonce}"; persist "{ref}" }}\n'
        "\t}\n"
        "}\n"
    )

    def run(stamp: str, *flags: str) -> tuple[str, int]:
        out = tmp_path / f"o-{stamp}"
        r = engine.hlb("run", str(f), "--arg", f"s={stamp}", "-o", str(out), *flags)
        assert r.returncode == 0, r.stderr
        return r.stderr, len((out / "listing").read_text().split())

    run("1", "--persist-caches")  # REF exists from now on: the mount has it as its base
    err, before = run("2")
    assert before == 1, err
    err, seen = run("3", "--no-cache")
    assert f"--no-cache does not empty the persisted cache mounts of the steps it reruns (kept-{nonce})" in err
    assert "--no-cache empties" not in err
    # Not emptied: the daemon's copy as the run before left it (before + 1), or the persisted image again (its 1
    # file) when the ignore-cache image source gets a new record (both happen on this engine, run to run).
    assert seen in (before, before + 1), (seen, err)
