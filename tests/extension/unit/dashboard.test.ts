import assert from "node:assert/strict";
import { test } from "node:test";
import { dashboardNonce, parseDashboardMessage } from "../../../extension/src/dashboardMessages";

test("the dashboard's buttons: promote a version, roll back, refresh", () => {
  assert.deepEqual(parseDashboardMessage({ command: "promote", version: "v3" }), { command: "promote", version: "v3" });
  assert.deepEqual(parseDashboardMessage({ command: "rollback", version: "ignored" }), { command: "rollback" });
  assert.deepEqual(parseDashboardMessage({ command: "refresh" }), { command: "refresh" });
});

test("anything else a page posts is dropped", () => {
  for (const message of [null, "promote", 3, {}, { command: "promote" }, { command: "promote", version: "../v1" },
    { command: "promote", version: 3 }, { command: "retrain" }, { command: "growpilot.promote", version: "v1" }]) {
    assert.equal(parseDashboardMessage(message), undefined, JSON.stringify(message));
  }
});

test("the CSP nonce is 24 random bytes in base64, as the daemon accepts", () => {
  const nonce = dashboardNonce((size) => new Uint8Array(size).fill(251));
  assert.equal(nonce, Buffer.from(new Uint8Array(24).fill(251)).toString("base64"));
  assert.match(nonce, /^[A-Za-z0-9+/=_-]{16,128}$/);
});
