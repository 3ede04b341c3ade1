/**
 * Growpilot settings: which `growpilot.*` keys belong to the daemon (PROTOCOL.md, "initialize"),
 * how they become `initializationOptions`, which changes need a new daemon process, and which values
 * an untrusted workspace may not set (Workspace Trust).
 * Pure: reads settings through a minimal interface so tests need no VS Code.
 */

/** The daemon's settings, in PROTOCOL.md's order. */
export const DAEMON_SETTINGS = [
  "modelPath",
  "embedderPath",
  "device",
  "threads",
  "backend",
  "completionsEnabled",
  "debounceMs",
  "maxTokens",
  "promptTokens",
  "contextShare",
  "suffixShare",
  "retrievalSnippets",
  "memoryExamples",
  "preferences",
  "contextFormat",
  "contextGate",
  "tokenHealing",
  "typingReuse",
  "warmUp",
  "decodeBudgetMs",
  "maxFileBytes",
  "maxLineChars",
  "watchDebounceMs",
  "excludeDirs",
  "followExternalSymlinks",
  "vectorStore",
  "trainMaxSteps",
  "trainMaxMinutes",
  "trainThreads",
  "trainDevice",
  "trainSequenceTokens",
  "lossFilter",
  "promoteRatio",
  "abChallenger",
  "sanityTolerance",
  "idleMinutes",
  "trainMinNewSamples",
  "trainMinIntervalHours",
  "trainOnCpu",
  "historyMaxDays",
  "historyMaxMb",
] as const;

export type DaemonSetting = (typeof DAEMON_SETTINGS)[number];
export type InitializationOptions = Partial<Record<DaemonSetting, unknown>>;

/** Settings only the extension reads. */
export const EXTENSION_SETTINGS = ["pythonPath", "triggerMode", "enable", "showRatingLens"] as const;

/** These pick the interpreter, the weights, how they run or what is indexed: the daemon reads them at startup. */
export const RESTART_SETTINGS = [
  "pythonPath",
  "modelPath",
  "embedderPath",
  "device",
  "threads",
  "backend",
  "maxFileBytes",
  "maxLineChars",
  "watchDebounceMs",
  "excludeDirs",
  "followExternalSymlinks",
  "vectorStore",
] as const;

const PATH_SETTINGS: ReadonlySet<string> = new Set(["pythonPath", "modelPath", "embedderPath"]);

/**
 * package.json's `capabilities.untrustedWorkspaces.restrictedConfigurations`: they choose a program to
 * run or weights to load, so an untrusted workspace's own values for them are ignored.
 */
export const RESTRICTED_SETTINGS = ["pythonPath", "modelPath", "embedderPath"] as const;
const RESTRICTED: ReadonlySet<string> = new Set(RESTRICTED_SETTINGS);

/** What `vscode.workspace.getConfiguration("growpilot")` offers, reduced to what we use. */
export interface SettingsReader {
  get<T>(key: string): T | undefined;
}

/** What `WorkspaceConfiguration.inspect` returns, reduced to what we use. */
export interface SettingInspection<T> {
  defaultValue?: T;
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

export interface InspectableSettings extends SettingsReader {
  inspect<T>(key: string): SettingInspection<T> | undefined;
}

/**
 * Whether only the user's (global) value or the default counts. `pythonPath` always (scope "machine":
 * a cloned repository's `.vscode/settings.json` never picks the program we run, even if trusted); the
 * other restricted settings while the workspace is untrusted.
 */
export function userValueOnly(key: string, trusted: boolean): boolean {
  return key === "pythonPath" || (!trusted && RESTRICTED.has(key));
}

/** The settings as the extension must read them, given `vscode.workspace.isTrusted`. */
export function trustAwareSettings(settings: InspectableSettings, trusted: boolean): SettingsReader {
  return {
    get<T>(key: string): T | undefined {
      if (!userValueOnly(key, trusted)) return settings.get<T>(key);
      const inspection = settings.inspect<T>(key);
      return inspection?.globalValue ?? inspection?.defaultValue;
    },
  };
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
