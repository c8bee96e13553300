"""Did-you-mean suggestions by edit distance (the rule openllb/hlb uses)."""

from __future__ import annotations

from collections.abc import Iterable


def levenshtein(a: str, b: str) -> int:
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The best candidate within distance 1 (names of length <= 3) or 2; of several as good, the first in
    sorted order. A candidate whose length differs by more than that cannot be within it and is not compared,
    so a module of thousands of names costs one length test for most of them."""
    limit = 1 if len(name) <= 3 else 2
    low = name.lower()
    best: tuple[int, str] | None = None
    for cand in set(candidates):
        if cand == name or abs(len(cand) - len(name)) > limit:
            continue
        d = levenshtein(low, cand.lower())
        if d <= limit and (best is None or (d, cand) < best):
            best = (d, cand)
    return best[1] if best else None
