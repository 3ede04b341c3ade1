"""The learning loop through the language server, as a client sees it (tiny model, CPU): retrain →
progress → trainingDone → adapterChanged → completions served with the adapter → rollback; bad requests
get clear errors and change nothing; a killed trainer leaves the daemon serving."""

import asyncio
import os
import signal
import sqlite3
import sys
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_fixtures import command, open_doc, start_session
from test_training_cycle import NOUNS, make_workspace, options

# The server inherits the environment at its start, after the fixtures below (GROWPILOT_HOME per test).
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"])
pytestmark = pytest.mark.usefixtures("small_training")
NOTIFICATIONS = ("growpilot/indexReady", "growpilot/modelReady", "growpilot/trainingDone", "growpilot/adapterChanged")


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, workspace, tiny_model):
    make_workspace(workspace)
    await start_session(lsp_client, workspace, options(tiny_model, trainMaxSteps=10, debounceMs=0, maxTokens=8),
                        *NOTIFICATIONS)
    yield
    await lsp_client.shutdown_session()


async def _inline(client, uri, line, character):
    return await client.text_document_inline_completion_async(types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        text_document=types.TextDocumentIdentifier(uri), position=types.Position(line, character)))


async def test_retrain_promotes_serves_the_adapter_and_rolls_back(client: LanguageClient, growpilot_home):
    started = time.perf_counter()
    reply = await command(client, "growpilot.retrain")
    assert reply == {"started": True, "folderUri": client.root.as_uri()} and time.perf_counter() - started < 5
    with pytest.raises(Exception, match="already running"):
        await command(client, "growpilot.retrain")  # one cycle at a time
    done = await client.rec.wait("growpilot/trainingDone", timeout=600)
    assert done["error"] is None and (done["version"], done["decision"]) == ("v1", "promoted"), done
    changed = await client.rec.wait("growpilot/adapterChanged")
    assert changed == {"folderUri": client.root.as_uri(), "adapter": "v1", "previous": None, "reason": "promoted"}
    reports = [r for rs in client.progress_reports.values() for r in rs if getattr(r, "title", "") and "training" in r.title]
    assert reports  # $/progress began for the cycle
    status = await command(client, "growpilot.status")
    assert status["folders"][0]["adapter"] == "v1"
    assert status["learning"][client.root.as_uri()]["last"]["decision"] == "promoted"

    # The next completion is served with the adapter, and the generation says which.
    path = client.root / "services" / f"{NOUNS[0]}_service.py"
    uri = open_doc(client, client.root, str(path.relative_to(client.root)))
    await _inline(client, uri, 9, 4)
    db = sqlite3.connect(growpilot_home / "events.sqlite")
    await asyncio.sleep(0.2)
    assert db.execute("SELECT adapter FROM generations ORDER BY created DESC LIMIT 1").fetchone() == ("v1",)

    listed = await command(client, "growpilot.adapters")
    assert listed["active"] == "v1" and [v["version"] for v in listed["versions"]] == ["v1"]
    back = await command(client, "growpilot.rollback")
    assert (back["adapter"], back["previous"]) == (None, "v1")
    with pytest.raises(Exception, match="nothing to roll back to"):
        await command(client, "growpilot.rollback")
    with pytest.raises(Exception, match="unknown adapter version"):
        await command(client, "growpilot.promote", {"version": "v9"})
    assert (await command(client, "growpilot.promote", {"version": "v1"}))["adapter"] == "v1"
    with pytest.raises(Exception, match="no workspace folder"):
        await command(client, "growpilot.retrain", {"folderUri": "file:///nowhere"})


async def test_a_killed_trainer_ends_the_cycle_and_the_daemon_keeps_serving(client: LanguageClient):
    await command(client, "growpilot.retrain")
    deadline = time.monotonic() + 300
    killed = False
    while not killed and time.monotonic() < deadline:  # wait until the trainer subprocess is up, then kill it
        for pid in _children_running("growpilot.training.trainer"):
            os.kill(pid, signal.SIGKILL)
            killed = True
        await asyncio.sleep(0.2)
    assert killed
    done = await client.rec.wait("growpilot/trainingDone", timeout=300)
    assert done["error"] and not client.rec.seen["growpilot/adapterChanged"]
    status = await command(client, "growpilot.status")
    assert status["model"]["loaded"] and status["folders"][0]["adapter"] is None
    assert (await command(client, "growpilot.adapters"))["versions"] == []


def _children_running(module: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if module.encode() in cmdline:
                pids.append(int(entry))
    return pids
