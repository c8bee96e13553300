"""The solve plan (`hlb run --tree`): which solves a build takes, in which order, with which caches."""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from hlb.api import Compiled, compile_source
from hlb.compiler.plan import Group, Plan, Solve, render
from hlb.llb import Platform
from hlb.source import SourceFile
from hlb.values import CacheEntry

CASES = Path(__file__).parents[2] / "cases" / "plan"
AMD64 = Platform("linux", "amd64")


def compile_text(text: str, targets: list[str], name: str = "build.hlb") -> Compiled:
    return compile_source(SourceFile(name, text), targets, AMD64)


def plan_of(text: str, targets: list[str], **caches: list[CacheEntry]) -> Plan:
    return compile_text(text, targets).plan(AMD64, **caches)


def kinds(node: Group | Solve | None) -> object:
    """The plan's shape: solves by title, groups as ('parallel'|'sequential', [...])."""
    if node is None:
        return None
    if isinstance(node, Solve):
        return node.title
    return ("parallel" if node.parallel else "sequential", [kinds(c) for c in node.children])


def test_two_targets_a_push_and_a_cache_section() -> None:
    source = SourceFile("release.hlb", (CASES / "release.hlb").read_text())
    plan = compile_source(source, ["release", "test"], AMD64).plan(AMD64)
    section = "cacheContext 127.0.0.1:5000/cache/app:deps"
    # One solve of the section, shared by both targets, beside them: the daemon runs shared steps once.
    assert kinds(plan.root) == ("parallel", [section, "dockerPush 127.0.0.1:5000/app:latest", "target test"])
    by_title = {s.title: s for s in plan.solves}
    push = by_title["dockerPush 127.0.0.1:5000/app:latest"]
    assert [(x.type, dict(x.attrs)) for x in push.exporters] == [
        ("image", {"name": "127.0.0.1:5000/app:latest", "push": "true"})
    ]
    assert push.image_config is not None and b'"APP=1"' in push.image_config
    cache = next(s for s in plan.solves if s.kind == "cacheContext")
    assert [str(c) for c in cache.cache_imports] == ["type=registry,ref=127.0.0.1:5000/cache/app:deps"]
    assert [str(c) for c in cache.cache_exports] == [
        "type=registry,ref=127.0.0.1:5000/cache/app:deps,mode=max,ignore-error=true"
    ]
    # The section's result is part of both other solves' graphs: each imports the section's cache itself.
    assert cache.head in push.definition.digests()
    test = by_title["target test"]
    for s in (push, test):
        assert [str(c) for c in s.cache_imports] == ["type=registry,ref=127.0.0.1:5000/cache/app:deps"]
        assert s.cache_exports == ()
    # The release target only rebuilds what its push builds: no separate target solve.
    assert "target release" not in by_title


def test_tree_output(snapshot: SnapshotAssertion) -> None:
    source = SourceFile("release.hlb", (CASES / "release.hlb").read_text())
    plan = compile_source(source, ["release", "test"], AMD64).plan(AMD64)
    assert render(plan, cwd=str(CASES)) == snapshot


def test_independent_targets_are_parallel_and_cli_caches_apply_to_target_solves() -> None:
    text = 'fs a() {\n\timage "busybox"\n\trun "echo a"\n}\nfs b() {\n\timage "busybox"\n\trun "echo b"\n}\n'
    cache = CacheEntry("registry", {"ref": "127.0.0.1:5000/cache:ci"})
    plan = plan_of(text, ["a", "b"], cache_from=[cache], cache_to=[cache])
    assert kinds(plan.root) == ("parallel", ["target a", "target b"])
    # One ref for two targets: each exports its own (-<target> on the tag), and each imports both.
    a, b = plan.solves
    assert [str(c) for c in a.cache_exports] == ["type=registry,ref=127.0.0.1:5000/cache:ci-a"]
    assert [str(c) for c in b.cache_exports] == ["type=registry,ref=127.0.0.1:5000/cache:ci-b"]
    every = [
        "type=registry,ref=127.0.0.1:5000/cache:ci",
        "type=registry,ref=127.0.0.1:5000/cache:ci-a",
        "type=registry,ref=127.0.0.1:5000/cache:ci-b",
    ]
    assert [str(c) for c in a.cache_imports] == every and [str(c) for c in b.cache_imports] == every
    # The same without --cache-to (a pull request's job reading what main's job wrote).
    reader = plan_of(text, ["a", "b"], cache_from=[cache])
    assert [str(c) for c in reader.solves[0].cache_imports] == every
    one = plan_of(text, ["a"], cache_from=[cache], cache_to=[cache])
    assert [str(c) for c in one.solves[0].cache_exports] == [str(cache)]


def test_a_target_placeholder_names_each_targets_ref() -> None:
    text = 'fs a() {\n\timage "busybox"\n\trun "echo a"\n}\nfs b() {\n\timage "busybox"\n\trun "echo b"\n}\n'
    to = CacheEntry("registry", {"ref": "r/{target}:ci", "mode": "max"})
    frm = CacheEntry("registry", {"ref": "r/{target}:ci"})
    plan = plan_of(text, ["a", "b"], cache_from=[frm], cache_to=[to])
    assert [str(c) for s in plan.solves for c in s.cache_exports] == [
        "type=registry,ref=r/a:ci,mode=max",
        "type=registry,ref=r/b:ci,mode=max",
    ]
    assert [str(c) for c in plan.solves[0].cache_imports] == ["type=registry,ref=r/a:ci", "type=registry,ref=r/b:ci"]


def test_local_cache_dirs_shared_by_targets_get_a_tag_each() -> None:
    text = 'fs a() {\n\timage "busybox"\n\trun "echo a"\n}\nfs b() {\n\timage "busybox"\n\trun "echo b"\n}\n'
    plan = plan_of(
        text,
        ["a", "b"],
        cache_from=[CacheEntry("local", {"src": "/c"})],
        cache_to=[CacheEntry("local", {"dest": "/c", "mode": "max"})],
    )
    assert [str(c) for s in plan.solves for c in s.cache_exports] == [
        "type=local,dest=/c,mode=max,tag=latest-a",
        "type=local,dest=/c,mode=max,tag=latest-b",
    ]
    assert [str(c) for c in plan.solves[1].cache_imports] == [
        "type=local,src=/c",
        "type=local,src=/c,tag=latest-a",
        "type=local,src=/c,tag=latest-b",
    ]


def test_a_target_folded_into_its_push_keeps_a_solve_for_its_cache_export() -> None:
    text = 'fs release() {\n\timage "busybox"\n\trun "make"\n\tdockerPush "r/app:1"\n}\n'
    cache = CacheEntry("registry", {"ref": "r/cache:ci", "mode": "max"})
    assert kinds(plan_of(text, ["release"]).root) == "dockerPush docker.io/r/app:1"
    plan = plan_of(text, ["release"], cache_from=[CacheEntry("registry", {"ref": "r/cache:ci"})], cache_to=[cache])
    assert kinds(plan.root) == ("parallel", ["dockerPush docker.io/r/app:1", "target release"])
    push, own = plan.solves
    assert push.head == own.head  # one graph: the daemon builds it once for both
    assert push.cache_exports == () and own.exporters == ()
    assert [str(c) for c in own.cache_exports] == ["type=registry,ref=r/cache:ci,mode=max"]
    assert (
        [str(c) for c in push.cache_imports] == ["type=registry,ref=r/cache:ci"] == [str(c) for c in own.cache_imports]
    )
    shown = render(plan, cwd=".")
    assert "built once with solve 2 (the same graph); image and cache are exported concurrently" in shown
    assert "cache export: type=registry,ref=r/cache:ci,mode=max  (from --cache-to)" in shown


def test_inline_cache_goes_with_the_image_exports_or_is_an_error() -> None:
    from hlb.compiler.plan import PlanError

    text = 'fs release() {\n\timage "busybox"\n\trun "make"\n\tdockerPush "r/app:1"\n}\n'
    plan = plan_of(text, ["release"], cache_to=[CacheEntry("inline")])
    assert kinds(plan.root) == "dockerPush docker.io/r/app:1"
    assert [str(c) for c in plan.solves[0].cache_exports] == ["type=inline"]
    with pytest.raises(PlanError) as e:
        plan_of('fs default() {\n\timage "busybox"\n\trun "make"\n}\n', ["default"], cache_to=[CacheEntry("inline")])
    assert e.value.problems == [
        "--cache-to type=inline: inline cache travels in an exported image, and no target exports one "
        "(dockerPush, dockerLoad, or -o type=image|docker); use type=registry or type=local"
    ]


def test_cache_settings_with_nothing_to_build_are_an_error() -> None:
    from hlb.compiler.plan import PlanError

    with pytest.raises(PlanError) as e:
        plan_of("fs default() {\n\tscratch\n}\n", ["default"], cache_to=[CacheEntry("registry", {"ref": "r/c"})])
    assert e.value.problems == ["--cache-to type=registry,ref=r/c: no target builds anything to export the cache of"]


def test_two_sections_exporting_different_graphs_to_one_ref_are_a_warning() -> None:
    text = (
        "fs default() {\n"
        '\tcacheContext "r/c:x" fs { image "busybox"; run "echo 1"; }\n'
        '\tcacheContext "r/c:x" fs { image "busybox"; run "echo 2"; }\n'
        "}\n"
    )
    (warning,) = plan_of(text, ["default"]).warnings
    assert warning.startswith(
        "cache exports of different graphs go to one place, docker.io/r/c:x: solve 1 (cacheContext docker.io/r/c:x)"
    )
    assert "only the last one is kept" in warning


def test_credentials_in_cache_entries_are_masked_in_the_tree() -> None:
    text = 'fs default() {\n\timage "busybox"\n\trun "make"\n}\n'
    gha = CacheEntry("gha", {"url": "http://127.0.0.1:1/", "token": "s3cret", "scope": "ci"})
    shown = render(plan_of(text, ["default"], cache_from=[gha], cache_to=[gha]), cwd=".")
    assert "s3cret" not in shown and "token=***" in shown


def test_pipeline_stages_run_in_order_and_their_arguments_in_parallel() -> None:
    text = (
        "pipeline default() {\n"
        '\tstage fs { image "golang:alpine"; }\n'
        '\tstage fs { image "alpine"; } build\n'
        "}\n"
        'fs build() {\n\timage "busybox"\n\trun "make"\n}\n'
    )
    plan = plan_of(text, ["default"])
    assert kinds(plan.root) == (
        "sequential",
        [
            'target fs { image "golang:alpine"; }',
            ("parallel", ['target fs { image "alpine"; }', "target build"]),
        ],
    )


def test_nested_sections_run_beside_what_contains_them_which_imports_their_caches() -> None:
    text = (
        "fs default() {\n"
        '\tcacheContext "127.0.0.1:5000/c:outer" fs {\n'
        '\t\tcacheContext "127.0.0.1:5000/c:inner" fs {\n'
        '\t\t\timage "busybox"\n'
        '\t\t\trun "echo inner"\n'
        "\t\t}\n"
        '\t\trun "echo outer"\n'
        "\t}\n"
        '\trun "echo after"\n'
        "}\n"
    )
    plan = plan_of(text, ["default"])
    assert kinds(plan.root) == (
        "parallel",
        ["cacheContext 127.0.0.1:5000/c:inner", "cacheContext 127.0.0.1:5000/c:outer", "target default"],
    )
    inner, outer, target = plan.solves
    refs = {s.title: [c.attrs["ref"] for c in s.cache_imports] for s in plan.solves}
    assert refs == {
        inner.title: ["127.0.0.1:5000/c:inner"],
        outer.title: ["127.0.0.1:5000/c:outer", "127.0.0.1:5000/c:inner"],
        target.title: ["127.0.0.1:5000/c:inner", "127.0.0.1:5000/c:outer"],
    }


def test_the_design_form_reads_the_ref_from_an_image_source_and_local_backend_resolves_the_dir() -> None:
    text = (
        "fs default() {\n"
        '\tcacheContext fs { image "127.0.0.1:5000/cache/app:deps"; } fs { image "busybox"; run "true"; }\n'
        '\tcacheContext "./.cache/x" fs { image "busybox"; run "false"; } with backend("local")\n'
        "}\n"
    )
    plan = compile_source(SourceFile("/work/proj/build.hlb", text), ["default"], AMD64).plan(AMD64)
    sections = [s for s in plan.solves if s.kind == "cacheContext"]
    assert [str(c) for s in sections for c in s.cache_imports] == [
        "type=registry,ref=127.0.0.1:5000/cache/app:deps",
        "type=local,src=/work/proj/.cache/x",
    ]
    assert str(sections[1].cache_exports[0]) == "type=local,dest=/work/proj/.cache/x,mode=min"


def test_a_cache_location_that_is_not_an_image_is_a_diagnostic() -> None:
    from hlb.diagnostics import HlbError

    text = 'fs default() {\n\tcacheContext fs { scratch; } fs { image "busybox"; }\n}\n'
    with pytest.raises(HlbError) as e:
        compile_text(text, ["default"])
    d = e.value.diagnostics[-1]
    assert "must be an image reference" in d.message
    assert (d.primary.span.begin.line, d.primary.span.begin.column) == (2, 15)


def test_exporters_are_side_solves_and_the_block_goes_on() -> None:
    text = (
        "fs default() {\n"
        '\timage "busybox"\n'
        '\tdownload "./out"\n'
        '\tdownloadTarball "rootfs.tar"\n'
        '\tdockerLoad "app:dev"\n'
        '\trun "echo more"\n'
        "}\n"
    )
    plan = compile_source(SourceFile("/p/build.hlb", text), ["default"], AMD64).plan(AMD64)
    assert kinds(plan.root) == (
        "parallel",
        ["download ./out", "downloadTarball rootfs.tar", "dockerLoad docker.io/library/app:dev", "target default"],
    )
    dests = {s.title: [(x.type, x.dest) for x in s.exporters] for s in plan.solves}
    assert dests["download ./out"] == [("local", "/p/out")]
    assert dests["downloadTarball rootfs.tar"] == [("tar", "/p/rootfs.tar")]


def test_each_solve_gets_the_attachments_and_entitlements_its_own_graph_needs(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "token").write_text("s3cret")
    text = (
        "fs a() {\n"
        '\timage "busybox:latest"\n'
        '\trun "cat /run/secrets/t" with option {\n\t\tsecret "./token" "/run/secrets/t"\n\t\tnetwork "host"\n\t}\n'
        "}\n"
        'fs b() {\n\tcopy fs { local "./ctx"; } "/" "/ctx"\n\tdownload "./out"\n}\n'
        'fs c() {\n\tgit "git@github.com:openllb/hlb.git" "main"\n}\n'
    )
    main = tmp_path / "build.hlb"
    main.write_text(text)
    plan = compile_source(SourceFile.read(main), ["a", "b", "c"], AMD64).plan(AMD64)
    by_title = {s.title: s for s in plan.solves}
    a, b, c = by_title["target a"], by_title["download ./out"], by_title["target c"]
    assert [type(x).__name__ for x in a.attachments] == ["SecretFile"]
    assert a.entitlements == ("network.host",)
    assert [type(x).__name__ for x in b.attachments] == ["LocalDir"] and b.entitlements == ()
    assert [type(x).__name__ for x in c.attachments] == ["SSHSocket"]
    # The secret's content is in no solve's LLB.
    assert all(b"s3cret" not in s.definition.serialize() for s in plan.solves)


def test_one_id_for_two_different_things_is_a_diagnostic(tmp_path: Path) -> None:
    from hlb.diagnostics import HlbError

    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "token").write_text(d)
        (tmp_path / d / "lib.hlb").write_text(
            'export t\n\nfs t() {\n\timage "busybox:latest"\n\trun "true" with option { secret "./token" "/s"; }\n}\n'
        )
    main = tmp_path / "build.hlb"
    main.write_text('import x from "./x/lib.hlb"\nimport y from "./y/lib.hlb"\n\nfs default() {\n\tx.t\n\ty.t\n}\n')
    with pytest.raises(HlbError) as e:
        compile_source(SourceFile.read(main), ["default"], AMD64)
    d = e.value.diagnostics[-1]
    assert d.message == f"the secret `{tmp_path}/y/token` gets the same id as the secret `{tmp_path}/x/token`"
    assert d.primary.span.file.name == str(tmp_path / "y" / "lib.hlb")


def test_the_plan_example_in_the_language_reference_is_what_hlb_prints() -> None:
    doc = (Path(__file__).parents[3] / "docs" / "language.md").read_text()
    after = doc.split("<!-- plan example:", 1)[1]
    module = after.split("```hlb\n", 1)[1].split("```\n", 1)[0]
    shown = after.split("```text\n", 1)[1].split("```\n", 1)[0]
    plan = compile_source(SourceFile("build.hlb", module), ["release", "test"], AMD64).plan(AMD64)
    assert render(plan, cwd=".") == shown


EXAMPLES = Path(__file__).parents[3] / "examples" / "caching"
FLAG_SETS = [
    ([], [CacheEntry("registry", {"ref": "r/c:ci", "mode": "max"})]),
    ([CacheEntry("registry", {"ref": "r/c:ci"})], [CacheEntry("registry", {"ref": "r/c:ci", "mode": "max"})]),
    ([CacheEntry("local", {"src": "/c"})], [CacheEntry("local", {"dest": "/c"})]),
    ([CacheEntry("registry", {"ref": "r/{target}:ci"})], [CacheEntry("registry", {"ref": "r/{target}:ci"})]),
    ([CacheEntry("registry", {"ref": "r/other"})], [CacheEntry("inline")]),
]
TARGETS = {
    "publish.hlb": [["default"], ["release"], ["default", "release"]],
    "release.hlb": [["release"], ["app", "release"]],
    "services.hlb": [["api"], ["api", "web", "worker"], ["base", "api"]],
    "dependencies.hlb": [["install"], ["install", "snapshotModules"]],
    "ci.hlb": [["default"], ["deps", "default"]],
}


@pytest.mark.parametrize(("example", "targets"), [(e, t) for e, ts in TARGETS.items() for t in ts])
@pytest.mark.parametrize("flags", range(len(FLAG_SETS)))
def test_every_requested_cache_setting_is_in_the_tree_or_refused(
    example: str, targets: list[str], flags: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invariant of issue 9: every cache import and export asked for (flags and cacheContexts) is made by some
    solve and printed by --tree, or the plan is refused before anything is built."""
    from hlb.compiler.plan import PlanError

    monkeypatch.setenv("HLB_REGISTRY", "127.0.0.1:5000")
    cache_from, cache_to = FLAG_SETS[flags]
    args = {"version": "1.0"} if "release" in targets and example == "publish.hlb" else {}
    compiled = compile_source(SourceFile(example, (EXAMPLES / example).read_text()), targets, AMD64, args=args)
    try:
        plan = compiled.plan(AMD64, cache_from=cache_from, cache_to=cache_to)
    except PlanError as e:
        # Only an inline cache with no image exported anywhere may be refused; the refusal says why.
        assert [p.split(":")[0] for p in e.problems] == ["--cache-to type=inline"], e.problems
        assert not any("dockerPush" in t or "dockerLoad" in t for t in _titles(compiled, cache_from)), e.problems
        return
    tree = render(plan, cwd=".")
    imports = [c for s in plan.solves for c in s.cache_imports]
    exports = [c for s in plan.solves for c in s.cache_exports]
    for c in imports + exports:
        assert f"cache {'import' if c in imports else 'export'}: " in tree
    shown = {str(c) for c in imports + exports}
    for requested in cache_to:
        kind, where = requested.type, requested.attrs.get("ref") or requested.attrs.get("dest", "")
        made = [c for c in exports if c.type == kind and (kind == "inline" or where.split("{")[0] in str(c))]
        assert made, (requested, tree)
    for requested in cache_from:
        where = requested.attrs.get("ref") or requested.attrs.get("src", "")
        assert any(where.split("{")[0] in c for c in shown), (requested, tree)
    for s in plan.solves:
        if s.kind == "cacheContext":
            for c in (*s.cache_imports, *s.cache_exports):
                assert str(c) in tree
            for other in plan.solves:
                if other is not s and s.head in other.definition.op_kinds:
                    assert all(str(c) in {str(x) for x in other.cache_imports} for c in s.cache_imports)


def _titles(compiled: Compiled, cache_from: list[CacheEntry]) -> list[str]:
    return [s.title for s in compiled.plan(AMD64, cache_from=cache_from).solves]


TWO = 'fs a() {\n\timage "busybox"\n\trun "echo a"\n}\nfs b() {\n\timage "busybox"\n\trun "echo b"\n}\n'


def test_per_target_names_are_function_names_lower_cased_without_arguments() -> None:
    text = (
        'fs buildApp(string v) {\n\timage "busybox"\n\trun "echo ${v}"\n}\n'
        'fs other() {\n\timage "busybox"\n\trun "echo o"\n}\n'
    )
    compiled = compile_source(SourceFile("build.hlb", text), ["buildApp", "other"], AMD64, args={"v": "1.4.0"})
    plan = compiled.plan(AMD64, cache_to=[CacheEntry("registry", {"ref": "r/{target}:ci"})])
    assert [str(c) for s in plan.solves for c in s.cache_exports] == [
        "type=registry,ref=r/buildapp:ci",
        "type=registry,ref=r/other:ci",
    ]


def test_a_local_placeholder_import_keeps_its_directory() -> None:
    plan = plan_of(TWO, ["a", "b"], cache_from=[CacheEntry("local", {"src": "/c/{target}"})])
    assert [str(c) for c in plan.solves[0].cache_imports] == ["type=local,src=/c/a", "type=local,src=/c/b"]


def test_gha_and_s3_places_are_their_scope_bucket_and_name() -> None:
    gha = {"url": "http://127.0.0.1:1/", "token": "t"}
    plan = plan_of(
        TWO,
        ["a", "b"],
        cache_from=[CacheEntry("gha", {**gha, "scope": "other"})],
        cache_to=[CacheEntry("gha", {**gha, "scope": "mine"}), CacheEntry("s3", {"bucket": "b", "region": "r"})],
    )
    assert plan.warnings == []  # each target exports to its own scope and name: nothing is overwritten
    a = plan.solves[0]
    assert [c.attrs.get("scope") for c in a.cache_imports] == ["other", "other-a", "other-b"]
    assert [(c.type, c.attrs.get("scope"), c.attrs.get("name")) for c in a.cache_exports] == [
        ("gha", "mine-a", None),
        ("s3", None, "buildkit-a"),
    ]


def test_two_outputs_of_one_step_are_not_the_same_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HLB_REGISTRY", "127.0.0.1:5000")
    text = (EXAMPLES / "dependencies.hlb").read_text()
    plan = plan_of(text, ["install", "snapshotModules"])
    section, push = plan.solves
    assert section.head == push.head and section.result != push.result
    assert "built once with" not in render(plan, cwd=".")


def test_inline_for_some_targets_only_warns_for_the_others() -> None:
    text = TWO + 'fs pushed() {\n\ta\n\tdockerPush "r/app:1"\n}\n'
    plan = plan_of(text, ["b", "pushed"], cache_to=[CacheEntry("inline")])
    assert plan.warnings == [
        "--cache-to type=inline: b exports no image, so no inline cache of it is exported; "
        "use type=registry or type=local for those"
    ]


def test_a_digest_pinned_cache_from_is_not_split_per_target() -> None:
    pinned = CacheEntry("registry", {"ref": "r.io/x@sha256:" + "a" * 64})
    plan = plan_of(TWO, ["a", "b"], cache_from=[pinned])
    assert [str(c) for c in plan.solves[0].cache_imports] == [str(pinned)]


def test_a_push_run_while_compiling_imports_per_target_parts_too() -> None:
    from hlb.compiler.plan import solve_for_effect
    from hlb.values import Effect, Exporter

    compiled = compile_text(TWO, ["a"])
    fs = compiled.targets[0].fs
    assert fs is not None
    effect = Effect("dockerPush", "dockerPush r/app:1", fs, compiled.targets[0].span, (Exporter("image", {}),))
    frm = CacheEntry("registry", {"ref": "r/{target}:ci"})
    solve = solve_for_effect(effect, {}, AMD64, [frm], ["a", "b"])
    assert [str(c) for c in solve.cache_imports] == ["type=registry,ref=r/a:ci", "type=registry,ref=r/b:ci"]


def test_imported_functions_as_targets_are_named_by_module_and_function() -> None:
    from hlb.compiler.plan import _unique_names

    assert _unique_names(["lib.buildApp", "lib.test", 'release(tag="1")', "fs { image }"]) == [
        "lib-buildapp",
        "lib-test",
        "release",
        "stage",
    ]
