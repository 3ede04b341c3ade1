import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { type PythonLookup, growpilotHome, resolvePython } from "../../../extension/src/python";

/** What the fake interpreters below hold when they can `import growpilot`. */
const CAN_IMPORT = "# has growpilot";

/**
 * A real directory tree: workspace folders, a GROWPILOT_HOME and interpreters to find. The import
 * check is injected: an interpreter "can import growpilot" when its file says CAN_IMPORT.
 */
async function sandbox() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "growpilot-python-"));
  const touch = async (file: string, text = "") => {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, text);
    return file;
  };
  const checked: string[] = [];
  const lookup = (overrides: Partial<PythonLookup> = {}): PythonLookup => ({
    setting: "",
    workspaceFolders: [path.join(dir, "ws1"), path.join(dir, "ws2")],
    trusted: true,
    growpilotHome: path.join(dir, "home"),
    isFile: async (file) => (await fs.stat(file).catch(() => undefined))?.isFile() ?? false,
    readFile: (file) => fs.readFile(file, "utf8").catch(() => undefined),
    cannotRunDaemon: async (python) => {
      checked.push(python);
      const text = await fs.readFile(python, "utf8").catch(() => "");
      return text.includes(CAN_IMPORT) ? undefined : "`import growpilot` fails (ModuleNotFoundError: No module named 'growpilot')";
    },
    pythonExtension: async () => undefined,
    ...overrides,
  });
  return { dir, touch, lookup, checked };
}

test("the setting wins, even over an existing .venv", async () => {
  const { dir, touch, lookup } = await sandbox();
  await touch(path.join(dir, "ws1/.venv/bin/python"));
  assert.deepEqual(await resolvePython(lookup({ setting: " /opt/py/bin/python " })), {
    command: "/opt/py/bin/python",
    source: "setting",
    skipped: [],
  });
});

test("then the first workspace folder whose .venv can import growpilot", async () => {
  const { dir, touch, lookup } = await sandbox();
  const venv = await touch(path.join(dir, "ws2/.venv/bin/python"), CAN_IMPORT);
  await touch(path.join(dir, "home/daemon-python"), "/usr/bin/python3\n");
  assert.deepEqual(await resolvePython(lookup()), { command: venv, source: "workspace venv", skipped: [] });
});

test("a .venv that cannot import growpilot falls through to the recorded interpreter, saying why", async () => {
  const { dir, touch, lookup, checked } = await sandbox();
  const projectVenv = await touch(path.join(dir, "ws1/.venv/bin/python"));
  const recorded = await touch(path.join(dir, "envs/growpilot/bin/python"));
  await touch(path.join(dir, "home/daemon-python"), `${recorded}\n`);
  assert.deepEqual(await resolvePython(lookup()), {
    command: recorded,
    source: "setup script",
    skipped: [
      {
        command: projectVenv,
        source: "workspace venv",
        reason: "`import growpilot` fails (ModuleNotFoundError: No module named 'growpilot')",
      },
    ],
  });
  assert.deepEqual(checked, [projectVenv]);
});

test("a failing .venv in the first folder does not hide a working one in the second", async () => {
  const { dir, touch, lookup } = await sandbox();
  const broken = await touch(path.join(dir, "ws1/.venv/bin/python"));
  const working = await touch(path.join(dir, "ws2/.venv/bin/python"), CAN_IMPORT);
  const resolved = await resolvePython(lookup());
  assert.equal(resolved.command, working);
  assert.deepEqual(resolved.skipped.map((s) => s.command), [broken]);
});

test("an untrusted workspace's .venv is never run, not even to check it", async () => {
  const { dir, touch, lookup, checked } = await sandbox();
  const venv = await touch(path.join(dir, "ws1/.venv/bin/python"), CAN_IMPORT);
  const recorded = await touch(path.join(dir, "envs/growpilot/bin/python"));
  await touch(path.join(dir, "home/daemon-python"), recorded);
  const resolved = await resolvePython(lookup({ trusted: false }));
  assert.equal(resolved.command, recorded);
  assert.deepEqual(checked, []);
  assert.equal(resolved.skipped.length, 1);
  assert.equal(resolved.skipped[0].command, venv);
  assert.match(resolved.skipped[0].reason, /not trusted/);
});

test("untrusted, the Python extension's interpreter is skipped when it lies inside the workspace", async () => {
  const { dir, lookup } = await sandbox();
  const inside = path.join(dir, "ws2", "env", "bin", "python");
  const untrusted = await resolvePython(lookup({ trusted: false, pythonExtension: async () => inside }));
  assert.equal(untrusted.source, "PATH");
  assert.deepEqual(untrusted.skipped.map((s) => [s.command, s.source]), [[inside, "Python extension"]]);
  // Trusted, or outside the workspace (a sibling folder whose name starts alike), it is used.
  assert.equal((await resolvePython(lookup({ pythonExtension: async () => inside }))).command, inside);
  const outside = path.join(dir, "ws1-envs", "bin", "python");
  assert.equal((await resolvePython(lookup({ trusted: false, pythonExtension: async () => outside }))).command, outside);
  assert.equal((await resolvePython(lookup({ trusted: false, pythonExtension: async () => "python" }))).command, "python");
});

test("then the interpreter recorded by the setup script", async () => {
  const { dir, touch, lookup } = await sandbox();
  const recorded = await touch(path.join(dir, "envs/growpilot/bin/python"));
  await touch(path.join(dir, "home/daemon-python"), `  ${recorded}\n`);
  assert.deepEqual(await resolvePython(lookup({ pythonExtension: async () => "/ext/python" })), {
    command: recorded,
    source: "setup script",
    skipped: [],
  });
});

test("a stale or relative record falls through to the Python extension", async () => {
  const { dir, touch, lookup } = await sandbox();
  const deleted = path.join(dir, "deleted/bin/python");
  await touch(path.join(dir, "home/daemon-python"), deleted);
  assert.deepEqual(await resolvePython(lookup({ pythonExtension: async () => "/ext/python" })), {
    command: "/ext/python",
    source: "Python extension",
    skipped: [{ command: deleted, source: "setup script", reason: "it is not an absolute path to an existing file" }],
  });
  await touch(path.join(dir, "relative/python"));
  await touch(path.join(dir, "home/daemon-python"), "relative/python");
  assert.equal((await resolvePython(lookup({ pythonExtension: async () => "/ext/python" }))).source, "Python extension");
});

test("python3 from PATH last, also when the Python extension fails", async () => {
  const { lookup } = await sandbox();
  assert.deepEqual(await resolvePython(lookup()), { command: "python3", source: "PATH", skipped: [] });
  const failing = lookup({ pythonExtension: () => Promise.reject(new Error("activation failed")) });
  assert.deepEqual(await resolvePython(failing), { command: "python3", source: "PATH", skipped: [] });
});

test("GROWPILOT_HOME, else $XDG_DATA_HOME/growpilot, else ~/.local/share/growpilot (as the daemon)", () => {
  assert.equal(growpilotHome({ GROWPILOT_HOME: "/data/gp", XDG_DATA_HOME: "/xdg" }, "/home/ada"), "/data/gp");
  assert.equal(growpilotHome({ GROWPILOT_HOME: "~/gp" }, "/home/ada"), "/home/ada/gp");
  assert.equal(growpilotHome({ GROWPILOT_HOME: "", XDG_DATA_HOME: "/xdg" }, "/home/ada"), "/xdg/growpilot");
  assert.equal(growpilotHome({}, "/home/ada"), "/home/ada/.local/share/growpilot");
});
