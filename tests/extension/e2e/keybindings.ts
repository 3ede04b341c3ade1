/**
 * Whether a contributed keybinding collides with one of VS Code's defaults. Pure: the defaults come
 * from a real VS Code ("Open Default Keyboard Shortcuts (JSON)", workbench.ts), per platform.
 */

export type Platform = "linux" | "mac" | "win";

export interface Keybinding {
  key: string;
  command: string;
  when?: string;
}

/** What package.json contributes: `key`, with `mac` / `win` / `linux` overriding it per platform. */
export interface Contributed {
  command: string;
  key?: string;
  mac?: string;
  win?: string;
  linux?: string;
  when?: string;
}

export interface Collision {
  platform: Platform;
  ours: Keybinding;
  theirs: Keybinding;
}

const MODIFIER_ORDER = ["ctrl", "shift", "alt", "cmd", "meta", "win"];

/** `Shift+Ctrl+K` → `ctrl+shift+k`: one spelling per chord part, modifiers in a fixed order. */
export function normalizeChord(part: string): string {
  const keys = part.toLowerCase().split("+").filter(Boolean);
  // "ctrl++" (plus key) splits into ["ctrl"]; keep the plus.
  if (part.endsWith("++")) keys.push("+");
  const modifiers = keys.filter((k) => MODIFIER_ORDER.includes(k) && k !== keys.at(-1));
  const key = keys.at(-1) ?? "";
  modifiers.sort((a, b) => MODIFIER_ORDER.indexOf(a) - MODIFIER_ORDER.indexOf(b));
  return [...modifiers, key].join("+");
}

/** A keybinding as its chord parts ("ctrl+k ctrl+s" → two parts). */
export function chords(key: string): string[] {
  return key.trim().split(/\s+/).filter(Boolean).map(normalizeChord);
}

export function keyFor(binding: Contributed, platform: Platform): string | undefined {
  return binding[platform] ?? binding.key;
}

/**
 * Our bindings that shadow a default on `platform`: the same keys, or one being a prefix of the other
 * (a chord whose first part is a default key makes that key wait for a second part). Defaults whose
 * command is ours, that are our own contribution reported back, or that remove a binding ("-command"),
 * do not count.
 */
export function collisions(ours: readonly Contributed[], defaults: readonly Keybinding[], platform: Platform): Collision[] {
  const found: Collision[] = [];
  const theirs = defaults.filter((d) => d.key && !d.command.startsWith("-") && !d.command.startsWith("growpilot."));
  for (const binding of ours) {
    const key = keyFor(binding, platform);
    if (!key) continue;
    const mine = chords(key);
    for (const other of theirs) {
      const their = chords(other.key);
      // The defaults VS Code reports include our own contributions (a key for a built-in command).
      if (other.command === binding.command && their.join(" ") === mine.join(" ")) continue;
      const n = Math.min(mine.length, their.length);
      if (mine.slice(0, n).join(" ") === their.slice(0, n).join(" ")) {
        found.push({ platform, ours: { key, command: binding.command, when: binding.when }, theirs: other });
      }
    }
  }
  return found;
}

/** The default keybindings JSON VS Code shows: JSON with `//` comments. */
export function parseDefaultKeybindings(text: string): Keybinding[] {
  const withoutComments = text
    .split("\n")
    .filter((line) => !line.trim().startsWith("//"))
    .join("\n");
  const parsed = JSON.parse(withoutComments.replace(/,(\s*[\]}])/g, "$1")) as unknown;
  if (!Array.isArray(parsed)) throw new Error("the default keybindings are not a JSON array");
  return parsed.filter((entry): entry is Keybinding => typeof entry?.key === "string" && typeof entry?.command === "string");
}
