"""The pure parts of scripts/engine: mirror detection, pid ownership, env output, the base image."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType

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


def test_mirror_from_deb822_takes_the_stanza_of_the_host_suite() -> None:
    assert engine.mirror_from_deb822(DEB822, "bookworm") == "http://mirror.example/debian"
    assert engine.mirror_from_deb822(DEB822, "trixie") is None


def test_mirror_from_one_line_sources() -> None:
    text = "# comment\ndeb [arch=amd64 signed-by=/x.gpg] http://m.example/debian/ bookworm main\n"
    text += "deb http://security.debian.org/debian-security bookworm-security main\n"
    assert engine.mirror_from_list(text, "bookworm") == "http://m.example/debian"
    assert engine.mirror_from_list(text, "trixie") is None


def test_find_mirror_falls_back_to_deb_debian_org(tmp_path: Path) -> None:
    assert engine.find_mirror("bookworm", root=tmp_path) == "http://deb.debian.org/debian"
    (tmp_path / "etc/apt/sources.list.d").mkdir(parents=True)
    (tmp_path / "etc/apt/sources.list.d/debian.sources").write_text(DEB822)
    assert engine.find_mirror("bookworm", root=tmp_path) == "http://mirror.example/debian"


def test_host_codename() -> None:
    assert engine.host_codename('PRETTY_NAME="Debian"\nVERSION_CODENAME=trixie\n') == "trixie"
    assert engine.host_codename("") == "bookworm"


def test_ownership_needs_our_binary_and_our_state_dir(tmp_path: Path) -> None:
    binary = tmp_path / "prefix/usr/sbin/dockerd"
    ours = [str(binary), f"--data-root={tmp_path}/data"]
    assert engine.owned(ours, binary, tmp_path)
    assert not engine.owned(["/usr/sbin/dockerd", "--data-root=/var/lib/docker"], binary, tmp_path)
    assert not engine.owned([str(tmp_path / "prefix/usr/bin/containerd"), str(tmp_path)], binary, tmp_path)
    assert not engine.owned([], binary, tmp_path)


def test_a_stale_pid_file_is_dropped(tmp_path: Path) -> None:
    lay = engine.Layout(tmp_path)
    lay.run.mkdir(parents=True)
    lay.pidfile("dockerd").write_text("999999999\n")  # no such process
    assert engine.running(lay, "dockerd", lay.prefix / "usr/sbin/dockerd") is None
    assert not lay.pidfile("dockerd").exists()


def test_env_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lay = engine.Layout(tmp_path)
    engine.cmd_env(lay, as_json=False)
    text = capsys.readouterr().out
    assert f"export DOCKER_HOST=unix://{tmp_path}/run/docker.sock" in text
    assert "export HLB_REGISTRY=127.0.0.1:5000" in text
    engine.cmd_env(lay, as_json=True)
    data = json.loads(capsys.readouterr().out)
    assert data["DOCKER_HOST"] == f"unix://{tmp_path}/run/docker.sock"
    assert data["bin"] == f"{tmp_path}/prefix/usr/bin"


def test_layout_honours_hlb_engine_home(tmp_path: Path) -> None:
    assert engine.layout_from_env({"HLB_ENGINE_HOME": str(tmp_path)}).home == tmp_path
    assert engine.layout_from_env({}).home == Path("/var/lib/hlb-engine")


def test_busybox_rootfs_has_applet_links_and_passwd(tmp_path: Path) -> None:
    fake = tmp_path / "busybox"
    fake.write_text("#!/bin/sh\necho 'busybox\nsh\nls\ncat'\n")
    fake.chmod(0o755)
    data = engine.busybox_rootfs_tar(fake)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
        assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
        assert "bin/ls" in members and "bin/cat" in members and "bin/busybox" in members
        assert members["tmp"].mode == 0o1777
        assert all(m.uid == 0 and m.gid == 0 for m in members.values())
        passwd = tar.extractfile("etc/passwd")
        assert passwd is not None and passwd.read().startswith(b"root:x:0:0:")
