/**
 * Growpilot settings: which `growpilot.*` keys belong to the daemon (PROTOCOL.md, "initialize"),
 * how they become `initializationOptions`, and which changes need a new daemon process.
 * Pure: reads settings through a minimal interface so tests need no VS Code.
 */

/** The daemon's settings, in PROTOCOL.md's order. */
export const DAEMON_SETTINGS = [
  "modelPath",
  "embedderPath",
  "device",
  "threads",
  "completionsEnabled",
  "debounceMs",
  "maxTokens",
  "promptTokens",
  "contextShare",
  "suffixShare",
  "retrievalSnippets",
  "contextFormat",
  "maxFileBytes",
  "maxLineChars",
  "watchDebounceMs",
  "excludeDirs",
] as const;

export type DaemonSetting = (typeof DAEMON_SETTINGS)[number];
export type InitializationOptions = Partial<Record<DaemonSetting, unknown>>;

/** Settings only the extension reads. */
export const EXTENSION_SETTINGS = ["pythonPath", "trainingSchedule"] as const;

/** These pick the interpreter, the weights, how they run or what is indexed: the daemon reads them at startup. */
export const RESTART_SETTINGS = [
  "pythonPath",
  "modelPath",
  "embedderPath",
  "device",
  "threads",
  "maxFileBytes",
  "maxLineChars",
  "watchDebounceMs",
  "excludeDirs",
] as const;

const PATH_SETTINGS: ReadonlySet<string> = new Set(["pythonPath", "modelPath", "embedderPath"]);

/** What `vscode.workspace.getConfiguration("growpilot")` offers, reduced to what we use. */
export interface SettingsReader {
  get<T>(key: string): T | undefined;
}

/** `~/x` → `<home>/x`: settings.json users write it, a subprocess does not expand it. */
export function expandHome(path: string, home: string): string {
  return path === "~" || path.startsWith("~/") ? home + path.slice(1) : path;
}

/** The daemon's settings as sent in `initialize` and `workspace/didChangeConfiguration`. */
export function toInitializationOptions(settings: SettingsReader, home: string): InitializationOptions {
  const options: InitializationOptions = {};
  for (const key of DAEMON_SETTINGS) {
    const value = settings.get<unknown>(key);
    if (value === undefined || value === null) continue;
    options[key] = PATH_SETTINGS.has(key) && typeof value === "string" ? expandHome(value.trim(), home) : value;
  }
  return options;
}

export type ChangeEffect = "restart" | "notify" | "none";

/** How to apply a configuration change, given `ConfigurationChangeEvent.affectsConfiguration`. */
export function changeEffect(affects: (section: string) => boolean): ChangeEffect {
  if (RESTART_SETTINGS.some((key) => affects(`growpilot.${key}`))) return "restart";
  if (DAEMON_SETTINGS.some((key) => affects(`growpilot.${key}`))) return "notify";
  return "none";
}
