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

/** What the daemon advertises in `capabilities.experimental.growpilot` (PROTOCOL.md). */
export interface SecretFileRules {
  secretFilePatterns?: readonly string[];
  secretFileExceptions?: readonly string[];
}

/** A glob over one file name (`*`, `?`, `[...]`, `[!...]`), as gitwildmatch reads a pattern with no slash. */
function nameGlob(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") source += ".*";
    else if (c === "?") source += ".";
    else if (c === "[" && pattern.indexOf("]", i + 2) > 0) {
      const end = pattern.indexOf("]", i + 2);
      const body = pattern.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\");
      source += `[${body}]`;
      i = end;
    } else source += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

/**
 * Whether a file holds secrets by its name (the daemon's rule, secrets.py): its last path component,
 * lowercased, matches a pattern and no exception (`.env.example` is a template). Such a file is never
 * sent to the daemon: no didOpen, no change, no request.
 */
export function isSecretFile(path: string, rules: SecretFileRules | undefined): boolean {
  const name = path.replace(/\\/g, "/").replace(/\/+$/, "").split("/").pop()?.toLowerCase() ?? "";
  const matches = (patterns: readonly string[] | undefined): boolean => (patterns ?? []).some((p) => nameGlob(p.toLowerCase()).test(name));
  return name !== "" && matches(rules?.secretFilePatterns) && !matches(rules?.secretFileExceptions);
}
