"""Source ops: ``docker-image://``, ``https://``, ``git://``, ``local://``.

Each builder sets the identifier, attrs and caps exactly as Go's
``client/llb`` (``Image``, ``HTTP``, ``Git``, ``Local``) does for the same
options, so the op bytes and digests match.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from hlb._proto import ops_pb2 as pb
from hlb.llb.core import Constraints, Output

if TYPE_CHECKING:
    from hlb.llb.definition import Marshaller

# Sources whose content depends on the platform keep it on the op.
_PLATFORM_SPECIFIC = ("docker-image://", "oci-layout://")

# The secret names Go's llb.Git always puts on a git source: the daemon looks up
# `<name>.<host>`, then `<name>`, and treats a missing secret as "no auth".
GIT_AUTH_TOKEN = "GIT_AUTH_TOKEN"
GIT_AUTH_HEADER = "GIT_AUTH_HEADER"


@dataclass(frozen=True, eq=False, slots=True)
class SourceOp:
    identifier: str
    attrs: Mapping[str, str] = field(default_factory=dict)
    constraints: Constraints = field(default_factory=Constraints)
    caps: frozenset[str] = frozenset()

    def inputs(self) -> tuple[Output, ...]:
        return ()

    def output(self) -> Output:
        return Output(self, 0)

    def to_pb(self, m: Marshaller) -> tuple[pb.Op, set[str]]:
        attrs, caps = dict(self.attrs), set(self.caps)
        if m.pull and self.identifier.startswith("docker-image://"):  # hlb run --pull
            attrs["image.resolvemode"] = "pull"
            caps.add("source.image.resolvemode")
        op = pb.Op(source=pb.SourceOp(identifier=self.identifier, attrs=attrs))
        if self.identifier.startswith(_PLATFORM_SPECIFIC):
            op.platform.CopyFrom(m.platform_pb(self.constraints))
        return op, caps


# -- docker-image:// ------------------------------------------------------------------


def image(ref: str, *, resolve_mode: str = "", constraints: Constraints | None = None) -> SourceOp:
    """An image source; ``ref`` must already be normalised (see :mod:`hlb.llb.reference`)."""
    attrs: dict[str, str] = {}
    caps = {"source.image"}
    if resolve_mode and resolve_mode != "default":
        attrs["image.resolvemode"] = resolve_mode
        if resolve_mode == "pull":
            caps.add("source.image.resolvemode")
    return SourceOp("docker-image://" + ref, attrs, constraints or Constraints(), frozenset(caps))


# -- http(s):// ------------------------------------------------------------------------


def http(
    url: str,
    *,
    checksum: str = "",
    filename: str = "",
    perm: int = 0,
    constraints: Constraints | None = None,
) -> SourceOp:
    """An HTTP(S) download (Go's ``llb.HTTP``): the identifier is the URL itself.

    ``perm`` is masked to the permission bits as ``llb.Chmod`` does; 0 keeps
    the daemon's default.
    """
    attrs: dict[str, str] = {}
    caps = {"source.http"}
    if checksum:
        attrs["http.checksum"] = checksum
        caps.add("source.http.checksum")
    if filename:
        attrs["http.filename"] = filename
    perm &= 0o777
    if perm:
        attrs["http.perm"] = f"0{perm:o}"
        caps.add("source.http.perm")
    return SourceOp(url, attrs, constraints or Constraints(), frozenset(caps))


# -- git:// ------------------------------------------------------------------------------

_PROTO = re.compile(r"^[a-zA-Z0-9]+://")
_SCP = re.compile(r"^([a-zA-Z0-9-_]+)@([a-zA-Z0-9-.]+):(.*?)(?:\?(.*?))?(?:#(.*))?$")
GIT_PROTOCOLS = ("http", "https", "ssh", "git")


@dataclass(frozen=True, slots=True)
class GitRemote:
    """A parsed git remote (BuildKit's ``gitutil.GitURL`` without the fragment options)."""

    scheme: str
    host: str
    path: str
    remote: str  # what `git fetch` is given: the URL without fragment and query


class GitURLError(ValueError):
    pass


def parse_git_url(url: str) -> GitRemote:
    """Parse a remote as ``gitutil.ParseURL`` does; a remote without a scheme gets ``https://``.

    Raises :class:`GitURLError` for a scheme git sources do not support.
    """
    m = _PROTO.match(url)
    if m:
        scheme = m.group(0)[:-3].lower()
        if scheme not in GIT_PROTOCOLS:
            raise GitURLError(f"unsupported protocol `{scheme}`")
        try:
            parts = urlsplit(url)
        except ValueError as e:  # an unclosed `[` of an IPv6 host
            raise GitURLError(str(e)) from None
        remote = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return GitRemote(scheme, parts.netloc.rpartition("@")[2], parts.path, remote)
    scp = _SCP.match(url)
    if scp:
        user, host, path = scp.group(1), scp.group(2), scp.group(3)
        return GitRemote("ssh", host, path, f"{user}@{host}:{path}")
    return parse_git_url("https://" + url)


def git(
    url: str,
    fragment: str = "",
    *,
    keep_git_dir: bool = False,
    constraints: Constraints | None = None,
) -> SourceOp:
    """A git checkout (Go's ``llb.Git(url, fragment)``); ``fragment`` is ``ref[:subdir]``.

    The identifier is protocol independent (``git://host/path#ref``); the
    real URL goes in ``git.fullurl``. SSH remotes mount the default SSH agent.
    Go's best-effort ``ssh-keyscan`` of the host is not done: like Go when the
    scan fails, no ``git.knownsshhosts`` attr is set.
    """
    remote = parse_git_url(url)
    ref, sep, subdir = fragment.partition(":")
    subdir = _clean_abs(subdir).lstrip("/") if sep else ""
    ident = remote.host + _clean_abs(remote.path)
    if ref or subdir:
        ident += "#" + ref
        if subdir:
            ident += ":" + subdir
    attrs: dict[str, str] = {}
    caps = {"source.git"}
    if keep_git_dir:
        attrs["git.keepgitdir"] = "true"
        caps.add("source.git.keepgitdir")
    attrs["git.fullurl"] = remote.remote
    caps.add("source.git.fullurl")
    attrs["git.authtokensecret"] = GIT_AUTH_TOKEN
    attrs["git.authheadersecret"] = GIT_AUTH_HEADER
    if remote.scheme == "ssh":
        caps.add("source.git.knownsshhosts")
        attrs["git.mountsshsock"] = "default"
        caps.add("source.git.mountsshsock")
    return SourceOp("git://" + ident, attrs, constraints or Constraints(), frozenset(caps))


def _clean_abs(path: str) -> str:
    """Go's ``path.Join("/", path)``: absolute, cleaned, one leading slash."""
    return "/" + posixpath.normpath("/" + path).lstrip("/")


# -- local:// --------------------------------------------------------------------------


def local(
    name: str,
    *,
    unique: str,
    include_patterns: Sequence[str] = (),
    exclude_patterns: Sequence[str] = (),
    shared_key_hint: str = "",
    constraints: Constraints | None = None,
) -> SourceOp:
    """A directory of the client (Go's ``llb.Local`` marshalled with ``llb.LocalUniqueID(unique)``).

    ``unique`` is always set (Go sets a random one when none is given); pass
    a stable value so digests do not change between runs.
    """
    attrs: dict[str, str] = {}
    caps = {"source.local"}
    if include_patterns:
        attrs["local.includepattern"] = go_json_strings(include_patterns)
        caps.add("source.local.includepatterns")
    if exclude_patterns:
        attrs["local.excludepatterns"] = go_json_strings(exclude_patterns)
        caps.add("source.local.excludepatterns")
    if shared_key_hint:
        attrs["local.sharedkeyhint"] = shared_key_hint
        caps.add("source.local.sharedkeyhint")
    attrs["local.unique"] = unique
    caps.add("source.local.unique")
    return SourceOp("local://" + name, attrs, constraints or Constraints(), frozenset(caps))


_GO_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json_strings(items: Sequence[str]) -> str:
    """``json.Marshal([]string)`` as Go writes it: compact, UTF-8 kept, ``<>&`` escaped."""
    text = json.dumps(list(items), separators=(",", ":"), ensure_ascii=False)
    return "".join(_GO_JSON_ESCAPES.get(c, c) for c in text)
