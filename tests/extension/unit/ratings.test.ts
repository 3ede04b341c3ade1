import assert from "node:assert/strict";
import { test } from "node:test";
import { RatingLenses, THANKS_MS, acceptedGenerationId } from "../../../extension/src/ratings";

const A = "file:///a.py";
const B = "file:///b.py";

test("accept → rate → thanks → gone", () => {
  const lenses = new RatingLenses();
  lenses.accepted("g1", A, 10);
  assert.deepEqual(lenses.forDocument(A), [{ generationId: "g1", uri: A, line: 10, state: "rate" }]);
  assert.equal(lenses.lastAccepted, "g1");
  assert.equal(lenses.rated("g1", "up", 1000), true);
  assert.deepEqual(lenses.forDocument(A), [
    { generationId: "g1", uri: A, line: 10, state: "thanks", rating: "up", expiresAt: 1000 + THANKS_MS },
  ]);
  assert.equal(lenses.nextExpiry(), 1000 + THANKS_MS);
  assert.equal(lenses.expire(1000 + THANKS_MS - 1), false);
  assert.equal(lenses.expire(1000 + THANKS_MS), true);
  assert.deepEqual(lenses.forDocument(A), []);
  assert.equal(lenses.nextExpiry(), undefined);
});

test("rating an unknown or expired suggestion changes nothing", () => {
  const lenses = new RatingLenses();
  assert.equal(lenses.rated("nope", "down", 0), false);
  lenses.accepted("g1", A, 1);
  lenses.rated("g1", "down", 0);
  lenses.expire(THANKS_MS);
  assert.equal(lenses.rated("g1", "up", THANKS_MS), false);
});

test("one open question per document: a newer acceptance replaces an unrated one", () => {
  const lenses = new RatingLenses();
  lenses.accepted("g1", A, 1);
  lenses.accepted("g2", B, 2);
  lenses.rated("g2", "up", 0);
  lenses.accepted("g3", B, 5);
  lenses.accepted("g4", A, 8);
  assert.deepEqual(lenses.forDocument(A).map((lens) => lens.generationId), ["g4"]);
  assert.deepEqual(lenses.forDocument(B).map((lens) => [lens.generationId, lens.state]), [
    ["g2", "thanks"],
    ["g3", "rate"],
  ]);
  assert.equal(lenses.lastAccepted, "g4");
});

test("lenses follow their text when lines above change", () => {
  const lenses = new RatingLenses();
  lenses.accepted("g1", A, 10);
  assert.equal(lenses.edited(A, [{ startLine: 2, endLine: 2, newLineCount: 4 }]), true, "3 lines inserted above");
  assert.equal(lenses.forDocument(A)[0].line, 13);
  assert.equal(lenses.edited(A, [{ startLine: 13, endLine: 13, newLineCount: 1 }]), false, "typing on its line");
  assert.equal(lenses.edited(A, [{ startLine: 20, endLine: 25, newLineCount: 1 }]), false, "edits below");
  assert.equal(lenses.edited(B, [{ startLine: 0, endLine: 5, newLineCount: 1 }]), false, "another document");
  lenses.edited(A, [{ startLine: 0, endLine: 4, newLineCount: 1 }]);
  assert.equal(lenses.forDocument(A)[0].line, 9, "5 lines above became 1");
  lenses.edited(A, [{ startLine: 7, endLine: 11, newLineCount: 1 }]);
  assert.equal(lenses.forDocument(A)[0].line, 7, "a deletion that swallowed its line keeps it at the deletion");
});

test("several changes in one event apply bottom-up, whatever their order", () => {
  const lenses = new RatingLenses();
  lenses.accepted("g1", A, 10);
  lenses.edited(A, [
    { startLine: 1, endLine: 1, newLineCount: 3 },
    { startLine: 5, endLine: 6, newLineCount: 1 },
  ]);
  assert.equal(lenses.forDocument(A)[0].line, 11);
});

test("closing a document drops its lenses", () => {
  const lenses = new RatingLenses();
  lenses.accepted("g1", A, 1);
  lenses.accepted("g2", B, 1);
  lenses.closed(A);
  assert.deepEqual(lenses.forDocument(A), []);
  assert.equal(lenses.forDocument(B).length, 1);
});

test("the generation id comes from the daemon's growpilot.accept command only", () => {
  assert.equal(acceptedGenerationId({ command: "growpilot.accept", arguments: [{ generationId: "abc" }] }), "abc");
  assert.equal(acceptedGenerationId({ command: "other", arguments: [{ generationId: "abc" }] }), undefined);
  assert.equal(acceptedGenerationId({ command: "growpilot.accept", arguments: [] }), undefined);
  assert.equal(acceptedGenerationId({ command: "growpilot.accept", arguments: [{ generationId: 3 }] }), undefined);
  assert.equal(acceptedGenerationId(undefined), undefined);
});
