import assert from "node:assert/strict";
import { test } from "node:test";
import { collisions, normalizeChord, parseDefaultKeybindings } from "../e2e/keybindings";

test("chords are spelled one way", () => {
  assert.equal(normalizeChord("Alt+Ctrl+-"), "ctrl+alt+-");
  assert.equal(normalizeChord("shift+alt+cmd+="), "shift+alt+cmd+=");
  assert.equal(normalizeChord("ctrl++"), "ctrl++");
});

test("the same key, or one a prefix of the other, collides; removals and our own commands do not", () => {
  const defaults = [
    { key: "ctrl+alt+-", command: "workbench.action.navigateBack" },
    { key: "ctrl+k ctrl+s", command: "workbench.action.openGlobalKeybindings" },
    { key: "ctrl+alt+=", command: "-something.removed" },
    { key: "ctrl+alt+shift+=", command: "growpilot.rateLastUp" },
    { key: "alt+\\", command: "editor.action.inlineSuggest.trigger" },
    { key: "alt+]", command: "editor.action.inlineSuggest.showNext" },
  ];
  const ours = [
    { command: "growpilot.a", key: "alt+ctrl+-" },
    { command: "growpilot.b", key: "ctrl+k" },
    { command: "growpilot.c", key: "ctrl+alt+=" },
    { command: "growpilot.d", key: "ctrl+alt+shift+=", mac: "ctrl+k ctrl+s" },
    // Our own binding for a built-in command, reported back among the defaults: not a collision.
    { command: "editor.action.inlineSuggest.trigger", key: "alt+\\" },
    // The same built-in command's default key is still taken for another command of ours.
    { command: "editor.action.inlineSuggest.trigger", key: "alt+]" },
  ];
  assert.deepEqual(
    collisions(ours, defaults, "linux").map((c) => `${c.ours.command}:${c.theirs.command}`),
    [
      "growpilot.a:workbench.action.navigateBack",
      "growpilot.b:workbench.action.openGlobalKeybindings",
      "editor.action.inlineSuggest.trigger:editor.action.inlineSuggest.showNext",
    ],
  );
  assert.deepEqual(
    collisions(ours, defaults, "mac").map((c) => c.ours.command),
    ["growpilot.a", "growpilot.b", "growpilot.d", "editor.action.inlineSuggest.trigger"],
    "mac overrides key",
  );
});

test("the default keybindings JSON parses with its comments and trailing commas", () => {
  const text = '// Override key bindings\n[\n{ "key": "escape escape", "command": "x",\n  "when": "inZenMode" },\n]\n// Here are other available commands:\n// - y';
  assert.deepEqual(parseDefaultKeybindings(text), [{ key: "escape escape", command: "x", when: "inZenMode" }]);
});
