/**
 * Reading the daemon's code actions (PROTOCOL.md, "Code actions"): the `data` a listed action carries,
 * the command a resolved one ends with (`growpilot.accept` once its edit is applied,
 * `growpilot.showExplanation` for Explain), and resolve errors. Pure: no VS Code here.
 */

export type ActionName = "explain" | "docstring" | "tests" | "refactor" | "fix";

export interface ActionData {
  action: ActionName;
  uri: string;
  instruction?: string;
  generationId?: string;
}

/** Where a resolved action's result is: its rating lens goes above `line` of `uri`. */
export interface ActionFocus {
  generationId: string;
  uri: string;
  line: number;
  action: ActionName;
  /** Explain only: the generated markdown file. */
  explanationUri?: string;
}

const ACTIONS: readonly string[] = ["explain", "docstring", "tests", "refactor", "fix"];

export const SHOW_EXPLANATION = "growpilot.showExplanation";

/** A Growpilot action's `data`, or undefined for another server's action. */
export function actionData(data: unknown): ActionData | undefined {
  const d = data as Partial<ActionData> | undefined;
  if (!d || typeof d !== "object" || typeof d.uri !== "string" || !ACTIONS.includes(String(d.action))) return undefined;
  return d as ActionData;
}

/** The focus in a resolved action's command (`growpilot.accept` or `growpilot.showExplanation`). */
export function actionFocus(command: { command: string; arguments?: unknown[] } | undefined): ActionFocus | undefined {
  if (command?.command !== "growpilot.accept" && command?.command !== SHOW_EXPLANATION) return undefined;
  const arg = command.arguments?.[0] as Partial<ActionFocus> | undefined;
  if (typeof arg?.generationId !== "string" || typeof arg.uri !== "string" || typeof arg.line !== "number") return undefined;
  if (!ACTIONS.includes(String(arg.action))) return undefined;
  if (command.command === SHOW_EXPLANATION && typeof arg.explanationUri !== "string") return undefined;
  return arg as ActionFocus;
}

/** The lens's first item over an action's result: "Growpilot docstring:". */
export function lensLabel(action: ActionName): string {
  const what = { explain: "explanation", docstring: "docstring", tests: "tests", refactor: "refactor", fix: "fix" }[action];
  return `Growpilot ${what}:`;
}

/** JSON-RPC RequestCancelled: the user cancelled (the progress's Cancel button); nothing to report. */
export function isCancellation(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === -32800 || (error instanceof Error && error.name === "Canceled");
}

/** A resolve error as the user should read it. */
export function resolveErrorText(title: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `${title} failed: ${message}`;
}

/** What a resolved action inserts into one document. */
export interface Insert {
  uri: string;
  text: string;
}

const PENDING_MS = 10 * 60_000;
const plain = (text: string): string => text.replace(/\r\n/g, "\n");

/**
 * Resolved results not yet seen applied. VS Code drops a resolved action's command when the action list
 * it came from is released during the resolve (the editor asks for actions again as it changes, and the
 * model takes seconds), while the edit still applies. So a result also counts as applied when its
 * inserted text arrives in its document; whichever comes first (the edit or the command) wins, once.
 */
export class PendingResults<T> {
  private readonly pending = new Map<string, { value: T; inserts: Insert[]; expiresAt: number }>();

  expect(generationId: string, inserts: readonly Insert[], value: T, now: number): void {
    for (const [id, entry] of this.pending) if (entry.expiresAt < now) this.pending.delete(id);
    const kept = inserts.filter((insert) => insert.text.trim()).map((insert) => ({ ...insert, text: plain(insert.text) }));
    this.pending.set(generationId, { value, inserts: kept, expiresAt: now + PENDING_MS });
  }

  /** The result, once: its command ran. */
  take(generationId: string): T | undefined {
    const entry = this.pending.get(generationId);
    this.pending.delete(generationId);
    return entry?.value;
  }

  /** The results whose inserted text this change of `uri` brought in, once each. */
  changed(uri: string, texts: readonly string[], now: number): T[] {
    const arrived = new Set(texts.map(plain));
    const applied: T[] = [];
    for (const [id, entry] of this.pending) {
      if (entry.expiresAt < now) this.pending.delete(id);
      else if (entry.inserts.some((insert) => insert.uri === uri && arrived.has(insert.text))) {
        this.pending.delete(id);
        applied.push(entry.value);
      }
    }
    return applied;
  }
}
