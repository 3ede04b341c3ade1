import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as os from "node:os";
import { test } from "node:test";
import { describeFailure } from "../../../extension/src/failure";

test("a Python that does not exist (the real spawn error)", async () => {
  const error = await new Promise<NodeJS.ErrnoException>((resolve) =>
    spawn("/nonexistent/bin/python", ["-m", "growpilot", "serve"]).once("error", resolve),
  );
  const reason = describeFailure({ python: "/nonexistent/bin/python", source: "setting", spawnError: error, stderr: [] });
  assert.equal(
    reason,
    "cannot run Python /nonexistent/bin/python (from the growpilot.pythonPath setting): no such file. " +
      "Set growpilot.pythonPath to a Python that has growpilot installed.",
  );
});

test("a Python without growpilot (its real stderr)", () => {
  // Isolated (-I) and without site-packages (-S, so not even an activated venv's editable install):
  // this interpreter cannot import growpilot from anywhere.
  const run = spawnSync("python3", ["-I", "-S", "-m", "growpilot", "serve"], { cwd: os.tmpdir(), encoding: "utf8" });
  assert.notEqual(run.status, 0);
  const reason = describeFailure({
    python: "python3",
    source: "PATH",
    exitCode: run.status,
    stderr: run.stderr.split("\n"),
  });
  assert.match(reason, /^growpilot is not installed for python3 \(from PATH\)\./);
});

test("a missing submodule is not mistaken for a missing package", () => {
  const reason = describeFailure({
    python: "/v/bin/python",
    source: "workspace venv",
    exitCode: 1,
    stderr: ["Traceback (most recent call last):", "ModuleNotFoundError: No module named 'growpilot.server'", ""],
  });
  assert.equal(reason, "the daemon exited with code 1: ModuleNotFoundError: No module named 'growpilot.server'");
});

test("a crash, a signal, a failed initialize", () => {
  const base = { python: "p", source: "setup script" as const };
  assert.equal(describeFailure({ ...base, exitCode: 3, stderr: [] }), "the daemon exited with code 3");
  assert.equal(
    describeFailure({ ...base, exitCode: null, signal: "SIGKILL", stderr: ["loading model", "  "] }),
    "the daemon was killed by SIGKILL: loading model",
  );
  assert.equal(
    describeFailure({ ...base, startError: "Request initialize failed with message: boom", stderr: ["x"] }),
    "the daemon did not initialize: Request initialize failed with message: boom",
  );
  assert.match(
    describeFailure({ ...base, spawnError: { code: "EACCES", message: "spawn p EACCES" }, stderr: [] }),
    /permission denied/,
  );
});
