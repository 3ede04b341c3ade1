"""The dashboard: the metrics (learning/metrics.py) as one HTML page with charts (Chart.js), the adapter
history and the A/B result. `growpilot dashboard --out report.html` writes it self-contained (every
script inlined: it opens offline, from a file); the extension's webview gets the same page from the
`growpilot.dashboard` command, with the Chart.js build the extension bundles instead of an inlined one."""

from growpilot.dashboard.render import ChartLibraryMissing, chart_library, render_html

__all__ = ["ChartLibraryMissing", "chart_library", "render_html"]
