"""``hlb run --metadata-file F``: what the build made, as JSON for scripts, shaped as buildx writes it.

``buildx bake --metadata-file`` writes one object per target, each the solve's exporter response with
every base64 value that decodes to a JSON object or array embedded as JSON (``containerimage.descriptor``).
hlb writes one object per requested target in the same way, so ``jq -r '.app["containerimage.digest"]'``
reads the pushed digest as it does for buildx. buildx's keys come from the one solve of the target that
exported an image (none when no solve or several did: then each solve's own response is under
``hlb.solves``). hlb's own keys are under ``hlb.``::

    {
      "app": {
        "containerimage.digest": "sha256:...",
        "image.name": "127.0.0.1:5000/app:1",
        "containerimage.descriptor": {"mediaType": "...", "digest": "sha256:...", "size": 1234},
        "hlb.solves": [
          {"index": 1, "kind": "dockerPush", "title": "dockerPush 127.0.0.1:5000/app:1",
           "exporter_response": {...}, "cache_imports": [{"cache": "type=registry,ref=...", "status": "imported"}],
           "cache_exports": [], "steps": 3, "cached_steps": 2, "duration_seconds": 1.52}
        ]
      },
      "hlb.persisted": [...]
    }

``hlb.persisted`` holds the pushes of persisted cache mounts (``--persist-caches``), which belong to no one
target, and ``hlb.compile_pushes`` the pushes run while compiling because a program binds their digest
(``dockerPush ... as digest``). As with buildx, the file is written only when the build succeeds (a failed
build leaves it as it was), atomically: a temporary file in the same directory renamed over it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from hlb import cache_options
from hlb.build.runner import CacheOutcome, SolveResult
from hlb.compiler.plan import Plan, Solve
from hlb.solver.export import DIGEST_KEY


def decode_response(response: Mapping[str, str]) -> dict[str, Any]:
    """buildx's decoding of an exporter response: a value that is base64 of a non-empty JSON object or array
    becomes that JSON; every other value stays the string it is."""
    out: dict[str, Any] = {}
    for key, value in response.items():
        out[key] = value
        try:
            decoded = json.loads(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
        if isinstance(decoded, dict | list) and decoded:
            out[key] = decoded
    return out


def solve_json(s: Solve, r: SolveResult) -> dict[str, Any]:
    def cache(o: CacheOutcome) -> dict[str, str]:
        return {"cache": str(o.entry), "status": o.status, **({"reason": o.reason} if o.reason else {})}

    return {
        "index": s.index,
        "kind": s.kind,
        "title": s.title,
        "exporter_response": decode_response(r.response),
        "cache_imports": [cache(o) for o in r.caches if o.direction == cache_options.IMPORT],
        "cache_exports": [cache(o) for o in r.caches if o.direction == cache_options.EXPORT],
        "steps": r.steps,
        "cached_steps": r.cached,
        "duration_seconds": round(r.seconds, 3),
    }


def document(
    plan: Plan, results: Mapping[int, SolveResult], compile_pushes: Sequence[tuple[Solve, SolveResult]] = ()
) -> dict[str, Any]:
    """The metadata file's content for a plan whose solves finished with ``results`` (by solve index), and the
    pushes run while compiling (`dockerPush ... as digest`), which are not in the plan."""
    out: dict[str, Any] = {}
    owned: set[int] = set()
    for name, solves in plan.targets.items():
        done = [(s, results[s.index]) for s in solves if s.index in results]
        owned.update(s.index for s in solves)
        images = [r for _, r in done if r.response.get(DIGEST_KEY)]
        entry: dict[str, Any] = decode_response(images[0].response) if len(images) == 1 else {}
        entry["hlb.solves"] = [solve_json(s, r) for s, r in done]
        out[name] = entry
    others = [solve_json(s, results[s.index]) for s in plan.solves if s.index not in owned and s.index in results]
    if others:
        out["hlb.persisted"] = others
    if compile_pushes:
        out["hlb.compile_pushes"] = [solve_json(s, r) for s, r in compile_pushes]
    return out


def write(path: str, doc: Mapping[str, Any]) -> None:
    """Write ``doc`` as indented JSON to ``path`` as every file a user names is written (:class:`FileSink`:
    atomically, through a symlink, in place into a device or a pipe); OSError propagates (nothing is left
    behind). The file transfer's module is imported here, by a run given ``--metadata-file`` only."""
    from hlb.session.filesend import FileSink

    sink = FileSink(path, mode=0o644)
    try:
        sink.write((json.dumps(doc, indent=2) + "\n").encode())
        sink.commit()
    except BaseException:
        sink.abort()
        raise


def check_path(path: str) -> str | None:
    """Why ``--metadata-file PATH`` can never be written (checked before building), or None."""
    if not path:
        return "--metadata-file: give a file name"
    if path == "-":
        return "--metadata-file -: give a file name (/dev/stdout writes the JSON to stdout)"
    if os.path.isdir(path):
        return f"--metadata-file {path}: is a directory"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return f"--metadata-file {path}: the directory {parent} does not exist"
    return None
