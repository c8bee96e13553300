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
    # One solve of the section, shared by both targets, before either of them.
    assert kinds(plan.root) == (
        "sequential",
        [section, ("parallel", ["dockerPush 127.0.0.1:5000/app:latest", "target test"])],
    )
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
    # The section's result is part of both later solves' graphs: they find it in the daemon's cache.
    assert cache.head in push.definition.digests()
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
    assert all(s.cache_imports == (cache,) and s.cache_exports == (cache,) for s in plan.solves)


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


def test_nested_sections_are_solved_inside_out() -> None:
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
        "sequential",
        ["cacheContext 127.0.0.1:5000/c:inner", "cacheContext 127.0.0.1:5000/c:outer", "target default"],
    )


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
