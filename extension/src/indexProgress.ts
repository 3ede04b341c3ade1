/**
 * The daemon's indexing `$/progress`, shown by us. vscode-languageclient 11 renders server-created
 * progress only as a window (status bar) progress — never a notification — and our status bar
 * item already shows the counts. So indexing progress drives the status bar always, and a
 * notification while the user's Reindex Workspace runs.
 */
import * as vscode from "vscode";
import type { ProgressToken, WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport } from "vscode-languageclient/node";

type Value = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

interface Shown {
  progress?: vscode.Progress<{ message?: string; increment?: number }>;
  reported: number;
  done: () => void;
}

export class IndexProgressNotifications {
  private requests = 0;
  private readonly shown = new Map<ProgressToken, Shown>();

  /** Runs `work` (a reindex request) with indexing progress shown as a notification. */
  async during<T>(work: () => Promise<T>): Promise<T> {
    this.requests++;
    try {
      return await work();
    } finally {
      this.requests--;
    }
  }

  handle(token: ProgressToken, value: Value): void {
    if (value.kind === "begin") {
      if (this.requests === 0) return;
      const entry: Shown = { reported: 0, done: () => undefined };
      this.shown.set(token, entry);
      void vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: value.title },
        (progress) =>
          new Promise<void>((resolve) => {
            entry.progress = progress;
            entry.done = resolve;
            if (!this.shown.has(token)) resolve(); // ended before VS Code called us
          }),
      );
      this.report(entry, value.message, value.percentage);
    } else if (value.kind === "report") {
      const entry = this.shown.get(token);
      if (entry) this.report(entry, value.message, value.percentage);
    } else {
      this.shown.get(token)?.done();
      this.shown.delete(token);
    }
  }

  private report(entry: Shown, message: string | undefined, percentage: number | undefined): void {
    if (!entry.progress) return;
    // VS Code takes increments; the daemon sends totals.
    const increment = percentage === undefined ? undefined : Math.max(0, percentage - entry.reported);
    if (percentage !== undefined) entry.reported = Math.max(entry.reported, percentage);
    entry.progress.report({ message, increment });
  }
}
