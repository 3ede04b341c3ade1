/**
 * Which Python runs the daemon. Order: the `growpilot.pythonPath` setting, the workspace's
 * `.venv`, the interpreter our setup script recorded in `$GROWPILOT_HOME/daemon-python`, the
 * Python extension's active interpreter, then `python3` from PATH. Pure: file access and the
 * Python extension are injected.
 */
import * as path from "node:path";

export type PythonSource = "setting" | "workspace venv" | "setup script" | "Python extension" | "PATH";

export interface ResolvedPython {
  command: string;
  source: PythonSource;
}

export interface PythonLookup {
  /** `growpilot.pythonPath`, already `~`-expanded; empty when unset. */
  setting: string;
  /** File-system paths of the workspace folders, in order. */
  workspaceFolders: readonly string[];
  growpilotHome: string;
  isFile(file: string): Promise<boolean>;
  readFile(file: string): Promise<string | undefined>;
  /** The Python extension's interpreter, if that extension is installed and has one. */
  pythonExtension(): Promise<string | undefined>;
}

/** `$GROWPILOT_HOME`, else `$XDG_DATA_HOME/growpilot`, else `~/.local/share/growpilot` (as the daemon's paths.py). */
export function growpilotHome(env: Readonly<Record<string, string | undefined>>, home: string): string {
  if (env.GROWPILOT_HOME) return env.GROWPILOT_HOME.replace(/^~(?=\/|$)/, home);
  return path.join(env.XDG_DATA_HOME || path.join(home, ".local", "share"), "growpilot");
}

const VENV_PYTHONS = [path.join(".venv", "bin", "python"), path.join(".venv", "Scripts", "python.exe")];

export async function resolvePython(lookup: PythonLookup): Promise<ResolvedPython> {
  // An explicit setting wins even if it is wrong: starting then fails with a message naming it.
  if (lookup.setting.trim()) return { command: lookup.setting.trim(), source: "setting" };

  for (const folder of lookup.workspaceFolders) {
    for (const venvPython of VENV_PYTHONS) {
      const candidate = path.join(folder, venvPython);
      if (await lookup.isFile(candidate)) return { command: candidate, source: "workspace venv" };
    }
  }

  const recorded = (await lookup.readFile(path.join(lookup.growpilotHome, "daemon-python")))?.trim().split("\n")[0]?.trim();
  // A stale record (interpreter since deleted) must not hide the later fallbacks.
  if (recorded && path.isAbsolute(recorded) && (await lookup.isFile(recorded))) {
    return { command: recorded, source: "setup script" };
  }

  const fromExtension = await lookup.pythonExtension().catch(() => undefined);
  if (fromExtension) return { command: fromExtension, source: "Python extension" };

  return { command: "python3", source: "PATH" };
}
