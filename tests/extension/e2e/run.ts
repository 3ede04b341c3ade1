/**
 * End-to-end test of the packaged extension in a real VS Code (code-server + Chromium) against the
 * real Growpilot daemon: index → ghost text → Tab → 👍 CodeLens → the daemon counts the rating (and a
 * 👎 from the keybinding) → Add docstring from Refactor… and its 👍 → reindex with a progress
 * notification → search → toggle → Retrain Now trains (status bar progress) and Cancel Training
 * stops it with ONE outcome message → Roll Back Adapter with nothing to roll back to → Show Adapters
 * → a broken Python gives ONE error → recovery → a crashed daemon gives ONE error → Restart.
 * growpilot.pythonPath is not set and the workspace has its own `.venv` without growpilot, as most
 * Python projects do: the extension must pass over it and run the Python recorded in
 * `$GROWPILOT_HOME/daemon-python` (as scripts/setup.sh writes it).
 *
 * Env: GROWPILOT_E2E_PYTHON (default <repo>/.venv/bin/python; the Python recorded), GROWPILOT_E2E_MODEL
 * (growpilot.modelPath, e.g. a tiny model for speed), GROWPILOT_E2E_READY_TIMEOUT (s, default 900),
 * GROWPILOT_E2E_KEEP=1 (keep the temp dir), GROWPILOT_E2E_DOCS_SCREENSHOT=1 (also write
 * docs/screenshot.png). The daemon gets a temp GROWPILOT_HOME whose models/ links to the user's model cache.
 * Screenshots and logs go to artifacts/e2e/.
 */
import { spawnSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { CodeServer, sleep } from "./codeServer";
import { type Collision, type Contributed, type Platform, collisions, parseDefaultKeybindings } from "./keybindings";
import { Workbench } from "./workbench";

// Bundled to out/e2e/run.js (package.json "build:e2e"), so the repo is two levels up.
const root = path.resolve(__dirname, "../..");
const artifacts = path.join(root, "artifacts", "e2e");
const python = process.env.GROWPILOT_E2E_PYTHON || path.join(root, ".venv", "bin", "python");
const readyTimeoutMs = Number(process.env.GROWPILOT_E2E_READY_TIMEOUT || 900) * 1000;

const READY = /Growpilot · \S+/;
const GHOST = ".monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text";

type Step = (bench: Workbench) => Promise<string | void>;

async function main(): Promise<number> {
  await fs.rm(artifacts, { recursive: true, force: true });
  await fs.mkdir(artifacts, { recursive: true });
  const probe = spawnSync(python, ["-c", "import growpilot, sys; print(sys.executable)"], { encoding: "utf8" });
  if (probe.status !== 0) {
    console.error(`not ok - the daemon is not importable by ${python}: ${(probe.stderr || String(probe.error)).trim()}`);
    console.error("0 passed, 1 failed");
    return 1;
  }
  const daemonPython = probe.stdout.trim(); // absolute, as scripts/setup.sh records it
  const vsix = path.join(root, "dist", "growpilot.vsix");
  await fs.access(vsix).catch(() => {
    throw new Error(`${vsix} is missing: run npm run package first`);
  });

  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "growpilot-e2e-"));
  const workspace = path.join(tmp, "workspace");
  await fs.cp(path.join(root, "tests", "extension", "fixtures", "workspace"), workspace, { recursive: true });
  await writeGeneratedModules(workspace, 1);
  const projectVenvPython = await writeProjectVenv(workspace);
  const growpilotHome = path.join(tmp, "growpilot-home");
  await shareModelCache(growpilotHome);
  await fs.writeFile(path.join(growpilotHome, "daemon-python"), `${daemonPython}\n`); // as scripts/setup.sh
  const settings: Record<string, unknown> = {
    // No growpilot.pythonPath: the extension finds the daemon's Python through the record above.
    ...(process.env.GROWPILOT_E2E_MODEL ? { "growpilot.modelPath": process.env.GROWPILOT_E2E_MODEL } : {}),
    "editor.inlineSuggest.enabled": true,
    // Only ghost text: the suggest widget would take the Tab.
    "editor.quickSuggestions": { other: false, comments: false, strings: false },
    "editor.suggestOnTriggerCharacters": false,
    "editor.wordBasedSuggestions": "off",
    "chat.disableAIFeatures": true,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "security.workspace.trust.enabled": false,
    "extensions.autoUpdate": false,
    "extensions.autoCheckUpdates": false,
    "extensions.ignoreRecommendations": true,
    "telemetry.telemetryLevel": "off",
    "git.enabled": false,
    "update.mode": "none",
  };

  console.log(`# python ${python}; model ${process.env.GROWPILOT_E2E_MODEL || "(default)"}; temp ${tmp}`);
  let server: CodeServer | undefined;
  let bench: Workbench | undefined;
  let passed = 0;
  let failed = 0;
  try {
    server = await CodeServer.start({
      root: path.join(tmp, "vscode"),
      vsix,
      settings,
      // The daemon logs each message it receives (method and document): the proof that secret files are never sent.
      env: { GROWPILOT_HOME: growpilotHome, GROWPILOT_LOG_MESSAGES: "1" },
      logFile: path.join(artifacts, "code-server.log"),
    });
    const vscode = server;
    bench = await Workbench.open(`${server.url}/?folder=${encodeURIComponent(workspace)}`, path.join(tmp, "chromium"), artifacts);
    const steps: [string, Step][] = [
      ["the packaged README's images are files inside the .vsix (no network needed)", () => packagedImages(vsix)],
      ["the status bar shows the index and the model ready", waitReady],
      [
        "the daemon runs the recorded Python, passing over the workspace's .venv without growpilot",
        () => recordedPython(vscode, daemonPython, projectVenvPython),
      ],
      ["typing in a Python file shows ghost text from the daemon", ghostText],
      ["Tab accepts it and a rating CodeLens appears above it", acceptWithTab],
      ["clicking 👍 thanks, then the lens goes away", clickThumbsUp],
      ["the daemon counted the acceptance and the 👍", (b) => checkFeedback(b, workspace, growpilotHome)],
      ["Ctrl+Alt+Shift+- rates the last suggestion 👎 and the daemon counts it", rateLastDown],
      [
        "Refactor… lists Growpilot: Add docstring; it inserts a docstring under the def line, and its lens stores a 👍",
        (b) => addDocstring(b, workspace, growpilotHome),
      ],
      ["Refactor… → Growpilot: Explain opens the explanation beside the code, rated by a lens over the code", explain],
      [
        "secret files (.env, credentials.json) are never sent to the daemon and leave no history",
        (b) => secretFiles(b, vscode, workspace, growpilotHome),
      ],
      ["in manual trigger mode typing sends no request; Alt+\\ asks and shows ghost text", (b) => manualTrigger(b, vscode, workspace, settings)],
      ["Reindex Workspace shows the daemon's progress notification", (b) => reindex(b, workspace)],
      ["Search Codebase opens a hit", search],
      ["Delete This Workspace's Index asks, deletes it; Reindex Now rebuilds it", (b) => deleteIndexThenReindex(b, workspace, growpilotHome)],
      ["Toggle Completions flips the status bar", toggleCompletions],
      ["Retrain Now starts training, the status bar shows it, Cancel Training stops it with ONE message", retrainAndCancel],
      ["Roll Back Adapter with no adapter says so, as information", rollbackNothing],
      ["Show Adapters lists the base model as the active one", showAdapters],
      ["Open Dashboard charts the suggestions, accepts and ratings of this session (Chart.js, no network)", openDashboard],
      ["a broken pythonPath gives ONE error with Open Log", (b) => brokenPython(b, vscode, settings)],
      ["restoring the setting restarts the daemon", (b) => recover(b, vscode, settings)],
      ["a daemon crash gives ONE error; its Restart Daemon button brings it back", (b) => crash(b, vscode)],
      ["Get Started opens the walkthrough", getStarted],
      [
        "no contributed keybinding collides with a VS Code default on Linux, macOS or Windows",
        (b) => keybindingsFree(b, vscode, workspace, tmp),
      ],
    ];
    for (const [name, step] of steps) {
      const started = Date.now();
      try {
        const note = await step(bench);
        passed++;
        console.log(`ok ${passed + failed} - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)${note ? ` # ${note}` : ""}`);
      } catch (error) {
        failed++;
        console.log(`not ok ${passed + failed} - ${name}\n  ${String(error instanceof Error ? error.message : error).replace(/\n/g, "\n  ")}`);
        break; // each step builds on the one before
      }
    }
    failed += steps.length - passed - failed; // steps never reached count as failed
  } finally {
    if (server) {
      await fs.cp(path.join(server.userDataDir, "logs"), path.join(artifacts, "logs"), { recursive: true }).catch(() => undefined);
    }
    await bench?.close();
    await server?.stop();
    if (process.env.GROWPILOT_E2E_KEEP !== "1") await fs.rm(tmp, { recursive: true, force: true });
  }
  console.log(`# screenshots and logs: ${path.relative(process.cwd(), artifacts)}/`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

/** vsce rewrites relative links to a repository URL unless told not to; each image must ship in the package. */
async function packagedImages(vsix: string): Promise<string> {
  const unzip = (...args: string[]): string => {
    const run = spawnSync("unzip", args, { encoding: "utf8" });
    if (run.status !== 0) throw new Error(`unzip ${args.join(" ")}: ${run.stderr}`);
    return run.stdout;
  };
  const files = new Set(unzip("-Z1", vsix).split("\n"));
  const readme = unzip("-p", vsix, "extension/readme.md");
  const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);
  if (!images.length) throw new Error("the packaged README shows no image");
  for (const image of images) {
    if (/^[a-z]+:/i.test(image)) throw new Error(`the packaged README loads ${image} from the network`);
    if (!files.has(`extension/${image}`)) throw new Error(`the packaged README shows ${image}, which the .vsix lacks`);
  }
  return images.join(", ");
}

async function getStarted(bench: Workbench): Promise<string> {
  await bench.runCommand("Growpilot: Get Started");
  const page = bench.page.locator(".gettingStartedContainer", { hasText: "Get Started with Growpilot" });
  await page.waitFor({ timeout: 20_000 });
  await bench.screenshot("walkthrough");
  const steps = await page.locator(".getting-started-step .step-title").allInnerTexts();
  for (const title of ["Check the setup", "Rate what you accepted", "Where your data lives"]) {
    if (!steps.some((s) => s.includes(title))) throw new Error(`the walkthrough lacks "${title}": ${JSON.stringify(steps)}`);
  }
  return `${steps.length} steps`;
}

/** Browser user agents: VS Code in a browser takes its platform, and so its default keybindings, from it. */
const USER_AGENTS: Record<Exclude<Platform, "linux">, string> = {
  mac: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36",
  win: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36",
};

/** Our keybindings against the defaults this real VS Code reports, on each platform (the packaged manifest). */
async function keybindingsFree(bench: Workbench, server: CodeServer, workspace: string, tmp: string): Promise<string> {
  const manifest = JSON.parse(await fs.readFile(path.join(root, "package.json"), "utf8"));
  const ours: Contributed[] = manifest.contributes.keybindings;
  const counts: string[] = [];
  const found: Collision[] = [];
  for (const platform of ["linux", "mac", "win"] as Platform[]) {
    const other =
      platform === "linux"
        ? undefined
        : await Workbench.open(
            `${server.url}/?folder=${encodeURIComponent(workspace)}`,
            path.join(tmp, `chromium-${platform}`),
            artifacts,
            USER_AGENTS[platform],
          );
    try {
      const defaults = parseDefaultKeybindings(await (other ?? bench).defaultKeybindingsText(platform === "mac"));
      // A macOS page must show macOS keys, or the check would compare Linux twice.
      if (platform === "mac" && !defaults.some((d) => d.key.includes("cmd+"))) throw new Error("the macOS page shows no cmd+ keys");
      counts.push(`${platform} ${defaults.length}`);
      found.push(...collisions(ours, defaults, platform));
    } finally {
      await other?.close();
    }
  }
  if (found.length) {
    throw new Error(found.map((c) => `${c.platform}: ${c.ours.key} (${c.ours.command}) shadows ${c.theirs.key} (${c.theirs.command})`).join("\n"));
  }
  return `defaults: ${counts.join(", ")}`;
}

/**
 * The temp GROWPILOT_HOME keeps this run's index and feedback apart, but the converted default
 * model (1.2 GB, ~40 s to build) is shared with the user's cache instead of rebuilt every run.
 */
async function shareModelCache(growpilotHome: string): Promise<void> {
  const userHome =
    process.env.GROWPILOT_HOME || path.join(process.env.XDG_DATA_HOME || path.join(os.homedir(), ".local", "share"), "growpilot");
  const shared = path.join(userHome, "models");
  await fs.mkdir(shared, { recursive: true });
  await fs.mkdir(growpilotHome, { recursive: true });
  await fs.symlink(shared, path.join(growpilotHome, "models"));
}

/** A project's own `.venv` that cannot import growpilot (no pip, nothing installed): most projects have one. */
async function writeProjectVenv(workspace: string): Promise<string> {
  const venv = path.join(workspace, ".venv");
  const made = spawnSync(python, ["-m", "venv", "--without-pip", venv], { encoding: "utf8", timeout: 60_000 });
  if (made.status !== 0) throw new Error(`python -m venv ${venv} failed: ${made.stderr || made.error}`);
  const venvPython = path.join(venv, "bin", "python");
  if (spawnSync(venvPython, ["-c", "import growpilot"]).status === 0) {
    throw new Error(`${venvPython} imports growpilot, so it cannot stand for a project's venv without it`);
  }
  return venvPython;
}

/**
 * The daemon's command line names the recorded Python (not the project's .venv), and the Growpilot
 * log says why the .venv was passed over.
 */
async function recordedPython(server: CodeServer, recorded: string, projectVenvPython: string): Promise<string> {
  const daemons = await server.processes(/-m growpilot serve/);
  if (daemons.length !== 1) throw new Error(`expected one daemon process, found ${JSON.stringify(daemons)}`);
  const argv = (await fs.readFile(`/proc/${daemons[0]}/cmdline`, "utf8")).split("\0");
  if (argv[0] !== recorded) throw new Error(`the daemon runs ${JSON.stringify(argv)}, not the recorded ${recorded}`);
  const skipped = `Not using ${projectVenvPython} (workspace venv): \`import growpilot\` fails`;
  const line = await waitForLogLine(path.join(server.userDataDir, "logs"), skipped, 20_000);
  return line.trim().slice(0, 160);
}

/** The first line containing `text` in a `*.log` file under `dir` (the output channel's file is flushed lazily). */
async function waitForLogLine(dir: string, text: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const files = (await fs.readdir(dir, { recursive: true }).catch(() => [] as string[])).filter((f) => f.endsWith(".log"));
    for (const file of files) {
      const content = await fs.readFile(path.join(dir, file), "utf8").catch(() => "");
      const line = content.split("\n").find((l) => l.includes(text));
      if (line) return line;
    }
    if (Date.now() > deadline) throw new Error(`no log file under ${dir} has "${text}" (${files.length} log files)`);
    await sleep(500);
  }
}

/**
 * Enough code that indexing takes a few seconds, so its progress can be seen (and screenshot);
 * rewritten with a new `version` before Reindex Workspace so that has real work to do too.
 */
async function writeGeneratedModules(workspace: string, version: number): Promise<void> {
  const dir = path.join(workspace, "generated");
  await fs.mkdir(dir, { recursive: true });
  for (let i = 0; i < 150; i++) {
    const functions = Array.from(
      { length: 6 },
      (_, f) =>
        `def stage_${f}_v${version}(value):\n    """Stage ${f} of pipeline ${i}, version ${version}."""\n    return value * ${f + 2} + ${i}\n`,
    );
    await fs.writeFile(path.join(dir, `pipeline_${i}.py`), `"""Pipeline ${i}."""\n\n\n${functions.join("\n\n")}`);
  }
}

async function waitReady(bench: Workbench): Promise<string> {
  let sawCounts = false;
  const status = await bench.waitFor("the Growpilot status bar to show ready", readyTimeoutMs, async () => {
    const text = await bench.statusBarText();
    if (!sawCounts && /indexing \d+\/\d+/.test(text)) {
      sawCounts = true;
      await bench.screenshot("indexing");
    }
    return READY.test(text) || /daemon down|model failed/.test(text) ? text : undefined;
  });
  if (!READY.test(status)) {
    await bench.screenshot("not-ready");
    throw new Error(`the status bar says "${status}"; notifications: ${JSON.stringify(await bench.notificationsSeen())}`);
  }
  await bench.screenshot("ready");
  return status;
}

async function ghostText(bench: Workbench): Promise<string> {
  await bench.openFile("shapes.py");
  const page = bench.page;
  await page.keyboard.press("Control+End");
  await page.keyboard.press("Enter");
  await page.keyboard.press("Enter");
  await page.keyboard.type("def area_of_square(side):", { delay: 20 });
  await page.keyboard.press("Enter"); // VS Code indents the body
  let lastTrigger = Date.now();
  let spun = false; // the status bar spins while a request runs (a CPU request takes seconds)
  const spinner = page.locator(".statusbar-item", { hasText: "Growpilot" }).locator(".codicon-loading");
  const ghost = await bench.waitFor("ghost text in the editor", 180_000, async () => {
    spun ||= (await spinner.count()) > 0;
    const texts = await page.locator(GHOST).allInnerTexts();
    const text = texts.join("").trim();
    if (text) return text;
    if (Date.now() - lastTrigger > 20_000) {
      // A completion may come back empty; ask again like a user pressing Alt+\ would.
      await page.keyboard.press("Alt+Backslash");
      lastTrigger = Date.now();
    }
    return undefined;
  });
  await bench.screenshot("ghost-text");
  if (process.env.GROWPILOT_E2E_DOCS_SCREENSHOT === "1") {
    await bench.screenshot("docs", path.join(root, "docs", "screenshot.png"));
  }
  if (!spun) throw new Error("the status bar never showed a request running");
  return `ghost text: ${JSON.stringify(ghost.slice(0, 60))}; the status bar spun meanwhile`;
}

async function acceptWithTab(bench: Workbench): Promise<string> {
  const page = bench.page;
  const before = (await bench.editorLines()).join("\n");
  await page.keyboard.press("Tab");
  await bench.waitFor("the ghost text to become text", 10_000, async () => (await page.locator(GHOST).count()) === 0);
  const after = await bench.editorLines();
  const header = after.findIndex((line) => line.startsWith("def area_of_square(side):"));
  const body = after.slice(header + 1).join("\n");
  if (header < 0 || !body.trim() || after.join("\n") === before) {
    throw new Error(`nothing was inserted after the def line; editor shows:\n${after.join("\n")}`);
  }
  const lens = page.locator(".codelens-decoration", { hasText: "👍" });
  // VS Code re-renders lenses as they resolve: read the text until it holds both buttons.
  const lensText = await bench.waitFor("the 👍 / 👎 CodeLens", 15_000, async () => {
    const text = (await lens.count()) > 0 ? (await lens.first().innerText()).replace(/\s+/g, " ") : "";
    return text.includes("👎") ? text : undefined;
  });
  await bench.screenshot("rating-codelens");
  return `inserted ${JSON.stringify(body.trim().slice(0, 60))}; lens "${lensText}"`;
}

async function clickThumbsUp(bench: Workbench): Promise<void> {
  const page = bench.page;
  await page.locator(".codelens-decoration a", { hasText: "👍" }).first().click();
  await bench.waitFor("the thanks lens", 10_000, async () =>
    (await page.locator(".codelens-decoration", { hasText: "Thanks for the 👍" }).count()) > 0,
  );
  await bench.screenshot("thanks");
  await bench.waitFor("the lens to go away", 15_000, async () =>
    (await page.locator(".codelens-decoration", { hasText: "Growpilot" }).count()) === 0,
  );
}

async function checkFeedback(bench: Workbench, workspace: string, growpilotHome: string): Promise<string> {
  const row = await feedbackRow(bench, "status-quick-pick");
  const counts = /(\d+) accepted · (\d+) 👍 · (\d+) 👎/.exec(row);
  if (!counts || Number(counts[1]) < 1 || Number(counts[2]) < 1) {
    throw new Error(`the daemon did not count the acceptance and the 👍: "${row}"`);
  }
  // The CLI reads the same event store from outside the editor.
  const cli = spawnSync(python, ["-m", "growpilot", "status", "--workspace", workspace, "--json"], {
    encoding: "utf8",
    env: { ...process.env, GROWPILOT_HOME: growpilotHome },
    timeout: 120_000,
  });
  if (cli.status !== 0) throw new Error(`growpilot status --json failed: ${cli.stderr || cli.error}`);
  const feedback = JSON.parse(cli.stdout).feedback;
  if (!(feedback?.up >= 1 && feedback?.accepted >= 1)) {
    throw new Error(`growpilot status --json reports feedback ${JSON.stringify(feedback)}`);
  }
  return `Show Status: "${row}"; CLI: ${JSON.stringify(feedback)}`;
}

/** The Feedback row of Show Status (the daemon's `growpilot.status`). */
async function feedbackRow(bench: Workbench, screenshot?: string): Promise<string> {
  await bench.runCommand("Growpilot: Show Status");
  const row = await bench.waitFor("the Feedback row of Show Status", 15_000, async () =>
    (await bench.quickPickRows()).find((r) => r.includes("Feedback")),
  );
  if (screenshot) await bench.screenshot(screenshot);
  await bench.page.keyboard.press("Escape");
  return row;
}

async function rateLastDown(bench: Workbench): Promise<string> {
  await bench.page.locator(".editor-instance .monaco-editor .view-lines").first().click();
  await bench.page.keyboard.press("Control+Alt+Shift+Minus");
  const row = await bench.waitFor("the 👎 to be counted", 15_000, async () => {
    const text = await feedbackRow(bench);
    return /· 1 👎/.test(text) ? text : undefined;
  });
  return row;
}

/** Refactor… at the cursor, asked again every 10 s (the daemon may not have the file yet), then `title` chosen. */
async function chooseRefactor(bench: Workbench, title: string, timeoutMs: number, screenshot?: string): Promise<void> {
  const row = bench.page.locator(".action-widget .monaco-list-row", { hasText: title });
  let asked = 0;
  await bench.waitFor(`Refactor… to list ${title}`, timeoutMs, async () => {
    if ((await row.count()) > 0) return true;
    if (Date.now() - asked > 10_000) {
      await bench.runCommand("Refactor...");
      asked = Date.now();
    }
    return undefined;
  });
  if (screenshot) await bench.screenshot(screenshot);
  await row.first().click();
}

/** Explain, from Refactor…: the markdown preview beside the code, and the 👍/👎 lens over the code. */
async function explain(bench: Workbench): Promise<string> {
  const page = bench.page;
  await bench.openFile("discounts.py");
  await page.keyboard.press("Control+Home");
  await chooseRefactor(bench, "Growpilot: Explain", 30_000);
  // The markdown preview's tab is named after the explanation file (<generation id>.md).
  const tab = page.locator(".tabs-container .tab", { hasText: /Preview .+\.md/ });
  const title = await bench.waitFor("the explanation's preview", 300_000, async () =>
    (await tab.count()) > 0 ? (await tab.first().innerText()).trim() : undefined,
  );
  const lens = page.locator(".codelens-decoration", { hasText: "Growpilot explanation:" });
  await bench.waitFor("the explanation's 👍 / 👎 lens over the code", 30_000, async () => (await lens.count()) > 0);
  await bench.screenshot("explanation");
  // One editor group again, without the preview, as the steps after this one expect.
  await bench.runCommand("View: Join All Editor Groups");
  await tab.first().hover();
  await tab.first().locator(".tab-actions .action-label").first().click();
  await bench.waitFor("the preview to close", 10_000, async () => (await tab.count()) === 0);
  return `preview tab "${title}"`;
}

/**
 * A code action as a user finds it: on a def line, Refactor… (Ctrl+Shift+R) lists "Growpilot: Add
 * docstring"; choosing it has the daemon generate the docstring, which lands under the def line,
 * and the 👍/👎 lens above it stores the rating against that action's generation.
 */
async function addDocstring(bench: Workbench, workspace: string, growpilotHome: string): Promise<string> {
  const page = bench.page;
  const code = [
    "def apply_discount(price, percent):",
    "    if percent < 0 or percent > 100:",
    '        raise ValueError("percent must be between 0 and 100")',
    "    return price * (100 - percent) / 100",
  ];
  await fs.writeFile(path.join(workspace, "discounts.py"), `${code.join("\n")}\n`);
  await bench.openFile("discounts.py");
  await page.keyboard.press("Control+Home"); // the cursor on the def line
  await chooseRefactor(bench, "Growpilot: Add docstring", 60_000, "refactor-menu");
  const after = await bench.waitFor("the docstring under the def line", 300_000, async () => {
    const lines = await bench.editorLines();
    return lines.length > code.length && /^\s+[rRuU]?("""|''')/.test(lines[1] ?? "") ? lines : undefined;
  });
  // What the docstring says is the model's (`growpilot eval actions` measures it); here: it is one, in place.
  const docstring = after.slice(1, after.indexOf(code[1])).join("\n");
  if (after.indexOf(code[1]) < 2 || after[0] !== code[0] || !after.includes(code[3])) {
    throw new Error(`the code around the docstring changed:\n${after.join("\n")}`);
  }
  const lens = page.locator(".codelens-decoration", { hasText: "Growpilot docstring:" });
  await bench.waitFor("the docstring's 👍 / 👎 lens", 60_000, async () => (await lens.count()) > 0);
  await bench.screenshot("docstring-lens");
  await lens.locator("a", { hasText: "👍" }).first().click();
  await bench.waitFor("the thanks lens", 10_000, async () =>
    (await page.locator(".codelens-decoration", { hasText: "Thanks for the 👍" }).count()) > 0,
  );
  await feedbackRow(bench); // growpilot.status flushes the history
  const rated = generationCount(
    growpilotHome,
    "kind = 'action' AND mode = 'docstring' AND path LIKE '%discounts.py' AND " +
      "id IN (SELECT generation_id FROM events WHERE kind = 'rating' AND value = 'up')",
  );
  if (rated !== 1) throw new Error(`${rated} docstring generations of discounts.py rated 👍 in the history`);
  return `docstring ${JSON.stringify(docstring.trim().slice(0, 60))}; 👍 stored`;
}

/** The daemon's message log (GROWPILOT_LOG_MESSAGES=1), in the order received, as far as it is flushed. */
async function receivedMessages(server: CodeServer): Promise<string[]> {
  const dir = path.join(server.userDataDir, "logs");
  const files = (await fs.readdir(dir, { recursive: true }).catch(() => [] as string[])).filter((f) => f.endsWith(".log"));
  const lines: string[] = [];
  for (const file of files) {
    const content = await fs.readFile(path.join(dir, file), "utf8").catch(() => "");
    lines.push(...content.split("\n").filter((l) => l.includes("growpilot.messages: received ")));
  }
  return lines.map((l) => l.slice(l.indexOf("received ") + "received ".length).trim());
}

/** Waits until the message log has `message`; returns the log up to and including it. */
async function waitReceived(bench: Workbench, server: CodeServer, message: string): Promise<string[]> {
  return bench.waitFor(`the daemon to log "${message}"`, 30_000, async () => {
    const all = await receivedMessages(server);
    const at = all.lastIndexOf(message);
    return at >= 0 ? all.slice(0, at + 1) : undefined;
  });
}

function uriOf(file: string): string {
  return pathToFileURL(file).toString();
}

/** Rows of the daemon's event store matching `where` (read with the daemon's Python, as a user could). */
function generationCount(growpilotHome: string, where: string): number {
  const script = `import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); print(db.execute("SELECT count(*) FROM generations WHERE ${where}").fetchone()[0])`;
  const run = spawnSync(python, ["-c", script, path.join(growpilotHome, "events.sqlite")], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`reading events.sqlite failed: ${run.stderr}`);
  return Number(run.stdout.trim());
}

async function secretFiles(bench: Workbench, server: CodeServer, workspace: string, growpilotHome: string): Promise<string> {
  const secrets = { ".env": "API_TOKEN=", "credentials.json": '{\n  "client_secret": "' };
  for (const [name, text] of Object.entries(secrets)) {
    await fs.writeFile(path.join(workspace, name), `${text}\n`);
    await bench.openFile(name);
    await bench.page.keyboard.press("Control+End");
    await bench.page.keyboard.type("s3cr3t-value", { delay: 20 });
    await bench.page.keyboard.press("Alt+Backslash"); // asked for explicitly: still nothing may be sent
    await sleep(3_000);
    if (await bench.page.locator(GHOST).count()) throw new Error(`${name} shows ghost text`);
    await bench.page.keyboard.press("Control+S");
  }
  await bench.screenshot("secret-file");
  // A file opened after them: once its didOpen is in the log, everything sent before it is too.
  await fs.writeFile(path.join(workspace, "after_secrets.py"), "def after_secrets():\n    return 1\n");
  await bench.openFile("after_secrets.py");
  const received = await waitReceived(bench, server, `textDocument/didOpen ${uriOf(path.join(workspace, "after_secrets.py"))}`);
  const leaked = received.filter((m) => /\/\.env\b|credentials\.json/.test(m));
  if (leaked.length) throw new Error(`the daemon received: ${JSON.stringify(leaked)}`);
  const shapes = received.filter((m) => m.endsWith(uriOf(path.join(workspace, "shapes.py")))).length;
  if (!shapes) throw new Error("the message log lacks shapes.py, so it cannot prove anything");
  await feedbackRow(bench); // growpilot.status flushes the history
  const stored = generationCount(growpilotHome, "path LIKE '%.env' OR path LIKE '%credentials.json'");
  const ordinary = generationCount(growpilotHome, "path LIKE '%shapes.py'");
  if (stored !== 0 || ordinary < 1) throw new Error(`history rows: ${stored} for the secret files, ${ordinary} for shapes.py`);
  return `${received.length} messages received, none for the secret files (${shapes} for shapes.py); history: 0 vs ${ordinary}`;
}

/**
 * growpilot.triggerMode manual: typing a new function sends no inlineCompletion (in the daemon's log,
 * between the file's didOpen and a Show Status marker); Alt+\\ then asks and ghost text appears.
 */
async function manualTrigger(bench: Workbench, server: CodeServer, workspace: string, settings: Record<string, unknown>): Promise<string> {
  await server.writeSettings({ ...settings, "growpilot.triggerMode": "manual" });
  await sleep(2_000); // VS Code reads the settings file when it changes
  const file = path.join(workspace, "manual_mode.py");
  await fs.writeFile(file, '"""Squares."""\n\n\n');
  await bench.openFile("manual_mode.py");
  await bench.page.keyboard.press("Control+End");
  await bench.page.keyboard.type("def perimeter_of_square(side):", { delay: 20 });
  await bench.page.keyboard.press("Enter");
  await sleep(8_000); // automatic mode asks within the debounce
  if (await bench.page.locator(GHOST).count()) throw new Error("ghost text appeared without being asked for");
  await feedbackRow(bench); // the marker: a workspace/executeCommand
  const before = await waitReceived(bench, server, "workspace/executeCommand");
  const opened = before.lastIndexOf(`textDocument/didOpen ${uriOf(file)}`);
  if (opened < 0) throw new Error("the daemon never received manual_mode.py");
  const typed = before.slice(opened);
  if (!typed.some((m) => m.startsWith("textDocument/didChange"))) throw new Error("the typing never reached the daemon");
  const asked = typed.filter((m) => m.startsWith("textDocument/inlineCompletion"));
  if (asked.length) throw new Error(`typing sent ${asked.length} inlineCompletion requests in manual mode`);
  await bench.page.locator(".editor-instance .monaco-editor .view-lines").first().click();
  await bench.page.keyboard.press("Control+End");
  let lastTrigger = 0;
  const ghost = await bench.waitFor("ghost text after Alt+\\", 180_000, async () => {
    const text = (await bench.page.locator(GHOST).allInnerTexts()).join("").trim();
    if (text) return text;
    if (Date.now() - lastTrigger > 20_000) {
      await bench.page.keyboard.press("Alt+Backslash");
      lastTrigger = Date.now();
    }
    return undefined;
  });
  await bench.screenshot("manual-trigger");
  await bench.page.keyboard.press("Escape");
  await server.writeSettings(settings);
  return `${typed.length} messages while typing, no inlineCompletion; Alt+\\ → ${JSON.stringify(ghost.slice(0, 40))}`;
}

async function deleteIndexThenReindex(bench: Workbench, workspace: string, growpilotHome: string): Promise<string> {
  const chunks = (): number => {
    const cli = spawnSync(python, ["-m", "growpilot", "status", "--workspace", workspace, "--json"], {
      encoding: "utf8",
      env: { ...process.env, GROWPILOT_HOME: growpilotHome },
      timeout: 120_000,
    });
    if (cli.status !== 0) throw new Error(`growpilot status --json failed: ${cli.stderr || cli.error}`);
    return Number(JSON.parse(cli.stdout).chunks ?? JSON.parse(cli.stdout).folders?.[0]?.chunks);
  };
  const before = chunks();
  const from = (await bench.notificationLog()).length;
  await bench.runCommand("Growpilot: Delete This Workspace's Index");
  const dialog = bench.page.locator(".monaco-dialog-box", { hasText: "Delete the Growpilot index of workspace?" });
  await dialog.waitFor({ timeout: 15_000 });
  await bench.screenshot("delete-index-confirm");
  await dialog.locator(".monaco-button", { hasText: "Delete Index" }).click();
  const done = await bench.waitFor("the deleted message", 30_000, async () =>
    (await bench.notificationsSeen(from)).find((t) => /deleted the index of workspace|failed/.test(t)),
  );
  if (!/Growpilot deleted the index of workspace \(\d+\.\d MB\)/.test(done)) throw new Error(`Delete Index answered "${done}"`);
  const after = chunks();
  if (!(before > 100 && after < before / 10)) throw new Error(`chunks: ${before} before, ${after} after Delete Index`);
  const toast = bench.page.locator(".notification-toast", { hasText: "deleted the index of workspace" });
  await toast.locator(".monaco-button", { hasText: "Reindex Now" }).click();
  const rebuilt = await bench.waitFor("the reindex result", 120_000, async () =>
    (await bench.notificationsSeen(from)).find((t) => /reindexed \d+ files/.test(t)),
  );
  const again = chunks();
  if (again < before * 0.9) throw new Error(`chunks after Reindex Now: ${again} (before ${before})`);
  return `${before} chunks → "${done.slice(0, 70)}" → ${after} → "${rebuilt.slice(0, 50)}" → ${again}`;
}

async function reindex(bench: Workbench, workspace: string): Promise<string> {
  const from = (await bench.notificationLog()).length; // the first index's toasts do not count
  await writeGeneratedModules(workspace, 2);
  await bench.runCommand("Growpilot: Reindex Workspace");
  // The progress toast may be brief on a small workspace: screenshot it if we catch it.
  const progress = bench.page.locator(".notification-toast", { hasText: "Indexing" });
  if (await progress.first().waitFor({ timeout: 5_000 }).then(() => true, () => false)) {
    await bench.screenshot("reindex-progress");
  }
  const done = await bench.waitFor("the reindex result", 120_000, async () =>
    (await bench.notificationsSeen(from)).find((t) => /reindexed \d+ files/.test(t)),
  );
  const seen = await bench.notificationsSeen(from);
  const progressToast = seen.find((t) => /indexing/i.test(t));
  if (!progressToast) throw new Error(`no progress notification was shown; notifications: ${JSON.stringify(seen)}`);
  return `progress "${progressToast}"; then "${done}"`;
}

async function search(bench: Workbench): Promise<string> {
  await bench.runCommand("Growpilot: Search Codebase");
  const input = bench.page.locator(".quick-input-widget .quick-input-box input");
  await input.waitFor({ state: "visible", timeout: 10_000 });
  await input.fill("total value of the items in stock");
  await bench.page.keyboard.press("Enter");
  const rows = await bench.waitFor("search results", 30_000, async () => {
    const found = await bench.quickPickRows();
    return found.some((r) => r.includes("inventory.py")) ? found : undefined;
  });
  await bench.screenshot("search");
  const index = rows.findIndex((r) => r.includes("inventory.py"));
  for (let i = 0; i < index; i++) await bench.page.keyboard.press("ArrowDown");
  await bench.page.keyboard.press("Enter");
  await bench.page.locator(".tab.active", { hasText: "inventory.py" }).waitFor({ timeout: 10_000 });
  return `${rows.length} results; opened ${rows[index]}`;
}

async function toggleCompletions(bench: Workbench): Promise<void> {
  await bench.runCommand("Growpilot: Toggle Completions");
  await bench.waitFor("completions off", 10_000, async () => (await bench.statusBarText()).includes("completions off"));
  await bench.runCommand("Growpilot: Toggle Completions");
  await bench.waitFor("completions back on", 10_000, async () => READY.test(await bench.statusBarText()));
}

/**
 * A real cycle on the real default model: the workspace (2 files + 150 generated modules) is enough to
 * hold files out, so the daemon starts training; it is cancelled as soon as the status bar shows it
 * (a CPU run takes many minutes), which ends the cycle with the daemon's "training was cancelled".
 */
async function retrainAndCancel(bench: Workbench): Promise<string> {
  const from = (await bench.notificationLog()).length;
  await bench.runCommand("Growpilot: Retrain Now");
  const started = await bench.waitFor("the Retrain Now answer", 30_000, async () =>
    (await bench.notificationsSeen(from)).find((t) => /Growpilot is training|Growpilot cannot train|Growpilot could not train|failed/.test(t)),
  );
  if (!started.includes("Growpilot is training workspace…")) throw new Error(`Retrain Now did not start a cycle: "${started}"`);
  const training = await bench.waitFor("the status bar to show the training", 30_000, async () => {
    const text = await bench.statusBarText();
    return /Growpilot: (training|evaluating)/.test(text) ? text : undefined;
  });
  await bench.screenshot("training");
  // The palette offers Cancel Training (not Retrain Now) while a cycle runs.
  await bench.runCommand("Growpilot: Cancel Training");
  const outcome = await bench.waitFor("the outcome of the cancelled cycle", 180_000, async () =>
    (await bench.notificationsSeen(from)).find((t) => /Growpilot stopped training|Growpilot could not train|promoted for|rejected for/.test(t)),
  );
  if (!/Growpilot stopped training workspace: training was cancelled/.test(outcome) || !outcome.includes("Show Adapters")) {
    throw new Error(`the outcome message is "${outcome}"`);
  }
  await bench.screenshot("training-cancelled");
  const status = await bench.waitFor("the status bar back to ready", 30_000, async () => {
    const text = await bench.statusBarText();
    return READY.test(text) ? text : undefined;
  });
  if (!status.includes("· base")) throw new Error(`the status bar should name the base model: "${status}"`);
  await sleep(2_000); // a second copy of the outcome would be up by now
  const outcomes = (await bench.notificationLog()).slice(from).filter((e) => /did not finish|stopped training/.test(e.text));
  if (new Set(outcomes.map((e) => e.id)).size !== 1) throw new Error(`expected one outcome message, saw ${JSON.stringify(outcomes)}`);
  return `"${training}" → "${outcome.slice(0, 160)}" → "${status}"`;
}

async function rollbackNothing(bench: Workbench): Promise<string> {
  const from = (await bench.notificationLog()).length;
  await bench.runCommand("Growpilot: Roll Back Adapter");
  const answer = await bench.waitFor("the Roll Back answer", 15_000, async () =>
    (await bench.notificationsSeen(from)).find((t) => /roll back|rolled|failed/i.test(t)),
  );
  if (!/Growpilot: nothing to roll back to/.test(answer) || /failed/.test(answer)) throw new Error(`Roll Back Adapter answered "${answer}"`);
  const toast = bench.page.locator(".notification-toast", { hasText: "nothing to roll back to" }).first();
  const icon = (await toast.locator(".notification-list-item-icon").getAttribute("class").catch(() => null)) ?? "";
  if (!/info/.test(icon) || /error|warning/.test(icon)) throw new Error(`the answer is not an information message (icon "${icon}")`);
  await bench.screenshot("rollback-nothing");
  return answer;
}

async function showAdapters(bench: Workbench): Promise<string> {
  await bench.runCommand("Growpilot: Show Adapters");
  const rows = await bench.waitFor("the Show Adapters quick pick", 15_000, async () => {
    const found = await bench.quickPickRows();
    return found.some((r) => r.includes("base model")) ? found : undefined;
  });
  await bench.screenshot("show-adapters");
  await bench.page.keyboard.press("Escape");
  const base = rows.find((r) => r.includes("base model")) ?? "";
  if (!base.includes("active")) throw new Error(`the base model is not marked active: ${JSON.stringify(rows)}`);
  if (!rows.some((r) => r.includes("Retrain Now"))) throw new Error(`no Retrain Now action: ${JSON.stringify(rows)}`);
  return rows.join(" | ");
}

/**
 * The history this session made (a ghost text accepted with Tab, a 👍 and a 👎) drawn in the dashboard's
 * webview: the acceptance chart has a point for today and its canvas is painted; the ratings are counted.
 */
async function openDashboard(bench: Workbench): Promise<string> {
  await bench.runCommand("Growpilot: Open Dashboard");
  const seen = await bench.waitFor("the dashboard webview to draw its charts", 30_000, async () => {
    for (const frame of bench.page.frames()) {
      const found = await frame
        .evaluate(() => {
          if (document.body?.getAttribute("data-rendered") !== "true") return undefined;
          const canvas = document.querySelector<HTMLCanvasElement>("#chart-acceptance");
          const chart = canvas && (window as unknown as { Chart?: { getChart(c: unknown): { data: { labels: string[] } } } }).Chart?.getChart(canvas);
          if (!canvas || !chart) return { error: "no acceptance chart", text: document.body.innerText.slice(0, 400) };
          const pixels = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
          let painted = 0;
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
          return {
            labels: chart.data.labels,
            points: Number(canvas.getAttribute("data-points")),
            painted,
            cards: document.querySelector<HTMLElement>("#cards")?.innerText ?? "",
            ab: document.querySelector<HTMLElement>("#ab")?.innerText ?? "",
            buttons: [...document.querySelectorAll("button")].map((b) => b.textContent),
          };
        })
        .catch(() => undefined);
      if (found) return found;
    }
    return undefined;
  });
  await bench.screenshot("dashboard");
  if ("error" in seen) throw new Error(`${seen.error}: ${seen.text}`);
  if (seen.points < 1 || seen.painted < 500) throw new Error(`the acceptance chart drew nothing: ${JSON.stringify(seen)}`);
  const cards = seen.cards.split("\n");
  const shown = Number(cards[cards.indexOf("Suggestions shown") + 1]);
  const ratings = cards[cards.indexOf("👍 / 👎") + 1] ?? "";
  // 👍 then 👎 of the same suggestion: its latest rating counts, so at least one of the two.
  const [up, down] = ratings.split(" / ").map(Number);
  if (!(shown >= 1) || !(up + down >= 1)) throw new Error(`the cards miss this session: ${JSON.stringify(cards)}`);
  if (!seen.ab.includes("A/B off")) throw new Error(`no A/B off state: ${seen.ab}`);
  if (!seen.buttons.includes("Refresh")) throw new Error(`no Refresh button: ${JSON.stringify(seen.buttons)}`);
  await bench.page.keyboard.press("Escape");
  const tab = bench.page.locator(".tabs-container .tab").filter({ hasText: "Growpilot: " });
  await tab.hover();
  await tab.locator(".tab-actions .action-label").click();
  await tab.waitFor({ state: "detached", timeout: 10_000 });
  return `${seen.labels.join(",")}: ${shown} shown, 👍/👎 ${ratings}, ${seen.painted} px`;
}

async function brokenPython(bench: Workbench, server: CodeServer, settings: Record<string, unknown>): Promise<string> {
  const from = (await bench.notificationLog()).length;
  await server.writeSettings({ ...settings, "growpilot.pythonPath": "/nonexistent/bin/python3" });
  await bench.waitFor("the status bar to say the daemon is down", 30_000, async () =>
    (await bench.statusBarText()).includes("daemon down"),
  );
  const error = await bench.waitFor("the failure notification", 15_000, async () =>
    (await bench.notificationsSeen(from)).find((t) => t.includes("Growpilot daemon failed to start")),
  );
  if (!error.includes("/nonexistent/bin/python3")) throw new Error(`the notification does not name the Python: ${error}`);
  await sleep(5_000); // a restart loop would show more by now
  const failures = (await bench.notificationLog())
    .slice(from)
    .filter((entry) => /Growpilot daemon|couldn't create connection|Connection to server/i.test(entry.text));
  if (new Set(failures.map((entry) => entry.id)).size !== 1) {
    throw new Error(`expected one failure notification, saw ${JSON.stringify(failures)}`);
  }
  await bench.screenshot("daemon-failed");
  const toast = bench.page.locator(".notification-toast", { hasText: "Growpilot daemon failed to start" });
  await toast.locator(".monaco-button", { hasText: "Open Log" }).click();
  await bench.waitFor("the Growpilot log in the Output panel", 10_000, async () =>
    (await bench.page.locator(".part.panel .view-lines").allInnerTexts())
      .join("\n")
      .replace(/\u00a0/g, " ") // the editor renders spaces as no-break spaces
      .includes("Starting the daemon"),
  );
  await bench.screenshot("daemon-log");
  return error;
}

async function recover(bench: Workbench, server: CodeServer, settings: Record<string, unknown>): Promise<string> {
  await server.writeSettings(settings);
  await bench.waitFor("the daemon to restart", 30_000, async () => !(await bench.statusBarText()).includes("daemon down"));
  return waitReady(bench);
}

async function crash(bench: Workbench, server: CodeServer): Promise<string> {
  const daemons = await server.processes(/-m growpilot serve/);
  if (daemons.length !== 1) throw new Error(`expected one daemon process, found ${JSON.stringify(daemons)}`);
  const from = (await bench.notificationLog()).length;
  process.kill(daemons[0], "SIGKILL");
  const error = await bench.waitFor("the crash notification", 15_000, async () =>
    (await bench.notificationsSeen(from)).find((t) => t.includes("Growpilot daemon stopped")),
  );
  if (!error.includes("SIGKILL")) throw new Error(`the notification does not say why: ${error}`);
  if (!(await bench.statusBarText()).includes("daemon down")) throw new Error("the status bar does not say the daemon is down");
  await sleep(5_000); // a restart loop would show more by now
  const failures = (await bench.notificationLog()).slice(from).filter((e) => /Growpilot daemon|Connection to server/i.test(e.text));
  if (new Set(failures.map((e) => e.id)).size !== 1) throw new Error(`expected one notification, saw ${JSON.stringify(failures)}`);
  if ((await server.processes(/-m growpilot serve/)).length !== 0) throw new Error("the daemon was respawned without asking");
  await bench.screenshot("daemon-crashed");
  const toast = bench.page.locator(".notification-toast", { hasText: "Growpilot daemon stopped" });
  await toast.locator(".monaco-button", { hasText: "Restart Daemon" }).click();
  await bench.waitFor("the daemon to restart", 30_000, async () => !(await bench.statusBarText()).includes("daemon down"));
  return `${error} → ${await waitReady(bench)}`;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`not ok - the e2e harness failed: ${error instanceof Error ? error.stack : error}`);
    console.error("0 passed, 1 failed");
    process.exit(1);
  },
);
