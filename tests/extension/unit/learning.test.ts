import assert from "node:assert/strict";
import { test } from "node:test";
import {
  adapterChangeMessage,
  adapterRows,
  chooseFolder,
  folderName,
  isInvalidParams,
  learningSummary,
  trainingLabel,
  trainingOutcome,
  trainingStarted,
} from "../../../extension/src/learning";

const SHOP = "file:///work/my%20shop";

test("a promoted adapter: its version, the folder and the held-out NLL it beat", () => {
  assert.deepEqual(
    trainingOutcome({
      folderUri: SHOP,
      error: null,
      version: "v3",
      decision: "promoted",
      reason: "held-out NLL 0.8030 is 0.880× that of the base model (0.9120), ≤ 0.97×",
      nll: { base: 0.912, active: null, candidate: 0.803 },
    }),
    { severity: "info", text: "Growpilot: v3 promoted for my shop (held-out NLL 0.91 → 0.80)." },
  );
  // Against the active adapter when there was one; digits enough to see the difference.
  assert.equal(
    trainingOutcome({
      folderUri: SHOP,
      version: "v4",
      decision: "promoted",
      nll: { base: 0.95, active: 0.8012, candidate: 0.7981 },
    }).text,
    "Growpilot: v4 promoted for my shop (held-out NLL 0.801 → 0.798).",
  );
  assert.equal(
    trainingOutcome({ folderUri: SHOP, version: "v5", decision: "promoted", nll: { base: null, candidate: 0.5 } }).text,
    "Growpilot: v5 promoted for my shop.",
    "no figures rather than wrong ones",
  );
});

test("a rejected adapter: what still serves, and the gate's reason", () => {
  const reason = "held-out NLL 0.9000 is 0.987× that of the base model (0.9120); promotion needs ≤ 0.97×";
  assert.deepEqual(
    trainingOutcome({ folderUri: SHOP, error: null, version: "v2", decision: "rejected", reason, active_before: null }),
    { severity: "info", text: `Growpilot: v2 rejected for my shop, the base model still serves: ${reason}.` },
  );
  assert.equal(
    trainingOutcome({ folderUri: SHOP, version: "v4", decision: "rejected", reason: "worse", active_before: "v3" }).text,
    "Growpilot: v4 rejected for my shop, adapter v3 still serves: worse.",
  );
});

test("a cycle that did not finish: error, warning for too little code, info when cancelled", () => {
  assert.deepEqual(trainingOutcome({ folderUri: SHOP, error: "the trainer was killed by SIGKILL (out of memory?)" }), {
    severity: "error",
    text: "Growpilot could not train my shop: the trainer was killed by SIGKILL (out of memory?)",
  });
  const small = "too little code to hold out: 2 files (2 could be held out, 0 left to train on)";
  assert.deepEqual(trainingOutcome({ folderUri: SHOP, error: small }), {
    severity: "warning",
    text: `Growpilot could not train my shop: ${small}`,
  });
  const cancelled = "training was cancelled at step 3; the next run resumes 20250601-1403 from its checkpoint";
  assert.deepEqual(trainingOutcome({ folderUri: SHOP, error: cancelled }), {
    severity: "info",
    text: `Growpilot stopped training my shop: ${cancelled}.`,
  });
});

test("roll back and promote answers", () => {
  assert.equal(
    adapterChangeMessage({ folderUri: SHOP, adapter: "v2", previous: "v3", reason: "rollback" }),
    "Growpilot rolled my shop back to v2 (v3 is set aside).",
  );
  assert.equal(
    adapterChangeMessage({ folderUri: SHOP, adapter: null, previous: "v1", reason: "rollback" }),
    "Growpilot: my shop is back to the base model (v1 is set aside).",
  );
  assert.equal(
    adapterChangeMessage({ folderUri: SHOP, adapter: "v2", previous: "v3", reason: "promote" }),
    "Growpilot: v2 now serves my shop.",
  );
  assert.equal(trainingStarted(SHOP).startsWith("Growpilot is training my shop…"), true);
});

test("the status bar's training label from the daemon's progress reports", () => {
  assert.equal(trainingLabel("training 45%, ~3 min left", 45), "training 45%");
  assert.equal(trainingLabel("training", 0), "training");
  assert.equal(trainingLabel("training", 12), "training 12%", "the percentage when the message has none");
  assert.equal(trainingLabel("evaluating 20%", 20), "evaluating 20%");
  assert.equal(trainingLabel("evaluating on held-out files", undefined), "evaluating");
  assert.equal(trainingLabel("preparing the training data", 0), "training");
  assert.equal(trainingLabel(undefined, undefined), "training");
});

test("which folder a learning command is about", () => {
  const a = { uri: "file:///w/a", name: "a" };
  const b = { uri: "file:///w/b", name: "b" };
  assert.equal(chooseFolder([a, b], "file:///w/b"), "file:///w/b", "the active editor's folder");
  assert.equal(chooseFolder([a], undefined), "file:///w/a", "the only folder");
  assert.equal(chooseFolder([a], "file:///elsewhere"), "file:///w/a", "an editor outside the folders does not count");
  assert.equal(chooseFolder([a, b], undefined), "pick");
  assert.equal(chooseFolder([a, b], "file:///elsewhere"), "pick");
  assert.equal(chooseFolder([], undefined), undefined);
});

test("folder names, refusals and summaries", () => {
  assert.equal(folderName("file:///work/my%20app/"), "my app");
  assert.equal(folderName("file:///work/100%"), "100%");
  assert.equal(isInvalidParams(Object.assign(new Error("nothing to roll back to"), { code: -32602 })), true);
  assert.equal(isInvalidParams(Object.assign(new Error("boom"), { code: -32603 })), false);
  assert.equal(isInvalidParams(new Error("x")), false);
  assert.equal(isInvalidParams(undefined), false);
  assert.equal(learningSummary({ state: "evaluating", percent: null, message: "evaluating on held-out files" }), "evaluating on held-out files");
  assert.equal(learningSummary({ state: "idle", last: { error: "boom", finished: "2025-06-01T14:03:22+0200" } }), "last training: did not finish: boom (2025-06-01 14:03)");
  assert.equal(learningSummary({ state: "idle", last: null }), undefined);
  assert.equal(learningSummary(undefined), undefined);
});

test("Show Adapters rows: newest first, the serving one checked, then the base model", () => {
  const rows = adapterRows({
    folderUri: SHOP,
    active: "v2",
    versions: [
      { version: "v2", status: "promoted", active: true, created: "2025-06-01T14:03:22+0200", nll: 0.8012, reason: "better" },
      { version: "v10", status: "rejected", active: false, created: "2025-06-03T09:00:00+0200", nll: 0.9, reason: "worse" },
      { version: "v1", status: "rolled-back", active: false, created: null, nll: null, reason: null },
    ],
  });
  assert.deepEqual(rows, [
    {
      label: "$(circle-large-outline) v10",
      description: "rejected · held-out NLL 0.900 · 2025-06-03 09:00",
      detail: "worse",
      version: "v10",
      active: false,
    },
    {
      label: "$(check) v2",
      description: "active · held-out NLL 0.801 · 2025-06-01 14:03",
      detail: "better",
      version: "v2",
      active: true,
    },
    { label: "$(circle-large-outline) v1", description: "rolled-back", detail: undefined, version: "v1", active: false },
    { label: "$(circle-large-outline) base model", description: "no adapter", active: false },
  ]);
  assert.deepEqual(adapterRows({ folderUri: SHOP, active: null, versions: [] }), [
    { label: "$(check) base model", description: "active · no adapter", active: true },
  ]);
});
