"""Primed mounts: a writable mount of an image by tag starts empty while the image does not exist yet.

The compiler asks the registry client whether the tag exists (a fake here), and
on a 404 the daemon (a fake too), whose own image store may have it. A missing
image becomes a scratch mount and a notice on the exec, shown under every solve
that builds it; `requireImage` makes it an error instead.
"""

from __future__ import annotations

import json

import pytest

from hlb.api import Compiled, compile_source
from hlb.compiler.plan import render
from hlb.diagnostics import HlbError, render_all
from hlb.llb import Platform
from hlb.llb.dump import to_json_obj
from hlb.resolver import ResolvedImage, ResolvedManifest, ResolveError
from hlb.source import SourceFile

AMD64 = Platform("linux", "amd64")
MODULES = "127.0.0.1:5000/app/node-modules:latest"

PRIMED = f"""fs install() {{
	image "busybox:latest"
	run "echo run >> /src/node_modules/runs" with option {{
		mount fs {{ image "{MODULES}" }} "/src/node_modules" as nodeModules
	}}
}}

fs snapshotModules() {{
	nodeModules
	dockerPush "{MODULES}"
}}
"""


class FakeRegistry:
    """Tags the registry has; refs in `unreachable` cannot be asked about."""

    def __init__(self, tags: set[str] = frozenset(), unreachable: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.tags = set(tags)
        self.unreachable = set(unreachable)
        self.asked: list[str] = []

    def exists(self, ref: str) -> bool:
        self.asked.append(ref)
        if ref in self.unreachable:
            raise ResolveError(f"cannot fetch the manifest of `{ref}`: cannot reach the registry")
        return ref in self.tags

    def manifest(self, ref: str, platform: Platform) -> ResolvedManifest:
        raise AssertionError("a primed mount only asks whether the tag exists")


class FakeDaemon:
    """Resolves the images of its own store."""

    def __init__(self, store: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.store = set(store)
        self.asked: list[str] = []

    def resolve(self, ref: str, platform: Platform) -> ResolvedImage:
        self.asked.append(ref)
        if ref not in self.store:
            raise ResolveError(f"cannot resolve image {ref} for {platform}: not found")
        return ResolvedImage(ref, "sha256:" + "0" * 64, json.dumps({"os": "linux", "architecture": "amd64"}).encode())


def compiled(
    text: str = PRIMED,
    targets: tuple[str, ...] = ("install",),
    registry: FakeRegistry | None = None,
    daemon: FakeDaemon | None = None,
) -> Compiled:
    return compile_source(
        SourceFile("build.hlb", text),
        list(targets),
        AMD64,
        resolver=daemon,
        manifests=registry,  # type: ignore[arg-type]
    )


def exec_of(c: Compiled, target: int = 0) -> tuple[str, dict[str, object]]:
    """The digest and the exec op of the target's (only) run."""
    entries = to_json_obj(c.targets[target].definition, with_sources=False)["ops"]
    (entry,) = [e for e in entries if "exec" in e["op"]]
    return entry["digest"], entry["op"]


def mount_at(op: dict[str, object], dest: str) -> dict[str, str]:
    return next(m for m in op["exec"]["mounts"] if m["dest"] == dest)  # type: ignore[index]


def test_a_missing_image_starts_the_mount_empty_with_a_notice_on_the_exec() -> None:
    registry, daemon = FakeRegistry(), FakeDaemon()
    c = compiled(registry=registry, daemon=daemon)
    digest, op = exec_of(c)
    mount = mount_at(op, "/src/node_modules")
    assert mount["input"] == "-1" and mount["output"] == "1"  # scratch, kept for the bind
    assert len(op["inputs"]) == 1  # type: ignore[arg-type]  # only the rootfs: no image source for the mount
    (notice,) = c.notices
    assert notice.digest == digest
    assert notice.text == (
        f"build.hlb:4:3: the mount at /src/node_modules starts empty: `{MODULES}` does not exist yet"
    )
    assert registry.asked == [MODULES] and daemon.asked == [MODULES]


def test_the_notice_is_under_every_solve_that_runs_the_step() -> None:
    c = compiled(targets=("install", "snapshotModules"), registry=FakeRegistry(), daemon=FakeDaemon())
    plan = c.plan(AMD64)
    assert [s.title for s in plan.solves] == ["target install", f"dockerPush {MODULES}"]
    (text,) = {n.text for n in c.notices}
    assert all(s.notes == (text,) for s in plan.solves)
    tree = render(plan)
    assert tree.count(f"note: {text}") == 2
    # One exec for both: the target's head is its output 0, the push's its output 1.
    install, push = plan.solves
    assert install.head == push.head


def test_without_a_daemon_the_note_says_what_only_the_registry_could_tell() -> None:
    c = compiled(registry=FakeRegistry())  # `hlb run --tree`: a registry client, no daemon
    _, op = exec_of(c)
    assert mount_at(op, "/src/node_modules")["input"] == "-1"
    (notice,) = c.notices
    assert notice.text == (
        f"build.hlb:4:3: the mount at /src/node_modules starts empty: `{MODULES}` is not in its registry "
        "(unless the engine has it in its own image store)"
    )


def test_an_existing_image_is_mounted_and_asked_about_once() -> None:
    registry = FakeRegistry({MODULES})
    c = compiled(targets=("install", "snapshotModules", "nodeModules"), registry=registry, daemon=FakeDaemon())
    _, op = exec_of(c)
    assert mount_at(op, "/src/node_modules")["input"] == "1"
    assert c.notices == []
    assert registry.asked == [MODULES]  # the bind evaluates the run again; the answer is kept


def test_an_image_only_in_the_engines_store_is_mounted() -> None:
    daemon = FakeDaemon({MODULES})
    c = compiled(registry=FakeRegistry(), daemon=daemon)
    _, op = exec_of(c)
    assert mount_at(op, "/src/node_modules")["input"] == "1"
    assert c.notices == [] and daemon.asked == [MODULES]


class ProbingDaemon(FakeDaemon):
    """A daemon that answers whether it has an image quietly (GatewayResolver.has_image)."""

    def __init__(self, store: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__(store)
        self.probed: list[str] = []

    def has_image(self, ref: str, platform: Platform) -> bool:
        self.probed.append(ref)
        return ref in self.store


@pytest.mark.parametrize(("store", "empty"), [(set(), True), ({MODULES}, False)], ids=["missing", "in-store"])
def test_a_daemon_that_can_probe_is_asked_quietly(store: set[str], empty: bool) -> None:
    daemon = ProbingDaemon(store)
    c = compiled(registry=FakeRegistry(), daemon=daemon)
    _, op = exec_of(c)
    assert (mount_at(op, "/src/node_modules")["input"] == "-1") is empty
    assert daemon.probed == [MODULES] and daemon.asked == []  # never `resolve`, whose failure shows as a step


def test_an_unreachable_registry_keeps_the_image_as_written() -> None:
    # The offline busybox:latest: Docker Hub cannot be reached, the engine's store has it.
    text = PRIMED.replace(MODULES, "busybox:latest")
    registry, daemon = FakeRegistry(unreachable={"docker.io/library/busybox:latest"}), FakeDaemon()
    c = compiled(text, registry=registry, daemon=daemon)
    _, op = exec_of(c)
    assert mount_at(op, "/src/node_modules").get("input", "0") == mount_at(op, "/").get("input", "0")  # one source
    assert c.notices == [] and daemon.asked == []


def test_without_a_registry_client_nothing_is_checked() -> None:
    _, op = exec_of(compiled())
    assert mount_at(op, "/src/node_modules")["input"] == "1"


@pytest.mark.parametrize(
    "mount",
    [
        f'mount fs {{ image "{MODULES}" }} "/m" with readonly',
        f'mount fs {{ image "{MODULES}" }} "/m" with sourcePath("lib")',
        f'mount fs {{ image "{MODULES}" }} "/m" with cache("m", "shared")',
        f'mount fs {{ image "127.0.0.1:5000/app/node-modules@sha256:{"a" * 64}" }} "/m"',
        f'mount fs {{ image "{MODULES}"; mkdir "/x" 0o755 }} "/m"',
    ],
    ids=["readonly", "sourcePath", "cache", "digest", "not-only-an-image"],
)
def test_other_mounts_of_an_image_are_not_primed(mount: str) -> None:
    text = f'fs default() {{\n\timage "busybox:latest"\n\trun "true" with option {{\n\t\t{mount}\n\t}}\n}}\n'
    registry = FakeRegistry()
    c = compiled(text, ("default",), registry=registry, daemon=FakeDaemon())
    _, op = exec_of(c)
    assert mount_at(op, "/m")["input"] != "-1"
    assert registry.asked == [] and c.notices == []


def test_require_image_makes_a_missing_image_an_error_at_the_mount() -> None:
    text = PRIMED.replace('"/src/node_modules" as', '"/src/node_modules" with requireImage as')
    with pytest.raises(HlbError) as e:
        compiled(text, registry=FakeRegistry(), daemon=FakeDaemon())
    (d,) = e.value.errors
    assert d.location() == "build.hlb:4:9"
    assert d.message == f"image `{MODULES}` does not exist (`requireImage`)"
    shown = render_all([d], color=False)
    assert f'mount fs {{ image "{MODULES}" }}' in shown and "^" in shown
    assert "hint: push it first, or drop `requireImage` so that the mount starts empty" in shown


def test_require_image_without_a_daemon_keeps_the_image_and_says_the_build_may_fail() -> None:
    text = PRIMED.replace('"/src/node_modules" as', '"/src/node_modules" with requireImage as')
    c = compiled(text, registry=FakeRegistry())
    _, op = exec_of(c)
    assert mount_at(op, "/src/node_modules")["input"] == "1"
    (notice,) = c.notices
    assert notice.text == (
        f"build.hlb:4:3: `{MODULES}` is not in its registry: the build fails unless the engine has it in its "
        "own image store (`requireImage`)"
    )


def test_require_image_with_an_existing_image_compiles_as_without_it() -> None:
    text = PRIMED.replace('"/src/node_modules" as', '"/src/node_modules" with requireImage as')
    with_it = compiled(text, registry=FakeRegistry({MODULES}), daemon=FakeDaemon())
    without = compiled(registry=FakeRegistry({MODULES}), daemon=FakeDaemon())
    assert with_it.targets[0].definition.head == without.targets[0].definition.head
    assert with_it.notices == []


def test_require_image_on_a_mount_that_is_not_primed_is_an_error() -> None:
    mount = 'mount fs { image "alpine" } "/m" with option { readonly; requireImage; }'
    text = f'fs default() {{\n\timage "busybox:latest"\n\trun "true" with option {{\n\t\t{mount}\n\t}}\n}}\n'
    with pytest.raises(HlbError) as e:
        compiled(text, ("default",), registry=FakeRegistry({"docker.io/library/alpine:latest"}))
    (d,) = e.value.errors
    assert d.location() == "build.hlb:4:60"
    assert d.message.startswith("`requireImage` applies to a primed mount (a writable mount of an image by tag, bound")
