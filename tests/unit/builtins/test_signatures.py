"""The checker reads the builtins' signatures from hlb/builtins/signatures.py, generated from their
declarations; the compiler lowers a call through the declaration of the signature it was resolved to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hlb.builtins.registry import all_builtins, declaration, documentation, table
from hlb.builtins.signatures import SIGNATURES, TABLE
from hlb.builtins.spec import Builtin

ROOT = Path(__file__).resolve().parents[3]


def test_the_generated_signatures_are_current() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_signatures.py"), "--check"], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()


def test_each_signature_is_one_declarations() -> None:
    declared = [declaration(s) for s in SIGNATURES]
    assert sorted(map(id, declared)) == sorted(map(id, all_builtins()))  # one each, none left out
    for s, b in zip(SIGNATURES, declared, strict=True):
        assert isinstance(b, Builtin) and (s.name, s.type, s.params, s.effects) == (b.name, b.type, b.params, b.effects)
    # A name's overloads in the order the checker tries them.
    assert {n: [declaration(s) for s in o] for n, o in TABLE.items()} == {n: list(o) for n, o in table().items()}
    assert declaration(declared[0]) is declared[0]


def test_a_choice_is_the_declared_values_names() -> None:
    sharing = next(p for s in TABLE["cache"] for p in s.params if p.name == "sharingmode")
    assert sharing.choice is not None
    assert sharing.choice.label == "sharing mode" and sharing.choice.names == ("shared", "private", "locked")


def test_a_signatures_documentation_is_its_declarations() -> None:
    image = next(s for s in TABLE["image"])
    assert documentation(image) == documentation(declaration(image)) and "image" in documentation(image)
