/**
 * The palette commands. Their ids differ from the daemon's command ids on purpose:
 * vscode-languageclient registers each server command (`growpilot.reindex`, …) as a VS Code command.
 */
import * as vscode from "vscode";
import { type Daemon, DaemonNotRunning } from "./client";
import { errorMessage } from "./feedback";
import { type StatusResult, statusEntries } from "./status";
import { privacyCommands } from "./privacy";
import { learningCommands } from "./training";
import { openDashboard } from "./dashboard";

interface FolderIndex {
  folderUri: string;
  files?: number;
  chunks?: number;
  seconds?: number;
}

interface SearchHit {
  uri: string;
  path: string;
  start_line: number;
  end_line: number;
  score: number;
  text: string;
}

export function registerCommands(daemon: Daemon, log: vscode.LogOutputChannel): vscode.Disposable {
  /**
   * Runs a command body; a stopped daemon or a failed request becomes one clear message. A string
   * argument is a folder URI (buttons pass one: "Show Adapters" after a training outcome).
   */
  const command = (id: string, what: string, body: (folderUri?: string) => Promise<unknown>): vscode.Disposable =>
    vscode.commands.registerCommand(id, async (arg?: unknown) => {
      try {
        await body(typeof arg === "string" ? arg : undefined);
      } catch (error) {
        if (error instanceof DaemonNotRunning) {
          const choice = await vscode.window.showErrorMessage(error.message, "Restart Daemon", "Open Log");
          if (choice === "Restart Daemon") await daemon.restart();
          else if (choice === "Open Log") log.show(true);
        } else {
          log.error(`${what} failed: ${errorMessage(error)}`);
          void vscode.window.showErrorMessage(`Growpilot: ${what} failed: ${errorMessage(error)}`);
        }
      }
    });

  /** Daemon features an older daemon lacks (training) must say they are missing, not pretend. */
  const ifSupported = async (serverCommand: string, feature: string, run: () => Promise<void>): Promise<void> => {
    if (!daemon.running) throw new DaemonNotRunning();
    if (!daemon.serverCommands().includes(serverCommand)) {
      void vscode.window.showWarningMessage(`${feature} is not available in this version of the Growpilot daemon.`);
      return;
    }
    await run();
  };
  const learning = learningCommands(daemon, ifSupported);
  const privacy = privacyCommands(daemon, ifSupported);

  const reindex = async (): Promise<void> => {
    // The progress notification comes from the daemon's `$/progress` (see indexProgress.ts).
    const result = await daemon.reindex<{ folders?: FolderIndex[] }>();
    const folders = result?.folders ?? [];
    const files = folders.reduce((sum, folder) => sum + (folder.files ?? 0), 0);
    const chunks = folders.reduce((sum, folder) => sum + (folder.chunks ?? 0), 0);
    const seconds = folders.reduce((sum, folder) => sum + (folder.seconds ?? 0), 0);
    void vscode.window.showInformationMessage(
      `Growpilot reindexed ${files} files (${chunks} chunks) in ${seconds.toFixed(1)} s.`,
    );
  };

  const toggleCompletions = async (): Promise<void> => {
    const config = vscode.workspace.getConfiguration("growpilot");
    const enabled = config.get<boolean>("completionsEnabled", true);
    // Write where the current value comes from, so the toggle is not shadowed by another scope.
    const inspected = config.inspect<boolean>("completionsEnabled");
    const target =
      inspected?.workspaceFolderValue !== undefined
        ? vscode.ConfigurationTarget.WorkspaceFolder
        : inspected?.workspaceValue !== undefined
          ? vscode.ConfigurationTarget.Workspace
          : vscode.ConfigurationTarget.Global;
    await config.update("completionsEnabled", !enabled, target);
    vscode.window.setStatusBarMessage(`Growpilot completions ${enabled ? "off" : "on"}`, 3000);
  };

  const showStatus = async (): Promise<void> => {
    type Item = vscode.QuickPickItem & { run?: () => unknown };
    const items: Item[] = [];
    if (daemon.running) {
      const status = await daemon.execute<StatusResult>("growpilot.status", []);
      items.push(...statusEntries(status));
    } else {
      items.push({ label: "$(error) Daemon", description: daemon.status.view().tooltip });
    }
    const enabled = vscode.workspace.getConfiguration("growpilot").get<boolean>("completionsEnabled", true);
    const canLearn = daemon.serverCommands().includes("growpilot.adapters");
    items.push(
      { label: "Actions", kind: vscode.QuickPickItemKind.Separator },
      { label: "$(refresh) Reindex Workspace", run: () => vscode.commands.executeCommand("growpilot.reindexWorkspace") },
      ...(canLearn
        ? [
            { label: "$(versions) Show Adapters", run: () => vscode.commands.executeCommand("growpilot.showAdapters") },
            daemon.status.isTraining
              ? { label: "$(debug-stop) Cancel Training", run: () => vscode.commands.executeCommand("growpilot.stopTraining") }
              : { label: "$(mortar-board) Retrain Now", run: () => vscode.commands.executeCommand("growpilot.retrainNow") },
          ]
        : []),
      {
        label: enabled ? "$(circle-slash) Turn Completions Off" : "$(check) Turn Completions On",
        run: () => vscode.commands.executeCommand("growpilot.toggleCompletions"),
      },
      { label: "$(debug-restart) Restart Daemon", run: () => vscode.commands.executeCommand("growpilot.restartDaemon") },
      { label: "$(output) Open Log", run: () => log.show(true) },
    );
    const picked = await vscode.window.showQuickPick(items, { title: "Growpilot Status", matchOnDescription: true });
    await picked?.run?.();
  };

  const search = async (): Promise<void> => {
    if (!daemon.running) throw new DaemonNotRunning();
    const query = await vscode.window.showInputBox({
      title: "Growpilot: Search Codebase",
      prompt: "Describe the code you are looking for",
      value: vscode.window.activeTextEditor?.document.getText(vscode.window.activeTextEditor.selection) ?? "",
    });
    if (!query?.trim()) return;
    const hits = await daemon.execute<SearchHit[]>("growpilot.search", [{ query: query.trim(), k: 20 }]);
    if (!hits?.length) {
      void vscode.window.showInformationMessage(`Growpilot found nothing for "${query.trim()}".`);
      return;
    }
    const picked = await vscode.window.showQuickPick(
      hits.map((hit) => ({
        label: `$(file-code) ${hit.path}:${hit.start_line}-${hit.end_line}`,
        description: hit.score.toFixed(3),
        detail: hit.text.split("\n").find((line) => line.trim())?.trim(),
        hit,
      })),
      { title: `Growpilot: ${hits.length} results for "${query.trim()}"`, matchOnDetail: true },
    );
    if (!picked) return;
    const { hit } = picked;
    // Daemon lines are 1-based (PROTOCOL.md), VS Code's 0-based.
    const selection = new vscode.Range(hit.start_line - 1, 0, hit.end_line - 1, Number.MAX_SAFE_INTEGER);
    await vscode.window.showTextDocument(vscode.Uri.parse(hit.uri), { selection });
  };

  return vscode.Disposable.from(
    command("growpilot.reindexWorkspace", "Reindexing", reindex),
    // Not growpilot.cancelTraining / growpilot.adapters: those are the daemon's ids (see above).
    command("growpilot.retrainNow", "Retraining", learning.retrain),
    command("growpilot.stopTraining", "Cancelling the training", learning.cancel),
    command("growpilot.rollbackAdapter", "Rolling back the adapter", learning.rollback),
    command("growpilot.showAdapters", "Showing the adapters", learning.showAdapters),
    command("growpilot.openDashboard", "Opening the dashboard", openDashboard(daemon, ifSupported)),
    command("growpilot.deleteWorkspaceIndex", "Deleting the index", privacy.deleteIndex),
    command("growpilot.clearSuggestionHistory", "Clearing the suggestion history", privacy.clearHistory),
    command("growpilot.showStatus", "Showing the status", showStatus),
    command("growpilot.searchCodebase", "Searching", search),
    command("growpilot.toggleCompletions", "Toggling completions", toggleCompletions),
    command("growpilot.restartDaemon", "Restarting the daemon", () => daemon.restart()),
    command("growpilot.showLog", "Showing the log", async () => log.show(true)),
    command("growpilot.getStarted", "Opening the walkthrough", async () => {
      await vscode.commands.executeCommand("workbench.action.openWalkthrough", "growpilot.growpilot#growpilot.getStarted", false);
    }),
  );
}
