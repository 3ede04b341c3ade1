import assert from "node:assert/strict";
import { test } from "node:test";
import { learningSummary, scheduleSummary, trainingOutcome } from "../../../extension/src/learning";
import { DaemonStatus, statusEntries } from "../../../extension/src/status";

const uri = "file:///work/shop";

function ready(): DaemonStatus {
  const status = new DaemonStatus();
  status.starting(false);
  status.running();
  status.modelReady({ model: "tiny", adapter: "v3" });
  return status;
}

test("the next automatic training in a few words, counting down", () => {
  const scheduled = { status: "scheduled", in_s: 480, reason: "starts in 8 min (after 10 min without edits or requests)", why: "idle" };
  assert.equal(scheduleSummary(scheduled), "next training in ~8 min (after 10 min without edits or requests)");
  assert.equal(scheduleSummary(scheduled, 450), "next training in under a minute (after 10 min without edits or requests)");
  assert.equal(
    scheduleSummary({ status: "not_scheduled", reason: "on battery (trainOnCpu auto trains on the CPU only on mains power)" }),
    "automatic training: on battery (trainOnCpu auto trains on the CPU only on mains power)",
  );
  assert.equal(scheduleSummary({ status: "running", reason: "a training cycle of shop is running" }), undefined);
  assert.equal(scheduleSummary(undefined), undefined);
  assert.equal(
    learningSummary({ state: "idle", last: { decision: "promoted", version: "v4" }, schedule: scheduled }),
    "last training: v4 promoted · next training in ~8 min (after 10 min without edits or requests)",
  );
});

test("the status bar's tooltip has the schedule; a paused automatic cycle is no failure", () => {
  const status = ready();
  const t0 = 1_000_000;
  status.trainingSchedule({ folderUri: uri, status: "scheduled", in_s: 600, reason: "starts in 10 min (after 10 min without edits or requests)" }, t0);
  assert.match(status.view(t0).tooltip, /Next training in ~10 min \(after 10 min without edits or requests\)\./);
  assert.match(status.view(t0 + 300_000).tooltip, /Next training in ~5 min/);
  assert.equal(status.view(t0).text, "$(sparkle) Growpilot · v3"); // the text stays short
  const paused = { folderUri: uri, error: "training was cancelled at step 3; …", automatic: true, yielded: true };
  assert.deepEqual(trainingOutcome(paused), {
    severity: "info",
    text: "Growpilot paused training shop while you work; it resumes when you are idle.",
  });
  status.trainingDone(paused);
  assert.match(status.view(t0).tooltip, /Last training: paused training shop while you work/);
  const rows = statusEntries({
    folders: [{ folderUri: uri, ready: true }],
    learning: { [uri]: { state: "idle", schedule: { status: "not_scheduled", reason: "12 new training samples since the last cycle, 100 needed" } } },
  });
  assert.ok(rows.some((r) => r.description === "automatic training: 12 new training samples since the last cycle, 100 needed"));
});
