"""Cache backends: what ``--cache-from``/``--cache-to`` entries and ``cacheContext`` caches may say.

One :class:`Backend` declaration per cache type (``registry``, ``local``,
``inline``, ``gha``, ``s3``, ``azblob``): its attributes, which are required
for an import and for an export, the values each accepts, which are secrets,
and the name the daemon gives its export step. :func:`parse` reads a flag
value as buildx does (CSV, keys case-insensitive, a bare ``REF`` list is
registry refs) and :func:`check` validates an entry against its declaration,
so a mistake is a usage error before anything is built, never a build that
silently skips its cache.

The attribute sets are BuildKit v0.13.2's (the Docker engine 26 embeds it),
plus the keys buildx fills in for newer daemons (``gha``'s ``url_v2`` and
``version``). A key a backend does not declare is passed to the daemon as
buildx does, with a warning.

:func:`import_step` and :func:`export_step` name the progress vertices the
daemon reports for an entry, so the run summary can say what happened to each
cache (:mod:`hlb.build.runner`).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hlb.llb.reference import parse as parse_ref
from hlb.values import CacheEntry

IMPORT = "import"
EXPORT = "export"
BOTH = (IMPORT, EXPORT)

GO_BOOLS = ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False")
_GO_DURATION_PART = r"(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h)"
_GO_DURATION = re.compile(rf"(?:{_GO_DURATION_PART})+\Z")


TARGET_PLACEHOLDER = "{target}"  # in a cache entry: the requested target's name (see hlb.compiler.plan)
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][\w-]*\}")


def unknown_placeholder(values: Iterable[str]) -> str | None:
    """A ``{name}`` in ``values`` that is not :data:`TARGET_PLACEHOLDER` (a misspelt ``{targt}`` would otherwise be
    kept as written, in a path or a ref), or None."""
    for v in values:
        for m in _PLACEHOLDER.finditer(v):
            if m.group(0) != TARGET_PLACEHOLDER:
                return m.group(0)
    return None


class CacheFlagError(ValueError):
    """A cache entry that cannot work; its text names the flag and the bad part."""


@dataclass(frozen=True, slots=True)
class Attr:
    """One attribute of a backend.

    ``kind``: ``text`` (any non-empty value), ``ref`` (an image reference),
    ``path`` (a local directory, made absolute), ``bool`` (Go's ParseBool, as
    the daemon reads it), ``int``, ``duration`` (Go's ParseDuration) or
    ``choice`` (one of ``choices``). ``use``: the directions it applies to.
    """

    name: str
    kind: str = "text"
    choices: tuple[str, ...] = ()
    use: tuple[str, ...] = BOTH
    secret: bool = False


@dataclass(frozen=True, slots=True)
class Backend:
    type: str
    directions: tuple[str, ...]  # import, export or both
    attrs: tuple[Attr, ...]
    required: Mapping[str, tuple[str, ...]]  # direction -> attrs an entry must give
    export_step: str  # the daemon's progress vertex for this exporter ("" when it has none)
    hint: str  # an example, for messages
    defaults: Mapping[str, str] = field(default_factory=dict)  # filled in when absent (shown in --tree)
    # Where a cache lives: the attrs that name one place (an import and an export of it match on these;
    # local's src and dest are one), and the attr that gets `-TARGET` when several targets share an entry.
    place: tuple[str, ...] = ()
    per_target: str = ""

    def attr(self, name: str) -> Attr | None:
        return next((a for a in self.attrs if a.name == name), None)


_MODE = Attr("mode", "choice", ("min", "max"), use=(EXPORT,))
_IGNORE_ERROR = Attr("ignore-error", "bool", use=(EXPORT,))
_COMPRESSION = (
    Attr("compression", "choice", ("uncompressed", "gzip", "estargz", "zstd"), use=(EXPORT,)),
    Attr("compression-level", "int", use=(EXPORT,)),
    Attr("force-compression", "bool", use=(EXPORT,)),
)
_MANIFEST = (
    Attr("oci-mediatypes", "bool", use=(EXPORT,)),
    Attr("image-manifest", "bool", use=(EXPORT,)),
)
_LAYOUT = (
    Attr("prefix"),
    Attr("manifests_prefix"),
    Attr("blobs_prefix"),
    Attr("name"),
)

BACKENDS: dict[str, Backend] = {
    b.type: b
    for b in (
        Backend(
            "registry",
            BOTH,
            (Attr("ref", "ref"), _MODE, _IGNORE_ERROR, *_COMPRESSION, *_MANIFEST, Attr("registry.insecure", "bool")),
            {IMPORT: ("ref",), EXPORT: ("ref",)},
            "exporting cache to registry",
            "type=registry,ref=REGISTRY/REPO:TAG",
            place=("ref",),
            per_target="ref",
        ),
        Backend(
            "local",
            BOTH,
            (
                Attr("src", "path", use=(IMPORT,)),
                Attr("dest", "path", use=(EXPORT,)),
                Attr("tag"),
                Attr("digest", use=(IMPORT,)),
                _MODE,
                _IGNORE_ERROR,
                *_COMPRESSION,
                *_MANIFEST,
            ),
            {IMPORT: ("src",), EXPORT: ("dest",)},
            "exporting cache to client directory",
            "type=local,src=DIR (--cache-from) or type=local,dest=DIR (--cache-to)",
            place=("dir", "tag"),
            per_target="tag",
        ),
        Backend(
            "inline",
            (EXPORT,),
            (Attr("mode", "choice", ("min",), use=(EXPORT,)),),
            {EXPORT: ()},
            "",
            "type=inline (the cache metadata goes into the image this solve pushes)",
        ),
        Backend(
            "gha",
            BOTH,
            (
                Attr("url"),
                Attr("token", secret=True),
                Attr("scope"),
                Attr("timeout", "duration"),
                Attr("url_v2"),
                Attr("version", "choice", ("1", "2")),
                _MODE,
                _IGNORE_ERROR,
            ),
            {IMPORT: ("url", "token"), EXPORT: ("url", "token")},
            "exporting to GitHub Actions Cache",
            "type=gha[,scope=NAME] inside GitHub Actions (token and url come from ACTIONS_RUNTIME_TOKEN "
            "and ACTIONS_CACHE_URL)",
            {"scope": "buildkit"},
            place=("url", "url_v2", "scope"),
            per_target="scope",
        ),
        Backend(
            "s3",
            BOTH,
            (
                Attr("bucket"),
                Attr("region"),
                *_LAYOUT,
                Attr("endpoint_url"),
                Attr("use_path_style", "bool"),
                Attr("access_key_id", secret=True),
                Attr("secret_access_key", secret=True),
                Attr("session_token", secret=True),
                Attr("touch_refresh", "duration"),
                Attr("upload_parallelism", "int", use=(EXPORT,)),
                _MODE,
                _IGNORE_ERROR,
            ),
            {IMPORT: ("bucket", "region"), EXPORT: ("bucket", "region")},
            "exporting cache to Amazon S3",
            "type=s3,region=REGION,bucket=BUCKET[,name=NAME]",
            place=("endpoint_url", "region", "bucket", "prefix", "manifests_prefix", "name"),
            per_target="name",
        ),
        Backend(
            "azblob",
            BOTH,
            (
                Attr("account_url"),
                Attr("account_name"),
                Attr("secret_access_key", secret=True),
                Attr("container"),
                *_LAYOUT,
                _MODE,
                _IGNORE_ERROR,
            ),
            {IMPORT: ("account_url",), EXPORT: ("account_url",)},
            "exporting cache to Azure Blob Storage",
            "type=azblob,account_url=URL[,name=NAME]",
            place=("account_url", "container", "prefix", "manifests_prefix", "name"),
            per_target="name",
        ),
    )
}

SECRET_ATTRS = frozenset(a.name for b in BACKENDS.values() for a in b.attrs if a.secret)


def flag_of(direction: str) -> str:
    return "--cache-from" if direction == IMPORT else "--cache-to"


@dataclass
class Parsed:
    """The entries of one flag value, and warnings about keys passed through or ignored."""

    entries: list[CacheEntry]
    warnings: list[str]


def parse(text: str, direction: str, env: Mapping[str, str] | None = None) -> Parsed:
    """One ``--cache-from``/``--cache-to`` value as buildx reads it; raises :class:`CacheFlagError`.

    ``type=T,key=value,...`` (CSV, keys case-insensitive), or refs with no
    ``=`` at all (``REF[,REF...]``, each a ``type=registry,ref=REF``). A
    ``local`` directory is made absolute; a ``gha`` entry gets its token and
    url from the GitHub Actions environment ``env`` (default: ``os.environ``).
    """
    flag = flag_of(direction)
    env = os.environ if env is None else env
    try:
        fields = next(csv.reader([text]), [])
    except csv.Error as e:
        raise CacheFlagError(f"{flag} {text!r}: {e}") from e
    fields = [f.strip() for f in fields]
    if "=" not in text:
        refs = [f for f in fields if f]
        if not refs:
            raise CacheFlagError(f"{flag} is empty; write {BACKENDS['registry'].hint} or a bare ref")
        entries = [CacheEntry("registry", {"ref": r}) for r in refs]
    else:
        attrs: dict[str, str] = {}
        for part in fields:
            if not part:
                continue
            key, eq, value = part.partition("=")
            key = key.strip().lower()
            if not eq:
                raise CacheFlagError(f"{flag} {text!r}: `{part}` is not key=value")
            if key in attrs:
                raise CacheFlagError(f"{flag} {text!r}: `{key}` is given twice ({key}={attrs[key]}, {part.strip()})")
            attrs[key] = value.strip()
        kind = attrs.pop("type", None)
        if kind is None:
            raise CacheFlagError(f"{flag} {text!r}: no type= ({', '.join(BACKENDS)})")
        entries = [CacheEntry(kind, attrs)]
    out = Parsed([], [])
    for given in entries:
        entry = complete(given, env)
        out.warnings += check(entry, direction, what=f"{flag} {entry}")
        out.entries.append(entry)
    return out


def parse_all(values: Iterable[str], direction: str, env: Mapping[str, str] | None = None) -> Parsed:
    """Every value of one flag; the same export given twice is an error (the daemon refuses it)."""
    out = Parsed([], [])
    seen: dict[str, CacheEntry] = {}
    for text in values:
        p = parse(text, direction, env)
        for e in p.entries:
            odd = unknown_placeholder(e.attrs.values())
            if odd:
                flag = "--cache-to" if direction == EXPORT else "--cache-from"
                raise CacheFlagError(
                    f"{flag} {text!r}: unknown placeholder {odd}: the only one is {TARGET_PLACEHOLDER}"
                )
            key = daemon_key(e)
            if key in seen:
                if direction == EXPORT:
                    raise CacheFlagError(f"--cache-to {e} is given twice")
                out.warnings.append(f"--cache-from {e} is given twice; it is imported once")
                continue
            seen[key] = e
            out.entries.append(e)
        out.warnings += p.warnings
    return out


def complete(entry: CacheEntry, env: Mapping[str, str] | None = None) -> CacheEntry:
    """``entry`` as it is sent: absolute local paths, gha credentials from the environment, defaults filled."""
    backend = BACKENDS.get(entry.type)
    if backend is None:
        return entry
    attrs = dict(entry.attrs)
    for a in backend.attrs:
        if a.kind == "path" and attrs.get(a.name):
            attrs[a.name] = os.path.abspath(attrs[a.name])
    if entry.type == "gha":
        attrs = _gha_env(attrs, os.environ if env is None else env)
    for k, v in backend.defaults.items():
        attrs.setdefault(k, v)
    return CacheEntry(entry.type, attrs)


def _gha_env(attrs: dict[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """buildx's fill-in from the GitHub Actions runner: token, url and (cache service v2) url_v2."""
    version = attrs.get("version")
    if version is None and env.get("ACTIONS_CACHE_SERVICE_V2", "") in GO_BOOLS[:6]:
        version = "2"
    if "token" not in attrs and env.get("ACTIONS_RUNTIME_TOKEN"):
        attrs["token"] = env["ACTIONS_RUNTIME_TOKEN"]
    if "url_v2" not in attrs and version == "2" and env.get("ACTIONS_RESULTS_URL"):
        attrs["url_v2"] = env["ACTIONS_RESULTS_URL"]
    if "url" not in attrs:
        url = env.get("ACTIONS_CACHE_URL") or env.get("ACTIONS_RESULTS_URL")
        if url:
            attrs["url"] = url
    return attrs


def check(entry: CacheEntry, direction: str, what: str = "") -> list[str]:
    """Validate ``entry`` for ``direction``; raises :class:`CacheFlagError`, returns warnings.

    Errors: an unknown type, a type that cannot go this way, a missing or
    empty required attribute, an empty value, a value the attribute does not
    accept. Warnings: a key the backend does not know (passed through, as
    buildx does) and a key that applies only to the other direction.
    """
    flag = flag_of(direction)
    what = what or f"{flag} {entry}"
    backend = BACKENDS.get(entry.type)
    if backend is None:
        near = _closest(entry.type, BACKENDS)
        hint = f" (did you mean {near}?)" if near else ""
        raise CacheFlagError(f"{what}: unknown cache type `{entry.type}`{hint}; known: {', '.join(BACKENDS)}")
    if direction not in backend.directions:
        if entry.type == "inline":
            raise CacheFlagError(
                f"{what}: an inline cache is imported from the image that carries it: "
                f"write --cache-from type=registry,ref=IMAGE"
            )
        raise CacheFlagError(f"{what}: a {entry.type} cache cannot be used with {flag}")
    for name in backend.required.get(direction, ()):
        if name not in entry.attrs:
            raise CacheFlagError(f"{what}: {_missing(backend, name, direction)}")
    warnings = []
    for key, value in entry.attrs.items():
        attr = backend.attr(key)
        if not value:
            raise CacheFlagError(f"{what}: `{key}=` is empty (an unset variable?); give a value or leave the key out")
        if attr is None:
            known = f"a {entry.type} cache attribute hlb knows"
            warnings.append(f"{what}: `{key}` is not {known}; passed to the daemon as is")
            continue
        problem = _bad_value(attr, value)
        if problem:
            raise CacheFlagError(f"{what}: {problem}")
        if direction not in attr.use:
            other = flag_of(attr.use[0])
            warnings.append(f"{what}: `{key}` applies only to {other}; ignored here")
        if attr.kind == "ref" and direction == EXPORT and "@" in value:
            raise CacheFlagError(f"{what}: a cache is exported to a tag, not a digest (`{key}={value}`)")
    return warnings


def _missing(backend: Backend, name: str, direction: str) -> str:
    if backend.type == "gha" and name in ("url", "token"):
        return (
            f"no {name} for the GitHub Actions cache: outside a workflow give url= and token=; inside one, "
            "expose ACTIONS_RUNTIME_TOKEN and ACTIONS_CACHE_URL to the step (e.g. crazy-max/ghaction-github-runtime)"
        )
    if backend.type == "local":
        other = "dest" if name == "src" else "src"
        return f"needs {name}=DIR ({other}= is for {flag_of(EXPORT if name == 'src' else IMPORT)})"
    return f"needs {name}= (for example {backend.hint})"


def _bad_value(attr: Attr, value: str) -> str:
    if attr.kind == "choice" and value not in attr.choices:
        return f"`{attr.name}={value}` is not one of {', '.join(attr.choices)}"
    if attr.kind == "bool" and value not in GO_BOOLS:
        return f"`{attr.name}={value}` is not a boolean (true or false)"
    if attr.kind == "int":
        try:
            int(value)
        except ValueError:
            return f"`{attr.name}={value}` is not an integer"
    if attr.kind == "duration" and not _GO_DURATION.match(value.lstrip("+-")) and value != "0":
        return f"`{attr.name}={value}` is not a duration (for example 10m or 90s)"
    if attr.kind == "ref":
        try:
            parse_ref(value.replace(TARGET_PLACEHOLDER, "target"))  # {target}: each target's name goes there
        except ValueError as e:
            return f"`{attr.name}={value}` is not an image reference: {e}"
    return ""


def _closest(word: str, names: Iterable[str]) -> str:
    lower = word.lower()
    for n in names:
        if n == lower or (len(lower) > 1 and (n.startswith(lower) or lower.startswith(n))):
            return n
    return ""


# -- display -----------------------------------------------------------------------------


def secrets(entries: Iterable[CacheEntry]) -> list[str]:
    """The secret values of ``entries``, to scrub from text the daemon sends back."""
    return [v for e in entries for k, v in e.attrs.items() if k in SECRET_ATTRS and v]


def scrub(text: str, entries: Iterable[CacheEntry]) -> str:
    for value in sorted(secrets(entries), key=len, reverse=True):
        text = text.replace(value, "***")
    return text


# -- what the daemon reports -------------------------------------------------------------


def daemon_key(entry: CacheEntry) -> str:
    """The key the daemon names an entry by: a registry's ref, else ``TYPE:HASH``.

    BuildKit hashes ``{Type, Attrs}`` with hashstructure v2 (FNV-1 64, struct
    fields ordered, map entries XOR-ed); this is that hash, so an import step
    ``importing cache manifest from local:1234...`` maps back to its entry.
    """
    if entry.type == "registry" and entry.attrs.get("ref"):
        return entry.attrs["ref"]
    return f"{entry.type}:{_struct_hash(entry.type, entry.attrs)}"


def import_step(entry: CacheEntry) -> str:
    """The name of the daemon's progress vertex for importing ``entry``."""
    return f"importing cache manifest from {daemon_key(entry)}"


def export_step(entry: CacheEntry) -> str:
    """The name of the daemon's progress vertex for exporting ``entry`` (``""``: inline has none)."""
    backend = BACKENDS.get(entry.type)
    return backend.export_step if backend else ""


def export_vertex(session_id: str, index: int) -> str:
    """The digest of the daemon's vertex for the ``index``-th (non-inline) cache export of a solve."""
    return "sha256:" + hashlib.sha256(f"{session_id}-cache-{index}".encode()).hexdigest()


def remote_exports(exports: Sequence[CacheEntry]) -> list[CacheEntry]:
    """The exports the daemon runs as cache exporters of their own (inline rides on an image exporter)."""
    return [e for e in exports if e.type != "inline"]


_FNV_OFFSET, _FNV_PRIME, _MASK = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


def _fnv1(data: bytes) -> int:
    h = _FNV_OFFSET
    for byte in data:
        h = ((h * _FNV_PRIME) & _MASK) ^ byte
    return h


def _ordered(a: int, b: int) -> int:
    return _fnv1(struct.pack("<QQ", a, b))


def _finish(a: int) -> int:
    return _fnv1(struct.pack("<Q", a))


def _text(s: str) -> int:
    return _fnv1(s.encode())


def _struct_hash(kind: str, attrs: Mapping[str, str]) -> int:
    h = _text("CacheOptionsEntry")
    h = _finish(h ^ _ordered(_text("Type"), _text(kind)))
    m = 0
    for k, v in attrs.items():
        m ^= _ordered(_text(k), _text(v))
    return _finish(h ^ _ordered(_text("Attrs"), _finish(m)))


__all__ = [
    "BACKENDS",
    "EXPORT",
    "IMPORT",
    "SECRET_ATTRS",
    "Attr",
    "Backend",
    "CacheFlagError",
    "Parsed",
    "check",
    "complete",
    "daemon_key",
    "export_step",
    "export_vertex",
    "import_step",
    "parse",
    "parse_all",
    "remote_exports",
    "scrub",
    "secrets",
]
