/**
 * The learning commands: Retrain Now / Cancel Training, Roll Back Adapter, Show Adapters (and Promote
 * from it), and the message each finished cycle gets. The daemon does the work (docs/PROTOCOL.md);
 * the words and choices are learning.ts's, pure and unit-tested.
 */
import * as vscode from "vscode";
import { setContext } from "./contextKeys";
import type { Daemon } from "./client";
import {
  type AdapterChanged,
  type AdaptersResult,
  adapterChangeMessage,
  adapterRows,
  chooseFolder,
  folderName,
  isInvalidParams,
  lastOutcome,
  trainingOutcome,
  trainingStarted,
} from "./learning";

/** A `when`-clause context key: true while a cycle trains, so the palette offers Cancel Training instead of Retrain Now. */
export const TRAINING_CONTEXT = "growpilot.training";

/** Gates a daemon command on the daemon having it (commands.ts), then runs `run`. */
export type IfSupported = (serverCommand: string, feature: string, run: () => Promise<void>) => Promise<void>;

export interface LearningCommands {
  retrain(folderUri?: string): Promise<void>;
  cancel(folderUri?: string): Promise<void>;
  rollback(folderUri?: string): Promise<void>;
  showAdapters(folderUri?: string): Promise<void>;
}

function workspaceFolders(): { uri: string; name: string }[] {
  return (vscode.workspace.workspaceFolders ?? [])
    .filter((f) => f.uri.scheme === "file") // the daemon indexes (and trains on) local folders only
    .map((f) => ({ uri: f.uri.toString(), name: f.name }));
}

/**
 * The folder a command is about (learning.ts chooseFolder), asking when it cannot tell. `among`: folder
 * names to prefer (those being trained, for Cancel Training).
 */
export async function pickFolder(purpose: string, among: readonly string[] = []): Promise<string | undefined> {
  const all = workspaceFolders();
  const preferred = all.filter((f) => among.includes(folderName(f.uri)));
  const folders = preferred.length ? preferred : all;
  const editor = vscode.window.activeTextEditor;
  const active = editor ? vscode.workspace.getWorkspaceFolder(editor.document.uri)?.uri.toString() : undefined;
  const choice = chooseFolder(folders, active);
  if (choice === undefined) {
    void vscode.window.showInformationMessage("Growpilot works on workspace folders: open a local folder first.");
    return undefined;
  }
  if (choice !== "pick") return choice;
  const picked = await vscode.window.showQuickPick(
    folders.map((f) => ({ label: `$(folder) ${f.name}`, description: vscode.Uri.parse(f.uri).fsPath, uri: f.uri })),
    { title: `Growpilot: ${purpose}`, placeHolder: "Which workspace folder?" },
  );
  return picked?.uri;
}

/** The daemon's reason for an InvalidParams refusal, or undefined for any other error (rethrown by the caller). */
function refusal(error: unknown): string | undefined {
  return isInvalidParams(error) ? (error as Error).message : undefined;
}

export function learningCommands(daemon: Daemon, ifSupported: IfSupported): LearningCommands {
  const commands: LearningCommands = {
    retrain: (given) =>
      ifSupported("growpilot.retrain", "Retraining", async () => {
        const folderUri = given ?? (await pickFolder("Retrain Now"));
        if (!folderUri) return;
        let started: { folderUri?: string } | undefined;
        try {
          started = await daemon.execute<{ folderUri?: string }>("growpilot.retrain", [{ folderUri }]);
        } catch (error) {
          const reason = refusal(error);
          if (reason === undefined) throw error;
          // Not a failure: the model is loading, a cycle runs already, the folder is too small…
          const running = /already running/.test(reason);
          const choice = await vscode.window.showWarningMessage(
            `Growpilot cannot train ${folderName(folderUri)} now: ${reason}`,
            ...(running ? ["Cancel Training"] : []),
          );
          if (choice === "Cancel Training") await commands.cancel(folderUri);
          return;
        }
        const choice = await vscode.window.showInformationMessage(
          trainingStarted(started?.folderUri ?? folderUri),
          "Cancel Training",
        );
        if (choice === "Cancel Training") await commands.cancel(folderUri);
      }),

    cancel: (given) =>
      ifSupported("growpilot.cancelTraining", "Cancelling the training", async () => {
        const folderUri = given ?? (await pickFolder("Cancel Training", daemon.status.trainingFolders()));
        if (!folderUri) return;
        const result = await daemon.execute<{ cancelled?: boolean }>("growpilot.cancelTraining", [{ folderUri }]);
        if (result?.cancelled) {
          // The outcome message follows (trainingDone) once the trainer has saved its checkpoint.
          vscode.window.setStatusBarMessage(`Growpilot: stopping the training of ${folderName(folderUri)}…`, 5000);
        } else {
          void vscode.window.showInformationMessage(`Growpilot is not training ${folderName(folderUri)}.`);
        }
      }),

    rollback: (given) =>
      ifSupported("growpilot.rollback", "Rolling back the adapter", async () => {
        const folderUri = given ?? (await pickFolder("Roll Back Adapter"));
        if (!folderUri) return;
        try {
          const change = await daemon.execute<AdapterChanged>("growpilot.rollback", [{ folderUri }]);
          void vscode.window.showInformationMessage(adapterChangeMessage(change));
        } catch (error) {
          const reason = refusal(error);
          if (reason === undefined) throw error;
          // "nothing to roll back to": an answer, not a failure.
          void vscode.window.showInformationMessage(`Growpilot: ${reason} — ${folderName(folderUri)}`);
        }
      }),

    showAdapters: (given) =>
      ifSupported("growpilot.adapters", "Showing the adapters", async () => {
        const folderUri = given ?? (await pickFolder("Show Adapters"));
        if (!folderUri) return;
        const result = await daemon.execute<AdaptersResult>("growpilot.adapters", [{ folderUri }]);
        await showAdapterPick(daemon, commands, folderUri, result);
      }),
  };
  return commands;
}

async function showAdapterPick(
  daemon: Daemon,
  commands: LearningCommands,
  folderUri: string,
  result: AdaptersResult,
): Promise<void> {
  type Item = vscode.QuickPickItem & { run?: () => Promise<unknown> };
  const name = folderName(folderUri);
  const items: Item[] = adapterRows(result).map((row) => ({
    label: row.label,
    description: row.description,
    detail: row.detail,
    run: row.version && !row.active ? () => promote(daemon, folderUri, row.version as string, row.detail) : undefined,
  }));
  const training = (result.learning?.state ?? "idle") !== "idle";
  const last = lastOutcome(result.learning?.last);
  if (last && !training) items.push({ label: "$(history) Last training", description: last });
  items.push(
    { label: "Actions", kind: vscode.QuickPickItemKind.Separator },
    training
      ? { label: "$(debug-stop) Cancel Training", run: () => commands.cancel(folderUri) }
      : { label: "$(mortar-board) Retrain Now", run: () => commands.retrain(folderUri) },
  );
  if (result.active) items.push({ label: "$(discard) Roll Back Adapter", run: () => commands.rollback(folderUri) });
  const picked = await vscode.window.showQuickPick(items, {
    title: `Growpilot adapters: ${name}${training ? ` (${result.learning?.message || "training"})` : ""}`,
    placeHolder: result.versions.length
      ? "Pick a version to promote it; the checked one serves completions"
      : "No adapters yet: Retrain Now trains one on this folder",
    matchOnDescription: true,
    matchOnDetail: true,
  });
  await picked?.run?.();
}

async function promote(daemon: Daemon, folderUri: string, version: string, reason: string | undefined): Promise<void> {
  const choice = await vscode.window.showInformationMessage(
    `Promote ${version} for ${folderName(folderUri)}?`,
    { modal: true, detail: `Completions use it from now on; Roll Back Adapter undoes it.${reason ? `\n\n${version}: ${reason}` : ""}` },
    "Promote",
  );
  if (choice !== "Promote") return;
  try {
    const change = await daemon.execute<AdapterChanged>("growpilot.promote", [{ folderUri, version }]);
    void vscode.window.showInformationMessage(adapterChangeMessage(change));
  } catch (error) {
    const reason = refusal(error);
    if (reason === undefined) throw error;
    void vscode.window.showWarningMessage(`Growpilot cannot promote ${version}: ${reason}`);
  }
}

/**
 * Each finished cycle's outcome as one message with a Show Adapters button, and the context key that
 * swaps Retrain Now for Cancel Training in the palette.
 */
export function watchTraining(daemon: Daemon, log: vscode.LogOutputChannel): vscode.Disposable {
  setContext(TRAINING_CONTEXT, false);
  return vscode.Disposable.from(
    daemon.onDidChange(() => setContext(TRAINING_CONTEXT, daemon.running && daemon.status.isTraining)),
    daemon.onTrainingDone(async (done) => {
      // An idle-time cycle speaks up only when it improved something; the rest is in the status bar's tooltip.
      if (done.automatic && (done.error || done.decision !== "promoted")) return;
      const { severity, text } = trainingOutcome(done);
      const show =
        severity === "error"
          ? vscode.window.showErrorMessage
          : severity === "warning"
            ? vscode.window.showWarningMessage
            : vscode.window.showInformationMessage;
      const choice = await show(text, "Show Adapters", ...(severity === "error" ? ["Open Log"] : []));
      if (choice === "Show Adapters") await vscode.commands.executeCommand("growpilot.showAdapters", done.folderUri);
      else if (choice === "Open Log") log.show(true);
    }),
  );
}
