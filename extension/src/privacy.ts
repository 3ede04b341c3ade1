/**
 * The privacy commands: Delete This Workspace's Index and Clear Suggestion History. Each asks first
 * (modal: neither can be undone) and says what went, in the daemon's own counts.
 */
import * as vscode from "vscode";
import type { Daemon } from "./client";
import { folderName } from "./learning";
import { type IfSupported, pickFolder } from "./training";

interface IndexDeleted {
  folderUri: string;
  deleted: string[];
  bytes: number;
}

interface HistoryCleared {
  folderUri: string;
  generations: number;
  events: number;
}

export interface PrivacyCommands {
  deleteIndex(folderUri?: string): Promise<void>;
  clearHistory(folderUri?: string): Promise<void>;
}

function megabytes(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MB`;
}

async function confirmed(question: string, detail: string, button: string): Promise<boolean> {
  return (await vscode.window.showWarningMessage(question, { modal: true, detail }, button)) === button;
}

export function privacyCommands(daemon: Daemon, ifSupported: IfSupported): PrivacyCommands {
  return {
    deleteIndex: (given) =>
      ifSupported("growpilot.deleteIndex", "Delete Index", async () => {
        const folderUri = given ?? (await pickFolder("Delete This Workspace's Index"));
        if (!folderUri) return;
        const name = folderName(folderUri);
        const detail =
          "Its code chunks and vectors are deleted from disk. Completions use no context from other files until " +
          "Reindex Workspace rebuilds it; files you change meanwhile are indexed again. Adapters and history stay.";
        if (!(await confirmed(`Delete the Growpilot index of ${name}?`, detail, "Delete Index"))) return;
        const result = await daemon.execute<IndexDeleted>("growpilot.deleteIndex", [{ folderUri }]);
        const choice = await vscode.window.showInformationMessage(
          `Growpilot deleted the index of ${name} (${megabytes(result.bytes)}).`,
          "Reindex Now",
        );
        if (choice === "Reindex Now") await vscode.commands.executeCommand("growpilot.reindexWorkspace");
      }),
    clearHistory: (given) =>
      ifSupported("growpilot.clearHistory", "Clear History", async () => {
        const folderUri = given ?? (await pickFolder("Clear Suggestion History"));
        if (!folderUri) return;
        const name = folderName(folderUri);
        const detail =
          "Every suggestion Growpilot showed in this folder, with its prompt, accepts and ratings, is deleted. " +
          "Later fine-tunes cannot learn from them; adapters already trained stay.";
        if (!(await confirmed(`Clear Growpilot's suggestion history of ${name}?`, detail, "Clear History"))) return;
        const result = await daemon.execute<HistoryCleared>("growpilot.clearHistory", [{ folderUri }]);
        void vscode.window.showInformationMessage(
          `Growpilot cleared ${result.generations} suggestions and ${result.events} accepts and ratings of ${name}.`,
        );
      }),
  };
}
