"""The real default model (Qwen2.5-Coder-0.5B) end to end over LSP: a completion that needs another file."""

import asyncio
import sys
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import write_files
from lsp_fixtures import LSP_FILES, Recorder, command, end_of, init_params, open_doc

pytestmark = pytest.mark.slow


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"]))
async def client(lsp_client: LanguageClient, workspace):
    root = write_files(workspace, LSP_FILES)
    lsp_client.root = root
    lsp_client.rec = Recorder(lsp_client, "growpilot/indexReady", "growpilot/modelReady")
    await lsp_client.initialize_session(init_params(root, {"debounceMs": 0, "maxTokens": 24}))
    yield
    await lsp_client.shutdown_session()


def _inline(client, uri, pos):
    return client.text_document_inline_completion_async(types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        text_document=types.TextDocumentIdentifier(uri), position=pos))


async def test_completion_uses_a_helper_defined_in_another_file(client: LanguageClient):
    root = client.root
    uri = open_doc(client, root, "app.py")
    pos = end_of(LSP_FILES["app.py"])

    # While the model loads, a request is answered at once, empty, instead of blocking.
    started = time.perf_counter()
    early = await _inline(client, uri, pos)
    if not client.rec.seen["growpilot/modelReady"]:
        assert list(early.items) == [] and time.perf_counter() - started < 2.0

    await client.rec.wait("growpilot/indexReady", timeout=300)
    ready = await client.rec.wait("growpilot/modelReady", timeout=600)
    assert ready["error"] is None and ready["model"] == "Qwen2.5-Coder-0.5B-Instruct"

    result = await _inline(client, uri, pos)
    text = result.items[0].insert_text
    assert "frobnicate_widget_cache" in text, text

    # The same request without retrieved context cannot know the helper's name.
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"growpilot": {"retrievalSnippets": 0, "debounceMs": 0, "maxTokens": 24}}))
    await asyncio.sleep(0.2)
    blind = await _inline(client, uri, pos)
    blind_text = blind.items[0].insert_text if blind.items else ""
    assert "frobnicate_widget_cache" not in blind_text, blind_text

    status = await command(client, "growpilot.status")
    assert status["model"]["name"] == "Qwen2.5-Coder-0.5B-Instruct" and status["feedback"]["generations"] >= 2
