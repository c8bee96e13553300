"""Sources: what the lowerings of `image` options, `http`, `git` and `local` do beyond their LLB
(snapshotted from tests/cases/compile/sources/ by test_snapshots.py): image configs from a
resolver, attachments, diagnostics."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from compile_fakes import FakeResolver

from hlb.api import check, parse
from hlb.compiler import CompileResult, compile_targets
from hlb.llb import Platform
from hlb.llb.dump import to_json_obj
from hlb.source import SourceFile
from hlb.values import FsValue, LocalDir, SSHSocket

CASES = Path(__file__).parents[2] / "cases" / "compile"
AREA = CASES / "sources"
AMD64 = Platform("linux", "amd64")


@pytest.fixture(autouse=True)
def _in_cases_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    # The programs are named like the cases (`sources/inline.hlb`), and a module's directory
    # is its name made absolute: run from tests/cases/compile so `local "."` finds the case dir.
    monkeypatch.chdir(CASES)


def compile_text(
    text: str, name: str = "sources/inline.hlb", resolver: FakeResolver | None = None, target: str = "default"
) -> CompileResult:
    checked = check(parse(SourceFile(name, text)))
    return compile_targets(checked.checked, [target], AMD64, resolver=resolver)


def only_fs(result: CompileResult) -> FsValue:
    assert [d.message for d in result.diagnostics] == []
    fs = result.targets[0].fs
    assert fs is not None
    return fs


def ops(result: CompileResult) -> list[dict[str, object]]:
    return list(to_json_obj(result.targets[0].definition, with_sources=False)["ops"])


def source_of(result: CompileResult) -> dict[str, object]:
    first = ops(result)[0]["op"]
    assert isinstance(first, dict)
    source = first["source"]
    assert isinstance(source, dict)
    return source


# -- image ----------------------------------------------------------------------------------


def test_resolve_applies_the_config_and_keeps_it_for_exports() -> None:
    resolver = FakeResolver()
    fs = only_fs(compile_text('fs default() { image "busybox" with resolve; }', resolver=resolver))
    assert resolver.calls == [("docker.io/library/busybox:latest", AMD64)]
    st = fs.state
    assert st.env == (("PATH", "/usr/local/bin:/usr/bin:/bin"), ("HOME", "/home/app"), ("EMPTY", ""))
    assert (st.cwd, st.user, st.platform) == ("/home/app", "app:app", AMD64)
    spec = fs.image
    assert json.loads(spec.base) == json.loads(resolver.config(AMD64))
    assert spec.base_config()["config"]["Healthcheck"] == {"Test": ["CMD", "true"]}
    assert spec.entrypoint == ("/entrypoint.sh",)
    assert spec.cmd == ("serve", "--port", "8080")
    assert spec.labels == (("org.opencontainers.image.title", "app"), ("maintainer", "me"))
    assert spec.exposed_ports == ("8080/tcp", "53/udp")
    assert spec.volumes == ("/data",)
    assert spec.stop_signal == "SIGQUIT"


def test_resolve_pins_the_source_to_the_resolved_digest() -> None:
    result = compile_text('fs default() { image "busybox:1.36" with resolve; }', resolver=FakeResolver())
    digest = "sha256:" + hashlib.sha256(b"docker.io/library/busybox:1.36").hexdigest()
    assert source_of(result)["identifier"] == f"docker-image://docker.io/library/busybox:1.36@{digest}"


def test_resolve_uses_the_platform_option_and_the_config_platform_reaches_runs() -> None:
    resolver = FakeResolver()
    result = compile_text(
        'fs default() { image "alpine" with option { platform "linux" "arm64"; resolve; }; run "true"; }',
        resolver=resolver,
    )
    assert resolver.calls == [("docker.io/library/alpine:latest", Platform("linux", "arm64"))]
    source_op, exec_op = (o["op"] for o in ops(result)[:2])
    assert isinstance(source_op, dict) and isinstance(exec_op, dict)
    assert source_op["platform"] == {"OS": "linux", "Architecture": "arm64"}
    assert exec_op["platform"] == {"OS": "linux", "Architecture": "arm64", "Variant": "v8"}


def test_without_resolve_the_resolver_is_not_asked() -> None:
    resolver = FakeResolver()
    fs = only_fs(compile_text('fs default() { image "busybox"; }', resolver=resolver))
    assert resolver.calls == []
    assert fs.image.base == ""
    assert (fs.state.env, fs.state.cwd, fs.state.user) == ((), "/", "")


def test_resolve_without_a_daemon_is_a_diagnostic_at_resolve() -> None:
    text = 'fs default() {\n\timage "busybox" with resolve\n}\n'
    result = compile_text(text)
    [diag] = result.diagnostics
    assert diag.message == "resolving `busybox` needs a BuildKit connection"
    assert diag.span.text == "resolve"
    assert "BUILDKIT_HOST" in (diag.hint or "")


def test_a_resolve_failure_is_a_diagnostic_at_the_reference() -> None:
    text = 'fs default() {\n\timage "nosuch/image" with resolve\n}\n'
    result = compile_text(text, resolver=FakeResolver(fail="cannot resolve docker.io/nosuch/image:latest: not found"))
    [diag] = result.diagnostics
    assert diag.message == "cannot resolve docker.io/nosuch/image:latest: not found"
    assert diag.span.text == '"nosuch/image"'


def test_a_config_that_is_not_an_image_config_is_a_diagnostic() -> None:
    class Broken(FakeResolver):
        def config(self, platform: Platform) -> bytes:
            return b'{"config": {"Env": "PATH=/bin"}}'

    result = compile_text('fs default() { image "busybox" with resolve; }', resolver=Broken())
    [diag] = result.diagnostics
    assert diag.message == (
        "cannot use the config of image `docker.io/library/busybox:latest`: "
        "the image config's `Env` is not a list of strings"
    )


def test_platform_arguments_are_checked() -> None:
    result = compile_text('fs default() { image "busybox" with platform("linux", "arm/v7"); }')
    [diag] = result.diagnostics
    assert diag.message == "`arm/v7` is not an architecture"
    assert diag.span.text == '"arm/v7"'


# -- http -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ('checksum("md5:abc")', "`md5:abc` is not a digest"),
        ('checksum("sha256:ABC")', "`sha256:ABC` is not a sha256 digest"),
        (f'checksum("sha256:{"A" * 64}")', f"`sha256:{'A' * 64}` is not a sha256 digest"),
        ("chmod(0o4755)", "`0o4755` is not a mode BuildKit can give a download"),
        ("chmod(0)", "`0o0` is not a mode BuildKit can give a download"),
        ('filename("a/b")', "`a/b` is not a file name"),
        ('filename("")', "`` is not a file name"),
    ],
)
def test_http_options_are_checked(option: str, message: str) -> None:
    result = compile_text(f'fs default() {{ http "https://example.com/x" with {option}; }}')
    assert [d.message for d in result.diagnostics] == [message]


def test_http_needs_an_http_url() -> None:
    result = compile_text('fs default() { http "ftp://example.com/x"; }')
    assert [d.message for d in result.diagnostics] == ["`ftp://example.com/x` is not an http:// or https:// URL"]


def test_http_sha512_checksum_is_accepted() -> None:
    digest = "sha512:" + "0" * 128
    result = compile_text(f'fs default() {{ http "http://example.com/x" with checksum("{digest}"); }}')
    assert source_of(result)["attrs"] == {"http.checksum": digest}


# -- git --------------------------------------------------------------------------------------


def test_git_over_ssh_attaches_the_default_agent() -> None:
    result = compile_text('fs default() { git "git@github.com:openllb/hlb.git" "master"; }')
    only_fs(result)
    assert list(result.attachments.values()) == [SSHSocket("default")]


def test_git_over_https_attaches_nothing() -> None:
    result = compile_text('fs default() { git "https://github.com/openllb/hlb.git" "master"; }')
    only_fs(result)
    assert result.attachments == {}


def test_git_rejects_an_unsupported_protocol() -> None:
    result = compile_text('fs default() { git "file:///srv/repo" "main"; }')
    [diag] = result.diagnostics
    assert diag.message == "`file:///srv/repo` is not a git remote: unsupported protocol `file`"
    assert diag.span.text == '"file:///srv/repo"'


# -- local ------------------------------------------------------------------------------------


def test_local_attaches_the_directory_it_names() -> None:
    result = compile_text('fs default() { local "." with includePatterns("*.hlb"); }')
    only_fs(result)
    name = str(source_of(result)["identifier"]).removeprefix("local://")
    assert list(result.attachments.values()) == [
        LocalDir(name=name, path=str(CASES / "sources"), include_patterns=("*.hlb",))
    ]


def test_local_file_syncs_its_directory_with_only_that_file() -> None:
    result = compile_text('fs default() { local "resolve/image_resolve.hlb" with excludePatterns("x"); }')
    only_fs(result)
    [attached] = result.attachments.values()
    assert isinstance(attached, LocalDir)
    assert attached == LocalDir(name=attached.name, path=str(AREA / "resolve"), include_patterns=("image_resolve.hlb",))
    attrs = source_of(result)["attrs"]
    assert isinstance(attrs, dict)
    assert attrs["local.includepattern"] == '["image_resolve.hlb"]'
    assert "local.excludepatterns" not in attrs


def test_local_id_is_stable_and_independent_of_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = 'fs default() { local "src" with excludePatterns("*.o"); }'
    identities = []
    for checkout in ("one", "two/deeper"):
        root = tmp_path / checkout
        (root / "src").mkdir(parents=True)
        monkeypatch.chdir(root)
        result = compile_text(program, name="build.hlb")
        [attached] = result.attachments.values()
        assert isinstance(attached, LocalDir) and attached.path == str(root / "src")
        identities.append(ops(result))
        assert ops(compile_text(program, name="build.hlb")) == identities[-1]  # and between runs
    assert identities[0] == identities[1]


def test_local_id_differs_per_directory_and_patterns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    monkeypatch.chdir(tmp_path)
    programs = [
        'local "a"',
        'local "b"',
        'local "a" with includePatterns("x")',
        'local "a" with excludePatterns("x")',
    ]
    names = set()
    for p in programs:
        result = compile_text(f"fs default() {{ {p}; }}", name="build.hlb")
        names.add(str(source_of(result)["identifier"]))
    assert len(names) == len(programs)
    # The same directory written two ways is the same source.
    same = [compile_text(f'fs default() {{ local "{p}"; }}', name="build.hlb") for p in ("a", "./a/")]
    assert ops(same[0]) == ops(same[1])


def test_local_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "proj").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    result = compile_text('fs default() { local "~/proj"; }')
    [attached] = result.attachments.values()
    assert isinstance(attached, LocalDir) and attached.path == str(tmp_path / "proj")


def test_local_path_must_exist() -> None:
    result = compile_text('fs default() {\n\tlocal "no/such/dir"\n}\n')
    [diag] = result.diagnostics
    assert diag.message == "`no/such/dir` does not exist"
    assert diag.span.text == '"no/such/dir"'
    assert str(CASES / "sources" / "no" / "such" / "dir") in (diag.hint or "")
