"""The language server's incremental parse gives what parsing the whole text gives, or declines."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "syntax"))

from trees import HLB_FILES, ROOT, shape  # noqa: E402

from hlb.lsp.incremental import common_prefix, common_suffix, reparse  # noqa: E402
from hlb.source import SourceFile  # noqa: E402
from hlb.syntax.parser import parse_module  # noqa: E402
from hlb.syntax.visitor import walk  # noqa: E402

PIECES = [
    "x",
    " ",
    "\n",
    "{",
    "}",
    '"',
    "#",
    ";",
    "(",
    ")",
    "`",
    "<<EOF\n",
    "\nEOF\n",
    "${",
    "fs f() { scratch }\n",
    "\\q",
]


def clean(path: Path) -> bool:
    parsed = parse_module(SourceFile(str(path), path.read_text()))
    return parsed.module is not None and not parsed.diagnostics


FILES = [p for p in HLB_FILES if clean(p)]


def test_common_prefix_and_suffix() -> None:
    assert common_prefix("abcdef", "abcxef") == 3 and common_prefix("", "a") == 0 and common_prefix("ab", "ab") == 2
    assert common_suffix("abcdef", "abcxef", 6) == 2 and common_suffix("aaa", "aaaa", 3) == 3
    assert common_suffix("abcdef", "abcxef", 1) == 1


COUNTS: dict[str, tuple[int, int]] = {}  # file -> (edits parsed incrementally, edits that left it valid)


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_reparse_equals_a_whole_parse_after_random_edits(path: Path) -> None:
    rng = random.Random(str(path.relative_to(ROOT)))
    text = path.read_text()
    reused = valid = 0
    for _ in range(15):
        module = parse_module(SourceFile("m.hlb", text)).module  # reparse moves its nodes: a fresh one each time
        assert module is not None
        pos = rng.randrange(len(text) + 1)
        if rng.random() < 0.35 and pos < len(text):
            new = text[:pos] + text[pos + rng.randint(1, 3) :]
        else:
            new = text[:pos] + rng.choice(PIECES) + text[pos:]
        source = SourceFile("m.hlb", new)
        whole = parse_module(SourceFile("m.hlb", new))
        got = reparse(module, source)
        if whole.module is None or whole.diagnostics:
            assert got is None, f"accepted text that does not parse cleanly: {new!r}"
            continue
        valid += 1
        if got is None:
            continue  # declined: the server parses the whole text
        reused += 1
        assert shape(got) == shape(whole.module), new
        assert all(n.span.file is source for d in (*got.decls, *got.comments) for n in walk(d))
    COUNTS[str(path)] = (reused, valid)


def test_most_edits_that_keep_a_module_valid_are_parsed_incrementally() -> None:
    if len(COUNTS) < len(FILES):
        pytest.skip("needs the random edit tests of this module")
    reused, valid = (sum(c[i] for c in COUNTS.values()) for i in (0, 1))
    assert valid > 500 and reused >= valid * 0.9, (reused, valid)
