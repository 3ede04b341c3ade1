import assert from "node:assert/strict";
import { test } from "node:test";
import { isIndexing, isTraining, parseCounts, progressKind } from "../../../extension/src/progress";
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

test("training progress is told apart from indexing by its title's first word", () => {
  assert.equal(progressKind({ kind: "begin", title: "Growpilot: training shop" }), "training");
  assert.equal(progressKind({ kind: "begin", title: "Growpilot: indexing shop" }), "indexing");
  assert.equal(progressKind({ kind: "begin", title: "Indexing shop" }), "indexing");
  // The folder's name must not decide it.
  assert.equal(progressKind({ kind: "begin", title: "Growpilot: training indexing-tools" }), "training");
  assert.equal(progressKind({ kind: "begin", title: "Growpilot: indexing training-data" }), "indexing");
  assert.equal(isIndexing({ kind: "begin", title: "Growpilot: training indexing-tools" }), false);
  assert.equal(progressKind({ kind: "begin", title: "Growpilot: loading the model" }), undefined);
  assert.equal(progressKind({ kind: "begin", title: "Growpilot: retraining" }), undefined);
  assert.equal(progressKind({ kind: "report", title: "Growpilot: training shop" }), undefined);
  assert.equal(isTraining({ kind: "begin", title: "Growpilot: training shop" }), true);
  assert.equal(isTraining({ kind: "begin", title: "Growpilot: indexing shop" }), false);
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
    text: "$(sparkle) Growpilot · base",
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
  assert.equal(status.view().text, "$(sparkle) Growpilot · v3");
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
  assert.equal(status.view().text, "$(sparkle) Growpilot · base");
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
      { folderUri: "file:///work/my%20app", files: 12, chunks: 40, vectors: 40, embedded_total: 40, ready: true },
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

test("status bar: training progress, its outcome, then the promoted adapter", () => {
  const status = new DaemonStatus();
  status.starting(true);
  status.running();
  status.indexReady();
  status.modelReady({ model: "/m/qwen.gguf", device: "cpu", adapter: null });
  assert.equal(status.view().text, "$(sparkle) Growpilot · base");
  assert.equal(status.isTraining, false);
  status.trainingBegin("t", "Growpilot: training my shop");
  assert.equal(status.isTraining, true);
  assert.deepEqual(status.trainingFolders(), ["my shop"]);
  assert.equal(status.view().text, "$(sync~spin) Growpilot: training");
  status.trainingReport("t", "preparing the training data", 0);
  assert.equal(status.view().text, "$(sync~spin) Growpilot: training");
  status.trainingReport("t", "training 45%, ~3 min left", 45);
  const view = status.view();
  assert.equal(view.text, "$(sync~spin) Growpilot: training 45%");
  assert.match(view.tooltip, /^Training my shop: training 45%, ~3 min left\.\nCompletions come from qwen · base on cpu meanwhile\./);
  assert.match(view.tooltip, /Cancel Training/);
  status.trainingReport("t", "evaluating 20%", 20);
  assert.equal(status.view().text, "$(sync~spin) Growpilot: evaluating 20%");
  status.trainingReport("other", "training 99%", 99);
  assert.equal(status.view().text, "$(sync~spin) Growpilot: evaluating 20%", "untracked tokens are ignored");
  // Indexing is brief and says more about what completions see right now.
  status.progressBegin("i");
  status.progressReport("i", "3/9 files");
  assert.equal(status.view().text, "$(sync~spin) Growpilot: indexing 3/9");
  status.progressEnd("i");
  status.trainingEnd("t");
  status.adapterChanged({ folderUri: "file:///w/my%20shop", adapter: "v3", previous: null, reason: "promoted" });
  status.trainingDone({
    folderUri: "file:///w/my%20shop",
    error: null,
    version: "v3",
    decision: "promoted",
    reason: "better",
    nll: { base: 0.912, active: null, candidate: 0.803 },
  });
  assert.equal(status.isTraining, false);
  assert.deepEqual(status.view(), {
    text: "$(sparkle) Growpilot · v3",
    tooltip: "Growpilot is ready: qwen · adapter v3 on cpu.\nLast training: v3 promoted for my shop (held-out NLL 0.91 → 0.80).",
    severity: "normal",
  });
  status.adapterChanged({ folderUri: "file:///w/my%20shop", adapter: null, previous: "v3", reason: "rollback" });
  assert.equal(status.view().text, "$(sparkle) Growpilot · base");
  status.completionsEnabled = false;
  assert.equal(status.view().text, "$(circle-slash) Growpilot: completions off");
  status.trainingBegin("t2", "Growpilot: training my shop");
  assert.equal(status.view().text, "$(sync~spin) Growpilot: training", "a running cycle shows even with completions off");
});

test("status bar: a new daemon forgets training, adapters and outcomes; a model reload resets adapters", () => {
  const status = new DaemonStatus();
  status.starting(true);
  status.running();
  status.indexReady();
  status.modelReady({ model: "tiny", adapter: "v2" });
  assert.equal(status.view().text, "$(sparkle) Growpilot · v2");
  status.adapterChanged({ folderUri: "file:///a", adapter: "v3", previous: "v2", reason: "promote" });
  status.adapterChanged({ folderUri: "file:///b", adapter: null, previous: "v1", reason: "rollback" });
  assert.equal(status.view().text, "$(sparkle) Growpilot · base", "the last change shows");
  assert.match(status.view().tooltip, /\na: adapter v3\nb: base model/);
  status.modelReady({ model: "tiny", adapter: "v3" });
  assert.equal(status.view().tooltip, "Growpilot is ready: tiny · adapter v3.");
  status.trainingBegin("t", "Growpilot: training a");
  status.failed("gone");
  assert.equal(status.isTraining, false);
  status.starting(true);
  status.running();
  status.indexReady();
  status.modelReady({ model: "tiny" });
  assert.equal(status.view().text, "$(sparkle) Growpilot · base");
});

test("status quick pick: folder adapters and learning rows", () => {
  const entries = statusEntries({
    folders: [
      { folderUri: "file:///w/shop", files: 2, chunks: 3, vectors: 3, ready: true, adapter: "v3" },
      { folderUri: "file:///w/lib", files: 1, chunks: 1, vectors: 1, ready: true, adapter: null },
      { folderUri: "file:///w/new", files: 1, chunks: 1, vectors: 1, ready: true, adapter: null },
    ],
    learning: {
      "file:///w/shop": { state: "training", percent: 45, message: "training 45%, ~3 min left", last: null },
      "file:///w/lib": {
        state: "idle",
        percent: null,
        message: "",
        last: { decision: "rejected", version: "v2", reason: "no better", finished: "2025-06-01T14:03:22" },
      },
      "file:///w/new": { state: "idle", percent: null, message: "", last: null },
    },
  });
  assert.deepEqual(entries.slice(1), [
    { label: "$(folder) shop", description: "2 files · 3 chunks · 3 vectors · adapter v3" },
    { label: "$(mortar-board) Learning shop", description: "training 45%, ~3 min left" },
    { label: "$(folder) lib", description: "1 files · 1 chunks · 1 vectors · base" },
    { label: "$(mortar-board) Learning lib", description: "last training: v2 rejected (2025-06-01 14:03)" },
    { label: "$(folder) new", description: "1 files · 1 chunks · 1 vectors · base" },
  ]);
});

test("status bar: spins while a suggestion is asked for, back when every request ended", () => {
  const status = new DaemonStatus();
  status.starting(false);
  status.running();
  status.modelReady({ model: "/m/qwen.gguf", device: "cpu", adapter: "v2", loadSeconds: 3, error: null });
  status.requestBegin();
  status.requestBegin();
  assert.deepEqual(status.view(), {
    text: "$(loading~spin) Growpilot · v2",
    tooltip: "Asking qwen · adapter v2 on cpu for a suggestion…",
    severity: "normal",
  });
  status.requestEnd();
  assert.equal(status.view().text, "$(loading~spin) Growpilot · v2", "one still runs");
  status.requestEnd();
  status.requestEnd(); // an extra end (a restart in between) never goes below zero
  assert.equal(status.view().text, "$(sparkle) Growpilot · v2");
  status.requestBegin();
  status.starting(false); // a new daemon: the old process's requests are gone
  status.running();
  status.modelReady({ model: "/m/qwen.gguf", device: "cpu", adapter: null, loadSeconds: 3, error: null });
  assert.equal(status.view().text, "$(sparkle) Growpilot · base");
});
