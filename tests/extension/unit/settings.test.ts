import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import {
  DAEMON_SETTINGS,
  EXTENSION_SETTINGS,
  RESTRICTED_SETTINGS,
  type SettingInspection,
  changeEffect,
  expandHome,
  toInitializationOptions,
  trustAwareSettings,
} from "../../../extension/src/settings";

// Tests run bundled from out/unit/ (see package.json "build:tests").
const root = path.resolve(__dirname, "../..");
const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
// Grouped into sections (General, Model, …), each with its own properties.
const sections: { title: string; properties: Record<string, { default: unknown; scope?: string }> }[] =
  manifest.contributes.configuration;
const contributed: Record<string, { default: unknown; scope?: string; order?: number }> = Object.assign(
  {},
  ...sections.map((section) => section.properties),
);

/** PROTOCOL.md's settings table: `| \`key\` | type | default | meaning |` → key → default. */
function protocolDefaults(): Map<string, unknown> {
  const text = readFileSync(path.join(root, "docs", "PROTOCOL.md"), "utf8");
  const defaults = new Map<string, unknown>();
  for (const match of text.matchAll(/^\| `(\w+)` \| [^|]+ \| ([^|]+) \|/gm)) {
    const literal = /^("[^"]*"|-?[\d.]+|true|false|\[.*\]|\{.*\})/.exec(match[2].trim().replaceAll("`", ""));
    if (literal) defaults.set(match[1], JSON.parse(literal[1]));
  }
  return defaults;
}

const reader = (values: Record<string, unknown>) => ({ get: <T>(key: string) => values[key] as T | undefined });

test("contributed settings are exactly the daemon's (PROTOCOL.md) plus the extension's own", () => {
  const protocol = protocolDefaults();
  assert.deepEqual([...protocol.keys()].sort(), [...DAEMON_SETTINGS].sort());
  const expected = [...DAEMON_SETTINGS, ...EXTENSION_SETTINGS].map((key) => `growpilot.${key}`).sort();
  assert.deepEqual(Object.keys(contributed).sort(), expected);
});

test("contributed defaults equal PROTOCOL.md's defaults", () => {
  for (const [key, value] of protocolDefaults()) {
    assert.deepEqual(contributed[`growpilot.${key}`].default, value, `growpilot.${key}`);
  }
});

test("every contributed setting is read somewhere and documented in the README", () => {
  const extensionSource = readdirSync(path.join(root, "extension", "src"))
    .filter((file) => file.endsWith(".ts") && file !== "settings.ts")
    .map((file) => readFileSync(path.join(root, "extension", "src", file), "utf8"))
    .join("\n");
  const daemonConfig = readFileSync(path.join(root, "daemon", "growpilot", "config.py"), "utf8");
  const readme = readFileSync(path.join(root, "README.md"), "utf8");
  for (const key of Object.keys(contributed).map((k) => k.replace(/^growpilot\./, ""))) {
    const extensionOnly = (EXTENSION_SETTINGS as readonly string[]).includes(key);
    // The daemon's settings are fields of config.py's Settings (snake_case); the extension's own are read by get("key").
    const field = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const read = extensionOnly ? extensionSource.includes(`"${key}"`) : new RegExp(`^\\s+${field}:`, "m").test(daemonConfig);
    assert.ok(read, `growpilot.${key} is contributed but never read`);
    assert.ok(readme.includes(`\`${key}\``), `growpilot.${key} is not in the README's settings table`);
  }
});

test("settings are grouped, each with an order", () => {
  assert.deepEqual(
    sections.map((section) => section.title),
    ["General", "Model", "Indexing", "Learning", "Advanced"],
  );
  for (const [key, value] of Object.entries(contributed)) assert.equal(typeof value.order, "number", key);
});

test("initializationOptions carry the daemon's keys only, with ~ expanded in paths", () => {
  const options = toInitializationOptions(
    reader({
      pythonPath: "/usr/bin/python3",
      triggerMode: "manual",
      modelPath: " ~/models/tiny ",
      embedderPath: "",
      device: "cpu",
      threads: 2,
      completionsEnabled: false,
      contextShare: 0.5,
      unknownKey: 1,
    }),
    "/home/ada",
  );
  assert.deepEqual(options, {
    modelPath: "/home/ada/models/tiny",
    embedderPath: "",
    device: "cpu",
    threads: 2,
    completionsEnabled: false,
    contextShare: 0.5,
  });
});

test("expandHome leaves other paths alone", () => {
  assert.equal(expandHome("~", "/h"), "/h");
  assert.equal(expandHome("~/a", "/h"), "/h/a");
  assert.equal(expandHome("~bob/a", "/h"), "~bob/a");
  assert.equal(expandHome("/abs/~/a", "/h"), "/abs/~/a");
});

test("model, interpreter, threading and indexing changes restart; the rest is sent as a notification", () => {
  const changed = (...keys: string[]) => (section: string) => keys.some((key) => section === `growpilot.${key}`);
  for (const key of ["pythonPath", "modelPath", "embedderPath", "device", "threads", "maxFileBytes", "excludeDirs"]) {
    assert.equal(changeEffect(changed(key)), "restart", key);
  }
  for (const key of ["completionsEnabled", "debounceMs", "maxTokens", "retrievalSnippets", "contextFormat"]) {
    assert.equal(changeEffect(changed(key)), "notify", key);
  }
  assert.equal(changeEffect(changed("maxTokens", "modelPath")), "restart");
  assert.equal(changeEffect(changed("triggerMode")), "none");
  assert.equal(changeEffect(() => false), "none");
});

/** A `WorkspaceConfiguration` stand-in: per key, the values at each level; `get` merges them as VS Code does. */
function configuration(values: Record<string, SettingInspection<unknown>>) {
  return {
    inspect: <T>(key: string) => values[key] as SettingInspection<T> | undefined,
    get: <T>(key: string) => {
      const v = values[key];
      return (v?.workspaceFolderValue ?? v?.workspaceValue ?? v?.globalValue ?? v?.defaultValue) as T | undefined;
    },
  };
}

test("package.json: limited support in untrusted workspaces, restricting exactly RESTRICTED_SETTINGS", () => {
  const untrusted = manifest.capabilities?.untrustedWorkspaces;
  assert.equal(untrusted?.supported, "limited");
  assert.match(untrusted.description, /\.venv/);
  assert.deepEqual(untrusted.restrictedConfigurations, RESTRICTED_SETTINGS.map((key) => `growpilot.${key}`));
  assert.equal(contributed["growpilot.pythonPath"].scope, "machine");
});

test("untrusted: modelPath/embedderPath take only the user's value or the default; other keys as merged", () => {
  const config = configuration({
    modelPath: { defaultValue: "", globalValue: "/models/mine", workspaceValue: "./evil-model" },
    embedderPath: { defaultValue: "", workspaceFolderValue: "./evil-embedder" },
    maxTokens: { defaultValue: 64, workspaceValue: 16 },
  });
  const untrusted = trustAwareSettings(config, false);
  assert.equal(untrusted.get("modelPath"), "/models/mine");
  assert.equal(untrusted.get("embedderPath"), "");
  assert.equal(untrusted.get("maxTokens"), 16);
  assert.deepEqual(toInitializationOptions(untrusted, "/h"), { modelPath: "/models/mine", embedderPath: "", maxTokens: 16 });
  // Once trusted, the workspace's values count.
  const trusted = trustAwareSettings(config, true);
  assert.equal(trusted.get("modelPath"), "./evil-model");
  assert.equal(trusted.get("embedderPath"), "./evil-embedder");
});

test("pythonPath never comes from a workspace, trusted or not", () => {
  const config = configuration({ pythonPath: { defaultValue: "", workspaceValue: "./bin/python" } });
  for (const trusted of [true, false]) assert.equal(trustAwareSettings(config, trusted).get("pythonPath"), "", String(trusted));
  const user = configuration({ pythonPath: { defaultValue: "", globalValue: "/usr/bin/python3", workspaceValue: "./py" } });
  assert.equal(trustAwareSettings(user, false).get("pythonPath"), "/usr/bin/python3");
});

test("every setting is described, and every choice of an enum too", () => {
  for (const [key, spec] of Object.entries(contributed) as [string, Record<string, unknown>][]) {
    assert.ok(spec.markdownDescription || spec.description, `${key} has no description`);
    if (Array.isArray(spec.enum)) {
      assert.ok(Array.isArray(spec.enumDescriptions), `${key} has no enumDescriptions`);
      assert.equal((spec.enumDescriptions as unknown[]).length, spec.enum.length, `${key}: one description per choice`);
    }
  }
});
