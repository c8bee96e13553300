"""`hlb langserver` over its real protocol: `python -m hlb langserver` as a subprocess, JSON-RPC over stdio.

One server for the module (starting one takes about a second); each test opens its own files.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsp_client import ROOT, Client, LspError

LIB = """\
export greet
export shout

# Greets someone.
# Politely.
fs greet(string who) {
\timage "alpine"
\trun "echo hi ${who}"
}

fs shout() {
\tgreet "everyone"
}
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("lsp")
    (d / "lib.hlb").write_text(LIB)
    (d / "on_disk.hlb").write_text('import lib from "./lib.hlb"\n\nfs default() {\n\tlib.greet "disk"\n}\n')
    return d


@pytest.fixture(scope="module")
def client(workdir: Path) -> Iterator[Client]:
    c = Client(cwd=workdir)
    c.initialize(workdir)
    yield c
    assert c.shutdown() == 0


def apply(text: str, edits: list[dict[str, Any]]) -> str:
    """``text`` with LSP text edits applied (ASCII text: characters are UTF-16 units)."""
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)

    def off(p: dict[str, int]) -> int:
        return min(starts[p["line"]] + p["character"], len(text)) if p["line"] < len(starts) else len(text)

    for e in sorted(edits, key=lambda e: off(e["range"]["start"]), reverse=True):
        text = text[: off(e["range"]["start"])] + e["newText"] + text[off(e["range"]["end"]) :]
    return text


def rng(l1: int, c1: int, l2: int, c2: int) -> dict[str, Any]:
    return {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}}


def test_an_error_is_a_diagnostic_at_its_range(client: Client, workdir: Path) -> None:
    diags = client.open(workdir / "err.hlb", 'fs default() {\n\tscratch\n\tnosuch "x"\n}\n')
    assert [(d["code"], d["range"], d["severity"], d["source"]) for d in diags] == [
        ("undefined-name", rng(2, 1, 2, 7), 1, "hlb")
    ]
    assert "`nosuch`" in diags[0]["message"]


def test_related_locations_are_the_diagnostic_labels(client: Client, workdir: Path) -> None:
    text = "fs a() {\n\tscratch\n}\n\nfs a() {\n\tscratch\n}\n"
    diags = client.open(workdir / "dup.hlb", text)
    (d,) = diags
    assert d["code"] == "duplicate-decl" and d["range"] == rng(0, 3, 0, 4)
    assert [r["location"]["range"] for r in d["relatedInformation"]] == [rng(4, 3, 4, 4)]
    assert d["relatedInformation"][0]["location"]["uri"] == (workdir / "dup.hlb").as_uri()


def test_positions_count_utf16_code_units(client: Client, workdir: Path) -> None:
    # 😀 is one Python character and two UTF-16 code units: everything after it on the line shifts by one.
    path = workdir / "emoji.hlb"
    diags = client.open(path, 'fs default() {\n\timage "😀"; nosuch\n\timage "😀"; run "x"\n}\n')
    assert [(d["code"], d["range"]) for d in diags] == [("undefined-name", rng(1, 13, 1, 19))]
    hover = client.request("textDocument/hover", client.at(path, 2, 14))  # on `run`, after the emoji
    assert hover["range"] == rng(2, 13, 2, 16)
    assert "fs run(" in hover["contents"]["value"]


def test_hover_on_run_is_its_signature_and_docs(client: Client, workdir: Path) -> None:
    path = workdir / "hover.hlb"
    client.open(path, 'fs default() {\n\timage "alpine"\n\trun "make"\n}\n')
    hover = client.request("textDocument/hover", client.at(path, 2, 2))
    value = hover["contents"]["value"]
    assert value.startswith("```hlb\nfs run(variadic string arg)\n```")
    assert "Options: " in value and "`cacheMount`" in value  # the generated reference's text
    assert hover["range"] == rng(2, 1, 2, 4)


def test_hover_while_the_text_does_not_parse_uses_the_last_parse_before_the_change(
    client: Client, workdir: Path
) -> None:
    path = workdir / "hover_typing.hlb"
    client.open(path, 'fs default() {\n\timage "alpine"\n\trun "make"\n}\n')
    diags = client.change(path, 2, [{"range": rng(3, 0, 3, 0), "text": '\tcopy fs {\n\trun "y"\n'}])
    assert [d["severity"] for d in diags] == [1]  # the block is not closed
    assert "fs run(" in client.request("textDocument/hover", client.at(path, 2, 2))["contents"]["value"]
    assert client.request("textDocument/hover", client.at(path, 4, 2)) is None  # after the change: not known yet


def test_hover_on_a_user_function_is_its_signature_and_doc_comment(client: Client, workdir: Path) -> None:
    path = workdir / "hover_user.hlb"
    client.open(path, 'import lib from "./lib.hlb"\n\nfs default() {\n\tlib.greet "you"\n}\n')
    value = client.request("textDocument/hover", client.at(path, 3, 7))["contents"]["value"]
    assert "fs greet(string who)" in value
    assert "Greets someone.\nPolitely." in value


def test_completion_in_a_with_option_block_of_run(client: Client, workdir: Path) -> None:
    path = workdir / "complete.hlb"
    text = 'fs default() {\n\timage "alpine"\n\trun "make" with option {\n\t\t\n\t}\n}\n'
    client.open(path, text)
    items = client.request("textDocument/completion", client.at(path, 3, 2))["items"]
    labels = {i["label"] for i in items}
    assert {"cacheMount", "mount", "env", "dir", "secret", "ssh"} <= labels
    assert not labels & {"image", "scratch", "copy"}  # fs builtins are not options of run
    env = next(i for i in items if i["label"] == "env")
    assert env["detail"] == "option::run env(string key, string value)"


def test_completion_while_typing_an_unfinished_block(client: Client, workdir: Path) -> None:
    # The text does not parse (the blocks are not closed yet); the context comes from the text before the cursor.
    path = workdir / "typing.hlb"
    text = 'fs default() {\n\timage "alpine"\n\trun "make" with option {\n\t\tcacheMount "/c" with option {\n\t\t\tsh'
    diags = client.open(path, text)
    assert diags and diags[0]["code"] in ("unterminated", "syntax")
    labels = {i["label"] for i in client.request("textDocument/completion", client.at(path, 4, 5))["items"]}
    assert {"sharing", "id", "readonly"} <= labels and "cacheMount" not in labels
    client.change(path, 2, [{"range": rng(4, 3, 4, 5), "text": 'sharing "'}])
    values = [i["label"] for i in client.request("textDocument/completion", client.at(path, 4, 12))["items"]]
    assert values == ["shared", "private", "locked"]


def test_completion_of_statements_functions_and_module_members(client: Client, workdir: Path) -> None:
    path = workdir / "members.hlb"
    text = 'import lib from "./lib.hlb"\n\nfs default() {\n\tscratch\n}\n\nstring name() {\n\t"x"\n}\n'
    client.open(path, text)
    client.change(path, 2, [{"range": rng(3, 8, 3, 8), "text": "\n\t"}])
    labels = {i["label"] for i in client.request("textDocument/completion", client.at(path, 4, 1))["items"]}
    assert {"image", "run", "copy", "default", "lib"} <= labels
    assert "name" not in labels  # a string function is no fs statement
    client.change(path, 3, [{"range": rng(4, 1, 4, 1), "text": "lib."}])
    members = [i["label"] for i in client.request("textDocument/completion", client.at(path, 4, 5))["items"]]
    assert members == ["greet", "shout"]


def test_definition_of_an_imported_function_is_in_its_file(client: Client, workdir: Path) -> None:
    path = workdir / "def.hlb"
    client.open(path, 'import lib from "./lib.hlb"\n\nfs default() {\n\tlib.greet "you"\n}\n')
    loc = client.request("textDocument/definition", client.at(path, 3, 6))
    assert loc == {"uri": (workdir / "lib.hlb").as_uri(), "range": rng(5, 3, 5, 8)}


def test_references_across_modules(client: Client, workdir: Path) -> None:
    path = workdir / "refs.hlb"
    client.open(path, 'import lib from "./lib.hlb"\n\nfs default() {\n\tlib.greet "a"\n\tlib.greet "b"\n}\n')
    locs = client.request("textDocument/references", {**client.at(path, 3, 6), "context": {"includeDeclaration": True}})
    lib = (workdir / "lib.hlb").as_uri()
    got = {(loc["uri"], loc["range"]["start"]["line"], loc["range"]["start"]["character"]) for loc in locs}
    # The declaration, `export greet` and the call in lib.hlb; the calls here; and those of the other open documents.
    assert {(lib, 0, 7), (lib, 5, 3), (lib, 11, 1), (path.as_uri(), 3, 5), (path.as_uri(), 4, 5)} <= got
    assert ((workdir / "def.hlb").as_uri(), 3, 5) in got
    assert ((workdir / "on_disk.hlb").as_uri(), 3, 5) in got  # a module of the workspace nobody opened
    assert all(uri.startswith(workdir.as_uri() + "/") for uri, _, _ in got)


def test_rename_a_function_across_its_module_and_importers(client: Client, workdir: Path) -> None:
    path = workdir / "rename.hlb"
    text = "fs default() {\n\thelper\n\thelper\n}\n\nfs helper() {\n\tscratch\n}\n\nexport helper\n"
    client.open(path, text)
    edit = client.request("textDocument/rename", {**client.at(path, 5, 4), "newName": "base"})
    assert apply(text, edit["changes"][path.as_uri()]) == text.replace("helper", "base")
    with pytest.raises(LspError, match="builtin"):
        client.request("textDocument/rename", {**client.at(path, 5, 4), "newName": "image"})
    with pytest.raises(LspError, match="already declared"):
        client.request("textDocument/rename", {**client.at(path, 5, 4), "newName": "default"})


def test_rename_an_exported_function_renames_its_calls_in_importers(client: Client, workdir: Path) -> None:
    path = workdir / "rename_imported.hlb"
    text = 'import lib from "./lib.hlb"\n\nfs default() {\n\tlib.greet "x"\n}\n'
    client.open(path, text)
    changes = client.request("textDocument/rename", {**client.at(path, 3, 6), "newName": "welcome"})["changes"]
    assert apply(text, changes[path.as_uri()]) == text.replace("greet", "welcome")
    assert apply(LIB, changes[(workdir / "lib.hlb").as_uri()]) == LIB.replace("greet", "welcome")
    on_disk = (workdir / "on_disk.hlb").read_text()
    assert apply(on_disk, changes[(workdir / "on_disk.hlb").as_uri()]) == on_disk.replace("greet", "welcome")


def test_formatting_equals_hlb_format(client: Client, workdir: Path) -> None:
    path = workdir / "fmt.hlb"
    text = 'fs default(  ) { image "alpine" ;  run "a"\n\n\n  run "b"   # why\n}\nfs other() {scratch}'
    client.open(path, text)
    edits = client.request(
        "textDocument/formatting",
        {"textDocument": {"uri": path.as_uri()}, "options": {"tabSize": 4, "insertSpaces": False}},
    )
    expected = subprocess.run(
        [sys.executable, "-m", "hlb", "format"], input=text, capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert apply(text, edits) == expected != text


def test_lint_quick_fixes_are_what_hlb_lint_fix_writes(client: Client, workdir: Path) -> None:
    path = workdir / "lintme.hlb"
    text = (
        'import lib "./lib.hlb"\nimport unused from "./lib.hlb"\n\n'
        'fs default() {\n\tlib.greet "x"\n}\n\ngroup all() {\n\tparallel default\n}\n'
    )
    diags = client.open(path, text)
    assert sorted(d["code"] for d in diags) == ["deprecated", "deprecated", "deprecated", "unused"]
    unused = next(d for d in diags if d["code"] == "unused")
    assert unused["tags"] == [1]
    actions = client.request(
        "textDocument/codeAction",
        {"textDocument": {"uri": path.as_uri()}, "range": unused["range"], "context": {"diagnostics": [unused]}},
    )
    quick = [a for a in actions if a["kind"] == "quickfix"]
    assert len(quick) == 1 and quick[0]["diagnostics"][0]["code"] == "unused"
    assert apply(text, quick[0]["edit"]["changes"][path.as_uri()]) == text.replace(
        'import unused from "./lib.hlb"\n', ""
    )
    fix_all = next(a for a in actions if a["kind"] == "source.fixAll.hlb")
    fixed = apply(text, fix_all["edit"]["changes"][path.as_uri()])
    copy = workdir / "lintme_copy.hlb"
    copy.write_text(text)
    subprocess.run([sys.executable, "-m", "hlb", "lint", "--fix", str(copy)], capture_output=True, cwd=ROOT)
    assert fixed == copy.read_text()


def test_an_edit_to_an_imported_module_rechecks_its_importer(client: Client, workdir: Path) -> None:
    shutil.copy(workdir / "lib.hlb", workdir / "lib2.hlb")
    main = workdir / "importer.hlb"
    assert client.open(main, 'import lib from "./lib2.hlb"\n\nfs default() {\n\tlib.greet "x"\n}\n') == []
    lib = workdir / "lib2.hlb"
    client.open(lib, LIB)
    assert client.wait_published(main.as_uri(), 2) == []  # re-checked with the open document's text
    client.change(lib, 2, [{"range": rng(0, 0, 0, 12), "text": "export shout"}])  # greet no longer exported
    (d,) = client.wait_published(main.as_uri(), 3)
    assert d["code"] == "call-unexported" and d["range"] == rng(3, 5, 3, 10)


def test_an_error_in_an_imported_module_is_shown_at_the_import(client: Client, workdir: Path) -> None:
    (workdir / "broken.hlb").write_text("fs x() {\n\tnosuch\n}\n")
    diags = client.open(workdir / "uses_broken.hlb", 'import b from "./broken.hlb"\n\nfs default() {\n\tscratch\n}\n')
    errors = [d for d in diags if d["severity"] == 1]
    assert [(d["code"], d["range"]["start"]["line"]) for d in errors] == [("undefined-name", 0)]
    assert errors[0]["relatedInformation"][0]["location"] == {
        "uri": (workdir / "broken.hlb").as_uri(),
        "range": rng(1, 1, 1, 7),
    }


CACHES = """\
fs a() {
\timage "alpine"
\trun "x" with option {
\t\tcacheMount "/c" with option { sharing "locked"; }
\t}
}

fs b() {
\timage "alpine"
\trun "y" with option {
\t\tcacheMount "/c" with option { sharing "locked"; }
\t}
}
"""


def test_cache_mount_findings_follow_once_the_typing_pauses(client: Client, workdir: Path) -> None:
    path = workdir / "caches.hlb"
    assert client.open(path, CACHES) == []
    uri = path.as_uri()
    with client.cond:
        count = client.published[uri]
    # `locked` -> `shared` in b: one cache with two sharing modes. The first publish (the check) does not
    # compile the module; the next, once no change came for a while, has the finding with its other use.
    assert client.change(path, 2, [{"range": rng(10, 41, 10, 47), "text": "shared"}]) == []
    (d,) = client.wait_published(uri, count + 2)
    assert (
        d["code"] == "cache-sharing-conflict"
        and d["severity"] == 2
        and d["range"]["start"] == {"line": 10, "character": 2}
    )
    assert [r["location"]["range"]["start"] for r in d["relatedInformation"]] == [{"line": 3, "character": 2}]


def test_document_symbols(client: Client, workdir: Path) -> None:
    path = workdir / "symbols.hlb"
    client.open(path, LIB)
    syms = client.request("textDocument/documentSymbol", {"textDocument": {"uri": path.as_uri()}})
    assert [(s["name"], s["detail"], s["selectionRange"]) for s in syms] == [
        ("greet", "fs greet(string who)", rng(5, 3, 5, 8)),
        ("shout", "fs shout()", rng(10, 3, 10, 8)),
    ]


def test_semantic_tokens_tell_builtins_functions_parameters_and_modules(client: Client, workdir: Path) -> None:
    path = workdir / "tokens.hlb"
    text = 'import lib from "./lib.hlb"\n\nfs default(string who) {\n\tlib.greet who\n\timage "alpine"\n}\n'
    client.open(path, text)
    legend = client.capabilities["semanticTokensProvider"]["legend"]
    data = client.request("textDocument/semanticTokens/full", {"textDocument": {"uri": path.as_uri()}})["data"]
    tokens, line, char = [], 0, 0
    for i in range(0, len(data), 5):
        dl, dc, length, kind, mods = data[i : i + 5]
        line, char = line + dl, (char + dc if dl == 0 else dc)
        names = [m for j, m in enumerate(legend["tokenModifiers"]) if mods >> j & 1]
        tokens.append((line, char, length, legend["tokenTypes"][kind], names))
    assert tokens == [
        (0, 7, 3, "namespace", ["declaration"]),
        (2, 0, 2, "type", []),
        (2, 3, 7, "function", ["declaration"]),
        (2, 11, 6, "type", []),
        (2, 18, 3, "parameter", ["declaration"]),
        (3, 1, 3, "namespace", []),
        (3, 5, 5, "function", []),
        (3, 11, 3, "parameter", []),
        (4, 1, 5, "function", ["defaultLibrary"]),
    ]


def test_without_pygls_the_command_says_how_to_install_it() -> None:
    probe = "import sys; sys.modules['pygls'] = None; from hlb.cli.main import main; raise SystemExit(main())"
    done = subprocess.run([sys.executable, "-c", probe, "langserver"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert "pip install 'hlb[lsp]'" in done.stderr


def test_tcp_serves_the_protocol_on_a_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hlb", "langserver", "--tcp", str(port)], cwd=ROOT, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except ConnectionRefusedError:
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not listen"
                time.sleep(0.05)
        with conn:
            body = json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": None, "capabilities": {}}}
            ).encode()
            conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            reader = conn.makefile("rb")
            length = 0
            while (line := reader.readline().strip()) != b"":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            reply = json.loads(reader.read(length))
        assert reply["id"] == 1 and reply["result"]["serverInfo"]["name"] == "hlb"
        assert reply["result"]["capabilities"]["hoverProvider"] is True
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_a_port_that_cannot_be_is_a_usage_error(port: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hlb", "langserver", "--tcp", port], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 2 and "--tcp" in done.stderr, done.stderr


def test_the_server_never_loads_the_solver_or_grpc() -> None:
    probe = (
        "import sys, hlb.lsp.server\n"
        "print(','.join(m for m in ('grpc', 'hlb.solver', 'hlb.session', 'hlb.build', 'hlb.compiler.plan')"
        " if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == ""


def test_a_client_that_prefers_utf8_gets_utf8_positions(workdir: Path) -> None:
    c = Client(cwd=workdir)
    try:
        result = c.initialize(workdir, {"general": {"positionEncodings": ["utf-8", "utf-16"]}})
        assert result["capabilities"]["positionEncoding"] == "utf-8"
        path = workdir / "emoji8.hlb"
        diags = c.open(path, 'fs default() {\n\timage "😀"; nosuch\n}\n')  # 😀 is 4 bytes of UTF-8
        assert [d["range"] for d in diags] == [rng(1, 15, 1, 21)]
        hover = c.request("textDocument/hover", c.at(path, 1, 2))
        assert hover["range"] == rng(1, 1, 1, 6)
    finally:
        assert c.shutdown() == 0


def test_an_import_of_an_open_document_never_saved_is_read_from_the_editor(client: Client, workdir: Path) -> None:
    lib, main = workdir / "newlib.hlb", workdir / "new_main.hlb"
    assert client.open(lib, "export build\nfs build() {\n\tscratch\n}\n") == []
    assert not lib.exists()
    text = 'import lib from "./newlib.hlb"\n\nfs default() {\n\tlib.build\n}\n'
    assert client.open(main, text) == []
    assert client.request("textDocument/definition", client.at(main, 3, 6)) == {
        "uri": lib.as_uri(),
        "range": rng(1, 3, 1, 8),
    }
    client.change(main, 2, [{"range": rng(3, 10, 3, 10), "text": "\n\tlib."}])
    members = [i["label"] for i in client.request("textDocument/completion", client.at(main, 4, 5))["items"]]
    assert members == ["build"]
    client.change(main, 3, [{"range": rng(3, 10, 4, 5), "text": ""}])
    # Closed without being saved: the import is not found, as `hlb check` says.
    with client.cond:
        count = client.published[main.as_uri()]
    client.notify("textDocument/didClose", {"textDocument": {"uri": lib.as_uri()}})
    (d,) = client.wait_published(main.as_uri(), count + 1)
    assert d["code"] == "import-not-found" and 'no such file "./newlib.hlb"' in d["message"]


def test_a_change_on_disk_to_an_imported_module_nobody_opened_rechecks_its_importers(
    client: Client, workdir: Path
) -> None:
    lib, main = workdir / "watched_lib.hlb", workdir / "watched_main.hlb"
    lib.write_text(LIB)
    assert client.open(main, 'import lib from "./watched_lib.hlb"\n\nfs default() {\n\tlib.greet "x"\n}\n') == []
    with client.cond:
        count = client.published[main.as_uri()]
    lib.write_text(LIB.replace("export greet\n", ""))  # same size? no: shorter, but the mtime may not move
    client.watched([(lib, 2)])
    (d,) = client.wait_published(main.as_uri(), count + 1)
    assert d["code"] == "call-unexported"
    lib.unlink()
    client.watched([(lib, 3)])
    (d,) = client.wait_published(main.as_uri(), count + 2)
    assert d["code"] == "import-not-found"
    lib.write_text(LIB)
    client.watched([(lib, 1)])
    assert client.wait_published(main.as_uri(), count + 3) == []


def test_a_change_on_disk_of_an_open_document_keeps_the_editors_text(client: Client, workdir: Path) -> None:
    lib, main = workdir / "watched_open_lib.hlb", workdir / "watched_open_main.hlb"
    lib.write_text(LIB)
    client.open(lib, LIB)
    assert client.open(main, 'import lib from "./watched_open_lib.hlb"\n\nfs default() {\n\tlib.greet "x"\n}\n') == []
    with client.cond:
        count = client.published[main.as_uri()]
    lib.write_text("broken {")
    client.watched([(lib, 2)])
    assert client.wait_published(main.as_uri(), count + 1) == []  # the open document's text, not the file's


def test_the_server_asks_to_watch_hlb_files_when_the_client_lets_it(workdir: Path) -> None:
    c = Client(cwd=workdir)
    try:
        c.initialize(workdir, {"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": True}}})
        c.request("textDocument/hover", c.at(workdir / "lib.hlb", 0, 0))  # after `initialized` was handled
        with c.cond:
            c.cond.wait_for(lambda: c.server_requests, timeout=10)
            (req,) = c.server_requests
        (reg,) = req["params"]["registrations"]
        assert req["method"] == "client/registerCapability"
        assert reg["method"] == "workspace/didChangeWatchedFiles"
        assert reg["registerOptions"] == {"watchers": [{"globPattern": "**/*.hlb"}]}
    finally:
        assert c.shutdown() == 0
    c = Client(cwd=workdir)
    try:
        c.initialize(workdir)
        c.request("textDocument/hover", c.at(workdir / "lib.hlb", 0, 0))
        assert c.server_requests == []  # a client that cannot be asked is not
    finally:
        assert c.shutdown() == 0


SHADOWS = """\
string tag() {
\t"v1"
}

fs build(string name) {
\timage "busybox"
\trun "echo ${name} ${tag}"
}

fs use(fs base, string t) {
\tbase
\trun tag
}
"""


def test_rename_that_would_change_what_a_name_refers_to_is_refused(client: Client, workdir: Path) -> None:
    path = workdir / "shadows.hlb"
    assert client.open(path, SHADOWS) == []
    # The parameter `name` renamed `tag`: `${tag}` would then be the parameter.
    with pytest.raises(LspError, match="would hide it in `build`"):
        client.request("textDocument/rename", {**client.at(path, 4, 17), "newName": "tag"})
    # The function `tag` renamed `t`: in `use`, `run tag` would become the parameter `t`.
    with pytest.raises(LspError, match="`use` has a parameter `t`"):
        client.request("textDocument/rename", {**client.at(path, 0, 8), "newName": "t"})
    # What hides nothing is still renamed.
    edit = client.request("textDocument/rename", {**client.at(path, 4, 17), "newName": "who"})
    assert apply(SHADOWS, edit["changes"][path.as_uri()]) == SHADOWS.replace("name", "who")
    edit = client.request("textDocument/rename", {**client.at(path, 0, 8), "newName": "version"})
    assert apply(SHADOWS, edit["changes"][path.as_uri()]) == SHADOWS.replace("tag", "version")


def test_rename_of_an_exported_function_to_a_parameter_name_of_an_importer_is_kept(
    client: Client, workdir: Path
) -> None:
    # `lib.who` is no name a parameter `who` can hide.
    path = workdir / "rename_qualified.hlb"
    text = 'import lib from "./lib.hlb"\n\nfs default(string who) {\n\tlib.shout\n}\n'
    client.open(path, text)
    changes = client.request("textDocument/rename", {**client.at(path, 3, 6), "newName": "who"})["changes"]
    assert apply(text, changes[path.as_uri()]) == text.replace("lib.shout", "lib.who")


def test_typing_in_an_imported_open_module_stores_nothing_in_the_front_cache(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("HLB_NO_FRONT_CACHE", raising=False)
    c = Client(cwd=workdir)
    try:
        c.initialize(workdir)
        lib, main = workdir / "typed_lib.hlb", workdir / "typed_main.hlb"
        lib.write_text(LIB)
        c.open(main, 'import lib from "./typed_lib.hlb"\n\nfs default() {\n\tlib.greet "x"\n}\n')
        c.open(lib, LIB)
        front = tmp_path / "cache" / "hlb" / "front"
        before = sorted(p.name for p in front.iterdir()) if front.exists() else []
        for version in range(2, 22):
            c.change(lib, version, [{"range": rng(7, 15, 7, 15), "text": "x"}])
        assert c.wait_published(main.as_uri(), 22) == []  # re-checked after each edit (inside a string)
        after = sorted(p.name for p in front.iterdir()) if front.exists() else []
        assert after == before
    finally:
        assert c.shutdown() == 0


@pytest.mark.parametrize(
    ("text", "line", "character"),
    [
        ("# a comment run\nfs default() {\n\tscratch\n}\n", 0, 15),
        ("# a comment run\nfs default() {\n\tscratch\n}\n", 0, 4),
        ('fs default() {\n\timage "alpine" # trailing\n}\n', 1, 26),
        ('fs default() {\n\timage "alpine"\n\t# run \n}\n', 2, 7),
        ('import lib from "./lib.hlb"\n\nfs default() {\n\tscratch\n}\n', 0, 19),
        ('import lib from "./lib.hlb"\n\nfs default() {\n\tscratch\n}\n', 0, 17),
    ],
)
def test_no_completion_in_a_comment_or_an_import_path(
    client: Client, workdir: Path, text: str, line: int, character: int
) -> None:
    path = workdir / "complete_quiet.hlb"
    client.open(path, text)
    assert client.request("textDocument/completion", client.at(path, line, character))["items"] == []


def test_completion_after_a_comment_or_an_import_path_still_offers(client: Client, workdir: Path) -> None:
    path = workdir / "complete_after.hlb"
    text = '# a comment\nimport lib from "./lib.hlb"\n\nfs default() {\n\timage "alpine" # x\n\t\n}\n'
    client.open(path, text)
    labels = {i["label"] for i in client.request("textDocument/completion", client.at(path, 5, 1))["items"]}
    assert {"run", "lib"} <= labels
    top = {i["label"] for i in client.request("textDocument/completion", client.at(path, 2, 0))["items"]}
    assert {"fs", "import"} <= top


@pytest.mark.parametrize(
    ("method", "position"),
    [
        ("textDocument/hover", {"line": -1, "character": 0}),
        ("textDocument/definition", {"line": 0, "character": -3}),
        ("textDocument/completion", {"line": -1, "character": -1}),
    ],
)
def test_a_request_that_does_not_deserialize_is_answered_with_invalid_params(
    client: Client, workdir: Path, method: str, position: dict[str, int]
) -> None:
    path = workdir / "negative.hlb"
    client.open(path, "fs default() {\n\tscratch\n}\n")
    params = {"textDocument": {"uri": path.as_uri()}, "position": position}
    with pytest.raises(LspError) as e:
        client.request(method, params, timeout=10)
    assert e.value.error["code"] == -32602 and "should be in range" in e.value.error["message"]
    assert client.request("textDocument/hover", client.at(path, 1, 2))["range"] == rng(1, 1, 1, 8)  # still serving


def test_edits_of_an_imported_open_module_move_what_its_importer_finds_there(client: Client, workdir: Path) -> None:
    # The importer's check parses the edited module from its previous parse: the kept declarations move.
    lib, main = workdir / "moved_lib.hlb", workdir / "moved_main.hlb"
    lib.write_text(LIB)
    client.open(lib, LIB)
    text = 'import lib from "./moved_lib.hlb"\n\nfs default() {\n\tlib.greet "x"\n\tlib.shout\n}\n'
    assert client.open(main, text) == []
    for version, (edit, greet, shout) in enumerate(
        [
            ({"range": rng(2, 0, 2, 0), "text": "# more\n# lines\n"}, rng(7, 3, 7, 8), rng(12, 3, 12, 8)),
            (
                {"range": rng(11, 0, 11, 0), "text": "fs extra() {\n\tscratch\n}\n\n"},
                rng(7, 3, 7, 8),
                rng(16, 3, 16, 8),
            ),
            ({"range": rng(0, 0, 2, 0), "text": "export shout\n"}, None, rng(15, 3, 15, 8)),
        ],
        start=2,
    ):
        with client.cond:
            count = client.published[main.as_uri()]
        client.change(lib, version, [edit])
        diags = client.wait_published(main.as_uri(), count + 1)
        found = client.request("textDocument/definition", client.at(main, 3, 6))
        assert (found and found["range"]) == greet  # None: no longer exported
        assert client.request("textDocument/definition", client.at(main, 4, 6))["range"] == shout
    assert [d["code"] for d in diags] == ["call-unexported"]  # greet is no longer exported
