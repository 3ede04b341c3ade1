/**
 * The rating CodeLens state machine. An accepted suggestion gets a lens ("rate") above its first
 * line; rating it shows thanks for a moment ("thanks"), then the lens goes away. Edits above a
 * lens move it with its text. Pure: time comes in as `now`, the VS Code side owns the timers.
 */

export type Rating = "up" | "down";

export interface RatingLens {
  generationId: string;
  uri: string;
  line: number;
  state: "rate" | "thanks";
  rating?: Rating;
  expiresAt?: number;
  /** What the lens rates ("Growpilot docstring:"); a completion's when absent. */
  label?: string;
}

/** A text change in line terms: lines `startLine..endLine` were replaced by `newLineCount` lines. */
export interface LineChange {
  startLine: number;
  endLine: number;
  newLineCount: number;
}

export const THANKS_MS = 2500;

export class RatingLenses {
  private readonly lenses = new Map<string, RatingLens>();
  /** The last accepted suggestion, for the "rate last suggestion" commands. */
  lastAccepted: string | undefined;

  /** One open question per document: a newer acceptance replaces an unrated older one. */
  accepted(generationId: string, uri: string, line: number, label?: string): void {
    for (const lens of this.lenses.values()) {
      if (lens.uri === uri && lens.state === "rate") this.lenses.delete(lens.generationId);
    }
    this.lenses.set(generationId, { generationId, uri, line, state: "rate", ...(label ? { label } : {}) });
    this.lastAccepted = generationId;
  }

  /** Marks a suggestion rated; returns whether a lens showed it (and so changed). */
  rated(generationId: string, rating: Rating, now: number): boolean {
    const lens = this.lenses.get(generationId);
    if (!lens) return false;
    Object.assign(lens, { state: "thanks", rating, expiresAt: now + THANKS_MS });
    return true;
  }

  /** Drops thanks lenses whose time is up; returns whether any went away. */
  expire(now: number): boolean {
    let changed = false;
    for (const lens of [...this.lenses.values()]) {
      if (lens.expiresAt !== undefined && lens.expiresAt <= now) changed = this.lenses.delete(lens.generationId);
    }
    return changed;
  }

  /** When the next thanks lens expires, so the caller can set one timer. */
  nextExpiry(): number | undefined {
    const times = [...this.lenses.values()].flatMap((lens) => (lens.expiresAt === undefined ? [] : [lens.expiresAt]));
    return times.length ? Math.min(...times) : undefined;
  }

  /** Keeps lenses on their text as lines are added or removed; returns whether any moved. */
  edited(uri: string, changes: readonly LineChange[]): boolean {
    let changed = false;
    // Ranges of one change event refer to the old text; applied bottom-up they stay valid.
    const bottomUp = [...changes].sort((a, b) => b.startLine - a.startLine);
    for (const lens of this.lenses.values()) {
      if (lens.uri !== uri) continue;
      for (const change of bottomUp) {
        const delta = change.newLineCount - (change.endLine - change.startLine + 1);
        if (change.endLine < lens.line) {
          lens.line += delta;
          changed ||= delta !== 0;
        } else if (change.startLine < lens.line && delta < 0) {
          // The lens's line was swallowed by a deletion that started above it.
          lens.line = Math.max(change.startLine, lens.line + delta);
          changed = true;
        }
      }
    }
    return changed;
  }

  closed(uri: string): void {
    for (const lens of [...this.lenses.values()]) if (lens.uri === uri) this.lenses.delete(lens.generationId);
  }

  forDocument(uri: string): RatingLens[] {
    return [...this.lenses.values()].filter((lens) => lens.uri === uri);
  }
}

/** The generation id in a daemon item's `growpilot.accept` command (PROTOCOL.md, "Completions"). */
export function acceptedGenerationId(command: { command: string; arguments?: unknown[] } | undefined): string | undefined {
  if (command?.command !== "growpilot.accept") return undefined;
  const arg = command.arguments?.[0] as { generationId?: unknown } | undefined;
  return typeof arg?.generationId === "string" && arg.generationId ? arg.generationId : undefined;
}
