/**
 * The status bar item: renders `DaemonStatus.view()` (status.ts); a click opens Show Status. It also
 * keeps the context keys of the daemon's state (contextKeys.ts).
 */
import * as vscode from "vscode";
import type { Daemon } from "./client";
import { setContext } from "./contextKeys";

export function createStatusBar(daemon: Daemon): vscode.Disposable {
  const item = vscode.window.createStatusBarItem("growpilot.status", vscode.StatusBarAlignment.Right, 100);
  item.name = "Growpilot";
  item.command = "growpilot.showStatus";
  const render = (): void => {
    const view = daemon.status.view();
    item.text = view.text;
    item.tooltip = `${view.tooltip}\nClick for status and actions.`;
    // Screen readers get the whole state, not the icon names in the text.
    item.accessibilityInformation = { label: `${view.text.replace(/\$\([^)]*\)\s*/g, "")}. ${view.tooltip}`, role: "button" };
    setContext("growpilot.running", daemon.running);
    setContext("growpilot.ready", daemon.status.isReady);
    const commands = daemon.serverCommands();
    setContext("growpilot.canLearn", commands.includes("growpilot.adapters"));
    setContext("growpilot.canDeleteIndex", commands.includes("growpilot.deleteIndex"));
    setContext("growpilot.canClearHistory", commands.includes("growpilot.clearHistory"));
    item.backgroundColor =
      view.severity === "normal" ? undefined : new vscode.ThemeColor(`statusBarItem.${view.severity}Background`);
  };
  render();
  item.show();
  const tick = setInterval(render, 30_000); // "next training in ~N min" counts down
  return vscode.Disposable.from(item, daemon.onDidChange(render), { dispose: () => clearInterval(tick) });
}
