/**
 * Growpilot's code actions in VS Code. languageclient lists them (lightbulb, Refactor…, Quick Fix) and
 * resolves them with the daemon; this middleware adds what the protocol leaves to the editor: the
 * instruction Refactor selection asks for, resolve errors shown (our client keeps languageclient
 * quiet), generated tests shown, Explain's markdown in a preview, and the 👍/👎 lens over each result
 * (feedback.ts). Reading the daemon's payloads is in actionResults.ts.
 */
import * as vscode from "vscode";
import type { Middleware } from "vscode-languageclient/node";
import {
  type Insert,
  PendingResults,
  SHOW_EXPLANATION,
  actionData,
  actionFocus,
  isCancellation,
  lensLabel,
  resolveErrorText,
} from "./actionResults";
import { INLINE_ACCEPTED, type InlineAccepted } from "./client";

export type ActionMiddleware = Pick<Middleware, "resolveCodeAction" | "executeCommand">;

const ACTION_APPLIED = "growpilot.actionApplied";

/** Applied results get their rating lens (INLINE_ACCEPTED) once: from the command, or from the edit arriving. */
export class AppliedActions implements vscode.Disposable {
  private readonly pending = new PendingResults<InlineAccepted>();
  private readonly disposables = [
    vscode.commands.registerCommand(ACTION_APPLIED, (generationId: string) => this.show(this.pending.take(generationId))),
    vscode.workspace.onDidChangeTextDocument((event) => {
      const texts = event.contentChanges.map((change) => change.text);
      for (const applied of this.pending.changed(event.document.uri.toString(), texts, Date.now())) this.show(applied);
    }),
  ];

  /** The command a resolved action runs once applied (VS Code may drop it: see PendingResults). */
  expect(applied: InlineAccepted, edit: vscode.WorkspaceEdit | undefined): vscode.Command {
    const inserts: Insert[] = (edit?.entries() ?? []).flatMap(([uri, edits]) =>
      edits.map((e) => ({ uri: uri.toString(), text: e.newText })),
    );
    this.pending.expect(applied.generationId, inserts, applied, Date.now());
    return { title: "Growpilot: action applied", command: ACTION_APPLIED, arguments: [applied.generationId] };
  }

  private show(applied: InlineAccepted | undefined): void {
    if (applied) void vscode.commands.executeCommand(INLINE_ACCEPTED, applied);
  }

  dispose(): void {
    for (const disposable of this.disposables) disposable.dispose();
  }
}

export function actionMiddleware(log: vscode.LogOutputChannel, applied: AppliedActions): ActionMiddleware {
  return {
    resolveCodeAction: async (item, token, next) => {
      const data = actionData((item as { data?: unknown }).data);
      if (!data) return next(item, token);
      if (data.action === "refactor" && data.instruction === undefined) {
        const instruction = await vscode.window.showInputBox({
          title: "Growpilot: Refactor selection",
          prompt: "How should the selection change? Leave empty to make it clearer and simpler.",
          placeHolder: "e.g. extract the loop into a function",
          ignoreFocusOut: true,
        });
        if (instruction === undefined) return item; // Escape: nothing happens
        data.instruction = instruction;
      }
      let resolved: vscode.CodeAction | null | undefined;
      try {
        resolved = await next(item, token);
      } catch (error) {
        if (!isCancellation(error)) {
          log.warn(resolveErrorText(item.title, error));
          void vscode.window.showErrorMessage(resolveErrorText(item.title, error));
        }
        return item; // no edit, no command: nothing changes
      }
      const focus = actionFocus(resolved?.command);
      if (resolved && focus && resolved.command?.command === "growpilot.accept") {
        // Applied: the same rating lens as an accepted completion, over what the action changed.
        const lens: InlineAccepted = { ...focus, label: lensLabel(focus.action), source: "codeAction", reveal: true };
        resolved.command = applied.expect(lens, resolved.edit);
      } else if (resolved && focus?.explanationUri) {
        // Shown now, not by the command: VS Code resolves an action without an edit only to apply it, and
        // may drop its command (see PendingResults).
        void vscode.commands.executeCommand(SHOW_EXPLANATION, ...(resolved.command?.arguments ?? []));
        resolved.command = undefined;
      }
      return resolved;
    },
    executeCommand: async (command, args, next) => {
      const focus = command === SHOW_EXPLANATION ? actionFocus({ command, arguments: args }) : undefined;
      if (!focus?.explanationUri) return next(command, args);
      try {
        await vscode.commands.executeCommand("markdown.showPreviewToSide", vscode.Uri.parse(focus.explanationUri));
      } catch (error) {
        log.warn(`Markdown preview unavailable (${String(error)}): the daemon shows the explanation instead.`);
        return next(command, args);
      }
      // Back to the code, the explanation beside it: typing goes on there, and VS Code did not draw the lens
      // in the code's editor while the preview had the focus.
      const code = vscode.window.visibleTextEditors.find((editor) => editor.document.uri.toString() === focus.uri);
      if (code) await vscode.window.showTextDocument(code.document, { viewColumn: code.viewColumn, preserveFocus: false });
      // The explanation is rated above the code it explains (not applied: no growpilot.accept).
      const shown: InlineAccepted = { ...focus, label: lensLabel("explain"), recordAccept: false };
      await vscode.commands.executeCommand(INLINE_ACCEPTED, shown);
      return { shown: true, uri: focus.explanationUri };
    },
  };
}
