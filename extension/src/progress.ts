/** Reading the daemon's `$/progress`: indexing ("120/3000 files") or training, told apart by title (PROTOCOL.md). */

export interface Counts {
  done: number;
  total: number;
}

/** `"120/3000 files"` → `{done: 120, total: 3000}`; anything else → undefined. */
export function parseCounts(message: string | undefined): Counts | undefined {
  const match = /(\d+)\s*\/\s*(\d+)/.exec(message ?? "");
  return match ? { done: Number(match[1]), total: Number(match[2]) } : undefined;
}

export type ProgressKind = "indexing" | "training";

/**
 * Which of the daemon's passes a `$/progress` begin starts, by its title's first word after the
 * "Growpilot:" prefix: "Growpilot: indexing <folder>" (PROTOCOL.md once said "Indexing <folder>": both
 * are accepted) or "Growpilot: training <folder>". Anchored, so a folder named "indexing-tools" being
 * trained stays a training. Anything else (loading the model) is left to languageclient.
 */
export function progressKind(value: { kind: string; title?: string }): ProgressKind | undefined {
  if (value.kind !== "begin") return undefined;
  const word = /^(?:Growpilot:\s*)?(indexing|training)\b/i.exec(value.title ?? "")?.[1]?.toLowerCase();
  return word === "indexing" || word === "training" ? word : undefined;
}

export function isIndexing(value: { kind: string; title?: string }): boolean {
  return progressKind(value) === "indexing";
}

export function isTraining(value: { kind: string; title?: string }): boolean {
  return progressKind(value) === "training";
}
