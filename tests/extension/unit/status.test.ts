import assert from "node:assert/strict";
import { test } from "node:test";
import { isIndexing, parseCounts } from "../../../extension/src/progress";
import { DaemonStatus, shortModelName, statusEntries } from "../../../extension/src/status";

test("progress messages give counts", () => {
  assert.deepEqual(parseCounts("120/3000 files"), { done: 120, total: 3000 });
  assert.deepEqual(parseCounts("0 / 7 files"), { done: 0, total: 7 });
  assert.equal(parseCounts("scanning"), undefined);
  assert.equal(parseCounts(undefined), undefined);
});

test("indexing progress is recognised by its begin title", () => {
  assert.equal(isIndexing({ kind: "begin", title: "Indexing shop" }), true);
  assert.equal(isIndexing({ kind: "begin", title: "Growpilot: indexing shop" }), true);
  assert.equal(isIndexing({ kind: "begin", title: "Training adapter" }), false);
  assert.equal(isIndexing({ kind: "begin", title: "Reindexing" }), false);
  assert.equal(isIndexing({ kind: "report" }), false);
});

test("model names lose their folders and .gguf", () => {
  assert.equal(shortModelName("/models/qwen2.5-coder-0.5b-q4_k_m.gguf"), "qwen2.5-coder-0.5b-q4_k_m");
  assert.equal(shortModelName("/cache/tiny-llama/"), "tiny-llama");
  assert.equal(shortModelName("Qwen2.5-Coder-0.5B"), "Qwen2.5-Coder-0.5B");
});

test("status bar: starting → indexing n/m → loading model → model · base", () => {
  const status = new DaemonStatus();
  assert.equal(status.view().text, "$(circle-slash) Growpilot: stopped");
  status.starting(true);
  assert.equal(status.view().text, "$(sync~spin) Growpilot: starting");
  status.running();
  assert.equal(status.view().text, "$(sync~spin) Growpilot: indexing");
  status.progressBegin("t1");
  status.progressReport("t1", "120/3000 files");
  assert.equal(status.view().text, "$(sync~spin) Growpilot: indexing 120/3000");
  status.progressReport("t1", "still going");
  assert.equal(status.view().text, "$(sync~spin) Growpilot: indexing 120/3000", "a message without counts keeps the last");
  status.progressReport("unknown-token", "1/2 files");
  assert.equal(status.view().text, "$(sync~spin) Growpilot: indexing 120/3000", "untracked tokens are ignored");
  status.progressEnd("t1");
  status.indexReady();
  assert.equal(status.view().text, "$(sync~spin) Growpilot: loading model");
  status.modelReady({ model: "/m/qwen.gguf", device: "cpu", adapter: null, loadSeconds: 3, error: null });
  assert.deepEqual(status.view(), {
    text: "$(sparkle) Growpilot: qwen · base",
    tooltip: "Growpilot is ready: qwen · base on cpu.",
    severity: "normal",
  });
});

test("status bar: model before index, reindex, adapter, completions off", () => {
  const status = new DaemonStatus();
  status.starting(true);
  status.running();
  status.modelReady({ model: "tiny", adapter: "v3" });
  assert.equal(status.view().text, "$(sync~spin) Growpilot: indexing");
  status.indexReady();
  assert.equal(status.view().text, "$(sparkle) Growpilot: tiny · v3");
  status.progressBegin(7);
  status.progressReport(7, "5/10 files");
  assert.equal(status.view().text, "$(sync~spin) Growpilot: indexing 5/10");
  status.progressEnd(7);
  status.completionsEnabled = false;
  assert.equal(status.view().text, "$(circle-slash) Growpilot: completions off");
});

test("status bar: an index pass that ended without indexReady (it failed) does not spin forever", () => {
  const status = new DaemonStatus();
  status.starting(true);
  status.running();
  status.modelReady({ model: "tiny" });
  status.progressBegin("t");
  status.progressEnd("t");
  assert.equal(status.view().text, "$(sparkle) Growpilot: tiny · base");
  status.starting(true);
  status.progressEnd("never-begun");
  status.running();
  status.modelReady({ model: "tiny" });
  assert.equal(status.view().text, "$(sync~spin) Growpilot: indexing", "only tracked progress counts");
});

test("status bar: no folder to index, model error, failure, restart", () => {
  const status = new DaemonStatus();
  status.starting(false);
  status.running();
  assert.equal(status.view().text, "$(sync~spin) Growpilot: loading model");
  status.modelReady({ model: "tiny", error: "out of memory" });
  assert.deepEqual(status.view(), { text: "$(warning) Growpilot: model failed", tooltip: "tiny: out of memory", severity: "warning" });
  status.failed("the daemon exited with code 1");
  assert.equal(status.isRunning, false);
  assert.deepEqual(status.view(), {
    text: "$(error) Growpilot: daemon down",
    tooltip: "the daemon exited with code 1",
    severity: "error",
  });
  status.starting(true);
  status.running();
  assert.equal(status.view().text, "$(sync~spin) Growpilot: indexing", "a new process forgets the old model");
});

test("status quick pick rows from growpilot.status", () => {
  const entries = statusEntries({
    version: "0.1.0",
    folders: [
      { folderUri: "file:///work/my%20app", files: 12, chunks: 40, vectors: 40, embeddedTotal: 40, ready: true },
      { folderUri: "file:///work/lib/", files: 3, chunks: 0, vectors: 0, ready: false },
    ],
    model: { name: "/m/tiny.gguf", device: "cpu", loaded: true, adapter: null, error: null },
    queue: { pending: 2, indexing: [], folders: ["a", "b"] },
    feedback: { up: 3, down: 1, accepted: 5 },
  });
  assert.deepEqual(entries, [
    { label: "$(server-process) Daemon", description: "growpilot 0.1.0" },
    { label: "$(hubot) Model", description: "tiny · cpu · adapter: base" },
    { label: "$(folder) my app", description: "12 files · 40 chunks · 40 vectors" },
    { label: "$(folder) lib", description: "indexing… 3 files · 0 chunks · 0 vectors" },
    { label: "$(feedback) Feedback", description: "5 accepted · 3 👍 · 1 👎" },
    { label: "$(list-ordered) Queue", description: "pending: 2 · indexing: none · folders: a, b" },
  ]);
  assert.deepEqual(statusEntries({ model: { name: "m", loaded: false, error: "boom" } })[1], {
    label: "$(hubot) Model",
    description: "m · failed: boom",
  });
});
