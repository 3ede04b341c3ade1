/**
 * Growpilot: Open Dashboard — a webview of one folder's metrics. The daemon renders the page
 * (`growpilot.dashboard`: the same HTML as `growpilot dashboard --out`), pointed at the Chart.js build
 * bundled with the extension (dist/webview/chart.js) and locked down by a nonce-only Content-Security-
 * Policy; the page's Promote / Roll back / Refresh buttons come back here as messages and call the
 * daemon's `growpilot.promote` / `growpilot.rollback`.
 */
import { randomBytes } from "node:crypto";
import * as vscode from "vscode";
import type { Daemon } from "./client";
import { dashboardNonce, parseDashboardMessage } from "./dashboardMessages";
import { type AdapterChanged, adapterChangeMessage, folderName, isInvalidParams } from "./learning";
import { type IfSupported, pickFolder } from "./training";

const EXTENSION_ID = "growpilot.growpilot";
const panels = new Map<string, vscode.WebviewPanel>(); // one per folder

function extensionUri(): vscode.Uri {
  const uri = vscode.extensions.getExtension(EXTENSION_ID)?.extensionUri;
  if (!uri) throw new Error(`the extension ${EXTENSION_ID} is not installed`);
  return uri;
}

export function openDashboard(daemon: Daemon, ifSupported: IfSupported) {
  return (given?: string): Promise<void> =>
    ifSupported("growpilot.dashboard", "The dashboard", async () => {
      const folderUri = given ?? (await pickFolder("Open Dashboard"));
      if (!folderUri) return;
      const open = panels.get(folderUri);
      if (open) {
        open.reveal();
        await render(daemon, open, folderUri);
        return;
      }
      const scripts = vscode.Uri.joinPath(extensionUri(), "dist", "webview");
      const panel = vscode.window.createWebviewPanel(
        "growpilot.dashboard",
        `Growpilot: ${folderName(folderUri)}`,
        vscode.ViewColumn.Active,
        { enableScripts: true, localResourceRoots: [scripts], enableCommandUris: false },
      );
      panels.set(folderUri, panel);
      panel.onDidDispose(() => panels.delete(folderUri));
      panel.webview.onDidReceiveMessage(async (message: unknown) => {
        const request = parseDashboardMessage(message);
        if (!request) return;
        try {
          if (request.command !== "refresh") {
            const change = await daemon.execute<AdapterChanged>(
              `growpilot.${request.command}`,
              [request.command === "promote" ? { folderUri, version: request.version } : { folderUri }],
            );
            void vscode.window.showInformationMessage(adapterChangeMessage(change));
          }
          await render(daemon, panel, folderUri);
        } catch (error) {
          // "nothing to roll back to" and the like are answers (InvalidParams); anything else failed.
          const text = `Growpilot: ${error instanceof Error ? error.message : String(error)} — ${folderName(folderUri)}`;
          if (isInvalidParams(error)) void vscode.window.showWarningMessage(text);
          else void vscode.window.showErrorMessage(text);
          await render(daemon, panel, folderUri).catch(() => undefined);
        }
      });
      await render(daemon, panel, folderUri);
    });
}

async function render(daemon: Daemon, panel: vscode.WebviewPanel, folderUri: string): Promise<void> {
  const { webview } = panel;
  const chart = vscode.Uri.joinPath(extensionUri(), "dist", "webview", "chart.js");
  const page = await daemon.execute<{ html: string }>("growpilot.dashboard", [
    {
      folderUri,
      chartSrc: webview.asWebviewUri(chart).toString(),
      cspSource: webview.cspSource,
      nonce: dashboardNonce((size) => randomBytes(size)),
    },
  ]);
  webview.html = page.html;
}
