/** Growpilot's VS Code entry point: wires the modules together and starts the daemon. */
import * as vscode from "vscode";
import { AppliedActions, actionMiddleware } from "./actions";
import { Daemon } from "./client";
import { registerCommands } from "./commands";
import { Feedback } from "./feedback";
import { changeEffect } from "./settings";
import { createStatusBar } from "./statusBar";
import { watchTraining } from "./training";

/** Settings changes arrive in bursts (settings.json saves, sync): restart once they settle. */
const RESTART_DEBOUNCE_MS = 750;
/** The cursor at rest this long: the daemon prefills that position's prompt (`growpilot.warmUp`). */
const WARM_UP_AFTER_MS = 300;

let daemon: Daemon | undefined; // kept for deactivate(), whose promise VS Code awaits

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel("Growpilot", { log: true });
  const current = new Daemon(log);
  const appliedActions = new AppliedActions();
  current.extraMiddleware = actionMiddleware(log, appliedActions);
  daemon = current;
  const completionsEnabled = (): boolean =>
    vscode.workspace.getConfiguration("growpilot").get<boolean>("completionsEnabled", true);
  current.setCompletionsEnabled(completionsEnabled());

  let restartTimer: NodeJS.Timeout | undefined;
  let warmUpTimer: NodeJS.Timeout | undefined;
  const cursorMoved = (editor: vscode.TextEditor | undefined): void => {
    clearTimeout(warmUpTimer);
    if (editor) warmUpTimer = setTimeout(() => current.cursorRested(editor), WARM_UP_AFTER_MS);
  };
  context.subscriptions.push(
    log,
    appliedActions,
    createStatusBar(current),
    new Feedback(current),
    registerCommands(current, log),
    watchTraining(current, log),
    vscode.workspace.onDidChangeConfiguration((event) => {
      const effect = changeEffect((section) => event.affectsConfiguration(section));
      if (effect === "none") return;
      current.setCompletionsEnabled(completionsEnabled());
      if (effect === "restart") {
        clearTimeout(restartTimer);
        restartTimer = setTimeout(() => {
          log.info("A setting that needs a new daemon changed: restarting it.");
          void current.restart();
        }, RESTART_DEBOUNCE_MS);
      } else {
        current.notifySettings();
      }
    }),
    // Untrusted, the daemon ran without the workspace's .venv and growpilot.* path values (settings.ts).
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      log.info("The workspace is now trusted: restarting the daemon with its own settings and .venv.");
      clearTimeout(restartTimer);
      void current.restart();
    }),
    vscode.window.onDidChangeTextEditorSelection((event) => cursorMoved(event.textEditor)),
    vscode.window.onDidChangeActiveTextEditor(cursorMoved),
    {
      dispose: () => {
        clearTimeout(restartTimer);
        clearTimeout(warmUpTimer);
      },
    },
  );
  void current.start();
}

export async function deactivate(): Promise<void> {
  await daemon?.dispose();
  daemon = undefined;
}
