"""The plan of `hlb run`'s -o, --platform lists, --no-cache and --pull (issue 14 item 2).

The LLB of --no-cache and --pull is snapshotted: every op's metadata gets ``ignore_cache`` (Go's
``Marshal(llb.IgnoreCache)``), every image source ``image.resolvemode=pull`` with its cap (Go's
``llb.Image(ref, llb.ResolveModeForcePull)``).
"""

from __future__ import annotations

import json

import pytest
from syrupy.assertion import SnapshotAssertion

from hlb import output_options
from hlb.api import Compiled, compile_source
from hlb.build import metadata
from hlb.build.runner import SolveResult
from hlb.compiler.plan import Plan, PlanError, merge_platforms
from hlb.llb import Platform
from hlb.llb.dump import to_json
from hlb.solver.export import platforms_metadata
from hlb.source import SourceFile

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")

SOURCE = """fs default() {
  image "busybox:latest"
  run "make" with option {
    cacheMount "/root/.cache" with option { id "c" }
  }
}
"""


def compiled(platform: Platform = AMD64, text: str = SOURCE) -> Compiled:
    return compile_source(SourceFile("build.hlb", text), ["default"], platform)


def test_no_cache_and_pull_llb(snapshot: SnapshotAssertion) -> None:
    plain = compiled().plan(AMD64).solves[0].definition
    changed = compiled().plan(AMD64, ignore_cache=True, pull=True).solves[0].definition
    doc = json.loads(to_json(changed))
    assert to_json(changed) == snapshot
    assert doc != json.loads(to_json(plain))
    # --no-cache leaves every op's bytes alone: only the metadata says ignore-cache
    no_cache = compiled().plan(AMD64, ignore_cache=True).solves[0].definition
    assert no_cache.ops == plain.ops
    assert all(md.ignore_cache for d, md in no_cache.metadata.items() if d != no_cache.digests()[-1])
    assert no_cache.metadata[no_cache.digests()[-1]].caps["meta.ignorecache"]
    # --pull changes the image source (its identity is what the daemon caches by)
    pulled = compiled().plan(AMD64, pull=True).solves[0].definition
    assert pulled.ops != plain.ops and not any(md.ignore_cache for md in pulled.metadata.values())


def test_outputs_go_to_each_targets_own_solve() -> None:
    outs = output_options.parse_all(["type=image,name=r/{target}:1,push=true"], ["default"])
    plan = compiled().plan(AMD64, outputs=outs)
    [s] = plan.solves
    assert [(x.type, dict(x.attrs)) for x in s.exporters] == [("image", {"name": "r/default:1", "push": "true"})]
    assert s.image_config is not None  # the image carries the config of what the target set


def test_two_platforms_are_one_solve_with_a_graph_each() -> None:
    outs = output_options.parse_all(["type=image,name=r/app,push=true"], ["default"])
    plans = [(p, compiled(p).plan(p, outputs=outs)) for p in (AMD64, ARM64)]
    plan = merge_platforms(plans)
    [s] = plan.solves
    assert [p.platform for p in s.platforms] == [AMD64, ARM64]
    assert s.platforms[0].definition.ops != s.platforms[1].definition.ops
    configs = [json.loads(p.image_config or b"") for p in s.platforms]
    assert [c["architecture"] for c in configs] == ["amd64", "arm64"]
    assert len(s.definitions) == 2


def test_merged_platforms_keep_each_targets_solves() -> None:
    # --metadata-file reads plan.targets: a merged plan without it filed the target's push under hlb.persisted
    outs = output_options.parse_all(["type=image,name=r/app,push=true"], ["default"])
    plans = [(p, compiled(p).plan(p, outputs=outs)) for p in (AMD64, ARM64)]
    plan = merge_platforms(plans)
    assert plan.targets == {"default": (plan.solves[0],)}
    digest = "sha256:" + "a" * 64
    result = SolveResult({"containerimage.digest": digest}, (), 1, 0, 0.1)
    doc = metadata.document(plan, {plan.solves[0].index: result})
    assert doc["default"]["containerimage.digest"] == digest and "hlb.persisted" not in doc


def test_plans_of_another_shape_cannot_be_merged() -> None:
    a = compiled(AMD64).plan(AMD64)
    b = compiled(ARM64).plan(ARM64, outputs=output_options.parse_all(["out"], ["default"]))
    with pytest.raises(PlanError, match="--platform linux/arm64: the build has other solves than for linux/amd64"):
        merge_platforms([(AMD64, a), (ARM64, b)])


def test_refs_platforms_is_buildkits_exptypes_platforms() -> None:
    doc = json.loads(platforms_metadata([AMD64, Platform("linux", "arm", "v7")]))
    assert doc == {
        "Platforms": [
            {"ID": "linux/amd64", "Platform": {"architecture": "amd64", "os": "linux"}},
            {"ID": "linux/arm/v7", "Platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
        ]
    }


def test_no_cache_says_a_persisted_cache_mount_keeps_its_contents() -> None:
    """BuildKit v0.13 detaches (empties) the cache mounts of an ignore-cache step, but not one whose base is an
    image (a persisted mount seeded from its ref): measured, a --no-cache run sees the files of the runs before."""
    from test_persisted_cache_mounts import REF, SEED, Registry
    from test_persisted_cache_mounts import compiled as persisted

    text = f"""fs install() {{
	image "busybox:latest"
	run "fetch" with option {{
		cacheMount "/root/.npm" with option {{ id "npm"; persist "{REF}" }}
		cacheMount "/tmp/c" with option {{ id "plain" }}
	}}
}}
"""
    plan = persisted(text, registry=Registry({REF: SEED})).plan(AMD64, ignore_cache=True)
    [s] = plan.solves
    assert "--no-cache: these cache mounts start empty: plain" in s.notes
    assert "--no-cache: these persisted cache mounts keep what the daemon holds: npm" in s.notes
    assert plan.warnings[0].startswith("--no-cache empties the cache mounts of the steps it reruns (plain)")
    assert plan.warnings[1].startswith("--no-cache does not empty the persisted cache mounts of the steps it reruns")
    # while the ref does not exist yet the mount has no base: it starts empty like any other
    plan = persisted(text, registry=Registry()).plan(AMD64, ignore_cache=True)
    assert "--no-cache: these cache mounts start empty: npm, plain" in plan.solves[0].notes


def test_a_base_image_of_another_platform_is_a_warning() -> None:
    """busybox of the engine's store is amd64 only: for linux/arm64 the daemon falls back to it, and the arm64 half
    of the result holds x86_64 binaries. With `resolve` hlb has the config and says so."""
    from hlb.resolver import ResolvedImage

    class Daemon:  # has the amd64 image only, and gives it for every platform as the daemon's resolve does
        def resolve(self, ref: str, platform: Platform) -> ResolvedImage:
            config = {"os": "linux", "architecture": "amd64", "config": {"Env": ["PATH=/bin"]}}
            return ResolvedImage("docker.io/library/busybox:latest", "sha256:" + "b" * 64, json.dumps(config).encode())

    text = 'fs default() {\n  image "busybox:latest" with resolve\n  mkfile "/a" 0o644 "x"\n}\n'

    def plan_for(p: Platform) -> Plan:
        c = compile_source(SourceFile("build.hlb", text), ["default"], p, resolver=Daemon())  # type: ignore[arg-type]
        return c.plan(p)

    assert plan_for(AMD64).warnings == []
    assert plan_for(ARM64).warnings == [
        "build.hlb:2:3: image busybox:latest has no linux/arm64 variant; the daemon uses its linux/amd64 one for the "
        "linux/arm64 build"
    ]
    merged = merge_platforms([(p, plan_for(p)) for p in (AMD64, ARM64)])
    assert len(merged.warnings) == 1  # the merged plan keeps it
    assert merged.solves[0].notes == ()  # a warning, not a note
