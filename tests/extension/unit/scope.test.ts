import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { DEFAULT_ENABLE, languageEnabled, whyNoSuggestion } from "../../../extension/src/scope";

test("the built-in enable map is package.json's default", () => {
  const manifest = JSON.parse(readFileSync(path.resolve(__dirname, "../..", "package.json"), "utf8"));
  const general = manifest.contributes.configuration.find((section: { title: string }) => section.title === "General");
  assert.deepEqual(general.properties["growpilot.enable"].default, DEFAULT_ENABLE);
});

test("prose, dotenv and commit messages are off by default; the map and * override", () => {
  assert.equal(languageEnabled(undefined, "python"), true);
  for (const id of ["plaintext", "markdown", "dotenv", "scminput"]) assert.equal(languageEnabled(undefined, id), false, id);
  assert.equal(languageEnabled({ markdown: true }, "markdown"), true);
  assert.equal(languageEnabled({ "*": false }, "python"), false);
  assert.equal(languageEnabled({ "*": false, python: true }, "python"), true);
});

test("manual trigger mode asks only when invoked", () => {
  const base = { completionsEnabled: true, languageId: "python", enable: undefined };
  assert.equal(whyNoSuggestion({ ...base, triggerMode: "manual", invoked: false }), "manual trigger mode");
  assert.equal(whyNoSuggestion({ ...base, triggerMode: "manual", invoked: true }), undefined);
  assert.equal(whyNoSuggestion({ ...base, triggerMode: "automatic", invoked: false }), undefined);
  assert.equal(whyNoSuggestion({ ...base, completionsEnabled: false, triggerMode: "automatic", invoked: true }), "completions are off");
  assert.match(whyNoSuggestion({ ...base, languageId: "markdown", triggerMode: "automatic", invoked: true }) ?? "", /markdown/);
});
