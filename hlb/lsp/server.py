"""The protocol side of ``hlb langserver`` (pygls 2): documents in, diagnostics and answers out.

Every answer is computed by :mod:`hlb.lsp.project` and :mod:`hlb.lsp.complete`; this module converts
between their offsets and spans and the protocol's positions (:mod:`hlb.lsp.positions`, in the encoding
negotiated with the client: UTF-16 unless the client offers another).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import from_fs_path, to_fs_path

from hlb import __version__
from hlb.checker.lint import Edit, Finding
from hlb.diagnostics import Diagnostic, Severity
from hlb.diagnostics import catalog as cat
from hlb.lsp import positions
from hlb.lsp.complete import complete
from hlb.lsp.project import TOKEN_MODIFIERS, TOKEN_TYPES, Analysis, Project, rename_edits, semantic_tokens, symbols
from hlb.source import SourceFile, Span
from hlb.syntax import ast

_SEVERITY = {
    Severity.ERROR: lsp.DiagnosticSeverity.Error,
    Severity.WARNING: lsp.DiagnosticSeverity.Warning,
    Severity.NOTE: lsp.DiagnosticSeverity.Information,
}
_KIND = {
    "builtin": lsp.CompletionItemKind.Function,
    "function": lsp.CompletionItemKind.Function,
    "parameter": lsp.CompletionItemKind.Variable,
    "module": lsp.CompletionItemKind.Module,
    "value": lsp.CompletionItemKind.EnumMember,
    "keyword": lsp.CompletionItemKind.Keyword,
}
FIX_ALL = "source.fixAll.hlb"
WATCH_ID = "hlb-watch-modules"
SETTLE = 0.3  # seconds without a change before the cache-mount findings of the edited modules are looked for


_ANSWERED = object()  # a request :class:`_Protocol` answered with an error as it read it


class _Protocol(LanguageServerProtocol):
    """pygls's protocol, but a request whose parameters do not deserialize (a negative position...) is answered
    with the error (InvalidParams): pygls reports it to the user as a server error and drops the request, which
    the client then waits on forever."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as e:
            if not isinstance(data.get("method"), str) or not isinstance(data.get("id"), int | str):
                raise  # a notification or a response: nobody waits for an answer
            why = "; ".join(_leaves(e.__cause__)) if e.__cause__ is not None else ""
            message = f"{e.message} for {data['method']}" + (f": {why}" if why else "")
            self._send_response(data["id"], error=lsp.ResponseError(e.code, message))
            return _ANSWERED

    def handle_message(self, message: Any) -> None:
        if message is not _ANSWERED:
            super().handle_message(message)


def _leaves(e: BaseException) -> list[str]:
    """The messages of the innermost exceptions of ``e`` (cattrs groups the validation errors)."""
    if isinstance(e, BaseExceptionGroup):
        return [m for sub in e.exceptions for m in _leaves(sub)]
    return [str(e)]


class HlbServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "hlb", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental, protocol_cls=_Protocol
        )
        self.project = Project()
        self.uris: dict[str, str] = {}  # path -> the client's uri of an open document
        self.pending: dict[str, asyncio.TimerHandle] = {}  # path -> its complete check once the typing pauses

    # -- conversions ------------------------------------------------------------------

    @property
    def encoding(self) -> str:
        enc = self.workspace.position_encoding
        return str(enc.value if isinstance(enc, lsp.PositionEncodingKind) else enc or positions.UTF16)

    def path(self, uri: str) -> str:
        p = to_fs_path(uri)
        return os.path.normpath(os.path.abspath(p)) if p and uri.startswith("file:") else uri

    def uri(self, path: str) -> str:
        return self.uris.get(path) or (from_fs_path(path) or path if os.path.isabs(path) else path)

    def range(self, span: Span) -> lsp.Range:
        (l1, c1), (l2, c2) = positions.span_range(span, self.encoding)
        return lsp.Range(lsp.Position(l1, c1), lsp.Position(l2, c2))

    def edit_range(self, source: SourceFile, e: Edit) -> lsp.Range:
        return self.range(Span(source, e.start, e.end))

    def location(self, span: Span) -> lsp.Location:
        return lsp.Location(self.uri(span.file.name), self.range(span))

    def offset(self, path: str, pos: lsp.Position) -> int:
        text = self.project.docs.get(path, "")
        source = SourceFile(path, text)
        return positions.Lines(source.text).offset(pos.line, pos.character, self.encoding)

    # -- diagnostics ------------------------------------------------------------------

    def diagnostic(self, a: Analysis, d: Diagnostic) -> lsp.Diagnostic:
        message = d.message
        if d.hint:
            message += f"\nhint: {d.hint}"
        for note in d.notes:
            message += f"\nnote: {note}"
        related = [
            lsp.DiagnosticRelatedInformation(self.location(lab.span), lab.message or "see") for lab in d.secondary
        ]
        span = d.span
        if span.file.name != a.source.name:
            # An error in an imported module: shown at the import, and where it is.
            related.insert(0, lsp.DiagnosticRelatedInformation(self.location(span), d.message))
            message = f"{os.path.basename(span.file.name)}:{span.begin.line}:{span.begin.column}: {message}"
            span = _import_span(a, span.file.name)
        tags = []
        if d.code.slug == "unused":
            tags.append(lsp.DiagnosticTag.Unnecessary)
        if d.code is cat.DEPRECATED:
            tags.append(lsp.DiagnosticTag.Deprecated)
        return lsp.Diagnostic(
            range=self.range(span),
            message=message,
            severity=_SEVERITY[d.severity],
            code=d.code.slug,
            source="hlb",
            related_information=related or None,
            tags=tags or None,
            data={"id": d.code.id},
        )

    def refresh_roots(self) -> None:
        """The workspace folders (as they are now: a client may add and remove folders) for references and rename."""
        folders = [f.uri for f in self.workspace.folders.values()] or [self.workspace.root_uri or ""]
        paths = (self.path(u) for u in folders if u.startswith("file:"))
        self.project.roots = [p for p in paths if os.path.isdir(p)]

    def publish(self, path: str, complete: bool = True) -> None:
        """Check ``path`` and publish its diagnostics; without ``complete``, the cache-mount findings follow
        once the typing pauses (:data:`SETTLE` seconds without a change)."""
        pending = self.pending.pop(path, None)
        if pending is not None:
            pending.cancel()
        a = self.project.check(path, cache_mounts=complete)
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=self.uri(path), diagnostics=[self.diagnostic(a, d) for d in a.diagnostics])
        )
        if not complete and path in self.project.docs:
            self.pending[path] = asyncio.get_running_loop().call_later(SETTLE, self._settled, path)

    def _settled(self, path: str) -> None:
        self.pending.pop(path, None)
        if path in self.project.docs:
            self.publish(path)

    def changed(self, path: str, complete: bool = True) -> None:
        """Re-check ``path`` and the open documents that import it."""
        self.publish(path, complete)
        for other in self.project.importers(path):
            self.publish(other, complete)


def _import_span(a: Analysis, file: str) -> Span:
    """The import in ``a``'s module through which ``file`` was read (the first import, when not direct)."""
    module = a.parsed.module
    assert module is not None
    imports = [d for d in module.decls if isinstance(d, ast.ImportDecl)]
    checked = a.checked
    for d in imports:
        imp = checked.imports.get(d.name.name) if checked is not None else None
        if imp is not None and imp.module is not None and imp.module.module.file.name == file:
            return d.span
    for d in imports:
        if os.path.basename(file) in d.expr.span.text:
            return d.span
    return imports[0].span if imports else Span(a.source, 0, 0)


server = HlbServer()


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: HlbServer, params: lsp.DidOpenTextDocumentParams) -> None:
    path = ls.path(params.text_document.uri)
    ls.uris[path] = params.text_document.uri
    ls.project.open(path, params.text_document.text)
    ls.changed(path)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: HlbServer, params: lsp.DidChangeTextDocumentParams) -> None:
    path = ls.path(params.text_document.uri)
    doc = ls.workspace.get_text_document(params.text_document.uri)
    ls.project.open(path, doc.source)
    ls.changed(path, complete=False)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE, lsp.SaveOptions(include_text=True))
def did_save(ls: HlbServer, params: lsp.DidSaveTextDocumentParams) -> None:
    path = ls.path(params.text_document.uri)
    if params.text is not None:
        ls.project.open(path, params.text)
    ls.changed(path)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: HlbServer, params: lsp.DidCloseTextDocumentParams) -> None:
    path = ls.path(params.text_document.uri)
    ls.project.close(path)
    ls.uris.pop(path, None)
    pending = ls.pending.pop(path, None)
    if pending is not None:
        pending.cancel()
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))
    for other in ls.project.importers(path):  # they now read the file on disk
        ls.publish(other)


@server.feature(lsp.INITIALIZED)
def initialized(ls: HlbServer, params: lsp.InitializedParams) -> None:
    # Ask to be told of changes to the modules on disk (the imported modules nobody opened), when the client
    # lets a server choose what it watches.
    caps = ls.client_capabilities.workspace
    watch = caps.did_change_watched_files if caps is not None else None
    if watch is not None and watch.dynamic_registration:
        options = lsp.DidChangeWatchedFilesRegistrationOptions(
            watchers=[lsp.FileSystemWatcher(glob_pattern="**/*.hlb")]
        )
        ls.client_register_capability(
            lsp.RegistrationParams([lsp.Registration(WATCH_ID, lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES, options)])
        )


@server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(ls: HlbServer, params: lsp.DidChangeWatchedFilesParams) -> None:
    """Files changed on disk: re-check the open documents whose last check read one of them (an open
    document's own text is the editor's, whatever its file holds)."""
    paths = {ls.path(c.uri) for c in params.changes}
    stale: set[str] = set()
    for path in paths:
        ls.project.forget(path)
        stale.update(ls.project.importers(path))
    for path in sorted(stale):
        if path in ls.project.docs:
            ls.publish(path)


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def hover(ls: HlbServer, params: lsp.HoverParams) -> lsp.Hover | None:
    path = ls.path(params.text_document.uri)
    t = ls.project.target(path, ls.offset(path, params.position))
    if t is None:
        return None
    text = t.hover()
    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text), ls.range(t.span)) if text else None


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[".", '"']))
def completion(ls: HlbServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    path = ls.path(params.text_document.uri)
    good = ls.project.good.get(path)
    text = SourceFile(path, ls.project.docs.get(path, "")).text
    items = complete(text, ls.offset(path, params.position), good.checked if good is not None else None)
    out = []
    for i, item in enumerate(items):
        doc = lsp.MarkupContent(lsp.MarkupKind.Markdown, item.doc) if item.doc else None
        out.append(
            lsp.CompletionItem(
                item.label,
                kind=_KIND[item.kind],
                detail=item.detail or None,
                documentation=doc,
                sort_text=f"{i:04d}",
            )
        )
    return lsp.CompletionList(is_incomplete=False, items=out)


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def definition(ls: HlbServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    path = ls.path(params.text_document.uri)
    t = ls.project.target(path, ls.offset(path, params.position))
    if t is None:
        return None
    if t.module is not None and t.module.module is not None:
        m = t.module.module.module
        return ls.location(Span(m.file, 0, 0))
    decl = t.decl
    return ls.location(decl) if decl is not None else None


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
def references(ls: HlbServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    path = ls.path(params.text_document.uri)
    t = ls.project.target(path, ls.offset(path, params.position))
    if t is None:
        return []
    ls.refresh_roots()
    return [ls.location(s) for s in ls.project.references(t, params.context.include_declaration)]


@server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
def prepare_rename(ls: HlbServer, params: lsp.PrepareRenameParams) -> lsp.Range | None:
    path = ls.path(params.text_document.uri)
    t = ls.project.target(path, ls.offset(path, params.position))
    if t is None or t.decl is None:
        return None
    return ls.range(t.span)


@server.feature(lsp.TEXT_DOCUMENT_RENAME, lsp.RenameOptions(prepare_provider=True))
def rename(ls: HlbServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
    path = ls.path(params.text_document.uri)
    t = ls.project.target(path, ls.offset(path, params.position))
    if t is None:
        return None
    if ls.project.analyses[path] is not ls.project.good.get(path):
        raise _RenameError("the module does not parse: fix its syntax first")
    ls.refresh_roots()
    try:
        edits = rename_edits(ls.project, t, params.new_name)
    except ValueError as e:
        raise _RenameError(str(e)) from None
    changes = {
        ls.uri(file): [lsp.TextEdit(ls.range(s), params.new_name) for s in spans] for file, spans in edits.items()
    }
    return lsp.WorkspaceEdit(changes=changes)


class _RenameError(Exception):
    """Reported to the client as the request's error."""


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbol(ls: HlbServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
    path = ls.path(params.text_document.uri)
    a = ls.project.good.get(path)
    if a is None or a.parsed.module is None:
        return []
    out = []
    for name, detail, whole, name_span in symbols(a.parsed.module):
        kind = lsp.SymbolKind.Module if detail.startswith("import ") else lsp.SymbolKind.Function
        out.append(lsp.DocumentSymbol(name, kind, ls.range(whole), ls.range(name_span), detail=detail))
    return out


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: HlbServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
    path = ls.path(params.text_document.uri)
    formatted = ls.project.format(path)
    if formatted is None:
        return None
    text = ls.project.docs.get(path, "")
    source = SourceFile(path, text)
    new = source.styled(formatted)
    if new == text:
        return []
    lines = positions.Lines(text)
    end = lines.position(len(text), ls.encoding)
    return [lsp.TextEdit(lsp.Range(lsp.Position(0, 0), lsp.Position(*end)), new)]


@server.feature(
    lsp.TEXT_DOCUMENT_CODE_ACTION,
    lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix, FIX_ALL]),
)
def code_action(ls: HlbServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    path = ls.path(params.text_document.uri)
    a = ls.project.analyses.get(path)
    if a is None:
        return []
    src = a.source
    lines = positions.Lines(src.text)
    start = lines.offset(params.range.start.line, params.range.start.character, ls.encoding)
    end = lines.offset(params.range.end.line, params.range.end.character, ls.encoding)
    fixes = [f for f in a.findings if f.fix and f.diagnostic.span.file.name == path]
    actions = []
    only = params.context.only
    if not only or any(str(k).startswith("quickfix") for k in only):
        for f in fixes:
            s = f.diagnostic.span
            if s.start <= end and start <= s.end:
                actions.append(_action(ls, a, [f], f"Fix: {_short(f)}", lsp.CodeActionKind.QuickFix))
    if fixes and (not only or any(FIX_ALL.startswith(str(k)) for k in only)):
        actions.append(_action(ls, a, fixes, "Fix all mechanical hlb lint findings", FIX_ALL))
    return actions


def _short(f: Finding) -> str:
    return f.diagnostic.hint or f.diagnostic.message


def _action(ls: HlbServer, a: Analysis, findings: list[Finding], title: str, kind: Any) -> lsp.CodeAction:
    edits, last = [], len(a.source.text) + 1
    for e in sorted((e for f in findings for e in f.fix), key=lambda e: e.start, reverse=True):
        if e.end > last:
            continue  # overlapping fixes: as `hlb lint --fix`, keep the later one
        edits.append(lsp.TextEdit(ls.edit_range(a.source, e), e.text))
        last = e.start
    return lsp.CodeAction(
        title,
        kind=kind,
        diagnostics=[ls.diagnostic(a, f.diagnostic) for f in findings],
        edit=lsp.WorkspaceEdit(changes={ls.uri(a.source.name): list(reversed(edits))}),
        is_preferred=len(findings) == 1 or None,
    )


@server.feature(
    lsp.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL,
    lsp.SemanticTokensLegend(token_types=list(TOKEN_TYPES), token_modifiers=list(TOKEN_MODIFIERS)),
)
def semantic_tokens_full(ls: HlbServer, params: lsp.SemanticTokensParams) -> lsp.SemanticTokens:
    path = ls.path(params.text_document.uri)
    a = ls.project.good.get(path)
    if a is None or a.checked is None:
        return lsp.SemanticTokens(data=[])
    data: list[int] = []
    line, char = 0, 0
    valid = ls.project.unchanged(path)  # while the text does not parse: the names before the first change
    for span, kind, modifiers in semantic_tokens(a.checked):
        if span.end >= valid:
            break
        (l1, c1), (l2, c2) = positions.span_range(span, ls.encoding)
        if l1 != l2:
            continue  # names are on one line
        data += [l1 - line, c1 - char if l1 == line else c1, c2 - c1, TOKEN_TYPES.index(kind)]
        data.append(sum(1 << TOKEN_MODIFIERS.index(m) for m in modifiers))
        line, char = l1, c1
    return lsp.SemanticTokens(data=data)


def serve(tcp: int | None = None, host: str = "127.0.0.1") -> None:
    """Serve one client over stdin/stdout, or over TCP at ``host:tcp``."""
    if tcp is not None:
        server.start_tcp(host, tcp)
        return
    # The protocol gets its own handle on stdout (pygls closes it at `exit`); anything else printed goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr
    server.start_io(sys.stdin.buffer, out)
