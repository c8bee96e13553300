// Starts `hlb langserver` (stdio) for .hlb files. The grammar (syntaxes/) highlights without it.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("hlb").get("path", "hlb");
  const serverOptions = { command, args: ["langserver"], transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "hlb" }],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.hlb") },
  };
  client = new LanguageClient("hlb", "HLB language server", serverOptions, clientOptions);
  return client.start().catch((err) => {
    vscode.window.showErrorMessage(
      `HLB: could not start \`${command} langserver\` (${err.message || err}). ` +
        "Install hlb with its language server (pip install 'hlb[lsp]') or set hlb.path.",
    );
  });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
