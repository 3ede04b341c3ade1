/**
 * Driving the VS Code workbench in Chromium the way a person does: the command palette, the
 * status bar, notifications, the editor. Every wait has a deadline and, when it runs out, leaves
 * a screenshot and says what the screen showed.
 */
import * as path from "node:path";
import { type BrowserContext, type Page, chromium } from "playwright-core";
import { sleep, tools } from "./codeServer";

export class Workbench {
  private shot = 0;

  private constructor(
    private readonly context: BrowserContext,
    readonly page: Page,
    private readonly artifacts: string,
  ) {}

  /** `userAgent`: VS Code in a browser takes its platform (and so its default keybindings) from it. */
  static async open(url: string, profileDir: string, artifacts: string, userAgent?: string): Promise<Workbench> {
    const context = await chromium.launchPersistentContext(profileDir, {
      executablePath: tools.chromium,
      headless: true,
      ...(userAgent ? { userAgent } : {}),
      viewport: { width: 1280, height: 760 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(url);
    await page.waitForSelector(".monaco-workbench", { timeout: 60_000 });
    const workbench = new Workbench(context, page, artifacts);
    await workbench.recordNotifications();
    return workbench;
  }

  /**
   * Records every notification toast ever shown, and each text it showed (progress updates its
   * text), so brief ones are not missed. Each entry carries the toast's id: one id, one toast.
   */
  private async recordNotifications(): Promise<void> {
    await this.page.evaluate(() => {
      const seen: { id: number; text: string }[] = [];
      (window as unknown as { __toasts: typeof seen }).__toasts = seen;
      const last = new WeakMap<Element, { id: number; text: string }>();
      const collect = () => {
        for (const toast of document.querySelectorAll(".notification-toast")) {
          const text = (toast as HTMLElement).innerText.replace(/\s+/g, " ").trim();
          const previous = last.get(toast);
          if (!text || previous?.text === text) continue;
          const entry = { id: previous?.id ?? seen.length, text };
          last.set(toast, entry);
          seen.push(entry);
        }
      };
      new MutationObserver(collect).observe(document.body, { childList: true, subtree: true, characterData: true });
    });
  }

  /** Every notification text seen since the page opened, oldest first, with its toast's id. */
  async notificationLog(): Promise<{ id: number; text: string }[]> {
    return this.page.evaluate(() => [...(window as unknown as { __toasts: { id: number; text: string }[] }).__toasts]);
  }

  /** Every notification text seen since the page opened (or since `from`, an index in that log). */
  async notificationsSeen(from = 0): Promise<string[]> {
    return (await this.notificationLog()).slice(from).map((entry) => entry.text);
  }

  async visibleNotifications(): Promise<string[]> {
    return this.page.locator(".notification-toast").evaluateAll((toasts) =>
      toasts.map((toast) => (toast as HTMLElement).innerText.replace(/\s+/g, " ").trim()),
    );
  }

  async statusBarText(): Promise<string> {
    const item = this.page.locator(".statusbar-item", { hasText: "Growpilot" }).first();
    return (await item.count()) ? ((await item.innerText()).replace(/\s+/g, " ").trim()) : "";
  }

  async screenshot(name: string, file?: string): Promise<string> {
    const target = file ?? path.join(this.artifacts, `${String(++this.shot).padStart(2, "0")}-${name}.png`);
    await this.page.screenshot({ path: target });
    return target;
  }

  /** Polls `check` until it returns a value; on timeout screenshots and throws with context. */
  async waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check().catch(() => undefined);
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) {
        const shot = await this.screenshot(`timeout-${what.replace(/\W+/g, "-")}`).catch(() => "(no screenshot)");
        throw new Error(
          `Timed out after ${timeoutMs / 1000} s waiting for ${what}.\n` +
            `  status bar: ${await this.statusBarText().catch(() => "?")}\n` +
            `  notifications seen: ${JSON.stringify(await this.notificationsSeen().catch(() => []))}\n` +
            `  screenshot: ${shot}`,
        );
      }
      await sleep(250);
    }
  }

  /** Runs a command from the palette (F1), by its title as the palette shows it. */
  async runCommand(title: string): Promise<void> {
    await this.page.keyboard.press("Escape");
    await this.page.keyboard.press("F1");
    const input = this.page.locator(".quick-input-widget .quick-input-box input");
    await input.waitFor({ state: "visible", timeout: 10_000 });
    await input.fill(`>${title}`);
    await this.waitFor(`the palette to list "${title}"`, 10_000, async () => {
      const first = this.page.locator(".quick-input-widget .monaco-list-row").first();
      return (await first.innerText()).includes(title);
    });
    await this.page.keyboard.press("Enter");
  }

  /** The rows of the open quick pick, as text. */
  async quickPickRows(): Promise<string[]> {
    return this.page
      .locator(".quick-input-widget .monaco-list-row")
      .evaluateAll((rows) => rows.map((row) => (row as HTMLElement).innerText.replace(/\s+/g, " ").trim()));
  }

  /** Opens a workspace file with Quick Open (Ctrl+P). */
  async openFile(name: string): Promise<void> {
    await this.page.keyboard.press("Escape");
    await this.page.keyboard.press("Control+P");
    const input = this.page.locator(".quick-input-widget .quick-input-box input");
    await input.waitFor({ state: "visible", timeout: 10_000 });
    await input.fill(name);
    let asked = Date.now();
    await this.waitFor(`Quick Open to list ${name}`, 30_000, async () => {
      if ((await this.page.locator(".quick-input-widget .monaco-list-row").first().innerText()).includes(name)) return true;
      if (Date.now() - asked > 2_000) {
        // Quick Open's file list lags behind files just written: search again.
        await input.fill("");
        await input.fill(name);
        asked = Date.now();
      }
      return undefined;
    });
    await this.page.keyboard.press("Enter");
    await this.page.locator(`.tab.active`, { hasText: name }).waitFor({ timeout: 10_000 });
    await this.page.locator(".monaco-editor .view-lines").first().click();
  }

  /** The active editor's text, via its accessible textarea-free rendering (visible lines). */
  async editorLines(): Promise<string[]> {
    return this.page
      .locator(".editor-instance .monaco-editor .view-lines .view-line")
      .evaluateAll((lines) =>
        lines
          .map((line) => ({ top: parseFloat((line as HTMLElement).style.top) || 0, text: (line as HTMLElement).innerText }))
          .sort((a, b) => a.top - b.top)
          .map((line) => line.text.replace(/\u00a0/g, " ")),
      );
  }

  /**
   * VS Code's default keybindings for the platform this page runs as, with the extensions' own: the
   * text of "Open Default Keyboard Shortcuts (JSON)", copied out through the clipboard (the editor
   * renders only the lines in view).
   */
  async defaultKeybindingsText(mac: boolean): Promise<string> {
    await this.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(this.page.url()).origin });
    await this.runCommand("Preferences: Open Default Keyboard Shortcuts (JSON)");
    await this.page.locator(".tab.active", { hasText: /keybindings/i }).waitFor({ timeout: 20_000 });
    await this.page.locator(".editor-instance .monaco-editor .view-lines").first().click();
    await this.page.keyboard.press(mac ? "Meta+A" : "Control+A");
    // Chromium on Linux copies on Ctrl+C natively, whatever platform VS Code believes it runs on.
    await this.page.keyboard.press("Control+C");
    return this.waitFor("the default keybindings on the clipboard", 10_000, async () => {
      const text = await this.page.evaluate(() => navigator.clipboard.readText());
      return text.includes('"command"') ? text : undefined;
    });
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => undefined);
  }
}
