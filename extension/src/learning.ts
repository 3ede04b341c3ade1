/**
 * The learning loop as a user sees it: which folder a command is about, what a training outcome, a
 * rollback or a promotion says, the status bar's training label, the Show Adapters rows. Pure; the
 * commands that use it are in training.ts, the shapes are the daemon's (docs/PROTOCOL.md).
 */

/** `growpilot/trainingDone` params. */
export interface TrainingDone {
  folderUri: string;
  error?: string | null;
  version?: string;
  decision?: "promoted" | "rejected";
  reason?: string;
  nll?: { base?: number | null; active?: number | null; candidate?: number | null };
  exact_match?: { base?: number | null; active?: number | null; candidate?: number | null };
  steps?: number;
  tokens_per_second?: number;
  seconds?: number;
  active_before?: string | null;
  /** Started by the idle scheduler (PROTOCOL.md `idleMinutes`), not by Retrain Now. */
  automatic?: boolean;
  /** An automatic cycle that stopped because the user came back; it resumes when they are idle. */
  yielded?: boolean;
}

/** When the next automatic cycle starts (`growpilot/trainingSchedule`, `growpilot.status` `learning[uri].schedule`). */
export interface TrainingSchedule {
  folderUri?: string;
  status?: string; // start | scheduled | not_scheduled | running
  reason?: string;
  why?: string;
  in_s?: number | null;
  new_samples?: number | null;
  needed?: number | null;
}

/** `growpilot/adapterChanged` params, and the result of `growpilot.rollback` / `growpilot.promote`. */
export interface AdapterChanged {
  folderUri: string;
  adapter: string | null;
  previous: string | null;
  reason: string;
}

/** One folder's learning state (`growpilot.status` `learning[uri]`, `growpilot.adapters` `learning`). */
export interface LearningState {
  state?: string; // idle | preparing | training | evaluating
  percent?: number | null;
  message?: string;
  last?: { decision?: string; version?: string; reason?: string; error?: string; finished?: string } | null;
  automatic?: boolean;
  schedule?: TrainingSchedule | null;
}

export interface AdapterVersion {
  version: string;
  status?: string; // promoted | rejected | rolled-back
  active?: boolean;
  created?: string | null;
  nll?: number | null;
  reason?: string | null;
  base_model?: string | null;
}

/** `growpilot.adapters` result. */
export interface AdaptersResult {
  folderUri: string;
  active: string | null;
  versions: AdapterVersion[];
  learning?: LearningState;
}

export interface Message {
  severity: "info" | "warning" | "error";
  text: string;
}

/** `file:///work/my%20app/` → `my app`. */
export function folderName(uri: string): string {
  const last = uri.replace(/\/+$/, "").split("/").pop() || uri;
  try {
    return decodeURIComponent(last);
  } catch {
    return last; // a stray % is not worth an exception
  }
}

export interface FolderChoice {
  uri: string;
  name: string;
}

/**
 * The folder a learning command is about: the active editor's folder when it is one of them, else the
 * only one; "pick" when the user must choose; undefined when there is none.
 */
export function chooseFolder(folders: readonly FolderChoice[], activeEditorFolder?: string): string | "pick" | undefined {
  if (activeEditorFolder && folders.some((f) => f.uri === activeEditorFolder)) return activeEditorFolder;
  if (folders.length === 1) return folders[0].uri;
  return folders.length ? "pick" : undefined;
}

/** A JSON-RPC InvalidParams answer: the daemon refusing bad or untimely input, with its reason. */
export function isInvalidParams(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === -32602;
}

/** Two NLLs with enough digits to see they differ. */
function nllPair(before: number, after: number): string {
  for (const digits of [2, 3, 4]) {
    if (before.toFixed(digits) !== after.toFixed(digits) || digits === 4) {
      return `${before.toFixed(digits)} → ${after.toFixed(digits)}`;
    }
  }
  return ""; // unreachable
}

const num = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);

/** The message a finished cycle gets (`growpilot/trainingDone`). */
export function trainingOutcome(done: TrainingDone): Message {
  const folder = folderName(done.folderUri);
  if (done.yielded) {
    return { severity: "info", text: `Growpilot paused training ${folder} while you work; it resumes when you are idle.` };
  }
  if (done.error) {
    if (/^training was cancelled/i.test(done.error)) {
      return { severity: "info", text: `Growpilot stopped training ${folder}: ${done.error}.` };
    }
    // The workspace, not a failure: the user can only add code (or leave it).
    const severity = /^too little code|no training data|nothing left to (learn|train)/i.test(done.error) ? "warning" : "error";
    return { severity, text: `Growpilot could not train ${folder}: ${done.error}` };
  }
  const version = done.version ?? "the new adapter";
  const reference = done.nll?.active ?? done.nll?.base;
  const candidate = done.nll?.candidate;
  if (done.decision === "promoted") {
    const figures = num(reference) && num(candidate) ? ` (held-out NLL ${nllPair(reference, candidate)})` : "";
    return { severity: "info", text: `Growpilot: ${version} promoted for ${folder}${figures}.` };
  }
  const serving = done.active_before ? `adapter ${done.active_before} still serves` : "the base model still serves";
  return {
    severity: "info",
    text: `Growpilot: ${version} rejected for ${folder}, ${serving}: ${done.reason || "it was not better"}.`,
  };
}

export function trainingStarted(folderUri: string): string {
  return `Growpilot is training ${folderName(folderUri)}… The status bar shows its progress; the outcome follows as a message.`;
}

/** After `growpilot.rollback` / `growpilot.promote` (or an adapterChanged the user asked for). */
export function adapterChangeMessage(change: AdapterChanged): string {
  const folder = folderName(change.folderUri);
  if (change.reason === "rollback") {
    const left = change.previous ? ` (${change.previous} is set aside)` : "";
    return change.adapter
      ? `Growpilot rolled ${folder} back to ${change.adapter}${left}.`
      : `Growpilot: ${folder} is back to the base model${left}.`;
  }
  return change.adapter
    ? `Growpilot: ${change.adapter} now serves ${folder}.`
    : `Growpilot: the base model now serves ${folder}.`;
}

/**
 * The status bar's word for a training `$/progress` report: "training 45%", "evaluating 20%",
 * "evaluating", or "training" (preparing the data, starting).
 */
export function trainingLabel(message: string | undefined, percentage: number | undefined): string {
  const head = (message ?? "").split(",")[0].trim();
  const match = /^(training|evaluating)\b(?:\s+(\d+)%)?/i.exec(head);
  if (!match) return "training";
  const phase = match[1].toLowerCase();
  const percent = match[2] ?? (num(percentage) && percentage > 0 && percentage <= 100 ? String(Math.round(percentage)) : undefined);
  return percent !== undefined ? `${phase} ${percent}%` : phase;
}

/** The last cycle's outcome in a few words, for tooltips and Show Status. */
export function lastOutcome(last: LearningState["last"]): string | undefined {
  if (!last) return undefined;
  const when = last.finished ? ` (${shortTime(last.finished)})` : "";
  if (last.error) return `did not finish: ${last.error}${when}`;
  if (last.decision) return `${last.version ?? "an adapter"} ${last.decision}${when}`;
  return undefined;
}

/**
 * The next automatic cycle in a few words: "next training in ~8 min (after 10 min without edits or
 * requests)", "automatic training: 12 new training samples since the last cycle, 100 needed". `elapsedS`:
 * seconds since the daemon said it. Undefined when there is nothing to say (running, or no schedule).
 */
export function scheduleSummary(schedule: TrainingSchedule | null | undefined, elapsedS = 0): string | undefined {
  if (!schedule?.status || schedule.status === "running") return undefined;
  if (schedule.status === "start") return "next training: starting now";
  if (schedule.status === "scheduled" && num(schedule.in_s)) {
    const left = Math.max(0, schedule.in_s - elapsedS);
    const when = left < 60 ? "in under a minute" : left < 7200 ? `in ~${Math.ceil(left / 60)} min` : `in ~${(left / 3600).toFixed(1)} h`;
    const why = /\((.*)\)$/.exec(schedule.reason ?? "")?.[1];
    return `next training ${when}${why ? ` (${why})` : ""}`;
  }
  return schedule.reason ? `automatic training: ${schedule.reason}` : undefined;
}

/** A learning state in a few words: "training 45%, ~3 min left", "last: v3 promoted", or undefined when idle and new. */
export function learningSummary(state: LearningState | undefined): string | undefined {
  if (!state) return undefined;
  if (state.state && state.state !== "idle") return state.message || state.state;
  const parts = [lastOutcome(state.last), scheduleSummary(state.schedule)];
  const last = parts[0] ? `last training: ${parts[0]}` : undefined;
  return [last, parts[1]].filter(Boolean).join(" · ") || undefined;
}

/** `2025-06-01T14:03:22+0200` → `2025-06-01 14:03`. */
export function shortTime(stamp: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(stamp);
  return match ? `${match[1]} ${match[2]}` : stamp;
}

export interface AdapterRow {
  label: string;
  description: string;
  detail?: string;
  /** The version to promote when picked; undefined for the base model row. */
  version?: string;
  active: boolean;
}

/** The Show Adapters rows: newest first, the one that serves marked, then the base model. */
export function adapterRows(result: AdaptersResult): AdapterRow[] {
  const number = (v: string): number => Number(/\d+/.exec(v)?.[0] ?? 0);
  const versions = [...result.versions].sort((a, b) => number(b.version) - number(a.version));
  const rows: AdapterRow[] = versions.map((v) => {
    const active = v.version === result.active;
    const parts = [active ? "active" : v.status || "?"];
    if (num(v.nll)) parts.push(`held-out NLL ${v.nll.toFixed(3)}`);
    if (v.created) parts.push(shortTime(v.created));
    return {
      label: `${active ? "$(check)" : "$(circle-large-outline)"} ${v.version}`,
      description: parts.join(" · "),
      detail: v.reason || undefined,
      version: v.version,
      active,
    };
  });
  rows.push({
    label: `${result.active ? "$(circle-large-outline)" : "$(check)"} base model`,
    description: result.active ? "no adapter" : "active · no adapter",
    active: !result.active,
  });
  return rows;
}
