"""Platforms (os/arch/variant), normalised the way containerd's ``platforms`` package does."""

from __future__ import annotations

import platform as _platform
import re
from dataclasses import dataclass

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
}

# The operating systems and architectures containerd's ``platforms`` knows (Go's GOOS and GOARCH lists),
# after its normalisation (``macos`` is ``darwin``, ``x86_64`` is ``amd64``, ``aarch64`` is ``arm64``...).
KNOWN_OS = (
    "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl",
    "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos",
)  # fmt: skip
KNOWN_ARCH = (
    "386", "amd64", "amd64p32", "arm", "arm64", "arm64be", "armbe", "loong64", "mips", "mips64", "mips64le",
    "mips64p32", "mips64p32le", "mipsle", "ppc", "ppc64", "ppc64le", "riscv", "riscv64", "s390", "s390x",
    "sparc", "sparc64", "wasm",
)  # fmt: skip
_OS_ALIASES = {"macos": "darwin"}
_DEFAULT_VARIANTS = {("arm64", "8"), ("arm64", "v8"), ("arm64", "v8.0"), ("amd64", "v1")}
_COMPONENT = re.compile(r"^[A-Za-z0-9_.-]+$")  # containerd's specifier component


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        s = f"{self.os}/{self.architecture}"
        return f"{s}/{self.variant}" if self.variant else s

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]``; raises ValueError with a readable reason."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"invalid platform {text!r}: expected os/arch[/variant]")
        os_, arch = parts[0].lower(), normalize_arch(parts[1].lower())
        os_ = _OS_ALIASES.get(os_, os_)
        variant = parts[2].lower() if len(parts) == 3 else ""
        if (arch, variant) in _DEFAULT_VARIANTS:  # the variant an arch has when none is given
            variant = ""
        return cls(os_, arch, variant)

    @classmethod
    def parse_flag(cls, text: str) -> Platform:
        """A platform given on the command line (``--platform``): one ``os/arch[/variant]`` of a known os
        and arch. Raises ValueError with the reason and what a platform looks like (one line)."""
        shape = (
            f"a platform is os/arch[/variant] (e.g. linux/amd64, linux/arm64, linux/arm/v7), os one of "
            f"{', '.join(KNOWN_OS)}; arch one of {', '.join(KNOWN_ARCH)}"
        )
        if not text.strip():
            raise ValueError(f"an empty platform: {shape}")
        if "," in text:
            raise ValueError(f"{text!r} names several platforms; hlb builds for one platform at a time: {shape}")
        parts = text.strip().split("/")
        if len(parts) not in (2, 3):
            raise ValueError(f"{text!r} is not a platform: {shape}")
        for part in parts:
            if not _COMPONENT.match(part) or part in (".", ".."):
                raise ValueError(f"{text!r} is not a platform ({part!r} is not a name): {shape}")
        p = cls.parse(text)
        if p.os not in KNOWN_OS:
            raise ValueError(f"{text!r}: unknown operating system {p.os!r}: {shape}")
        if p.architecture not in KNOWN_ARCH:
            raise ValueError(f"{text!r}: unknown architecture {p.architecture!r}: {shape}")
        return p


def normalize_arch(arch: str) -> str:
    return _ARCH_ALIASES.get(arch, arch)


def default_platform() -> Platform:
    """The client's platform: always linux (BuildKit builds Linux images), host arch."""
    machine = normalize_arch(_platform.machine().lower())
    variant = "v7" if machine == "arm" else ""
    return Platform("linux", machine, variant)
