"""The diagnostics catalog: every kind is raised, every constructor is called, every text is well formed."""

from __future__ import annotations

import inspect
import re
import string
from pathlib import Path

from hlb.diagnostics import Severity
from hlb.diagnostics import catalog as cat
from hlb.source import SourceFile, Span

HLB = Path(__file__).resolve().parents[2] / "hlb"
SOURCE = inspect.getsource(cat)


def constructors() -> list[str]:
    return [
        n
        for n, f in vars(cat).items()
        if inspect.isfunction(f) and not n.startswith("_") and f.__module__ == cat.__name__
    ]


def test_every_kind_is_made_by_a_constructor_and_every_slug_is_a_kind() -> None:
    used = set(re.findall(r'_diag\(\s*"([\w-]+)"', SOURCE)) | {slug for slug, _, _ in cat._FIXED.values()}
    assert used == set(cat.CODES)


def test_every_constructor_is_called_outside_the_catalog() -> None:
    # A constructor nothing calls is a dead entry (`duplicate_decl` was one).
    code = "\n".join(p.read_text() for p in HLB.rglob("*.py") if p.name != "catalog.py")
    assert [n for n in constructors() if not re.search(rf"\bcat\.{n}\(", code)] == []


def test_every_fixed_text_belongs_to_its_constructor_and_names_only_its_arguments() -> None:
    for kind, (_, message, hint) in cat._FIXED.items():
        f = getattr(cat, kind)
        assert re.search(rf'_fixed\(\s*"{kind}"', inspect.getsource(f)), kind
        fields = {name for text in (message, hint) for _, name, _, _ in string.Formatter().parse(text) if name}
        assert fields <= set(inspect.signature(f).parameters), kind


def test_a_kinds_severity_follows_its_id_and_fixed_texts_fill_in_their_words() -> None:
    span = Span(SourceFile("x.hlb", "x"), 0, 1)
    assert all(code.id[0] in "EW" for code in cat.CODES.values())
    assert cat.unused(span, "import", "x").severity is Severity.WARNING
    d = cat.call_unexported(span, "build", "lib.hlb", None)
    assert (d.severity, d.message, d.hint, d.secondary) == (
        Severity.ERROR,
        "cannot call unexported function `build`",
        "add `export build` to lib.hlb",
        (),
    )
    assert cat.invalid_escape(span, "\\q").hint == r"valid escapes are \a \b \f \n \r \t \v \\ \" and \$"
