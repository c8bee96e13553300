#!/usr/bin/env python3
"""Write the builtins' signatures, read from their declarations, into hlb/builtins/signatures.py, which the
checker reads: the declarations import every builtin's lowering and, through them, the compiler's half
(hlb.llb, the generated protobufs, hlb.values...), which `hlb check` does not need.

scripts/gen_signatures.py          rewrite it
scripts/gen_signatures.py --check  exit 1 when it is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hlb.builtins.registry import all_builtins  # noqa: E402
from hlb.builtins.spec import signature_of  # noqa: E402

OUT = ROOT / "hlb" / "builtins" / "signatures.py"

HEADER = '''\
"""The signature of every builtin, generated from their declarations by scripts/gen_signatures.py: do not edit.

The checker reads these: importing the declarations (hlb.builtins.registry.table()) imports every
builtin's lowering and, through them, the compiler's half (hlb.llb, the generated protobufs, hlb.values),
which checking does not need. The compiler lowers a call through the declaration of the signature the
checker resolved it to (hlb.builtins.registry.declaration). A unit test checks this file is current.
"""

from __future__ import annotations

from collections.abc import Mapping

from hlb.builtins.spec import Choice, Signature, by_name, signature_of

'''


def render() -> str:
    builtins = all_builtins()  # in the table's order: overloads as the checker's lookup tries them
    lines = [HEADER, "# The parameters that take one of a few strings, by the signature they are in.\n"]
    lines.append("_CHOICES: dict[str, dict[str, Choice]] = {\n")
    for b in builtins:
        chosen = [p for p in b.params if p.choice is not None]
        if chosen:
            lines.append(f"    {b.signature()!r}: {{\n".replace("'", '"'))
            for p in chosen:
                assert p.choice is not None
                names = ", ".join(f'"{n}"' for n in p.choice.names) + ("," if len(p.choice.names) == 1 else "")
                lines.append(f'        "{p.name}": Choice("{p.choice.label}", ({names})),\n')
            lines.append("    },\n")
    lines.append("}\n\n")
    lines.append("_DECLARED = (\n")
    for b in builtins:
        text = b.signature()
        assert '"' not in text and "\\" not in text, text
        # What the file says must read back as the declaration.
        again = signature_of(text, {p.name: p.choice for p in b.params if p.choice is not None})
        assert (again.name, again.type, again.params, again.effects) == (b.name, b.type, b.params, b.effects), text
        lines.append(f'    "{text}",\n')
    lines.append(")\n\n")
    lines.append("SIGNATURES: tuple[Signature, ...] = tuple(signature_of(s, _CHOICES.get(s, {})) for s in _DECLARED)\n")
    lines.append("TABLE: Mapping[str, tuple[Signature, ...]] = by_name(SIGNATURES)\n")
    return "".join(lines)


def main() -> int:
    new = render()
    old = OUT.read_text() if OUT.exists() else None
    if new == old:
        return 0
    if "--check" in sys.argv[1:]:
        print(f"{OUT.relative_to(ROOT)} is stale; run scripts/gen_signatures.py", file=sys.stderr)
        return 1
    OUT.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
