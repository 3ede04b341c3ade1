"""A workspace opened through a symlinked path (macOS /tmp, a linked checkout) over LSP: files are named
by their real path everywhere, so the file being edited never comes back as its own "retrieved" context."""

import json
import os
import sqlite3
import sys

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import write_files
from lsp_fixtures import LSP_FILES, Recorder, end_of, init_params, open_doc


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"]))
async def client(lsp_client: LanguageClient, tmp_path, tiny_model):
    real = write_files(tmp_path / "real-ws", LSP_FILES)
    link = tmp_path / "linked-ws"
    os.symlink(real, link)
    lsp_client.link = link
    lsp_client.rec = Recorder(lsp_client, "growpilot/indexReady", "growpilot/modelReady")
    await lsp_client.initialize_session(init_params(link, {"modelPath": str(tiny_model), "debounceMs": 0,
                                                           "maxTokens": 8}))
    await lsp_client.rec.wait("growpilot/indexReady")
    await lsp_client.rec.wait("growpilot/modelReady")
    yield
    await lsp_client.shutdown_session()


async def test_completion_through_a_symlinked_root_names_files_by_real_path(client: LanguageClient, growpilot_home):
    uri = open_doc(client, client.link, "app.py")
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        text_document=types.TextDocumentIdentifier(uri), position=end_of(LSP_FILES["app.py"])))
    generation = result.items[0].command.arguments[0]["generationId"]
    db = sqlite3.connect(growpilot_home / "events.sqlite")
    path, timings = db.execute("SELECT path, timings FROM generations WHERE id=?", (generation,)).fetchone()
    assert path == "app.py"
    snippets = json.loads(timings)["snippets"]
    assert snippets and "app.py" not in snippets  # other files' definitions, never the file itself
