"""The pure parts of scripts/engine: mirror detection, pid ownership, env output, the base image.

Nothing here needs root or starts an engine; the one live process is a harmless
python sleeper started under a temporary directory to exercise ownership and stop().
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "engine"


def load() -> ModuleType:
    loader = SourceFileLoader("hlb_engine_script", str(SCRIPT))
    spec = spec_from_loader("hlb_engine_script", loader)
    assert spec is not None
    module = module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    loader.exec_module(module)
    return module


engine = load()

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
"""


# -- mirror detection ---------------------------------------------------------------------------


def test_mirror_from_deb822_takes_the_stanza_of_the_host_suite() -> None:
    assert engine.mirror_from_deb822(DEB822, "bookworm") == "http://mirror.example/debian"
    assert engine.mirror_from_deb822(DEB822, "trixie") is None


def test_mirror_from_deb822_never_takes_the_security_stanza() -> None:
    security_first = DEB822.split("\n\n")[1] + "\n\n" + DEB822.split("\n\n")[0]
    assert engine.mirror_from_deb822(security_first, "bookworm") == "http://mirror.example/debian"
    assert engine.mirror_from_deb822(DEB822, "bookworm-security") == "http://security.example/debian-security"


def test_mirror_from_deb822_skips_disabled_and_source_stanzas() -> None:
    text = (
        "Types: deb\nURIs: http://off.example/debian\nSuites: trixie\nEnabled: no\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: trixie\n\n"
        "Types: deb deb-src\nURIs: http://a.example/debian http://b.example/debian\nSuites: trixie\n"
    )
    assert engine.mirror_from_deb822(text, "trixie") == "http://a.example/debian"


def test_mirror_from_one_line_sources() -> None:
    text = "# deb http://commented.example/debian bookworm main\n"
    text += "deb-src http://src.example/debian bookworm main\n"
    text += "deb http://security.debian.org/debian-security bookworm-security main\n"
    text += "deb [arch=amd64 signed-by=/x.gpg] http://m.example/debian/ bookworm main contrib\n"
    assert engine.mirror_from_list(text, "bookworm") == "http://m.example/debian"
    assert engine.mirror_from_list(text, "trixie") is None
    assert engine.mirror_from_list("deb http://x.example/debian bookworm contrib\n", "bookworm") is None


def test_find_mirror_prefers_deb822_then_sources_list_then_deb_debian_org(tmp_path: Path) -> None:
    assert engine.find_mirror("bookworm", root=tmp_path) == "http://deb.debian.org/debian"
    (tmp_path / "etc/apt/sources.list.d").mkdir(parents=True)
    (tmp_path / "etc/apt/sources.list").write_text("deb http://legacy.example/debian bookworm main\n")
    assert engine.find_mirror("bookworm", root=tmp_path) == "http://legacy.example/debian"
    (tmp_path / "etc/apt/sources.list.d/debian.sources").write_text(DEB822)
    assert engine.find_mirror("bookworm", root=tmp_path) == "http://mirror.example/debian"
    assert engine.find_mirror("trixie", root=tmp_path) == "http://deb.debian.org/debian"
    assert engine.find_mirror("", root=tmp_path) == "http://deb.debian.org/debian"


def test_host_codename_and_the_suite_runc_comes_from() -> None:
    assert engine.host_codename('PRETTY_NAME="Debian"\nVERSION_CODENAME=trixie\n') == "trixie"
    assert engine.host_codename('VERSION_CODENAME="bookworm"\n') == "bookworm"
    assert engine.host_codename("") == ""
    assert engine.runc_suite("bookworm") == "bookworm"  # trixie's runc needs glibc 2.38
    assert engine.runc_suite("bullseye") == "bullseye"
    assert engine.runc_suite("trixie") == "trixie"
    assert engine.runc_suite("forky") == "trixie"
    assert engine.runc_suite("") == "trixie"


def test_apt_options_are_private(tmp_path: Path) -> None:
    lay = engine.Layout(tmp_path)
    opts = engine.apt_options(lay, "http://m.example/debian", "trixie")
    sources = tmp_path / "pkgs/apt-trixie/sources.list"
    assert sources.read_text() == (
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://m.example/debian trixie main\n"
    )
    assert f"Dir::Etc::SourceList={sources}" in opts
    assert "Dir::Etc::SourceParts=/dev/null" in opts
    assert f"Dir::State::Lists={tmp_path}/pkgs/apt-trixie/lists" in opts
    assert f"Dir::Cache={tmp_path}/pkgs/apt-trixie/cache" in opts
    assert "APT::Sandbox::User=root" in opts
    conf = (tmp_path / "pkgs/apt.conf").read_text()
    assert "#clear APT::Update::Post-Invoke-Success;" in conf
    assert 'Dir::Etc::PreferencesParts "/dev/null";' in conf


# -- packages and stamps ------------------------------------------------------------------------


def test_parse_deb_name_decodes_the_epoch() -> None:
    assert engine.parse_deb_name("busybox-static_1%3a1.37.0-6+b9_amd64.deb") == (
        "busybox-static",
        "1:1.37.0-6+b9",
        "amd64",
    )
    assert engine.parse_deb_name("docker.io_26.1.5+dfsg1-9+deb13u1_amd64.deb") == (
        "docker.io",
        "26.1.5+dfsg1-9+deb13u1",
        "amd64",
    )
    assert engine.parse_deb_name("notadeb.txt") is None


def test_find_deb_matches_the_whole_package_name(tmp_path: Path) -> None:
    (tmp_path / "busybox-static_1%3a1.37.0-6+b9_amd64.deb").write_bytes(b"")
    (tmp_path / "docker-cli_26.1.5_amd64.deb").write_bytes(b"")
    assert engine.find_deb(tmp_path, "busybox") is None
    assert engine.find_deb(tmp_path, "busybox-static") == tmp_path / "busybox-static_1%3a1.37.0-6+b9_amd64.deb"
    assert engine.find_deb(tmp_path, "docker") is None
    assert engine.find_deb(tmp_path, "docker-cli") is not None


def test_links_are_made_once(tmp_path: Path) -> None:
    lay = engine.Layout(tmp_path)
    assert engine.ensure_links(lay) is True
    assert os.readlink(tmp_path / "prefix/usr/bin/docker-init") == "tini-static"
    assert os.readlink(tmp_path / "prefix/usr/bin/runc") == "../sbin/runc"
    assert engine.ensure_links(lay) is False


# -- processes we own ---------------------------------------------------------------------------


def test_ownership_needs_our_binary_and_our_state_dir(tmp_path: Path) -> None:
    home = tmp_path / "e-1"
    binary = home / "prefix/usr/sbin/dockerd"
    assert engine.owned([str(binary), "--data-root", f"{home}/data"], binary, home)
    assert engine.owned([str(binary), f"--data-root={home}/data"], binary, home)
    assert not engine.owned(["/usr/sbin/dockerd", "--data-root=/var/lib/docker"], binary, home)
    assert not engine.owned(["dockerd", f"--data-root={home}/data"], binary, home)
    assert not engine.owned([str(home / "prefix/usr/bin/containerd"), str(home)], binary, home)
    assert not engine.owned([str(binary)], binary, home)
    assert not engine.owned([], binary, home)


def test_ownership_is_not_fooled_by_a_sibling_state_dir(tmp_path: Path) -> None:
    """/tmp/apttest/st or /tmp/e-12 must never count as /tmp/e-1."""
    home, sibling = tmp_path / "e-1", tmp_path / "e-12"
    binary = home / "prefix/usr/sbin/dockerd"
    assert not engine.owned([str(sibling / "prefix/usr/sbin/dockerd"), f"--data-root={sibling}/data"], binary, home)
    assert not engine.owned([str(binary), f"--data-root={sibling}/data"], binary, home)
    assert not engine.names_path(f"{sibling}/data", home)
    assert engine.names_path(str(home), home)
    assert engine.names_path(f"--exec-root={home}/exec", home)


def test_cmdline_of_reads_proc(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "42/cmdline").write_bytes(b"/x/dockerd\0--host\0unix:///s\0")
    assert engine.cmdline_of(42, proc=tmp_path) == ["/x/dockerd", "--host", "unix:///s"]
    assert engine.cmdline_of(43, proc=tmp_path) == []
    assert engine.cmdline_of(os.getpid())  # this process


def test_a_stale_pid_file_is_dropped(tmp_path: Path) -> None:
    lay = engine.Layout(tmp_path)
    lay.run.mkdir(parents=True)
    lay.pidfile("dockerd").write_text(f"{os.getpid()}\n")  # alive, but not our dockerd
    assert engine.running(lay, "dockerd", lay.dockerd, repair=False) is None
    assert lay.pidfile("dockerd").exists()  # status does not repair
    assert engine.running(lay, "dockerd", lay.dockerd) is None
    assert not lay.pidfile("dockerd").exists()
    lay.pidfile("dockerd").write_text("garbage\n")
    assert engine.running(lay, "dockerd", lay.dockerd) is None
    assert not lay.pidfile("dockerd").exists()


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[tuple[Any, subprocess.Popen[bytes]]]:
    """A process that looks like our registry: our prefix's binary, naming our state dir."""
    lay = engine.Layout(tmp_path)
    lay.registry_bin.parent.mkdir(parents=True)
    lay.registry_bin.symlink_to(sys.executable)
    lay.run.mkdir()
    code = "import time; time.sleep(60)"
    proc = subprocess.Popen([str(lay.registry_bin), "-c", code, str(lay.registry_yml)])
    assert engine.wait_until(lambda: engine.owned(engine.cmdline_of(proc.pid), lay.registry_bin, lay.home), 10)
    yield lay, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_our_process_is_found_stopped_and_its_pid_file_removed(
    sleeper: tuple[Any, subprocess.Popen[bytes]],
) -> None:
    lay, proc = sleeper
    assert engine.running(lay, "registry", lay.registry_bin, repair=False) == proc.pid
    lay.pidfile("registry").write_text(f"{os.getpid()}\n")  # wrong pid: found in /proc, file repaired
    assert engine.running(lay, "registry", lay.registry_bin) == proc.pid
    assert lay.pidfile("registry").read_text().strip() == str(proc.pid)
    said: list[str] = []
    started = time.monotonic()
    engine.stop(lay, "registry", lay.registry_bin, said.append)
    assert time.monotonic() - started < 10
    assert said == [f"engine: registry stopped (pid {proc.pid})"]
    assert proc.wait(timeout=5) == -15
    assert not lay.pidfile("registry").exists()


def test_stop_never_signals_a_process_that_is_not_ours(tmp_path: Path) -> None:
    lay = engine.Layout(tmp_path)
    lay.run.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(tmp_path / "data")])
    try:
        lay.pidfile("dockerd").write_text(f"{other.pid}\n")
        said: list[str] = []
        engine.stop(lay, "dockerd", lay.dockerd, said.append)
        assert said == ["engine: dockerd is not running"]
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


# -- env, layout, status helpers ------------------------------------------------------------------


def test_env_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lay = engine.Layout(tmp_path)
    engine.cmd_env(lay, as_json=False)
    assert capsys.readouterr().out.splitlines() == [
        f"export DOCKER_HOST=unix://{tmp_path}/run/docker.sock",
        f"export HLB_ENGINE_PREFIX={tmp_path}/prefix",
        "export HLB_REGISTRY=127.0.0.1:5000",
        f'export PATH="{tmp_path}/prefix/usr/bin:$PATH"',
    ]
    engine.cmd_env(lay, as_json=True)
    assert json.loads(capsys.readouterr().out) == {
        "DOCKER_HOST": f"unix://{tmp_path}/run/docker.sock",
        "HLB_ENGINE_PREFIX": f"{tmp_path}/prefix",
        "HLB_REGISTRY": "127.0.0.1:5000",
        "bin": f"{tmp_path}/prefix/usr/bin",
    }


def test_env_output_is_shell_safe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / 'a b"$c'
    engine.cmd_env(engine.Layout(home), as_json=False)
    script = capsys.readouterr().out + 'printf "%s\\n" "$DOCKER_HOST" "$HLB_ENGINE_PREFIX" "${PATH%%:*}"\n'
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [f"unix://{home}/run/docker.sock", f"{home}/prefix", f"{home}/prefix/usr/bin"]


def test_env_needs_no_root(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(engine.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HLB_ENGINE_HOME", "/srv/e")
    assert engine.main(["env", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["DOCKER_HOST"] == "unix:///srv/e/run/docker.sock"


@pytest.mark.parametrize("cmd", [["up"], ["down"], ["status"], ["logs"]])
def test_other_commands_need_root(
    cmd: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(engine.os, "geteuid", lambda: 1000)
    assert engine.main(cmd) == 1
    err = capsys.readouterr().err
    assert "must run as root" in err and len(err.strip().splitlines()) == 1


def test_unexpected_errors_are_one_paragraph_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def boom(args: object, lay: object) -> int:
        raise ValueError("surprise")

    monkeypatch.setattr(engine.os, "geteuid", lambda: 0)
    monkeypatch.setenv("HLB_ENGINE_HOME", str(tmp_path))
    monkeypatch.setattr(engine, "dispatch", boom)
    assert engine.main(["status"]) == 1
    err = capsys.readouterr().err
    assert "status failed unexpectedly: ValueError: surprise" in err
    assert str(tmp_path / "log") in err and "Traceback" not in err


def test_engine_errors_name_what_failed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(engine.os, "geteuid", lambda: 0)
    monkeypatch.setenv("HLB_ENGINE_HOME", str(tmp_path / ("x" * 100)))
    assert engine.main(["up", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("engine: up failed: the unix socket path ") and "HLB_ENGINE_HOME" in err
    assert not (tmp_path / ("x" * 100)).exists()


def test_layout_honours_hlb_engine_home(tmp_path: Path) -> None:
    assert engine.layout_from_env({"HLB_ENGINE_HOME": str(tmp_path)}).home == tmp_path
    assert engine.layout_from_env({}).home == Path("/var/lib/hlb-engine")
    lay = engine.Layout(Path("/var/lib/hlb-engine"))
    assert lay.docker_host == "unix:///var/lib/hlb-engine/run/docker.sock"
    assert lay.pidfile("dockerd") == Path("/var/lib/hlb-engine/run/dockerd.pid")
    assert lay.logfile("registry") == Path("/var/lib/hlb-engine/log/registry.log")


def test_socket_paths_must_fit_a_sockaddr(tmp_path: Path) -> None:
    engine.check_socket_paths(engine.Layout(Path("/var/lib/hlb-engine")))
    with pytest.raises(engine.EngineError, match="shorter directory"):
        engine.check_socket_paths(engine.Layout(Path("/" + "d" * 80)))


def test_dockerd_command_line(tmp_path: Path) -> None:
    lay = engine.Layout(tmp_path)
    argv = engine.dockerd_argv(lay)
    assert argv[0] == str(tmp_path / "prefix/usr/sbin/dockerd")
    pairs = dict(zip(argv[1::2], argv[2::2], strict=False))
    assert pairs["--config-file"] == str(tmp_path / "daemon.json")
    assert pairs["--host"] == f"unix://{tmp_path}/run/docker.sock"
    assert pairs["--data-root"] == str(tmp_path / "data")
    assert pairs["--exec-root"] == str(tmp_path / "exec")
    assert pairs["--pidfile"] == str(tmp_path / "run/dockerd.pid")
    assert "--iptables=false" in argv
    assert engine.owned(argv, lay.dockerd, lay.home)
    assert engine.DAEMON_JSON == {"features": {"containerd-snapshotter": True}}


def test_driver_type_from_info() -> None:
    info = {"Driver": "overlayfs", "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}
    assert engine.driver_type(info) == "io.containerd.snapshotter.v1"
    assert engine.driver_type({"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]]}) == ""
    assert engine.driver_type({"DriverStatus": None}) == ""


def test_registry_config(tmp_path: Path) -> None:
    text = engine.registry_config(engine.Layout(tmp_path))
    assert text.startswith("version: 0.1\n")
    assert f"rootdirectory: {tmp_path}/registry\n" in text
    assert "addr: 127.0.0.1:5000\n" in text
    assert "delete:\n    enabled: true\n" in text
    assert "level: warn\n" in text


def test_listening_inodes_of_proc_net_tcp() -> None:
    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1\n"
        "   1: 0100007F:1388 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 222 1\n"
        "   2: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1\n"
    )
    assert engine.listening_inodes(text, 5000) == {111}
    assert engine.listening_inodes(text, 2024) == {333}
    assert engine.listening_inodes(text, 80) == set()


def test_mounts_under_the_state_dir() -> None:
    mountinfo = (
        "42 27 254:0 /srv/e/data /srv/e/data rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "43 27 0:50 / /srv/e-2/data rw - tmpfs tmpfs rw\n"
        "44 27 0:51 / /srv/e/exec/with\\040space rw - tmpfs tmpfs rw\n"
        "45 1 254:0 / / rw - ext4 /dev/vda rw\n"
    )
    assert engine.mounts_under(Path("/srv/e"), mountinfo) == ["/srv/e/data", "/srv/e/exec/with space"]


# -- the base image -----------------------------------------------------------------------------


def test_busybox_rootfs_has_applet_links_and_passwd(tmp_path: Path) -> None:
    fake = tmp_path / "busybox"
    fake.write_text("#!/bin/sh\necho 'busybox\nsh\nls\ncat'\n")
    fake.chmod(0o755)
    data = engine.busybox_rootfs_tar(fake)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
        assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
        assert {"bin/ls", "bin/cat", "bin/busybox"} <= members.keys()
        assert [n for n in members if n.startswith("bin/")].count("bin/busybox") == 1
        assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
        assert members["root"].isdir()
        assert all(m.uid == 0 and m.gid == 0 for m in members.values())
        passwd = tar.extractfile("etc/passwd")
        assert passwd is not None
        assert passwd.read().decode().splitlines() == [
            "root:x:0:0:root:/root:/bin/sh",
            "nobody:x:65534:65534:nobody:/nonexistent:/bin/false",
        ]
        assert "etc/group" in members


def test_busybox_rootfs_fails_clearly(tmp_path: Path) -> None:
    fake = tmp_path / "busybox"
    fake.write_text("#!/bin/sh\necho nope >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(engine.EngineError, match="--list failed: nope"):
        engine.busybox_rootfs_tar(fake)


# -- a second engine beside the default one (--name) ----------------------------------------------


def test_a_named_engine_has_its_own_state_and_the_default_ones_packages_and_registry() -> None:
    env = {"HLB_ENGINE_HOME": "/srv/e"}
    default, b = engine.layout_from_env(env), engine.layout_from_env(env, name="b")
    assert engine.layout_from_env(env, name="default") == default
    assert (b.home, b.name) == (Path("/srv/e/engines/b"), "b")
    assert b.socket == Path("/srv/e/engines/b/run/docker.sock")
    assert (b.data, b.exec_root, b.log) == (
        Path("/srv/e/engines/b/data"),
        Path("/srv/e/engines/b/exec"),
        Path("/srv/e/engines/b/log"),
    )
    assert (b.prefix, b.pkgs, b.registry) == (default.prefix, default.pkgs, default.registry)
    assert b.dockerd == default.dockerd and b.base_layout() == default
    assert engine.bridge_of(default) is None and engine.bridge_of(b) == engine.Bridge("hlbe-b", "")
    argv = engine.dockerd_argv(b, engine.bridge_of(b))
    assert argv[argv.index("--bridge") + 1] == "hlbe-b" and "--bridge" not in engine.dockerd_argv(default)
    assert argv[argv.index("--data-root") + 1] == "/srv/e/engines/b/data"


@pytest.mark.parametrize("name", ["B", "1b", "b-c", "abcdefghijk", "b/../x", " "])
def test_engine_names_fit_a_bridge_name(name: str) -> None:
    with pytest.raises(engine.EngineError, match="is not an engine name"):
        engine.layout_from_env({"HLB_ENGINE_HOME": "/srv/e"}, name=name)
    assert len(engine.bridge_of(engine.layout_from_env({}, name="abcdefghij")).name) <= 15


def test_the_default_engine_never_owns_a_named_engines_processes(tmp_path: Path) -> None:
    default = engine.Layout(tmp_path)
    b = engine.Layout(tmp_path / "engines" / "b", base=tmp_path, name="b")
    b_dockerd = engine.dockerd_argv(b, engine.bridge_of(b))
    assert engine.owned(b_dockerd, b.dockerd, b.home, b.engines)
    assert not engine.owned(b_dockerd, default.dockerd, default.home, default.engines)
    assert engine.owned(engine.dockerd_argv(default), default.dockerd, default.home, default.engines)
    assert not engine.owned(engine.dockerd_argv(default), b.dockerd, b.home, b.engines)


def test_leftover_helpers_are_the_ones_naming_this_engines_state(tmp_path: Path) -> None:
    default = engine.Layout(tmp_path)
    b = engine.Layout(tmp_path / "engines" / "b", base=tmp_path, name="b")
    private = engine.Layout(Path("/tmp/hlbpe-x"), base=tmp_path)
    containerd = str(default.prefix / "usr/bin/containerd")
    shim = str(default.prefix / "usr/bin/containerd-shim-runc-v2")
    of_default = ["containerd", "--config", f"{tmp_path}/exec/containerd/containerd.toml"]
    of_b = [shim, "-namespace", "moby", "-address", f"{b.exec_root}/containerd/containerd.sock"]
    of_private = ["containerd", f"--config={private.exec_root}/containerd/containerd.toml"]
    assert engine.is_leftover(default, containerd, of_default)
    assert not engine.is_leftover(default, shim, of_b) and engine.is_leftover(b, shim, of_b)
    assert not engine.is_leftover(default, containerd, of_private) and engine.is_leftover(
        private, containerd, of_private
    )
    assert not engine.is_leftover(default, "/usr/bin/containerd", of_default)  # not our prefix's binary


def test_purging_the_default_engine_leaves_named_engines_mounts_alone() -> None:
    mountinfo = (
        "42 27 254:0 /srv/e/data /srv/e/data rw - ext4 /dev/vda rw\n"
        "43 27 254:0 /srv/e/engines/b/data /srv/e/engines/b/data rw - ext4 /dev/vda rw\n"
    )
    assert engine.mounts_under(Path("/srv/e"), mountinfo, Path("/srv/e/engines")) == ["/srv/e/data"]
    assert engine.mounts_under(Path("/srv/e/engines/b"), mountinfo) == ["/srv/e/engines/b/data"]


def test_a_named_engines_bridge_takes_the_first_free_network() -> None:
    ip_addr = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
        "3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\n"
        "7: hlbe-b    inet 10.214.0.1/24 scope global hlbe-b\n"
        "8: hlbe-c    inet 10.214.1.1/24 scope global hlbe-c\n"
    )
    assert engine.used_subnets(ip_addr) == {"127.0.0", "172.17.0", "10.214.0", "10.214.1"}
    assert engine.free_cidr(ip_addr) == "10.214.2.1/24"
    assert engine.free_cidr("") == "10.214.0.1/24"
    full = "".join(f"9: x    inet 10.214.{n}.1/24 scope global x\n" for n in range(256))
    with pytest.raises(engine.EngineError, match="in use"):
        engine.free_cidr(full)


def test_env_of_a_named_engine(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(engine.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HLB_ENGINE_HOME", "/srv/e")
    assert engine.main(["env", "--json", "--name", "b"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "DOCKER_HOST": "unix:///srv/e/engines/b/run/docker.sock",
        "HLB_ENGINE_PREFIX": "/srv/e/prefix",
        "HLB_REGISTRY": "127.0.0.1:5000",
        "bin": "/srv/e/prefix/usr/bin",
    }
    assert engine.main(["env", "--name", "B"]) == 1
    err = capsys.readouterr().err
    assert "env failed: --name 'B' is not an engine name" in err and "Traceback" not in err
