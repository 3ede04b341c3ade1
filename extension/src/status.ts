/**
 * The daemon's state as the status bar shows it, fed by the client's lifecycle, `$/progress` (indexing
 * and training) and the `growpilot/indexReady` / `modelReady` / `adapterChanged` / `trainingDone`
 * notifications. Pure.
 */
import {
  type AdapterChanged,
  type LearningState,
  type TrainingDone,
  type TrainingSchedule,
  folderName,
  learningSummary,
  scheduleSummary,
  trainingLabel,
  trainingOutcome,
} from "./learning";
import { type Counts, parseCounts } from "./progress";

/** `growpilot/modelReady` params (PROTOCOL.md). */
export interface ModelReady {
  model: string;
  device?: string;
  adapter?: string | null;
  loadSeconds?: number;
  error?: string | null;
}

export type Lifecycle = "stopped" | "starting" | "running" | "failed";

export interface StatusView {
  text: string;
  tooltip: string;
  severity: "normal" | "warning" | "error";
}

type Token = string | number;

interface Training {
  folder: string;
  label: string;
  message?: string;
}

/** "Growpilot: training shop" → "shop". */
function trainingFolder(title: string | undefined): string {
  return /\btraining\s+(.+)$/i.exec(title ?? "")?.[1]?.trim() || "the workspace";
}

/** `/x/qwen-0.5b.gguf` → `qwen-0.5b`: a status bar has no room for paths. */
export function shortModelName(model: string): string {
  const base = model.replace(/[\\/]+$/, "").split(/[\\/]/).pop() || model;
  return base.replace(/\.gguf$/i, "");
}

export class DaemonStatus {
  private lifecycle: Lifecycle = "stopped";
  private failure = "";
  private expectsIndex = true;
  private model: ModelReady | undefined;
  private readonly indexing = new Map<Token, Counts | undefined>();
  /** An index pass finished (indexReady, or the end of its progress when indexing failed). */
  private indexed = false;
  /** Training cycles in progress, by their `$/progress` token. */
  private readonly training = new Map<Token, Training>();
  /** The adapter the status bar names: modelReady's (the first folder's), then the last adapterChanged. */
  private adapter: string | null = null;
  private readonly adapters = new Map<string, string | null>();
  private lastTraining = "";
  /** Per folder: the daemon's latest `growpilot/trainingSchedule`, and when it came (ms). */
  private readonly schedules = new Map<string, { schedule: TrainingSchedule; at: number }>();
  /** Inline completion requests in flight: the status bar spins while one runs. */
  private requests = 0;
  completionsEnabled = true;

  /** A new daemon process: everything it told the previous one is void. */
  starting(expectsIndex: boolean): void {
    this.lifecycle = "starting";
    this.failure = "";
    this.expectsIndex = expectsIndex;
    this.model = undefined;
    this.indexing.clear();
    this.indexed = false;
    this.training.clear();
    this.adapter = null;
    this.adapters.clear();
    this.lastTraining = "";
    this.schedules.clear();
    this.requests = 0;
  }

  running(): void {
    this.lifecycle = "running";
  }

  failed(reason: string): void {
    this.lifecycle = "failed";
    this.failure = reason;
    this.indexing.clear();
    this.training.clear();
  }

  stopped(): void {
    this.lifecycle = "stopped";
    this.indexing.clear();
    this.training.clear();
  }

  get isRunning(): boolean {
    return this.lifecycle === "running";
  }

  /** Indexed and the model loaded: suggestions can come (the walkthrough's "ready" step). */
  get isReady(): boolean {
    const indexed = (!this.expectsIndex || this.indexed) && this.indexing.size === 0;
    return this.isRunning && indexed && this.model !== undefined && !this.model.error;
  }

  progressBegin(token: Token): void {
    this.indexing.set(token, undefined);
  }

  progressReport(token: Token, message: string | undefined): void {
    if (this.indexing.has(token)) this.indexing.set(token, parseCounts(message) ?? this.indexing.get(token));
  }

  progressEnd(token: Token): void {
    if (this.indexing.delete(token)) this.indexed = true;
  }

  indexReady(): void {
    this.indexed = true;
  }

  modelReady(params: ModelReady): void {
    this.model = params;
    this.adapter = params.adapter ?? null;
    this.adapters.clear(); // a (re)loaded model serves each folder's adapter afresh
  }

  trainingBegin(token: Token, title: string | undefined): void {
    this.training.set(token, { folder: trainingFolder(title), label: "training" });
  }

  trainingReport(token: Token, message: string | undefined, percentage: number | undefined): void {
    const entry = this.training.get(token);
    if (entry) this.training.set(token, { ...entry, label: trainingLabel(message, percentage), message: message || entry.message });
  }

  trainingEnd(token: Token): void {
    this.training.delete(token);
  }

  trainingDone(done: TrainingDone): void {
    this.lastTraining = trainingOutcome(done).text.replace(/^Growpilot:?\s*/, "");
  }

  trainingSchedule(schedule: TrainingSchedule, now = Date.now()): void {
    if (schedule.folderUri) this.schedules.set(schedule.folderUri, { schedule, at: now });
  }

  adapterChanged(change: AdapterChanged): void {
    this.adapters.set(change.folderUri, change.adapter);
    this.adapter = change.adapter;
  }

  requestBegin(): void {
    this.requests++;
  }

  requestEnd(): void {
    this.requests = Math.max(0, this.requests - 1);
  }

  get isTraining(): boolean {
    return this.training.size > 0;
  }

  /** The names of the folders being trained (from their progress titles). */
  trainingFolders(): string[] {
    return [...new Set([...this.training.values()].map((t) => t.folder))];
  }

  view(now = Date.now()): StatusView {
    const spin = (what: string, tooltip: string): StatusView => ({
      text: `$(sync~spin) Growpilot: ${what}`,
      tooltip,
      severity: "normal",
    });
    switch (this.lifecycle) {
      case "stopped":
        return { text: "$(circle-slash) Growpilot: stopped", tooltip: "The Growpilot daemon is not running.", severity: "warning" };
      case "failed":
        return { text: "$(error) Growpilot: daemon down", tooltip: this.failure || "The Growpilot daemon stopped.", severity: "error" };
      case "starting":
        return spin("starting", "Starting the Growpilot daemon…");
    }
    const active = [...this.indexing.values()];
    if (active.length > 0) {
      const counts = active.find((c) => c !== undefined);
      return spin(counts ? `indexing ${counts.done}/${counts.total}` : "indexing", "Indexing the workspace…");
    }
    if (this.expectsIndex && !this.indexed) return spin("indexing", "Indexing the workspace…");
    if (!this.model) return spin("loading model", "Loading the model…");
    const name = shortModelName(this.model.model);
    if (this.model.error) {
      return { text: "$(warning) Growpilot: model failed", tooltip: `${name}: ${this.model.error}`, severity: "warning" };
    }
    const summary = `${name} · ${this.adapter ? `adapter ${this.adapter}` : "base"}`;
    const where = this.model.device ? ` on ${this.model.device}` : "";
    const extra = this.tooltipLines(now);
    const training = [...this.training.values()];
    if (training.length > 0) {
      // Completions go on while a cycle trains (in a subprocess), still from `summary`.
      const lines = training.map((t) => `Training ${t.folder}: ${t.message || "starting"}.`);
      return spin(
        training[0].label,
        [...lines, `Completions come from ${summary}${where} meanwhile.`, "Growpilot: Cancel Training stops it.", ...extra].join("\n"),
      );
    }
    if (!this.completionsEnabled) {
      return {
        text: "$(circle-slash) Growpilot: completions off",
        tooltip: [`${summary}${where}; completions are turned off.`, ...extra].join("\n"),
        severity: "normal",
      };
    }
    // Short: the adapter is what changes as Growpilot learns; the model is in the tooltip.
    const short = `Growpilot · ${this.adapter ?? "base"}`;
    if (this.requests > 0) {
      return { text: `$(loading~spin) ${short}`, tooltip: [`Asking ${summary}${where} for a suggestion…`, ...extra].join("\n"), severity: "normal" };
    }
    return {
      text: `$(sparkle) ${short}`,
      tooltip: [`Growpilot is ready: ${summary}${where}.`, ...extra].join("\n"),
      severity: "normal",
    };
  }

  /** Per-folder adapters (when several folders changed), the last training outcome, the next automatic one. */
  private tooltipLines(now = Date.now()): string[] {
    const lines: string[] = [];
    if (this.adapters.size > 1) {
      for (const [uri, adapter] of this.adapters) lines.push(`${folderName(uri)}: ${adapter ? `adapter ${adapter}` : "base model"}`);
    }
    if (this.lastTraining) lines.push(`Last training: ${this.lastTraining}`);
    for (const [uri, { schedule, at }] of this.schedules) {
      const next = scheduleSummary(schedule, (now - at) / 1000);
      if (next) lines.push(`${this.schedules.size > 1 ? `${folderName(uri)}: ` : ""}${next[0].toUpperCase()}${next.slice(1)}.`);
    }
    return lines;
  }
}

/** `growpilot.status` result (PROTOCOL.md); every field optional so an older daemon still shows. */
export interface StatusResult {
  version?: string;
  folders?: {
    folderUri: string;
    files?: number;
    chunks?: number;
    vectors?: number;
    embedded_total?: number;
    ready?: boolean;
    adapter?: string | null;
  }[];
  model?: { name?: string; device?: string; loaded?: boolean; adapter?: string | null; error?: string | null };
  queue?: Record<string, unknown>;
  feedback?: { up?: number; down?: number; accepted?: number };
  /** Per folder URI. */
  learning?: Record<string, LearningState>;
}

export interface StatusEntry {
  label: string;
  description: string;
}

/** The rows of the Show Status quick pick. */
export function statusEntries(status: StatusResult): StatusEntry[] {
  const entries: StatusEntry[] = [{ label: "$(server-process) Daemon", description: `growpilot ${status.version ?? "?"}` }];
  const model = status.model;
  if (model) {
    const name = model.name ? shortModelName(model.name) : "model";
    const state = model.error
      ? `failed: ${model.error}`
      : model.loaded
        ? `${model.device ?? "?"} · adapter: ${model.adapter || "base"}`
        : "loading…";
    entries.push({ label: "$(hubot) Model", description: `${name} · ${state}` });
  }
  for (const folder of status.folders ?? []) {
    const name = folderName(folder.folderUri);
    const adapter = folder.adapter === undefined ? "" : ` · ${folder.adapter ? `adapter ${folder.adapter}` : "base"}`;
    const counts = `${folder.files ?? 0} files · ${folder.chunks ?? 0} chunks · ${folder.vectors ?? 0} vectors${adapter}`;
    entries.push({ label: `$(folder) ${name}`, description: folder.ready ? counts : `indexing… ${counts}` });
    const learning = learningSummary(status.learning?.[folder.folderUri]);
    if (learning) entries.push({ label: `$(mortar-board) Learning ${name}`, description: learning });
  }
  const fb = status.feedback;
  if (fb) {
    entries.push({
      label: "$(feedback) Feedback",
      description: `${fb.accepted ?? 0} accepted · ${fb.up ?? 0} 👍 · ${fb.down ?? 0} 👎`,
    });
  }
  if (status.queue && Object.keys(status.queue).length) {
    const show = (value: unknown): string =>
      Array.isArray(value) ? value.join(", ") || "none" : typeof value === "object" ? JSON.stringify(value) : String(value);
    const parts = Object.entries(status.queue).map(([key, value]) => `${key}: ${show(value)}`);
    entries.push({ label: "$(list-ordered) Queue", description: parts.join(" · ") });
  }
  return entries;
}
