// Loads a dashboard report (growpilot dashboard --out FILE) in headless Chromium and prints, as JSON on
// stdout, what it drew: per chart its labels, data and how many canvas pixels were painted; script
// errors and CSP violations; any request that was not the file itself. Used by tests/daemon/test_metrics.py.
//   node tests/daemon/dashboard_probe.js REPORT.html SCREENSHOT.png
"use strict";
const path = require("node:path");
const { pathToFileURL } = require("node:url");
const { chromium } = require("playwright-core");

async function main() {
  const [report, shot] = process.argv.slice(2);
  const url = pathToFileURL(path.resolve(report)).href;
  const browser = await chromium.launch({
    executablePath: process.env.GROWPILOT_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    const errors = [];
    const requests = [];
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    page.on("request", (r) => {
      if (r.url() !== url) requests.push(r.url());
    });
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) => {
        console.error(`CSP: ${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    await page.goto(url);
    await page.waitForSelector("body[data-rendered=true]", { timeout: 20000 });
    const seen = await page.evaluate(() => {
      const charts = {};
      for (const canvas of document.querySelectorAll("canvas")) {
        const chart = window.Chart.getChart(canvas);
        const ctx = canvas.getContext("2d");
        const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
        charts[canvas.id] = {
          labels: chart.data.labels,
          data: chart.data.datasets.map((d) => d.data),
          points: Number(canvas.getAttribute("data-points")),
          painted,
        };
      }
      return {
        charts,
        history: [...document.querySelectorAll("#history tbody tr")].map((tr) => tr.getAttribute("data-version")),
        ab: document.querySelector("#ab")?.innerText ?? null,
        cards: document.querySelector("#cards")?.innerText ?? null,
        buttons: document.querySelectorAll("button").length,
      };
    });
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    process.stdout.write(JSON.stringify({ ...seen, errors, requests }));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
