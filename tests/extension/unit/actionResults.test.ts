import assert from "node:assert/strict";
import { test } from "node:test";
import { PendingResults, actionData, actionFocus, isCancellation, lensLabel, resolveErrorText } from "../../../extension/src/actionResults";
import { RatingLenses } from "../../../extension/src/ratings";

const FOCUS = { generationId: "g1", uri: "file:///a.py", line: 3, action: "docstring" };

test("a Growpilot action's data is told from another server's", () => {
  assert.deepEqual(actionData({ action: "refactor", uri: "file:///a.py", version: 2 }), {
    action: "refactor",
    uri: "file:///a.py",
    version: 2,
  });
  assert.equal(actionData({ fixId: 3 }), undefined);
  assert.equal(actionData({ action: "poem", uri: "file:///a.py" }), undefined);
  assert.equal(actionData(undefined), undefined);
});

test("the focus of a resolved action comes from its command", () => {
  assert.deepEqual(actionFocus({ command: "growpilot.accept", arguments: [{ ...FOCUS, source: "codeAction" }] }), {
    ...FOCUS,
    source: "codeAction",
  });
  const explain = { ...FOCUS, action: "explain", explanationUri: "file:///home/explanations/g1.md" };
  assert.equal(actionFocus({ command: "growpilot.showExplanation", arguments: [explain] })?.explanationUri, explain.explanationUri);
  assert.equal(actionFocus({ command: "growpilot.showExplanation", arguments: [FOCUS] }), undefined);
  assert.equal(actionFocus({ command: "growpilot.accept", arguments: [{ generationId: "g1" }] }), undefined); // a completion's
  assert.equal(actionFocus({ command: "other.command", arguments: [FOCUS] }), undefined);
  assert.equal(actionFocus(undefined), undefined);
});

test("labels, cancellations and errors", () => {
  assert.equal(lensLabel("tests"), "Growpilot tests:");
  assert.equal(isCancellation({ code: -32800, message: "cancelled" }), true);
  assert.equal(isCancellation(new Error("the refactored code does not parse")), false);
  assert.equal(
    resolveErrorText("Growpilot: Refactor selection", new Error("the refactored code does not parse: x; nothing was changed")),
    "Growpilot: Refactor selection failed: the refactored code does not parse: x; nothing was changed",
  );
});

test("an action's lens carries its label, a completion's none", () => {
  const lenses = new RatingLenses();
  lenses.accepted("g1", "file:///a.py", 3, "Growpilot docstring:");
  lenses.accepted("g2", "file:///b.py", 1);
  assert.equal(lenses.forDocument("file:///a.py")[0]?.label, "Growpilot docstring:");
  assert.equal("label" in (lenses.forDocument("file:///b.py")[0] ?? {}), false);
});

test("a resolved result counts as applied once: when its inserted text arrives, or when its command runs", () => {
  const pending = new PendingResults<string>();
  const doc = '    """Apply a discount."""\n';
  pending.expect("g1", [{ uri: "file:///a.py", text: doc }], "lens g1", 0);
  assert.deepEqual(pending.changed("file:///b.py", [doc], 1), [], "another document");
  assert.deepEqual(pending.changed("file:///a.py", ["x"], 1), [], "the user's typing");
  assert.deepEqual(pending.changed("file:///a.py", ["", doc.replace(/\n/g, "\r\n")], 2), ["lens g1"], "CRLF documents too");
  assert.equal(pending.take("g1"), undefined, "the command after the edit shows nothing twice");

  pending.expect("g2", [{ uri: "file:///a.py", text: doc }], "lens g2", 0);
  assert.equal(pending.take("g2"), "lens g2", "the command alone");
  assert.deepEqual(pending.changed("file:///a.py", [doc], 1), []);

  pending.expect("g3", [{ uri: "file:///a.py", text: "   " }], "lens g3", 0);
  assert.deepEqual(pending.changed("file:///a.py", ["   "], 1), [], "whitespace is no evidence");
  pending.expect("g4", [{ uri: "file:///a.py", text: doc }], "lens g4", 0);
  assert.deepEqual(pending.changed("file:///a.py", [doc], 11 * 60_000), [], "a result never applied expires");
});
