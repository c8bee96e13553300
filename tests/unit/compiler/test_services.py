"""What compiling may ask of the world outside (hlb.resolver.Services), and paths of this machine.

Each service is given on its own: an object the compiler is handed for one service is never asked to
be another, whatever methods it has. ``compile_source(resolver=..., manifests=...)`` is the shorthand
that hands one daemon object and one registry client for every service their methods provide.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from hlb.api import compile_source
from hlb.diagnostics import HlbError
from hlb.llb import Definition, Platform
from hlb.resolver import FrontendResult, ResolvedImage, ResolveError, Services
from hlb.source import SourceFile, client_path
from hlb.values import LocalDir

AMD64 = Platform("linux", "amd64")
LIB = 'export greet\n\nfs greet() {\n\timage "busybox:latest"\n\trun "echo hi"\n}\n'
FS_IMPORT = 'import lib from fs { image "127.0.0.1:5000/modules/lib:1"; }\n\nfs default() {\n\tlib.greet\n}\n'
FRONTEND = 'fs default() {\n\tfrontend "dockerfile.v0"\n}\n'


class ModulesOnly:
    """Reads files of built filesystems and nothing else (no `resolve`: not an image resolver)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def read_file(self, definition: Definition, path: str) -> bytes:
        self.asked.append(path)
        return LIB.encode()


class Daemon:
    """A daemon that can do everything a frontend needs."""

    def __init__(self) -> None:
        self.frontends: list[str] = []

    def resolve(self, ref: str, platform: Platform) -> ResolvedImage:
        raise ResolveError(f"no images here ({ref})")

    def frontend(
        self, source: str, opts: Mapping[str, str], inputs: Mapping[str, Definition], platform: Platform
    ) -> FrontendResult:
        self.frontends.append(source)
        return FrontendResult(None, None)


def test_a_module_reader_given_alone_reads_fetched_modules() -> None:
    reader = ModulesOnly()
    compiled = compile_source(SourceFile("build.hlb", FS_IMPORT), ["default"], AMD64, services=Services(modules=reader))
    assert reader.asked == ["module.hlb"]
    assert compiled.targets[0].fs is not None


def test_a_service_is_only_what_it_was_given_as() -> None:
    daemon = Daemon()
    with pytest.raises(HlbError) as e:
        compile_source(SourceFile("build.hlb", FRONTEND), ["default"], AMD64, services=Services(images=daemon))
    assert "there is none" in e.value.diagnostics[-1].message and daemon.frontends == []
    compile_source(SourceFile("build.hlb", FRONTEND), ["default"], AMD64, services=Services(frontends=daemon))
    assert daemon.frontends == ["dockerfile.v0"]


def test_the_shorthand_gives_a_daemon_object_every_service_it_provides() -> None:
    daemon = Daemon()
    services = Services.of(daemon, None)
    assert (services.images, services.frontends, services.modules, services.probe) == (daemon, daemon, None, None)


def test_services_and_the_shorthand_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        compile_source(SourceFile("b.hlb", FRONTEND), ["default"], AMD64, resolver=Daemon(), services=Services())


def test_client_paths_start_at_the_module_or_a_home_directory() -> None:
    home = os.path.expanduser("~")
    assert client_path("x/../y", "/m") == "/m/y"
    assert client_path("", "/m") == "/m"
    assert client_path("/abs//p/", "/m") == "/abs/p"
    assert client_path("~/a", "/m") == os.path.join(home, "a")
    assert client_path(f"~{getpass.getuser()}/a", "/m") == os.path.join(home, "a")


def test_local_reads_another_users_home_like_every_other_path(tmp_path: Path) -> None:
    # `~user` is a home directory for `local` as for cacheContext, exporter destinations and imports.
    main = tmp_path / "build.hlb"
    main.write_text(f'fs default() {{\n\tlocal "~{getpass.getuser()}"\n}}\n')
    compiled = compile_source(SourceFile.read(main), ["default"], AMD64)
    (local,) = [a for a in compiled.attachments.values() if isinstance(a, LocalDir)]
    assert local.path == os.path.expanduser("~")
