/**
 * Whether a document gets inline suggestions: the `growpilot.enable` language map (Copilot's shape:
 * `*` for every language not named) and `growpilot.triggerMode` (manual: only when the user asks).
 * Pure.
 */

export type TriggerMode = "automatic" | "manual";

/**
 * Off by default where suggestions are noise or a leak: prose, secrets, commit messages. The same as
 * package.json's default (a unit test holds them equal): a user's map replaces the default object
 * wholesale, so the languages it does not name keep these values.
 */
export const DEFAULT_ENABLE: Readonly<Record<string, boolean>> = {
  "*": true,
  plaintext: false,
  markdown: false,
  dotenv: false,
  scminput: false,
};

export function languageEnabled(enable: Record<string, unknown> | undefined, languageId: string): boolean {
  const map = { ...DEFAULT_ENABLE, ...(enable ?? {}) };
  const value = languageId in map ? map[languageId] : map["*"];
  return value !== false;
}

/** Why no request is sent, or undefined when one is. `invoked`: the user asked (Alt+\). */
export function whyNoSuggestion(options: {
  completionsEnabled: boolean;
  triggerMode: TriggerMode | string | undefined;
  invoked: boolean;
  languageId: string;
  enable: Record<string, unknown> | undefined;
}): string | undefined {
  if (!options.completionsEnabled) return "completions are off";
  if (!languageEnabled(options.enable, options.languageId)) return `completions are off for ${options.languageId}`;
  if (options.triggerMode === "manual" && !options.invoked) return "manual trigger mode";
  return undefined;
}
