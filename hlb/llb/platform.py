"""Platforms (os/arch/variant), normalised the way containerd's ``platforms`` package does."""

from __future__ import annotations

import platform as _platform
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
        variant = parts[2].lower() if len(parts) == 3 else ""
        if arch == "arm64" and variant == "v8":
            variant = ""
        return cls(os_, arch, variant)


def normalize_arch(arch: str) -> str:
    return _ARCH_ALIASES.get(arch, arch)


def default_platform() -> Platform:
    """The client's platform: always linux (BuildKit builds Linux images), host arch."""
    machine = normalize_arch(_platform.machine().lower())
    variant = "v7" if machine == "arm" else ""
    return Platform("linux", machine, variant)
