/**
 * Which Python runs the daemon. Order: the `growpilot.pythonPath` setting; the workspace's `.venv`,
 * only in a trusted workspace and only if it can `import growpilot` (most projects' venvs cannot);
 * the interpreter our setup script recorded in `$GROWPILOT_HOME/daemon-python`; the Python
 * extension's active interpreter (in an untrusted workspace, not one inside it); then `python3` from
 * PATH. Every candidate passed over is returned with the reason, for the log.
 * Pure: file access, the import check and the Python extension are injected.
 */
import * as path from "node:path";

export type PythonSource = "setting" | "workspace venv" | "setup script" | "Python extension" | "PATH";

export interface SkippedPython {
  command: string;
  source: PythonSource;
  reason: string;
}

export interface ResolvedPython {
  command: string;
  source: PythonSource;
  /** Candidates found before this one and passed over, in order. */
  skipped: SkippedPython[];
}

export interface PythonLookup {
  /** `growpilot.pythonPath` (user/machine value only), already `~`-expanded; empty when unset. */
  setting: string;
  /** File-system paths of the workspace folders, in order. */
  workspaceFolders: readonly string[];
  /** `vscode.workspace.isTrusted`: an untrusted workspace's own interpreters are code from the repository. */
  trusted: boolean;
  growpilotHome: string;
  isFile(file: string): Promise<boolean>;
  readFile(file: string): Promise<string | undefined>;
  /** Why `<python> -c "import growpilot"` fails (or times out); undefined when it works. */
  cannotRunDaemon(python: string): Promise<string | undefined>;
  /** The Python extension's interpreter, if that extension is installed and has one. */
  pythonExtension(): Promise<string | undefined>;
}

/** `$GROWPILOT_HOME`, else `$XDG_DATA_HOME/growpilot`, else `~/.local/share/growpilot` (as the daemon's paths.py). */
export function growpilotHome(env: Readonly<Record<string, string | undefined>>, home: string): string {
  if (env.GROWPILOT_HOME) return env.GROWPILOT_HOME.replace(/^~(?=\/|$)/, home);
  return path.join(env.XDG_DATA_HOME || path.join(home, ".local", "share"), "growpilot");
}

const VENV_PYTHONS = [path.join(".venv", "bin", "python"), path.join(".venv", "Scripts", "python.exe")];

function isInside(file: string, folder: string): boolean {
  if (!path.isAbsolute(file)) return false; // a bare `python` is looked up on PATH
  const relative = path.relative(folder, file);
  return relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}

export async function resolvePython(lookup: PythonLookup): Promise<ResolvedPython> {
  const skipped: SkippedPython[] = [];
  // An explicit setting wins even if it is wrong: starting then fails with a message naming it.
  if (lookup.setting.trim()) return { command: lookup.setting.trim(), source: "setting", skipped };

  for (const folder of lookup.workspaceFolders) {
    for (const venvPython of VENV_PYTHONS) {
      const candidate = path.join(folder, venvPython);
      if (!(await lookup.isFile(candidate))) continue;
      // Running it would run code from the repository before the user trusted it.
      const reason = lookup.trusted
        ? await lookup.cannotRunDaemon(candidate)
        : "the workspace is not trusted, so its .venv is not run";
      if (!reason) return { command: candidate, source: "workspace venv", skipped };
      skipped.push({ command: candidate, source: "workspace venv", reason });
    }
  }

  const recorded = (await lookup.readFile(path.join(lookup.growpilotHome, "daemon-python")))?.trim().split("\n")[0]?.trim();
  // A stale record (interpreter since deleted) must not hide the later fallbacks.
  if (recorded) {
    if (path.isAbsolute(recorded) && (await lookup.isFile(recorded))) {
      return { command: recorded, source: "setup script", skipped };
    }
    skipped.push({ command: recorded, source: "setup script", reason: "it is not an absolute path to an existing file" });
  }

  const fromExtension = await lookup.pythonExtension().catch(() => undefined);
  if (fromExtension) {
    // The Python extension may have picked it from the repository's own settings or folders.
    const inWorkspace = !lookup.trusted && lookup.workspaceFolders.some((folder) => isInside(fromExtension, folder));
    if (!inWorkspace) return { command: fromExtension, source: "Python extension", skipped };
    skipped.push({
      command: fromExtension,
      source: "Python extension",
      reason: "it is inside the workspace, which is not trusted",
    });
  }

  return { command: "python3", source: "PATH", skipped };
}
