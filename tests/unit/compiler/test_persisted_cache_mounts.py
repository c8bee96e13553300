"""Persisted cache mounts: `cacheMount ... with persist "REF"`.

The mount is seeded from REF pinned by digest (the registry is a fake here), or
starts empty while REF does not exist; `--persist-caches` adds a side solve after
every other one that copies the same cache out (same id and base, sharing locked)
into an image pushed to REF, with a per-run value so the copy always runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from hlb.api import Compiled, compile_source
from hlb.compiler.plan import Group, Plan, Solve, render, solve_for_effect
from hlb.diagnostics import HlbError, render_all
from hlb.llb import Platform
from hlb.llb.dump import to_json, to_json_obj
from hlb.persist import PersistEffect
from hlb.resolver import ResolvedImage, ResolvedManifest, ResolveError
from hlb.source import SourceFile
from hlb.values import Effect

AMD64 = Platform("linux", "amd64")
REF = "127.0.0.1:5000/cache/npm:latest"
SEED = "sha256:" + "5" * 64
OTHER = "sha256:" + "6" * 64

BUILD = f"""fs install() {{
	image "busybox:latest"
	run "fetch-packages" with option {{
		cacheMount "/root/.npm" with option {{
			id "npm"
			persist "{REF}"
		}}
	}}
}}

fs release() {{
	install
	dockerPush "127.0.0.1:5000/app:latest"
}}
"""


class Registry:
    """Tags the registry has (tag -> digest); refs in `unreachable` cannot be asked about."""

    def __init__(self, tags: dict[str, str] | None = None, unreachable: bool = False) -> None:
        self.tags = dict(tags or {})
        self.unreachable = unreachable
        self.asked: list[str] = []

    def exists(self, ref: str) -> bool:
        self.asked.append(ref)
        if self.unreachable:
            raise ResolveError(f"cannot fetch the manifest of `{ref}`: cannot reach the registry")
        return ref in self.tags

    def manifest(self, ref: str, platform: Platform) -> ResolvedManifest:
        if ref not in self.tags:
            raise ResolveError(f"{ref}: not found")
        return ResolvedManifest(ref, self.tags[ref], b"{}", b"{}", None)


class Daemon:
    def resolve(self, ref: str, platform: Platform) -> ResolvedImage:
        raise ResolveError(f"cannot resolve image {ref} for {platform}: not found")


def compiled(text: str = BUILD, targets: tuple[str, ...] = ("install",), registry: Registry | None = None) -> Compiled:
    return compile_source(
        SourceFile("build.hlb", text),
        list(targets),
        AMD64,
        resolver=Daemon(),
        manifests=registry if registry is not None else Registry(),  # type: ignore[arg-type]
    )


def run_op(c: Compiled, target: int = 0) -> tuple[str, dict[str, object], list[dict[str, object]]]:
    """The digest and exec op of the target's `run`, and all its ops."""
    entries = to_json_obj(c.targets[target].definition, with_sources=False)["ops"]
    (entry,) = [e for e in entries if "exec" in e["op"]]
    return entry["digest"], entry["op"], entries


def cache_mount(op: dict[str, object]) -> dict[str, object]:
    return next(m for m in op["exec"]["mounts"] if m["dest"] == "/root/.npm")  # type: ignore[index]


def kinds(node: Group[Solve] | Solve | None) -> object:
    if node is None or isinstance(node, Solve):
        return node.title if node is not None else None
    return ("parallel" if node.parallel else "sequential", [kinds(c) for c in node.children])


# -- the seed --------------------------------------------------------------------------------


def test_a_missing_image_is_a_cold_start_with_a_note() -> None:
    c = compiled()
    digest, op, _ = run_op(c)
    m = cache_mount(op)
    assert m["cacheOpt"] == {"ID": "npm"} and m["input"] == "-1"  # no base: an empty cache
    (notice,) = c.notices
    assert notice.digest == digest
    assert notice.text == (
        f"build.hlb:6:4: the cache mount at /root/.npm starts empty: `{REF}` does not exist yet "
        "(the first push creates it)"
    )


def test_an_existing_image_seeds_the_mount_pinned_by_digest(snapshot: SnapshotAssertion) -> None:
    c = compiled(registry=Registry({REF: SEED}))
    _, op, ops = run_op(c)
    m = cache_mount(op)
    assert m["selector"] == "/cache" and m["input"] != "-1"
    sources = [e["op"]["source"]["identifier"] for e in ops if "source" in e["op"]]
    assert f"docker-image://{REF}@{SEED}" in sources
    (notice,) = c.notices
    assert notice.text == (
        f"build.hlb:6:4: the cache mount at /root/.npm is seeded from {REF}@{SEED} when this daemon has no such "
        "cache yet"
    )
    assert to_json(c.targets[0].definition) == snapshot


def test_a_stable_seed_keeps_the_step_and_a_new_one_reruns_it() -> None:
    first, _, _ = run_op(compiled(registry=Registry({REF: SEED})))
    again, _, _ = run_op(compiled(registry=Registry({REF: SEED})))
    pushed, _, _ = run_op(compiled(registry=Registry({REF: OTHER})))
    assert first == again
    assert pushed != first  # the mount's input is in the exec's cache key


def test_an_unreachable_registry_is_a_cold_start_and_a_warning() -> None:
    c = compiled(registry=Registry(unreachable=True))
    _, op, _ = run_op(c)
    assert cache_mount(op)["input"] == "-1"
    plan = c.plan(AMD64)
    (warning,) = plan.warnings
    assert warning.startswith(f"build.hlb:6:4: cannot tell whether `{REF}` exists (its registry could not be asked)")


def test_persist_needs_a_tag_not_a_digest() -> None:
    text = BUILD.replace(f'persist "{REF}"', f'persist "127.0.0.1:5000/cache/npm@{SEED}"')
    with pytest.raises(HlbError) as e:
        compiled(text)
    out = render_all(e.value.diagnostics, color=False)
    assert "names a digest, and a persisted cache is pushed back to a tag" in out
    assert "build.hlb:6:12" in out


# -- the push --------------------------------------------------------------------------------


def test_without_persist_caches_nothing_is_pushed_and_the_tree_says_so() -> None:
    plan = compiled(targets=("install",)).plan(AMD64)
    assert [s.title for s in plan.solves] == ["target install"]
    assert plan.solves[0].notes[-1] == (
        f"build.hlb:6:4: the cache mount at /root/.npm (id npm) is not pushed to {REF} "
        "(hlb run --persist-caches pushes it after the build)"
    )


def persist_plan(c: Compiled, stamp: str = "run-1") -> Plan:
    return c.plan(AMD64, persist_caches=True, persist_stamp=stamp)


def test_the_push_is_one_side_solve_after_every_other_solve() -> None:
    plan = persist_plan(compiled(targets=("install", "release")))
    assert kinds(plan.root) == (
        "sequential",
        [
            ("parallel", ["target install", "dockerPush 127.0.0.1:5000/app:latest"]),
            f"persist {REF}",
        ],
    )
    push = plan.solves[-1]
    assert push.kind == "persist"
    assert [(x.type, dict(x.attrs)) for x in push.exporters] == [("image", {"name": REF, "push": "true"})]
    assert push.image_config is not None and json.loads(push.image_config)["os"] == "linux"


def test_the_copy_mounts_the_same_cache_locked_and_runs_every_time(snapshot: SnapshotAssertion) -> None:
    c = compiled(registry=Registry({REF: SEED}))
    _, op, _ = run_op(c)
    build_mount = cache_mount(op)
    first, second = persist_plan(c, "run-1").solves[-1], persist_plan(c, "run-2").solves[-1]
    ops = to_json_obj(first.definition, with_sources=False)["ops"]
    (copy,) = [e["op"] for e in ops if "exec" in e["op"]]
    mounts = {m["dest"]: m for m in copy["exec"]["mounts"]}
    cache = mounts["/root/.npm"]
    assert cache["cacheOpt"] == {"ID": "npm", "sharing": "LOCKED"}
    assert cache["selector"] == build_mount["selector"] == "/cache"
    sources = [e["op"]["source"]["identifier"] for e in ops if "source" in e["op"]]
    assert f"docker-image://{REF}@{SEED}" in sources  # the same base: the same cache
    meta = copy["exec"]["meta"]
    assert meta["args"] == ["cp", "-a", "/root/.npm/.", "/hlb-persist/cache"]
    assert "HLB_PERSIST_RUN=run-1" in meta["env"] and meta["user"] == "0:0"
    assert "ignoreCache" not in json.dumps(ops)  # it would detach the cache mounts of its id
    assert first.head != second.head  # a new stamp: the copy runs again
    assert to_json(first.definition) == snapshot


def test_the_tree_shows_the_seed_and_the_push() -> None:
    tree = render(persist_plan(compiled(registry=Registry({REF: SEED}))), cwd="/")
    assert tree.splitlines()[0] == "sequential"
    assert f"note: build.hlb:6:4: the cache mount at /root/.npm is seeded from {REF}@{SEED}" in tree
    assert f"solve 2: persist {REF}  (build.hlb:6:4, " in tree
    assert f"export: type=image,name={REF},push=true" in tree
    assert (
        f"note: build.hlb:6:4: the cache mount at /root/.npm (id npm) is copied (sharing locked) and pushed to {REF} "
        "after every other solve succeeded (--persist-caches)"
    ) in tree


def test_one_cache_used_by_two_targets_is_pushed_once() -> None:
    text = BUILD + '\nfs again() {\n\tinstall\n\trun "echo"\n}\n'
    plan = persist_plan(compiled(text, targets=("install", "again")))
    assert [s.title for s in plan.solves].count(f"persist {REF}") == 1


def test_two_caches_to_one_ref_are_a_warning() -> None:
    text = BUILD + (
        '\nfs other() {\n\timage "busybox:latest"\n\trun "x" with option {\n'
        f'\t\tcacheMount "/root/.cache" with persist("{REF}")\n\t}}\n}}\n'
    )
    plan = persist_plan(compiled(text, targets=("install", "other")))
    assert [s.title for s in plan.solves].count(f"persist {REF}") == 2
    (warning,) = plan.warnings
    assert warning.startswith(f"different caches are persisted to one ref, {REF}: build.hlb:6:4 (id npm), ")


def test_a_push_while_compiling_never_pushes_caches() -> None:
    c = compiled(targets=("release",))
    fs = c.targets[0].fs
    assert fs is not None
    effect = next(e for e in fs.effects if not isinstance(e, PersistEffect))
    assert any(isinstance(e, PersistEffect) for e in fs.effects)
    solve = solve_for_effect(effect, c.attachments, AMD64)
    assert isinstance(effect, Effect) and solve.kind == "dockerPush"


def test_the_tree_in_the_docs_is_what_hlb_prints() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "language.md").read_text()
    section = docs[docs.index("### Persisted cache mounts") :]
    module = section[section.index("```hlb\n") + 7 : section.index("```", section.index("```hlb\n") + 7)]
    marker = section.index("<!-- persist tree:")
    tree = section[
        section.index("```text\n", marker) + 8 : section.index("```", section.index("```text\n", marker) + 8)
    ]
    c = compile_source(SourceFile("build.hlb", module), ["install"], AMD64, manifests=Registry())  # type: ignore[arg-type]
    printed = render(persist_plan(c, stamp="docs"), cwd="/")
    per_run = re.compile(r"(solve 2: .*, )[0-9a-f]{12}\)")  # the push's digest differs every run
    assert per_run.sub(r"\1<digest>)", printed) == per_run.sub(r"\1<digest>)", tree)


def test_persist_caches_without_any_persisted_cache_is_a_warning() -> None:
    text = 'fs default() {\n\timage "busybox:latest"\n\trun "x" with option { cacheMount "/root/.npm"; }\n}\n'
    plan = persist_plan(compiled(text, targets=("default",)))
    assert [s.title for s in plan.solves] == ["target default"]
    (warning,) = plan.warnings
    assert warning.startswith("--persist-caches: no cache mount of the requested targets is written with `persist`")
