/**
 * The daemon's state as the status bar shows it, fed by the client's lifecycle, `$/progress`
 * and the `growpilot/indexReady` / `growpilot/modelReady` notifications. Pure.
 */
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
  completionsEnabled = true;

  /** A new daemon process: everything it told the previous one is void. */
  starting(expectsIndex: boolean): void {
    this.lifecycle = "starting";
    this.failure = "";
    this.expectsIndex = expectsIndex;
    this.model = undefined;
    this.indexing.clear();
    this.indexed = false;
  }

  running(): void {
    this.lifecycle = "running";
  }

  failed(reason: string): void {
    this.lifecycle = "failed";
    this.failure = reason;
    this.indexing.clear();
  }

  stopped(): void {
    this.lifecycle = "stopped";
    this.indexing.clear();
  }

  get isRunning(): boolean {
    return this.lifecycle === "running";
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
  }

  view(): StatusView {
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
    const summary = `${name} · ${this.model.adapter || "base"}`;
    const where = this.model.device ? ` on ${this.model.device}` : "";
    if (!this.completionsEnabled) {
      return { text: "$(circle-slash) Growpilot: completions off", tooltip: `${summary}${where}; completions are turned off.`, severity: "normal" };
    }
    return { text: `$(sparkle) Growpilot: ${summary}`, tooltip: `Growpilot is ready: ${summary}${where}.`, severity: "normal" };
  }
}

/** `growpilot.status` result (PROTOCOL.md); every field optional so an older daemon still shows. */
export interface StatusResult {
  version?: string;
  folders?: { folderUri: string; files?: number; chunks?: number; vectors?: number; embeddedTotal?: number; ready?: boolean }[];
  model?: { name?: string; device?: string; loaded?: boolean; adapter?: string | null; error?: string | null };
  queue?: Record<string, unknown>;
  feedback?: { up?: number; down?: number; accepted?: number };
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
    const name = decodeURIComponent(folder.folderUri.replace(/\/+$/, "").split("/").pop() ?? folder.folderUri);
    const counts = `${folder.files ?? 0} files · ${folder.chunks ?? 0} chunks · ${folder.vectors ?? 0} vectors`;
    entries.push({ label: `$(folder) ${name}`, description: folder.ready ? counts : `indexing… ${counts}` });
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
