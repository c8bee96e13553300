"""Docker image reference normalisation (distribution/reference's rules).

``busybox`` -> ``docker.io/library/busybox:latest``;
``localhost:5000/x`` -> ``localhost:5000/x:latest``; a digest is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_DOMAIN = re.compile(
    r"(?:localhost|(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
    r"(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?\Z"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")
DEFAULT_DOMAIN = "docker.io"


@dataclass(frozen=True, slots=True)
class Reference:
    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s


def parse(ref: str) -> Reference:
    """Parse and normalise ``ref``, adding ``:latest`` when it has neither tag nor digest.

    Raises ValueError with distribution's wording for malformed references.
    """
    if not ref:
        raise ValueError("repository name must have at least one component")
    name, _, digest = ref.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ValueError("invalid reference format")
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.match(tag):
            raise ValueError("invalid reference format")
    domain, path = _split_domain(name)
    if path.lower() != path:
        raise ValueError("repository name must be lowercase")
    if not all(_COMPONENT.match(c) for c in path.split("/")):
        raise ValueError("invalid reference format")
    if len(domain) + 1 + len(path) > 255:
        raise ValueError("repository name must not be more than 255 characters")
    if not tag and not digest:
        tag = "latest"
    return Reference(domain, path, tag, digest)


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
        if not _DOMAIN.match(domain):
            raise ValueError("invalid reference format")
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = "library/" + path
    if not path:
        raise ValueError("invalid reference format")
    return domain, path
