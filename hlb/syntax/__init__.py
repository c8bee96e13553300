"""Source text to AST: the lexer, the Lark grammar and the tree transformer."""

from hlb.syntax.parser import ParseResult, parse_module

__all__ = ["ParseResult", "parse_module"]
