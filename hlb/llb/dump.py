"""Render a Definition as JSON, like ``buildctl debug dump-llb``: one entry per op
in marshal order with its digest, the op and its metadata, then the source map.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format

from hlb._proto import ops_pb2 as pb
from hlb.llb.definition import Definition, digest_of


def to_json_obj(definition: Definition, *, with_sources: bool = True) -> dict[str, Any]:
    ops = []
    for data in definition.ops:
        op = pb.Op()
        op.ParseFromString(data)
        dgst = digest_of(data)
        entry: dict[str, Any] = {"digest": dgst, "op": json_format.MessageToDict(op)}
        md = definition.metadata.get(dgst)
        if md is not None:
            entry["metadata"] = json_format.MessageToDict(md)
        ops.append(entry)
    out: dict[str, Any] = {"head": definition.head, "ops": ops}
    if with_sources and definition.source is not None:
        src = definition.source
        out["sources"] = {
            "files": [info.filename for info in src.infos],
            "locations": {
                d: [
                    [f"{r.start.line}:{r.start.character}-{r.end.line}:{r.end.character}" for r in loc.ranges]
                    for loc in locs.locations
                ]
                for d, locs in sorted(src.locations.items())
            },
        }
    return out


def to_json(definition: Definition, *, with_sources: bool = True) -> str:
    return json.dumps(to_json_obj(definition, with_sources=with_sources), indent=2, sort_keys=True)
