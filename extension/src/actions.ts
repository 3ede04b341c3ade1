/**
 * Growpilot's code actions in VS Code. languageclient lists them (lightbulb, Refactor…, Quick Fix) and
 * resolves them with the daemon; this middleware adds what the protocol leaves to the editor: the
 * instruction Refactor selection asks for, resolve errors shown (our client keeps languageclient
 * quiet), generated tests shown, Explain's markdown in a preview, and the 👍/👎 lens over each result
 * (feedback.ts). Reading the daemon's payloads is in actionResults.ts.
 */
import * as vscode from "vscode";
import type { Middleware } from "vscode-languageclient/node";
import { SHOW_EXPLANATION, actionData, actionFocus, isCancellation, lensLabel, resolveErrorText } from "./actionResults";
import { INLINE_ACCEPTED, type InlineAccepted } from "./client";

export type ActionMiddleware = Pick<Middleware, "resolveCodeAction" | "executeCommand">;

export function actionMiddleware(log: vscode.LogOutputChannel): ActionMiddleware {
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
        const applied: InlineAccepted = { ...focus, label: lensLabel(focus.action), source: "codeAction", reveal: true };
        resolved.command = { title: resolved.command.title, command: INLINE_ACCEPTED, arguments: [applied] };
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
      // The explanation is rated above the code it explains (not applied: no growpilot.accept).
      const shown: InlineAccepted = { ...focus, label: lensLabel("explain"), recordAccept: false };
      await vscode.commands.executeCommand(INLINE_ACCEPTED, shown);
      return { shown: true, uri: focus.explanationUri };
    },
  };
}
