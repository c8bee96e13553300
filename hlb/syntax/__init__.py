"""Source text to AST: the lexer, the Lark grammar and the tree transformer (``hlb.syntax.parser``), the AST
(``hlb.syntax.ast``), the printer and the per-user cache. The package imports none of them itself, so a
command that answers from the cache never loads Lark."""
