/**
 * Rating accepted suggestions: records each accepted inline item (and tells the daemon,
 * `growpilot.accept`), shows 👍 / 👎 CodeLenses above it, sends `growpilot.feedback`, and offers
 * "rate the last suggestion" commands. The lens logic is in ratings.ts.
 */
import * as vscode from "vscode";
import { type Daemon, INLINE_ACCEPTED, type InlineAccepted } from "./client";
import { setContext } from "./contextKeys";
import { type LineChange, type Rating, RatingLenses } from "./ratings";

const RATE = "growpilot.rateSuggestion";

export class Feedback implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly lenses = new RatingLenses();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private timer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[];

  constructor(private readonly daemon: Daemon) {
    this.disposables = [
      this.changed,
      vscode.languages.registerCodeLensProvider([{ scheme: "file" }, { scheme: "untitled" }], this),
      vscode.commands.registerCommand(INLINE_ACCEPTED, (accepted: InlineAccepted) => this.accepted(accepted)),
      vscode.commands.registerCommand(RATE, (generationId: string, rating: Rating) => this.rate(generationId, rating, "codelens")),
      vscode.commands.registerCommand("growpilot.rateLastUp", () => this.rateLast("up")),
      vscode.commands.registerCommand("growpilot.rateLastDown", () => this.rateLast("down")),
      vscode.workspace.onDidChangeTextDocument((event) => {
        const changes: LineChange[] = event.contentChanges.map((change) => ({
          startLine: change.range.start.line,
          endLine: change.range.end.line,
          newLineCount: change.text.split("\n").length,
        }));
        if (this.lenses.edited(event.document.uri.toString(), changes)) this.changed.fire();
      }),
      vscode.workspace.onDidCloseTextDocument((document) => this.lenses.closed(document.uri.toString())),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration("growpilot.showRatingLens")) this.changed.fire();
      }),
    ];
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    if (!vscode.workspace.getConfiguration("growpilot").get<boolean>("showRatingLens", true)) return [];
    return this.lenses.forDocument(document.uri.toString()).flatMap((lens) => {
      const range = new vscode.Range(lens.line, 0, lens.line, 0);
      if (lens.state === "thanks") {
        const thanks = lens.rating === "up" ? "Thanks for the 👍" : "Thanks for the 👎";
        return [new vscode.CodeLens(range, { title: `Growpilot: ${thanks}`, command: "" })];
      }
      return [
        new vscode.CodeLens(range, { title: lens.label ?? "Growpilot suggestion:", command: "" }),
        new vscode.CodeLens(range, { title: "👍", tooltip: "Good suggestion", command: RATE, arguments: [lens.generationId, "up"] }),
        new vscode.CodeLens(range, { title: "👎", tooltip: "Bad suggestion", command: RATE, arguments: [lens.generationId, "down"] }),
      ];
    });
  }

  private async accepted(accepted: InlineAccepted): Promise<void> {
    this.lenses.accepted(accepted.generationId, accepted.uri, accepted.line, accepted.label);
    this.changed.fire();
    // The rating keys and palette commands exist only once there is something to rate.
    setContext("growpilot.canRate", true);
    if (accepted.reveal && vscode.window.activeTextEditor?.document.uri.toString() !== accepted.uri) {
      // A code action's result may be in another file (generated tests): show it where the lens is.
      const at = new vscode.Range(accepted.line, 0, accepted.line, 0);
      void vscode.window.showTextDocument(vscode.Uri.parse(accepted.uri), { selection: at, preview: false });
    }
    if (accepted.recordAccept === false) return;
    try {
      const source = accepted.source ? { source: accepted.source } : {};
      await this.daemon.execute("growpilot.accept", [{ generationId: accepted.generationId, ...source }]);
    } catch (error) {
      void vscode.window.showWarningMessage(`Growpilot could not record the accepted suggestion: ${errorMessage(error)}`);
    }
  }

  private async rateLast(rating: Rating): Promise<void> {
    const last = this.lenses.lastAccepted;
    if (!last) {
      void vscode.window.showInformationMessage("No accepted Growpilot suggestion to rate yet.");
      return;
    }
    if (await this.rate(last, rating, "command")) {
      vscode.window.setStatusBarMessage(`Growpilot: thanks for the ${rating === "up" ? "👍" : "👎"}`, 3000);
    }
  }

  private async rate(generationId: string, rating: Rating, source: string): Promise<boolean> {
    try {
      await this.daemon.execute("growpilot.feedback", [{ generationId, rating, source }]);
    } catch (error) {
      void vscode.window.showErrorMessage(`Growpilot could not record the rating: ${errorMessage(error)}`);
      return false;
    }
    if (this.lenses.rated(generationId, rating, Date.now())) {
      this.changed.fire();
      this.scheduleExpiry();
    }
    return true;
  }

  private scheduleExpiry(): void {
    clearTimeout(this.timer);
    const next = this.lenses.nextExpiry();
    if (next === undefined) return;
    this.timer = setTimeout(() => {
      if (this.lenses.expire(Date.now())) this.changed.fire();
      this.scheduleExpiry();
    }, Math.max(0, next - Date.now()));
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const disposable of this.disposables) disposable.dispose();
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
