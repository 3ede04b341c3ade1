/** Reading the daemon's indexing `$/progress` messages ("120/3000 files", PROTOCOL.md). */

export interface Counts {
  done: number;
  total: number;
}

/** `"120/3000 files"` → `{done: 120, total: 3000}`; anything else → undefined. */
export function parseCounts(message: string | undefined): Counts | undefined {
  const match = /(\d+)\s*\/\s*(\d+)/.exec(message ?? "");
  return match ? { done: Number(match[1]), total: Number(match[2]) } : undefined;
}

/**
 * Whether a `$/progress` value begins the daemon's indexing. PROTOCOL.md says the title is
 * "Indexing <folder>"; the daemon sends "Growpilot: indexing <folder>": accept both.
 */
export function isIndexing(value: { kind: string; title?: string }): boolean {
  return value.kind === "begin" && /\bindexing\b/i.test(value.title ?? "");
}
