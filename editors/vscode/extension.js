// Starts `kspec lsp` (stdio) for .kspec documents, and for YAML documents when kspec.yaml.enable is set.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("kspec");
  const command = config.get("server.command", "kspec");
  const debounce = String(config.get("server.debounceMs", 100));
  const server = { command, args: ["lsp", "--debounce", debounce], transport: TransportKind.stdio };
  const documentSelector = [{ scheme: "file", language: "kspec" }, { scheme: "untitled", language: "kspec" }];
  if (config.get("yaml.enable", false)) {
    documentSelector.push({ scheme: "file", language: "yaml" });
  }
  client = new LanguageClient("kspec", "kspec language server", { run: server, debug: server }, { documentSelector });
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
