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
  ];
  const ours = [
    { command: "growpilot.a", key: "alt+ctrl+-" },
    { command: "growpilot.b", key: "ctrl+k" },
    { command: "growpilot.c", key: "ctrl+alt+=" },
    { command: "growpilot.d", key: "ctrl+alt+shift+=", mac: "ctrl+k ctrl+s" },
  ];
  assert.deepEqual(
    collisions(ours, defaults, "linux").map((c) => `${c.ours.command}:${c.theirs.command}`),
    ["growpilot.a:workbench.action.navigateBack", "growpilot.b:workbench.action.openGlobalKeybindings"],
  );
  assert.deepEqual(
    collisions(ours, defaults, "mac").map((c) => c.ours.command),
    ["growpilot.a", "growpilot.b", "growpilot.d"],
    "mac overrides key",
  );
});

test("the default keybindings JSON parses with its comments and trailing commas", () => {
  const text = '// Override key bindings\n[\n{ "key": "escape escape", "command": "x",\n  "when": "inZenMode" },\n]\n// Here are other available commands:\n// - y';
  assert.deepEqual(parseDefaultKeybindings(text), [{ key: "escape escape", command: "x", when: "inZenMode" }]);
});
