/** Turning a daemon that would not start, or died, into one sentence a user can act on. Pure. */
import type { PythonSource } from "./python";

export interface DaemonExit {
  python: string;
  source: PythonSource;
  /** The spawn error, if the interpreter could not be run at all. */
  spawnError?: { code?: string; message: string };
  /** Why `initialize` failed while the process was still running. */
  startError?: string;
  exitCode?: number | null;
  signal?: string | null;
  /** The last lines the daemon wrote to stderr. */
  stderr: readonly string[];
}

const SOURCE_HINT: Record<PythonSource, string> = {
  setting: "the growpilot.pythonPath setting",
  "workspace venv": "the workspace's .venv",
  "setup script": "the setup script's record in $GROWPILOT_HOME/daemon-python",
  "Python extension": "the Python extension's interpreter",
  PATH: "PATH",
};

export function describeFailure(exit: DaemonExit): string {
  const python = `${exit.python} (from ${SOURCE_HINT[exit.source]})`;
  if (exit.spawnError) {
    return exit.spawnError.code === "ENOENT" || exit.spawnError.code === "EACCES"
      ? `cannot run Python ${python}: ${exit.spawnError.code === "ENOENT" ? "no such file" : "permission denied"}. Set growpilot.pythonPath to a Python that has growpilot installed.`
      : `cannot run Python ${python}: ${exit.spawnError.message}`;
  }
  if (exit.startError) return `the daemon did not initialize: ${exit.startError}`;
  const lines = exit.stderr.map((line) => line.trim()).filter(Boolean);
  if (lines.some((line) => /No module named '?growpilot'?$/.test(line))) {
    return `growpilot is not installed for ${python}. Install it there (${exit.python} -m pip install -e <your Growpilot checkout>) or set growpilot.pythonPath to the Python scripts/setup.sh made (<checkout>/.venv/bin/python).`;
  }
  const how =
    exit.signal ? `was killed by ${exit.signal}` : exit.exitCode != null ? `exited with code ${exit.exitCode}` : "stopped";
  const last = lines.at(-1);
  return `the daemon ${how}${last ? `: ${last}` : ""}`;
}
