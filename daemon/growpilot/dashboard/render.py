"""Renders the dashboard page from the metrics object.

The page is static HTML plus two scripts: Chart.js (its UMD build) and `dashboard.js` (beside this file:
reads the metrics from a `<script type="application/json">` block and draws every chart and table). A
Content-Security-Policy allows only scripts and styles carrying the page's nonce (and, in the webview,
the webview's own resource origin): nothing can be fetched from the network.

Where Chart.js comes from, first found: `$GROWPILOT_CHART_JS` (a file), `vendor/chart.umd.min.js` beside
this module (scripts/setup.sh copies it there from npm's `node_modules/chart.js`; gitignored), the
checkout's `node_modules/chart.js/dist/chart.umd.min.js` (an editable install after `npm ci`).
"""

from __future__ import annotations

import html
import json
import os
import secrets
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHART_FILE = "chart.umd.min.js"
ENV = "GROWPILOT_CHART_JS"


class ChartLibraryMissing(RuntimeError):
    pass


def chart_library() -> Path:
    """The Chart.js UMD build to inline (see the module doc), or ChartLibraryMissing saying how to get it."""
    candidates = []
    if os.environ.get(ENV):
        candidates.append(Path(os.environ[ENV]).expanduser())
    candidates += [HERE / "vendor" / CHART_FILE, HERE.parents[2] / "node_modules" / "chart.js" / "dist" / CHART_FILE]
    for path in candidates:
        if path.is_file():
            return path
    raise ChartLibraryMissing(
        "the dashboard needs Chart.js, which is not installed: run `npm ci` in the Growpilot checkout, or "
        "`bash scripts/setup.sh` (it copies node_modules/chart.js/dist/chart.umd.min.js to "
        f"{HERE / 'vendor'}), or set {ENV} to a chart.umd.min.js. Looked in: " + ", ".join(map(str, candidates)))


def _json_for_script(obj) -> str:
    """JSON safe inside a <script> element: no `</script>`, no HTML comment openers."""
    return json.dumps(obj).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _js_for_script(text: str) -> str:
    return text.replace("</script", "<\\/script")


def render_html(metrics: dict, *, chart_js: str | None = None, chart_src: str | None = None,
                csp_source: str | None = None, nonce: str | None = None, interactive: bool = False,
                title: str | None = None) -> str:
    """The page. Self-contained (the report): `chart_js`, the library's text, is inlined (read from
    chart_library() when neither it nor `chart_src` is given). Webview: `chart_src` is the URI of the
    bundled library, `csp_source` the webview's cspSource, `nonce` the one its scripts carry;
    `interactive` adds the promote / roll back / refresh buttons (they post messages to the extension)."""
    nonce = nonce or secrets.token_urlsafe(18)
    if chart_src is None and chart_js is None:
        chart_js = chart_library().read_text(encoding="utf-8")
    n = html.escape(nonce, quote=True)
    script_src = f"'nonce-{n}'" + (f" {html.escape(csp_source, quote=True)}" if csp_source else "")
    csp = (f"default-src 'none'; script-src {script_src}; style-src 'nonce-{n}'; img-src data:"
           + (f" {html.escape(csp_source, quote=True)}" if csp_source else "") + "; connect-src 'none'; "
           "font-src 'none'; frame-src 'none'; form-action 'none'; base-uri 'none'")
    lib = (f'<script nonce="{n}" src="{html.escape(chart_src, quote=True)}"></script>' if chart_src is not None
           else f'<script nonce="{n}">{_js_for_script(chart_js or "")}</script>')
    page_title = title or f"Growpilot dashboard: {os.path.basename(metrics.get('workspace') or '') or 'workspace'}"
    app = (HERE / "dashboard.js").read_text(encoding="utf-8")
    style = (HERE / "dashboard.css").read_text(encoding="utf-8")
    options = {"interactive": bool(interactive)}
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(page_title)}</title>
<style nonce="{n}">{style}</style>
</head>
<body>
<main id="growpilot-dashboard" aria-busy="true">
<h1>{html.escape(page_title)}</h1>
<noscript>This dashboard needs scripts; the figures are in <code>growpilot metrics --json</code>.</noscript>
</main>
<script type="application/json" id="growpilot-metrics">{_json_for_script(metrics)}</script>
<script type="application/json" id="growpilot-options">{_json_for_script(options)}</script>
{lib}
<script nonce="{n}">{_js_for_script(app)}</script>
</body>
</html>
"""
