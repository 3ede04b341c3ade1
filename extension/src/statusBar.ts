/** The status bar item: renders `DaemonStatus.view()` (status.ts); a click opens Show Status. */
import * as vscode from "vscode";
import type { Daemon } from "./client";

export function createStatusBar(daemon: Daemon): vscode.Disposable {
  const item = vscode.window.createStatusBarItem("growpilot.status", vscode.StatusBarAlignment.Right, 100);
  item.name = "Growpilot";
  item.command = "growpilot.showStatus";
  const render = (): void => {
    const view = daemon.status.view();
    item.text = view.text;
    item.tooltip = `${view.tooltip}\nClick for status and actions.`;
    item.backgroundColor =
      view.severity === "normal" ? undefined : new vscode.ThemeColor(`statusBarItem.${view.severity}Background`);
  };
  render();
  item.show();
  return vscode.Disposable.from(item, daemon.onDidChange(render));
}
