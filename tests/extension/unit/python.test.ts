import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { type PythonLookup, growpilotHome, resolvePython } from "../../../extension/src/python";

/** A real directory tree: workspace folders, a GROWPILOT_HOME and interpreters to find. */
async function sandbox() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "growpilot-python-"));
  const touch = async (file: string, text = "") => {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, text);
    return file;
  };
  const lookup = (overrides: Partial<PythonLookup> = {}): PythonLookup => ({
    setting: "",
    workspaceFolders: [path.join(dir, "ws1"), path.join(dir, "ws2")],
    growpilotHome: path.join(dir, "home"),
    isFile: async (file) => (await fs.stat(file).catch(() => undefined))?.isFile() ?? false,
    readFile: (file) => fs.readFile(file, "utf8").catch(() => undefined),
    pythonExtension: async () => undefined,
    ...overrides,
  });
  return { dir, touch, lookup };
}

test("the setting wins, even over an existing .venv", async () => {
  const { dir, touch, lookup } = await sandbox();
  await touch(path.join(dir, "ws1/.venv/bin/python"));
  assert.deepEqual(await resolvePython(lookup({ setting: " /opt/py/bin/python " })), {
    command: "/opt/py/bin/python",
    source: "setting",
  });
});

test("then the first workspace folder with a .venv", async () => {
  const { dir, touch, lookup } = await sandbox();
  const venv = await touch(path.join(dir, "ws2/.venv/bin/python"));
  await touch(path.join(dir, "home/daemon-python"), "/usr/bin/python3\n");
  assert.deepEqual(await resolvePython(lookup()), { command: venv, source: "workspace venv" });
});

test("then the interpreter recorded by the setup script", async () => {
  const { dir, touch, lookup } = await sandbox();
  const recorded = await touch(path.join(dir, "envs/growpilot/bin/python"));
  await touch(path.join(dir, "home/daemon-python"), `  ${recorded}\n`);
  assert.deepEqual(await resolvePython(lookup({ pythonExtension: async () => "/ext/python" })), {
    command: recorded,
    source: "setup script",
  });
});

test("a stale or relative record falls through to the Python extension", async () => {
  const { dir, touch, lookup } = await sandbox();
  await touch(path.join(dir, "home/daemon-python"), path.join(dir, "deleted/bin/python"));
  assert.deepEqual(await resolvePython(lookup({ pythonExtension: async () => "/ext/python" })), {
    command: "/ext/python",
    source: "Python extension",
  });
  await touch(path.join(dir, "relative/python"));
  await touch(path.join(dir, "home/daemon-python"), "relative/python");
  assert.equal((await resolvePython(lookup({ pythonExtension: async () => "/ext/python" }))).source, "Python extension");
});

test("python3 from PATH last, also when the Python extension fails", async () => {
  const { lookup } = await sandbox();
  assert.deepEqual(await resolvePython(lookup()), { command: "python3", source: "PATH" });
  const failing = lookup({ pythonExtension: () => Promise.reject(new Error("activation failed")) });
  assert.deepEqual(await resolvePython(failing), { command: "python3", source: "PATH" });
});

test("GROWPILOT_HOME, else $XDG_DATA_HOME/growpilot, else ~/.local/share/growpilot (as the daemon)", () => {
  assert.equal(growpilotHome({ GROWPILOT_HOME: "/data/gp", XDG_DATA_HOME: "/xdg" }, "/home/ada"), "/data/gp");
  assert.equal(growpilotHome({ GROWPILOT_HOME: "~/gp" }, "/home/ada"), "/home/ada/gp");
  assert.equal(growpilotHome({ GROWPILOT_HOME: "", XDG_DATA_HOME: "/xdg" }, "/home/ada"), "/xdg/growpilot");
  assert.equal(growpilotHome({}, "/home/ada"), "/home/ada/.local/share/growpilot");
});
