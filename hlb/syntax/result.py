"""What parsing a module gives: its AST (None when it could not be built) and the diagnostics.

Apart from the parser, so the front cache's readers (``hlb.syntax.cache``) can tell an entry without loading Lark.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hlb.diagnostics import Diagnostic
from hlb.syntax import ast


@dataclass
class ParseResult:
    module: ast.Module | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.module is not None and not any(d.is_error for d in self.diagnostics)
