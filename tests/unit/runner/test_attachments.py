"""The session services of one solve (hlb.build.attachments): exactly what its plan entry declares."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from hlb.address import Address
from hlb.api import compile_source
from hlb.build import attachments
from hlb.build.attachments import attachables_for, caches_of
from hlb.compiler.plan import Solve
from hlb.llb import Platform
from hlb.session.auth import DockerAuth
from hlb.session.content import ContentStore
from hlb.session.filesend import FileSend, FileTarget
from hlb.session.filesync import FileSync
from hlb.session.secrets import SecretFiles
from hlb.session.sshforward import SSHForward
from hlb.solver import export
from hlb.source import SourceFile
from hlb.values import CacheEntry

AMD64 = Platform("linux", "amd64")


@pytest.fixture(autouse=True)
def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with a source tree, a secret and an agent socket; docker config of its own."""
    for d in ("src", "other", "keys"):
        (tmp_path / d).mkdir()
    (tmp_path / "keys" / "token").write_text("t0ken\n")
    (tmp_path / "agent.sock").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setattr(attachments, "_warned", set())
    return tmp_path


def solves(text: str, targets: Sequence[str] = ("default",), **caches: Sequence[CacheEntry]) -> dict[str, Solve]:
    compiled = compile_source(SourceFile(str(Path.cwd() / "build.hlb"), text), list(targets), AMD64)
    return {s.title: s for s in compiled.plan(AMD64, **caches).solves}


ENGINE = Address("docker", "unix:///engine.sock", "DOCKER_HOST")
STANDALONE = Address("buildkit", "kube-pod://bk-0", "--addr")


def services(solve: Solve, on: Address = ENGINE) -> list[object]:
    return list(attachables_for(solve, caches_of(solve), export.plan_exports(solve.exporters, on)))


def test_a_plain_solve_gets_registry_auth_and_an_empty_secret_store_only() -> None:
    (solve,) = solves('fs default() {\n\timage "busybox"\n}\n').values()
    auth, secrets = services(solve)
    assert isinstance(auth, DockerAuth) and isinstance(secrets, SecretFiles)
    assert secrets.files == {}  # a lookup by git (GIT_AUTH_TOKEN...) is answered "not found"


def test_each_solve_serves_only_its_own_directories_secrets_and_agents(_project: Path) -> None:
    text = (
        'fs a() {\n\tlocal "src"\n}\n'
        'fs b() {\n\timage "busybox"\n\trun "cat /t" with option {\n'
        '\t\tsecret "keys/token" "/t"\n\t\tssh with localPaths("agent.sock")\n\t\tmount local("other") "/o"\n\t}\n}\n'
    )
    by_title = solves(text, ["a", "b"])
    a, b = services(by_title["target a"]), services(by_title["target b"])
    assert [type(x) for x in a] == [FileSync, DockerAuth, SecretFiles]
    assert [type(x) for x in b] == [FileSync, DockerAuth, SecretFiles, SSHForward]
    assert isinstance(a[0], FileSync) and [d.path for d in a[0].dirs.values()] == [str(_project / "src")]
    assert isinstance(b[0], FileSync) and [d.path for d in b[0].dirs.values()] == [str(_project / "other")]
    assert isinstance(a[2], SecretFiles) and a[2].files == {}
    assert isinstance(b[2], SecretFiles) and list(b[2].files.values()) == [str(_project / "keys" / "token")]
    assert isinstance(b[3], SSHForward) and list(b[3].sockets.values()) == [(str(_project / "agent.sock"),)]


def test_downloads_and_local_caches_get_their_receivers(_project: Path) -> None:
    text = 'fs default() {\n\timage "busybox"\n\tdownloadTarball "out/rootfs.tar"\n}\n'
    cache = CacheEntry("local", {"dest": str(_project / "cache")})
    by_title = solves(text, cache_to=[cache])
    download = services(by_title["downloadTarball out/rootfs.tar"])
    assert [type(x) for x in download] == [FileSend, DockerAuth, SecretFiles]
    assert isinstance(download[0], FileSend) and list(download[0].targets) == [0]  # exporter 0 comes back here
    target = services(by_title["target default"])
    assert [type(x) for x in target] == [ContentStore, DockerAuth, SecretFiles]
    assert isinstance(target[0], ContentStore) and list(target[0].stores) == [f"local:{_project / 'cache'}"]


def test_an_unreadable_docker_config_is_one_warning_for_all_solves(
    _project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (_project / "docker-config").mkdir()
    (_project / "docker-config" / "config.json").write_text("{not json")
    two = solves('fs a() {\n\timage "busybox"\n}\nfs b() {\n\timage "alpine"\n}\n', ["a", "b"])
    assert len(two) == 2
    for solve in two.values():
        services(solve)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("hlb: warning:")]
    assert len(warnings) == 1 and "cannot read the docker config" in warnings[0]


def context_rv(_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The current docker context `rv` (an engine at unix:///rv.sock), DOCKER_HOST unset."""
    config = _project / "docker-config"
    meta = config / "contexts" / "meta" / hashlib.sha256(b"rv").hexdigest()
    meta.mkdir(parents=True)
    doc = {"Name": "rv", "Endpoints": {"docker": {"Host": "unix:///rv.sock", "SkipTLSVerify": False}}}
    (meta / "meta.json").write_text(json.dumps(doc))
    (config / "config.json").write_text(json.dumps({"currentContext": "rv"}))
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)


def test_a_load_from_a_standalone_daemon_goes_to_the_current_docker_context(
    _project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context_rv(_project, monkeypatch)
    (solve,) = solves('fs default() {\n\timage "busybox"\n\tdockerLoad "x:1"\n}\n').values()
    exports = export.plan_exports(solve.exporters, STANDALONE)
    assert [e.type for e in exports.exporters] == ["docker"]
    assert exports.load is not None and exports.load.url == "unix:///rv.sock"
    assert exports.load.source.startswith("docker context `rv`, the currentContext of ")
    assert exports.described == ["loaded docker.io/library/x:1 into the Docker engine at unix:///rv.sock"]
    (sink,) = [x for x in services(solve, STANDALONE) if isinstance(x, FileSend)]
    (target,) = sink.targets.values()
    assert isinstance(target, FileTarget) and "unix:///rv.sock (from docker context `rv`" in target.describe


def test_a_load_on_the_docker_engine_is_its_own_exporter_and_comes_back_nowhere(
    _project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context_rv(_project, monkeypatch)
    (solve,) = solves('fs default() {\n\timage "busybox"\n\tdockerLoad "x:1"\n}\n').values()
    exports = export.plan_exports(solve.exporters, ENGINE)
    assert [(e.type, dict(e.attrs)) for e in exports.exporters] == [("moby", {"name": "docker.io/library/x:1"})]
    assert exports.load is None and exports.targets == {}
    assert not [x for x in services(solve) if isinstance(x, FileSend)]
