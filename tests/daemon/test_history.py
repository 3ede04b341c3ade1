"""Retention of the suggestion history (events.sqlite): old or excess prompts are cleared, rows and their
accepts/ratings stay; `growpilot history prune|clear`; the daemon prunes at start."""

import json
import sqlite3
import sys
import time

import pytest
import pytest_lsp
from conftest import run_cli
from growpilot.config import settings_from
from growpilot.learning.events import EventStore, GenerationRecord
from lsp_fixtures import Recorder, init_params
from pytest_lsp import ClientServerConfig, LanguageClient

DAY = 86400.0


def _record(store: EventStore, created: float, prompt: str = "a prompt", workspace: str = "/ws/a") -> str:
    return store.record_generation(GenerationRecord(
        workspace=workspace, path="app.py", line=1, character=0, kind="inline", mode="line", prompt=prompt,
        output="return x", model="tiny", adapter=None, latency_ms=5.0, source="model", created=created))


def _rows(path) -> dict:
    db = sqlite3.connect(path)
    rows = {i: (p, o, pr) for i, p, o, pr in db.execute("SELECT id, prompt, output, pruned FROM generations")}
    db.close()
    return rows


def test_prompts_older_than_the_age_limit_are_cleared_and_their_events_kept(growpilot_home):
    store = EventStore()
    now = time.time()
    old, recent = _record(store, now - 100 * DAY, "old prompt"), _record(store, now - 10 * DAY, "recent prompt")
    store.accept(old)
    store.rate(old, "up")
    before = store.summary()
    assert store.prune(max_days=90, max_mb=200) == {"pruned_by_age": 1, "pruned_by_size": 0}
    rows = _rows(store.path)
    assert rows[old] == (None, "return x", 1) and rows[recent] == ("recent prompt", "return x", 0)
    assert store.summary() == before == {"generations": 2, "accepted": 1, "up": 1, "down": 0}
    assert store.prune(max_days=90, max_mb=200) == {"pruned_by_age": 0, "pruned_by_size": 0}
    store.close()


def test_the_size_limit_clears_the_oldest_prompts_first(growpilot_home):
    store = EventStore()
    now = time.time()
    ids = [_record(store, now - (5 - n), "x" * 300 * 1024) for n in range(5)]  # oldest first, 300 KiB each
    store.rate(ids[0], "down")
    assert store.prune(max_days=90, max_mb=1) == {"pruned_by_age": 0, "pruned_by_size": 2}
    rows = _rows(store.path)
    assert [rows[i][2] for i in ids] == [1, 1, 0, 0, 0]  # the newest 900 KiB fit in 1 MiB
    assert store.summary()["down"] == 1
    store.close()


def test_clear_removes_one_workspace_rows_only(growpilot_home):
    store = EventStore()
    a, b = _record(store, time.time(), workspace="/ws/a"), _record(store, time.time(), workspace="/ws/b")
    store.accept(a)
    store.rate(b, "up")
    assert store.clear("/ws/a") == {"generations": 1, "events": 1}
    assert set(_rows(store.path)) == {b} and store.summary("/ws/b")["up"] == 1
    assert store.summary("/ws/a") == {"generations": 0, "accepted": 0, "up": 0, "down": 0}
    assert store.clear() == {"generations": 1, "events": 1} and store.summary()["generations"] == 0
    store.close()


def test_history_cli_prunes_and_clears(growpilot_home, workspace):
    store = EventStore()
    ws = str(workspace.resolve())
    old = _record(store, time.time() - 40 * DAY, workspace=ws)
    other = _record(store, time.time() - 40 * DAY, workspace="/elsewhere")
    store.close()
    pruned = run_cli("history", "prune", "--json", env={"GROWPILOT_SETTINGS": json.dumps({"historyMaxDays": 30})})
    assert pruned.returncode == 0, pruned.stderr
    out = json.loads(pruned.stdout)
    assert out["pruned_by_age"] == 2 and out["max_days"] == 30 and out["path"] == str(growpilot_home / "events.sqlite")
    cleared = json.loads(run_cli("history", "clear", "--workspace", str(workspace), "--json").stdout)
    assert cleared["generations"] == 1 and set(_rows(growpilot_home / "events.sqlite")) == {other} and old
    for bad in (("prune", "--max-days", "-1"), ("prune", "--workspace", ws), ("clear", "--max-mb", "3")):
        result = run_cli("history", *bad)
        assert result.returncode != 0 and result.stderr.strip(), bad
    assert set(_rows(growpilot_home / "events.sqlite")) == {other}  # bad input lost nothing


def test_history_limits_validate_or_default():
    settings, problems = settings_from({"historyMaxDays": 0, "historyMaxMb": "lots"})
    assert (settings.history_max_days, settings.history_max_mb) == (90, 200) and len(problems) == 2
    assert settings_from({"historyMaxDays": 7, "historyMaxMb": 5})[0].history_max_days == 7


@pytest.fixture
def old_history(growpilot_home):
    store = EventStore()
    old = _record(store, time.time() - 40 * DAY)
    store.rate(old, "up")
    store.close()
    return old


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"]))
async def daemon(lsp_client: LanguageClient, workspace, tiny_model, old_history):
    lsp_client.rec = Recorder(lsp_client, "growpilot/indexReady", "growpilot/modelReady")
    await lsp_client.initialize_session(init_params(workspace, {"modelPath": str(tiny_model), "historyMaxDays": 30}))
    yield
    await lsp_client.shutdown_session()


async def test_the_daemon_prunes_at_start(daemon, old_history, growpilot_home):
    import asyncio

    deadline = time.monotonic() + 30
    while _rows(growpilot_home / "events.sqlite")[old_history][0] is not None:
        assert time.monotonic() < deadline, "the daemon never pruned the old prompt"
        await asyncio.sleep(0.1)
    db = sqlite3.connect(growpilot_home / "events.sqlite")
    assert db.execute("SELECT kind, value FROM events").fetchall() == [("rating", "up")]


def test_rated_code_actions_are_not_completion_training_data(growpilot_home):
    store = EventStore()
    completion = _record(store, time.time())
    action = store.record_generation(GenerationRecord(
        workspace="/ws/a", path="app.py", line=1, character=0, kind="action", mode="docstring",
        prompt="<|im_start|>user …", output='"""Doc."""', model="tiny", adapter=None, latency_ms=5.0,
        source="model", created=time.time()))
    for gid in (completion, action):
        store.rate(gid, "up")
    assert [row["id"] for row in store.training_feedback("/ws/a")] == [completion]
