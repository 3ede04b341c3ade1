/**
 * What the dashboard webview may ask of the extension (the buttons of growpilot/dashboard/dashboard.js),
 * pure: a message from the page is untrusted input, so anything but these shapes is dropped.
 */
export type DashboardRequest = { command: "promote"; version: string } | { command: "rollback" } | { command: "refresh" };

const VERSION = /^v\d{1,9}$/;

export function parseDashboardMessage(message: unknown): DashboardRequest | undefined {
  if (typeof message !== "object" || message === null) return undefined;
  const { command, version } = message as { command?: unknown; version?: unknown };
  if (command === "promote") return typeof version === "string" && VERSION.test(version) ? { command, version } : undefined;
  if (command === "rollback" || command === "refresh") return { command };
  return undefined;
}

/** A nonce for the page's Content-Security-Policy: 24 random bytes, base64 (the daemon accepts 16–128 such characters). */
export function dashboardNonce(random: (size: number) => Uint8Array): string {
  return Buffer.from(random(24)).toString("base64");
}
