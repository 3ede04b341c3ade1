/** The context keys that show or hide palette commands and keybindings (package.json `when` clauses). */
import * as vscode from "vscode";

const values = new Map<string, boolean>();

/** `setContext`, sent only when the value changes (callers run on every status change). */
export function setContext(key: string, value: boolean): void {
  if (values.get(key) === value) return;
  values.set(key, value);
  void vscode.commands.executeCommand("setContext", key, value);
}
