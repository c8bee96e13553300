"""The Docker engine as the docker CLI resolves it: --context, DOCKER_HOST, DOCKER_CONTEXT, the
currentContext of config.json, a context's meta.json endpoint and TLS files, the default socket."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from hlb.address import Address, AddressError, resolve, unreachable_hint
from hlb.cli.main import main


def write_context(config: Path, name: str, host: str | None, skip_verify: bool = False) -> Path:
    """A context as `docker context create` stores it; returns its TLS directory (not created)."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    endpoint: dict[str, object] = {"SkipTLSVerify": skip_verify}
    if host is not None:
        endpoint["Host"] = host
    doc = {"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}}
    (meta / "meta.json").write_text(json.dumps(doc))
    return config / "contexts" / "tls" / digest / "docker"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A docker config directory with contexts `colima` and `remote`, `colima` current."""
    d = tmp_path / "docker-config"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"auths": {}, "currentContext": "colima"}))
    write_context(d, "colima", "unix:///colima/docker.sock")
    write_context(d, "remote", "unix:///remote/docker.sock")
    return d


def env_of(config: Path, **more: str) -> dict[str, str]:
    return {"DOCKER_CONFIG": str(config), **more}


# -- the order: each source beats the next ------------------------------------------------------


def test_the_current_context_of_config_json(config: Path) -> None:
    address = resolve(env=env_of(config))
    assert (address.kind, address.url) == ("docker", "unix:///colima/docker.sock")
    assert address.source == f"docker context `colima`, the currentContext of {config}/config.json"


def test_docker_context_beats_the_current_context(config: Path) -> None:
    address = resolve(env=env_of(config, DOCKER_CONTEXT="remote"))
    assert address.url == "unix:///remote/docker.sock"
    assert address.source == "docker context `remote`, set by DOCKER_CONTEXT"


def test_docker_host_beats_docker_context(config: Path) -> None:
    address = resolve(env=env_of(config, DOCKER_CONTEXT="remote", DOCKER_HOST="unix:///d.sock"))
    assert (address.url, address.source) == ("unix:///d.sock", "DOCKER_HOST")


def test_the_context_flag_beats_docker_host_and_buildkit_host(config: Path) -> None:
    env = env_of(config, DOCKER_HOST="unix:///d.sock", BUILDKIT_HOST="tcp://b:1")
    address = resolve(env=env, context="remote")
    assert (address.kind, address.url) == ("docker", "unix:///remote/docker.sock")
    assert address.source == "docker context `remote`, chosen by --context"


def test_buildkit_host_beats_the_docker_engine(config: Path) -> None:
    env = env_of(config, DOCKER_CONTEXT="remote", DOCKER_HOST="unix:///d.sock", BUILDKIT_HOST="tcp://b:1")
    assert (resolve(env=env).kind, resolve(env=env).source) == ("buildkit", "BUILDKIT_HOST")


def test_the_addr_flag_beats_everything(config: Path) -> None:
    env = env_of(config, DOCKER_CONTEXT="remote", DOCKER_HOST="unix:///d.sock", BUILDKIT_HOST="tcp://b:1")
    assert resolve("unix:///k.sock", env=env).source == "--addr"


def test_without_any_the_default_socket(tmp_path: Path) -> None:
    address = resolve(env={"DOCKER_CONFIG": str(tmp_path)})  # no config.json at all
    assert (address.url, address.source) == ("unix:///var/run/docker.sock", "the default Docker socket")


def test_the_config_directory_defaults_to_home_dot_docker(tmp_path: Path, config: Path) -> None:
    shutil.copytree(config, tmp_path / "home" / ".docker")
    address = resolve(env={"HOME": str(tmp_path / "home")})
    assert address.url == "unix:///colima/docker.sock"
    assert address.source == "docker context `colima`, the currentContext of ~/.docker/config.json"


@pytest.mark.parametrize("chosen", [{"DOCKER_CONTEXT": "default"}, {"context": "default"}, {"current": "default"}])
def test_the_default_context_is_docker_host_or_the_default_socket(config: Path, chosen: dict[str, str]) -> None:
    if "current" in chosen:
        (config / "config.json").write_text('{"currentContext": "default"}')
    env = env_of(config, **{k: v for k, v in chosen.items() if k == "DOCKER_CONTEXT"})
    address = resolve(env=env, context=chosen.get("context"))
    assert address.url == "unix:///var/run/docker.sock"
    assert address.source.startswith("the default Docker socket, docker context `default`")
    with_host = resolve(env={**env, "DOCKER_HOST": "unix:///d.sock"}, context=chosen.get("context"))
    assert with_host.url == "unix:///d.sock"


def test_bare_docker_scheme_follows_the_docker_cli(config: Path) -> None:
    address = resolve("docker://", env=env_of(config))
    assert address.url == "unix:///colima/docker.sock"
    assert address.source.startswith("--addr docker://: docker context `colima`")


def test_a_tcp_context_without_tls_files_is_plain_tcp_and_ignores_docker_tls_verify(config: Path) -> None:
    write_context(config, "tcp", "tcp://10.0.0.2:2375")
    address = resolve(env=env_of(config, DOCKER_TLS_VERIFY="1"), context="tcp")
    assert (address.url, address.tls) == ("tcp://10.0.0.2:2375", None)


# -- TLS files of a context ----------------------------------------------------------------------


def test_a_context_with_tls_files(config: Path, certs: Path) -> None:
    tls_dir = write_context(config, "secure", "tcp://10.0.0.3:2376")
    tls_dir.mkdir(parents=True)
    for f in ("ca.pem", "cert.pem", "key.pem"):
        shutil.copy(certs / f, tls_dir / f)
    tls = resolve(env=env_of(config), context="secure").tls
    assert tls is not None
    assert (tls.ca, tls.cert, tls.key, tls.skip_verify) == (
        f"{tls_dir}/ca.pem",
        f"{tls_dir}/cert.pem",
        f"{tls_dir}/key.pem",
        False,
    )


def test_skip_tls_verify_without_files_still_uses_tls(config: Path) -> None:
    write_context(config, "skip", "tcp://10.0.0.4:2376", skip_verify=True)
    tls = resolve(env=env_of(config), context="skip").tls
    assert tls is not None and tls.skip_verify and (tls.ca, tls.cert, tls.key) == (None, None, None)


def test_a_certificate_without_its_key(config: Path, certs: Path) -> None:
    tls_dir = write_context(config, "half", "tcp://10.0.0.5:2376")
    tls_dir.mkdir(parents=True)
    shutil.copy(certs / "cert.pem", tls_dir / "cert.pem")
    with pytest.raises(AddressError, match=r"docker context `half`: .* has cert.pem but no key.pem"):
        resolve(env=env_of(config), context="half")


def test_a_broken_ca_file_is_named(config: Path, certs: Path) -> None:
    tls_dir = write_context(config, "badca", "tcp://10.0.0.6:2376")
    tls_dir.mkdir(parents=True)
    (tls_dir / "ca.pem").write_text("not a certificate")
    with pytest.raises(AddressError, match=r"docker context `badca`: cannot read CA file .*ca.pem: no PEM certificate"):
        resolve(env=env_of(config), context="badca")


def test_an_encrypted_key_is_refused(config: Path, certs: Path) -> None:
    tls_dir = write_context(config, "enc", "tcp://10.0.0.7:2376")
    tls_dir.mkdir(parents=True)
    shutil.copy(certs / "cert.pem", tls_dir / "cert.pem")
    shutil.copy(certs / "encrypted-key.pem", tls_dir / "key.pem")
    with pytest.raises(AddressError, match="docker context `enc`: cannot read key file .*: an encrypted key"):
        resolve(env=env_of(config), context="enc")


# -- what hlb cannot use: clear errors -----------------------------------------------------------

ERRORS = [
    ({"context": "nosuch"}, None, "docker context `nosuch` (chosen by --context) does not exist (no "),
    ({"DOCKER_CONTEXT": "nosuch"}, None, "docker context `nosuch` (set by DOCKER_CONTEXT) does not exist"),
    ({"context": ""}, None, "--context '' names no docker context"),
    ({"context": "remote", "addr": "unix:///k.sock"}, None, "conflicting options: --context remote and --addr"),
    ({}, "{not json", "config.json is not valid JSON (Expecting property name"),
    ({}, "[1]", "config.json is not a JSON object"),
    ({}, '{"currentContext": 7}', "currentContext is not a string"),
    ({}, '{"currentContext": "gone"}', "docker context `gone` (the currentContext of "),
]


@pytest.mark.parametrize(("given", "config_json", "message"), ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors(config: Path, given: dict[str, str], config_json: str | None, message: str) -> None:
    if config_json is not None:
        (config / "config.json").write_text(config_json)
    env = env_of(config, **{k: v for k, v in given.items() if k.isupper()})
    with pytest.raises(AddressError) as e:
        resolve(given.get("addr"), env=env, context=given.get("context"))
    assert message in str(e.value)


def test_docker_host_or_docker_context_is_not_blocked_by_a_broken_config_json(config: Path) -> None:
    (config / "config.json").write_text("{not json")
    assert resolve(env=env_of(config, DOCKER_HOST="unix:///d.sock")).url == "unix:///d.sock"
    assert resolve(env=env_of(config, DOCKER_CONTEXT="remote")).url == "unix:///remote/docker.sock"


META_ERRORS = [
    ("{", "is not valid JSON"),
    ("[]", "names no Docker engine: "),
    ('{"Endpoints": {}}', "has no Endpoints.docker.Host"),
    ('{"Endpoints": {"docker": {"Host": ""}}}', "has no Endpoints.docker.Host"),
    ('{"Endpoints": {"docker": {"Host": "tcp://h:1", "SkipTLSVerify": "yes"}}}', "SkipTLSVerify in "),
    ('{"Endpoints": {"docker": {"Host": "npipe:////./pipe/docker_engine"}}}', "unsupported Docker engine address"),
    ('{"Endpoints": {"docker": {"Host": "tcp://h:99999"}}}', "the port is not a number"),
    ('{"Endpoints": {"docker": {"Host": "unix://"}}}', "names no socket path"),
]


@pytest.mark.parametrize(("meta", "message"), META_ERRORS, ids=[m[1][:30] for m in META_ERRORS])
def test_a_malformed_meta_json(config: Path, meta: str, message: str) -> None:
    digest = hashlib.sha256(b"remote").hexdigest()
    (config / "contexts" / "meta" / digest / "meta.json").write_text(meta)
    with pytest.raises(AddressError) as e:
        resolve(env=env_of(config), context="remote")
    assert "docker context `remote`" in str(e.value) and message in str(e.value)


# -- the command line: --context, exit 2, and the hint -------------------------------------------


def run_hlb(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("command", [["run"], ["cache", "du"], ["cache", "prune", "-f"]])
def test_bad_contexts_exit_2_on_every_command_that_dials(
    command: list[str],
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    for name in ("DOCKER_HOST", "BUILDKIT_HOST"):
        monkeypatch.delenv(name, raising=False)
    f = tmp_path / "build.hlb"
    f.write_text('fs default() { image "busybox" }\n')
    file = [] if command[0] == "cache" else [str(f)]
    code, err = run_hlb([*command, "--context", "nosuch", *file], capsys)
    assert code == 2 and "hlb: error: docker context `nosuch` (chosen by --context) does not exist" in err
    code, err = run_hlb([*command, "--context", "remote", "--addr", "unix:///k.sock", *file], capsys)
    assert code == 2 and "conflicting options: --context remote and --addr unix:///k.sock" in err
    assert "Traceback" not in err


def test_an_unreachable_context_names_it_and_hints_at_docker_context_ls(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    for name in ("DOCKER_HOST", "BUILDKIT_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    f = tmp_path / "build.hlb"
    f.write_text('fs default() { image "busybox" }\n')
    code, err = run_hlb(["run", str(f)], capsys)
    assert code == 1
    assert (
        "cannot reach the Docker engine at unix:///colima/docker.sock "
        f"(from docker context `colima`, the currentContext of {config}/config.json)"
    ) in err
    assert "hint: is that engine running" in err and "`docker context ls`" in err and "--context NAME" in err


def test_hints_for_each_source() -> None:
    default = unreachable_hint(Address("docker", "unix:///var/run/docker.sock", "the default Docker socket"))
    assert default.startswith("start Docker") and "--context NAME" in default and "--addr" in default
    from_host = unreachable_hint(Address("docker", "unix:///d.sock", "DOCKER_HOST"))
    assert "unset DOCKER_HOST" in from_host
    context = unreachable_hint(Address("docker", "unix:///c.sock", "docker context `c`, set by DOCKER_CONTEXT"))
    assert "`docker context ls`" in context and "scripts/engine" not in context
    buildkit = unreachable_hint(Address("buildkit", "tcp://b:1", "BUILDKIT_HOST"))
    assert "buildkitd" in buildkit and "check BUILDKIT_HOST" in buildkit


def test_skip_tls_verify_reaches_the_tls_context(certs: Path) -> None:
    import ssl

    from hlb.address import TLSConfig
    from hlb.transport import tls_context

    skipping = tls_context(TLSConfig(skip_verify=True), "the engine")
    assert (skipping.verify_mode, skipping.check_hostname) == (ssl.CERT_NONE, False)
    verifying = tls_context(TLSConfig(ca=str(certs / "ca.pem")), "the engine")
    assert (verifying.verify_mode, verifying.check_hostname) == (ssl.CERT_REQUIRED, True)


# -- ssh:// Docker engines: DOCKER_HOST, docker://, a context -----------------------------------


@pytest.mark.parametrize(
    ("flag", "source"),
    [(None, "DOCKER_HOST"), ("docker://", "--addr docker://: DOCKER_HOST"), ("docker://ssh://ci@b:2222", "--addr")],
)
def test_an_ssh_docker_host_is_the_engine_over_ssh(config: Path, flag: str | None, source: str) -> None:
    a = resolve(flag, env=env_of(config, DOCKER_HOST="ssh://ci@b:2222"))
    assert (a.kind, a.url, a.source, a.scheme) == ("docker", "ssh://ci@b:2222", source, "ssh")
    assert (a.ssh.user, a.ssh.host, a.ssh.port) == ("ci", "b", 2222)


def test_an_ssh_docker_host_is_checked_like_addr_ssh(config: Path) -> None:
    with pytest.raises(AddressError, match="DOCKER_HOST: an ssh:// address cannot hold a password"):
        resolve(env=env_of(config, DOCKER_HOST="ssh://ci:pw@b"))
    with pytest.raises(AddressError, match=r"use unix://, tcp:// or ssh://"):
        resolve(env=env_of(config, DOCKER_HOST="npipe:////./pipe/docker_engine"))


def test_an_unreachable_ssh_engine_hints_at_ssh_not_docker_desktop(config: Path) -> None:
    write_context(config, "far", "ssh://ci@build-1:2222")
    hint = unreachable_hint(resolve(env=env_of(config, DOCKER_CONTEXT="far")))
    assert "colima" not in hint and "Docker Desktop" not in hint
    assert "`ssh -p 2222 ci@build-1`" in hint and "`ssh -p 2222 ci@build-1 docker version`" in hint
    for a in (resolve(env=env_of(config, DOCKER_HOST="ssh://b")), resolve("ssh://b", env={})):
        assert "`ssh b docker version`" in unreachable_hint(a), a


def test_the_hint_for_an_image_load_target_offers_no_flag_that_conflicts_with_addr() -> None:
    """The daemon is an --addr elsewhere: --context or another --addr would not choose where the image goes."""
    for source in ("the default Docker socket", "DOCKER_HOST", "docker context `c`, set by DOCKER_CONTEXT"):
        hint = unreachable_hint(Address("docker", "unix:///d.sock", source), load=True)
        assert "--context" not in hint and "--addr" not in hint and "scripts/engine" not in hint, hint
        assert "DOCKER_CONTEXT" in hint and "type=docker,dest=FILE" in hint, hint
