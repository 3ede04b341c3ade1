"""GROWPILOT_LOG_MESSAGES=1: the daemon logs each message it receives (method and document, never the
text) to the client; the extension's e2e relies on it to prove that secret files are never sent."""

import asyncio
import sys
import time

import pytest
import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import write_files
from lsp_fixtures import LSP_FILES, Recorder, command, init_params, open_doc

SECRET_TEXT = "zebra_quartz_marker = 1\n"


@pytest.fixture(autouse=True)
def log_messages(monkeypatch):
    monkeypatch.setenv("GROWPILOT_LOG_MESSAGES", "1")  # the server inherits the environment


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"]))
async def client(lsp_client: LanguageClient, workspace, tiny_model):
    root = write_files(workspace, LSP_FILES)
    lsp_client.root = root
    lsp_client.rec = Recorder(lsp_client, "growpilot/indexReady")
    await lsp_client.initialize_session(init_params(root, {"modelPath": str(tiny_model), "debounceMs": 0}))
    await lsp_client.rec.wait("growpilot/indexReady")
    yield
    await lsp_client.shutdown_session()


async def test_each_received_message_is_logged_by_method_and_document_never_its_text(client: LanguageClient):
    uri = open_doc(client, client.root, "notes.py", SECRET_TEXT)
    await command(client, "growpilot.status")  # answered after the didOpen was read
    expected = {f"growpilot.messages: received textDocument/didOpen {uri}", "growpilot.messages: received workspace/executeCommand"}
    deadline = time.monotonic() + 10  # a log message may arrive after the reply it was logged before
    while not expected <= (logged := {m.message for m in client.log_messages}):
        assert time.monotonic() < deadline, f"missing {expected - logged}"
        await asyncio.sleep(0.05)
    assert not any("zebra_quartz_marker" in m for m in logged)
