"""Metrics and the dashboard: figures on a seeded history and registry (numbers worked out by hand below),
`growpilot metrics --json`, and the HTML report loaded in real headless Chromium (playwright-core),
where each chart must be drawn with the seeded points and nothing may be fetched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import ROOT, run_cli
from lsp_fixtures import command, init_params
from test_training_cycle import options
from growpilot.indexing.catalog import connect
from growpilot.learning import metrics as M
from growpilot.learning.events import EventStore, GenerationRecord
from growpilot.paths import workspace_state_dir
from growpilot.training.registry import Registry

D1, D2 = 1772366400.0, 1772452800.0  # 2026-03-01 and 2026-03-02, 12:00 UTC
CHROMIUM = os.environ.get("GROWPILOT_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(autouse=True)
def utc():
    """Days in UTC here and in the processes started from here (the CLI, the server)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def _gen(store, ws, created, output, latency, adapter=None, kind="inline", source="model") -> str:
    return store.record_generation(GenerationRecord(
        workspace=ws, path="app.py", line=1, character=0, kind=kind, mode="line", prompt="p", output=output,
        model="tiny", adapter=adapter, latency_ms=latency, source=source, created=created))


def seed(ws: str, tmp_path: Path) -> None:
    """Day 1, base model: g1 accepted (10 chars, kept 0.8 at 2 min), 👍; g2 not accepted, 👎; g3 accepted,
    never checked. Day 2, v1: g6 accepted (12 chars, kept 1.0), 👍 then 👎; g7 accepted (2 chars, kept 0.25);
    g8 not accepted; g9 from the cache, 👍. A code action, a `growpilot complete` and another workspace's
    suggestion do not count."""
    store = EventStore()
    try:
        g1 = _gen(store, ws, D1, "abcdefghij", 100)
        g2 = _gen(store, ws, D1 + 60, "xyz", 200)
        g3 = _gen(store, ws, D1 + 120, "12345", 300)
        g4 = _gen(store, ws, D1 + 180, "zzzz", 999, kind="action")
        _gen(store, ws, D1 + 240, "cli!", 999, kind="cli")
        g6 = _gen(store, ws, D2, "hello world!", 50, adapter="v1")
        g7 = _gen(store, ws, D2 + 60, "ab", 70, adapter="v1")
        _gen(store, ws, D2 + 120, "q" * 20, 90, adapter="v1")
        g9 = _gen(store, ws, D2 + 180, "wwww", 110, adapter="v1", source="cache")
        other = _gen(store, str(tmp_path / "elsewhere"), D2, "other", 5)
        for g in (g1, g3, g4, g6, g7, other):
            store.accept(g)
        store.record_signal(g1, "retained_30s", "0.500")
        store.record_signal(g1, "retained_120s", "0.800")
        store.record_signal(g6, "retained_30s", "1.000")
        store.record_signal(g7, "retained_30s", "0.250")
        store.record_signal(g2, "rejected")
        store.rate(g1, "up")
        store.rate(g2, "down")
        store.rate(g6, "up")
        store.rate(g6, "down")
        store.rate(g9, "up")
        store.rate(g4, "up")
        store.flush()
    finally:
        store.close()

    registry = Registry.for_workspace(ws)
    for name, meta in (
        ("a", {"decision": "promoted", "status": "promoted", "reason": "held-out NLL 0.9000 is 0.900× that of the base",
               "metrics": {"base": {"nll": 1.0, "sanity_nll": 2.0, "exact_match": 0.1},
                           "active": None, "candidate": {"nll": 0.9, "sanity_nll": 2.01, "exact_match": 0.2}},
               "data": {"files": 10, "samples": 120, "feedback": 3}, "training": {"steps": 40},
               "active_before": None, "created": "2026-03-01T18:00:00+0000"}),
        ("b", {"decision": "rejected", "status": "rejected", "reason": "held-out NLL 0.8800 is 0.978× that of v1",
               "metrics": {"base": {"nll": 1.0}, "active": {"nll": 0.9}, "candidate": {"nll": 0.88}},
               "data": {"files": 11, "samples": 130, "feedback": 5}, "training": {"steps": 50},
               "active_before": "v1", "created": "2026-03-02T18:00:00+0000"}),
    ):
        weights = tmp_path / name
        weights.mkdir()
        (weights / "adapter_config.json").write_text("{}")
        registry.add(weights, {**meta, "base_model": {"name": "tiny", "hash": "h"}})
    registry.promote("v1", "held-out NLL 0.9000 is 0.900× that of the base")

    conn = connect(workspace_state_dir(ws) / "catalog.sqlite")
    conn.executemany("INSERT INTO files(path, size, mtime_ns, hash, language, indexed_at) VALUES (?,?,?,?,?,?)",
                     [("a.py", 1, 1, "x", "python", 1.0), ("b.py", 1, 1, "y", "python", 1.0)])
    conn.executemany("INSERT INTO chunks(path, start_line, end_line, language, symbol, hash, text) VALUES (?,?,?,?,?,?,?)",
                     [("a.py", 1, 2, "python", None, f"h{i}", "x = 1") for i in range(5)])
    conn.close()


DAY1 = {"shown": 3, "accepted": 2, "acceptance_rate": 0.666667, "accepted_chars": 15, "retained_chars": 8.0,
        "retained_per_shown": 2.666667, "unmeasured": 1, "up": 1, "down": 1, "latency_p50_ms": 200.0,
        "latency_p95_ms": 290.0}
DAY2 = {"shown": 4, "accepted": 2, "acceptance_rate": 0.5, "accepted_chars": 14, "retained_chars": 12.5,
        "retained_per_shown": 3.125, "unmeasured": 0, "up": 1, "down": 1, "latency_p50_ms": 80.0,
        "latency_p95_ms": 107.0}
TOTAL = {"shown": 7, "accepted": 4, "acceptance_rate": 0.571429, "accepted_chars": 29, "retained_chars": 20.5,
         "retained_per_shown": 2.928571, "unmeasured": 1, "up": 2, "down": 2, "latency_p50_ms": 100.0,
         "latency_p95_ms": 270.0}


@pytest.fixture
def ws(workspace, tmp_path) -> str:
    real = os.path.realpath(workspace)
    seed(real, tmp_path)
    return real


def test_percentile_and_retention_by_hand():
    assert M.percentile([], 0.5) is None
    assert M.percentile([7.0], 0.95) == 7.0
    assert M.percentile([10, 20, 30, 40], 0.5) == 25
    assert M.percentile([40, 10, 30, 20], 0.95) == pytest.approx(38.5)
    assert M.retention([{"kind": "retained_120s", "value": "0.3"}, {"kind": "retained_30s", "value": "0.9"}]) == 0.3
    assert M.retention([{"kind": "retained_30s", "value": "0.9"}, {"kind": "accept", "value": None}]) == 0.9
    assert M.retention([{"kind": "accept", "value": None}]) is None


def test_metrics_of_a_seeded_history(ws):
    store = EventStore()
    try:
        m = M.workspace_metrics(store, ws, now=D2 + 3600)
    finally:
        store.close()
    assert m["workspace"] == ws
    assert m["totals"] == TOTAL
    assert m["days"] == [{"day": "2026-03-01", **DAY1}, {"day": "2026-03-02", **DAY2}]
    assert [(a["adapter"], a["created"]) for a in m["adapters"]] == [("base", None), ("v1", "2026-03-01T18:00:00+0000")]
    assert {k: v for k, v in m["adapters"][0].items() if k in DAY1} == DAY1
    assert {k: v for k, v in m["adapters"][1].items() if k in DAY2} == DAY2
    assert m["active"] == "v1"
    assert m["index"] == {"files": 2, "chunks": 5}
    v1, v2 = m["versions"]
    assert (v1["version"], v1["decision"], v1["status"], v1["active"]) == ("v1", "promoted", "promoted", True)
    assert v1["nll"] == {"base": 1.0, "active": None, "candidate": 0.9}
    assert v1["sanity_nll"] == {"base": 2.0, "active": None, "candidate": 2.01}
    assert v1["data"] == {"files": 10, "samples": 120, "feedback": 3} and v1["steps"] == 40
    assert (v2["version"], v2["decision"], v2["status"], v2["active"]) == ("v2", "rejected", "rejected", False)
    assert v2["nll"] == {"base": 1.0, "active": 0.9, "candidate": 0.88}
    assert v2["reason"] == "held-out NLL 0.8800 is 0.978× that of v1" and v2["active_before"] == "v1"
    assert [(e["action"], e["from"], e["to"]) for e in m["adapter_events"]] == [("promote", None, "v1")]
    assert "ab" not in m  # the A/B section renders "A/B off"


def test_empty_workspace(workspace):
    store = EventStore()
    try:
        m = M.workspace_metrics(store, workspace)
    finally:
        store.close()
    assert m["totals"]["shown"] == 0 and m["totals"]["acceptance_rate"] is None
    assert m["totals"]["latency_p50_ms"] is None
    assert (m["days"], m["adapters"], m["versions"], m["active"], m["index"]) == ([], [], [], None, None)


def test_cli_metrics_json(ws):
    r = run_cli("metrics", "--workspace", ws, "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)  # nothing but the object on stdout
    assert m["totals"] == TOTAL
    assert [d["day"] for d in m["days"]] == ["2026-03-01", "2026-03-02"]
    assert [v["version"] for v in m["versions"]] == ["v1", "v2"]
    text = run_cli("metrics", "--workspace", ws)
    assert text.returncode == 0 and "7 shown, 4 accepted (57.1%)" in text.stdout
    missing = run_cli("metrics", "--workspace", str(Path(ws) / "nope"), "--json")
    assert missing.returncode != 0 and "is not a folder" in missing.stderr


def test_report_is_self_contained(ws, tmp_path):
    out = tmp_path / "report.html"
    r = run_cli("dashboard", "--workspace", ws, "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    assert json.loads(r.stdout)["out"] == str(out.resolve())
    assert "Chart.js v4" in page  # the library is inlined
    assert "<script src" not in page and "http://" not in page.split("Chart.js v4")[0]
    assert "default-src 'none'" in page and "connect-src 'none'" in page
    assert page.count('id="growpilot-metrics"') == 1


def test_report_without_chart_library(ws, tmp_path, monkeypatch):
    from growpilot.dashboard import render

    monkeypatch.setattr(render, "HERE", tmp_path / "pkg" / "growpilot" / "dashboard")
    monkeypatch.delenv(render.ENV, raising=False)
    with pytest.raises(render.ChartLibraryMissing, match="npm ci"):
        render.chart_library()


def test_data_cannot_break_out_of_the_page():
    from growpilot.dashboard import render_html

    page = render_html({"workspace": "</script><script>alert(1)</script>", "versions": []}, chart_js="/*lib*/")
    assert "<script>alert(1)" not in page
    assert "\\u003c/script\\u003e" in page


def _probe(report: Path, shot: Path) -> dict:
    node = shutil.which("node")
    if node is None or not Path(CHROMIUM).exists() or not (ROOT / "node_modules" / "playwright-core").is_dir():
        pytest.skip("needs node, playwright-core (npm ci) and Chromium (scripts/vscode-env.sh)")
    r = subprocess.run([node, str(ROOT / "tests" / "daemon" / "dashboard_probe.js"), str(report), str(shot)],
                       capture_output=True, text=True, timeout=120, env={**os.environ, "GROWPILOT_CHROMIUM": CHROMIUM})
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def test_report_renders_charts_in_chromium(ws, tmp_path):
    out = tmp_path / "report.html"
    assert run_cli("dashboard", "--workspace", ws, "--out", str(out)).returncode == 0
    artifacts = ROOT / "artifacts" / "dashboard"
    artifacts.mkdir(parents=True, exist_ok=True)
    seen = _probe(out, artifacts / "report.png")
    assert seen["errors"] == [] and seen["requests"] == []  # no CSP violation, no script error, no network
    charts = seen["charts"]
    assert set(charts) == {"chart-acceptance", "chart-retained", "chart-ratings", "chart-latency", "chart-nll",
                           "chart-by-adapter"}
    for name, c in charts.items():
        assert c["painted"] > 500, f"{name} drew nothing"  # pixels painted on the canvas
    assert charts["chart-acceptance"]["labels"] == ["2026-03-01", "2026-03-02"]
    assert charts["chart-acceptance"]["data"] == [[66.67, 50]]
    assert charts["chart-retained"]["data"] == [[2.666667, 3.125]]
    assert charts["chart-ratings"]["data"] == [[1, 1], [1, 1]]
    assert charts["chart-latency"]["data"] == [[200, 80], [290, 107]]
    assert charts["chart-nll"]["labels"] == ["v1", "v2"] and charts["chart-nll"]["data"] == [[0.9, 0.88], [1.0, 0.9]]
    assert charts["chart-by-adapter"]["labels"] == ["base", "v1"]
    assert seen["history"] == ["v2", "v1"]  # newest first
    cards = seen["cards"].split("\n")
    for label, value in (("Suggestions shown", "7"), ("Accepted", "4 (57.1%)"), ("Retained chars / shown", "2.93"),
                         ("Latency p50 / p95", "100 / 270 ms"), ("Serving", "v1"), ("Index", "2 files, 5 chunks")):
        assert cards[cards.index(label) + 1] == value
    assert seen["ab"].splitlines()[-1] == "A/B off"
    assert seen["buttons"] == 0  # the report has no promote / roll back buttons: it is a file


def test_report_shows_the_ab_result(ws, tmp_path):
    ab = tmp_path / "ab.json"
    ab.write_text(json.dumps({  # the shape of learning/ab.py status()
        "on": True, "experiment": {"active": "v1", "challenger": "v2", "started": "2026-03-02T00:00:00+0000"},
        "arms": {"active": {"adapter": "v1", "shown": 40, "retained_per_shown": 2.5},
                 "challenger": {"adapter": "v2", "shown": 41, "retained_per_shown": 3.25}},
        "tests": {"retained_per_shown_p": 0.031, "acceptance_p": 0.2}, "winner": {"arm": "challenger", "adapter": "v2"},
        "offer_promote": True}))
    out = tmp_path / "report.html"
    assert run_cli("dashboard", "--workspace", ws, "--out", str(out), "--ab", str(ab)).returncode == 0
    seen = _probe(out, tmp_path / "ab.png")
    assert seen["errors"] == []
    text = seen["ab"]
    assert "A/B off" not in text and "tests.retained_per_shown_p\n0.031" in text and "winner.adapter\nv2" in text
    assert "challenger\tv2\t41\t3.25" in text  # the arms table: arm, adapter, shown, retained per shown
    off = tmp_path / "off.json"
    off.write_text(json.dumps({"on": False, "experiment": None}))
    assert run_cli("dashboard", "--workspace", ws, "--out", str(out), "--ab", str(off)).returncode == 0
    assert _probe(out, tmp_path / "off.png")["ab"].splitlines()[-1] == "A/B off"


# ----- through the language server: growpilot.metrics and growpilot.dashboard (what the webview gets)
@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"]))
async def client(lsp_client: LanguageClient, ws, tiny_model):
    lsp_client.root = Path(ws)
    await lsp_client.initialize_session(init_params(Path(ws), options(tiny_model)))
    yield
    await lsp_client.shutdown_session()


async def test_metrics_and_dashboard_commands(client: LanguageClient):
    m = await command(client, "growpilot.metrics", {"folderUri": client.root.as_uri()})
    assert m["totals"] == TOTAL and [v["version"] for v in m["versions"]] == ["v1", "v2"]
    again = await command(client, "growpilot.metrics")  # the only folder; the server is indexing meanwhile
    assert {**again, "generated": m["generated"], "index": m["index"]} == m
    nonce = "abcdefghijklmnopqrstuvwx"
    page = await command(client, "growpilot.dashboard", {"chartSrc": "https://file+.vscode-resource.test/chart.js",
                                                         "cspSource": "'self' https://*.vscode-cdn.test", "nonce": nonce})
    html = page["html"]
    assert page["metrics"]["totals"] == TOTAL
    assert f'<script nonce="{nonce}" src="https://file+.vscode-resource.test/chart.js"></script>' in html
    assert f"script-src 'nonce-{nonce}' &#x27;self&#x27; https://*.vscode-cdn.test;" in html  # an attribute: decoded
    assert "Chart.js v4" not in html  # the webview loads the extension's bundled build, nothing inlined
    assert '"interactive": true' in html
    with pytest.raises(Exception, match="nonce must be"):
        await command(client, "growpilot.dashboard", {"nonce": "x\" onload=\"alert(1)"})
    with pytest.raises(Exception, match="cspSource must be"):
        await command(client, "growpilot.dashboard", {"cspSource": "https://a.test; script-src *"})
    with pytest.raises(Exception, match="no workspace folder"):
        await command(client, "growpilot.metrics", {"folderUri": "file:///nowhere"})
