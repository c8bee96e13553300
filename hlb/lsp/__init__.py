"""``hlb langserver``: the language server (pygls), an optional extra (``pip install 'hlb[lsp]'``).

:mod:`hlb.lsp.project` checks open documents with the checker and the linter (no daemon, no solver),
:mod:`hlb.lsp.incremental` parses again only the declarations an edit touched, :mod:`hlb.lsp.complete`
reads the text before the cursor for completion, :mod:`hlb.lsp.positions` converts between hlb's character
offsets and LSP positions, and :mod:`hlb.lsp.server` answers the protocol.
Only :mod:`hlb.lsp.server` imports pygls.
"""
