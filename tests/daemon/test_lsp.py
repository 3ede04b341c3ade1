"""The daemon end to end, as an LSP client sees it (pytest-lsp over stdio), with the tiny model."""

import asyncio
import json
import sqlite3
import sys
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import write_files
from lsp_fixtures import LSP_FILES, Recorder, command, end_of, init_params, open_doc

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"])


@pytest.fixture
def root(workspace):
    return write_files(workspace, LSP_FILES)


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, root, tiny_model, request):
    options = {"modelPath": str(tiny_model), "debounceMs": 0, "maxTokens": 12, **getattr(request, "param", {})}
    lsp_client.rec = Recorder(lsp_client, "growpilot/indexReady", "growpilot/modelReady")
    await lsp_client.initialize_session(init_params(root, options))
    await lsp_client.rec.wait("growpilot/indexReady")
    await lsp_client.rec.wait("growpilot/modelReady")
    yield
    await lsp_client.shutdown_session()


async def _status(client) -> dict:
    return await command(client, "growpilot.status")


async def test_index_ready_progress_and_status(client: LanguageClient, root):
    ready = client.rec.seen["growpilot/indexReady"][0]
    assert ready["folderUri"] == root.as_uri() and ready["files"] == 3 and ready["chunks"] >= 4
    kinds = [r.kind for reports in client.progress_reports.values() for r in reports]
    assert kinds[0] == "begin" and "report" in kinds and kinds[-1] == "end"
    status = await _status(client)
    assert status["folders"][0]["files"] == 3 and status["folders"][0]["vectors"] == status["folders"][0]["chunks"]
    assert status["model"]["loaded"] and status["model"]["template"] == "qwen"


async def test_inline_and_classic_completion_carry_a_generation_id(client: LanguageClient, root):
    uri = open_doc(client, root, "app.py")
    pos = end_of(LSP_FILES["app.py"])
    inline = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        text_document=types.TextDocumentIdentifier(uri), position=pos))
    items = inline.items if isinstance(inline, types.InlineCompletionList) else inline
    assert len(items) == 1 and items[0].insert_text.strip()
    assert items[0].command.command == "growpilot.accept"
    generation = items[0].command.arguments[0]["generationId"]
    classic = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=pos))
    assert classic.items and classic.items[0].data["generationId"] != generation
    assert classic.items[0].text_edit.range.end == pos
    status = await _status(client)
    assert status["feedback"]["generations"] >= 2


async def test_accept_and_rate_are_recorded_and_unknown_ids_rejected(client: LanguageClient, root, growpilot_home):
    uri = open_doc(client, root, "app.py")
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        text_document=types.TextDocumentIdentifier(uri), position=end_of(LSP_FILES["app.py"])))
    generation = result.items[0].command.arguments[0]["generationId"]
    await command(client, "growpilot.accept", {"generationId": generation})
    reply = await command(client, "growpilot.feedback", {"generationId": generation, "rating": "up"})
    assert reply["ok"] and reply["eventId"] > 0
    feedback = (await _status(client))["feedback"]
    assert (feedback["accepted"], feedback["up"], feedback["down"]) == (1, 1, 0)
    with pytest.raises(Exception, match="unknown generationId"):
        await command(client, "growpilot.feedback", {"generationId": "nope", "rating": "up"})
    with pytest.raises(Exception, match="rating"):
        await command(client, "growpilot.feedback", {"generationId": generation, "rating": "meh"})
    db = sqlite3.connect(growpilot_home / "events.sqlite")
    assert db.execute("SELECT kind, value FROM events ORDER BY id").fetchall() == [("accept", None), ("rating", "up")]
    row = db.execute("SELECT model, output, latency_ms, prompt FROM generations WHERE id=?", (generation,)).fetchone()
    assert row[0] and row[1] == result.items[0].insert_text and row[2] > 0 and "<|fim_middle|>" in row[3]


async def test_incremental_changes_are_what_completion_and_retrieval_see(client: LanguageClient, root, growpilot_home):
    text = LSP_FILES["app.py"]
    uri = open_doc(client, root, "app.py", text)
    # An unsaved incremental edit: a new function above the cursor, never written to disk.
    insert = "\n\ndef unsaved_quokka_counter(colony):\n    return len(colony)\n"
    line = len(text.split("\n")) - 2
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(line, 0), types.Position(line, 0)), text=insert.lstrip("\n") + "\n")]))
    new_text = text.split("\n")
    new_text[line:line] = insert.strip("\n").split("\n") + [""]
    pos = end_of("\n".join(new_text))
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        text_document=types.TextDocumentIdentifier(uri), position=pos))
    generation = result.items[0].command.arguments[0]["generationId"]
    db = sqlite3.connect(growpilot_home / "events.sqlite")
    deadline = time.monotonic() + 10  # written on a background thread, just after the reply
    while (row := db.execute("SELECT prompt FROM generations WHERE id=?", (generation,)).fetchone()) is None:
        assert time.monotonic() < deadline, "the generation was never recorded"
        await asyncio.sleep(0.05)
    prompt = row[0]
    assert "unsaved_quokka_counter" in prompt and prompt.rstrip().endswith("<|fim_middle|>")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the buffer is indexed after a short quiet period
        hits = await command(client, "growpilot.search", {"query": "unsaved_quokka_counter", "k": 3})
        if any("unsaved_quokka_counter" in h["text"] for h in hits):
            break
        await asyncio.sleep(0.3)
    else:
        pytest.fail("unsaved text never reached the index")
    assert hits[0]["path"] == "app.py" and hits[0]["uri"].startswith("file://")


def test_cancel_gets_its_reply_within_50ms_of_the_cancel_request(root, tiny_model, growpilot_home):
    """Timed on the wire: from `$/cancelRequest` written to the server's stdin to the (error) reply read
    from its stdout, while the cancelled request is inside the model (a ~15k-token prompt: seconds of
    prefill even for the tiny model)."""
    from growpilot.bench.lsp_client import Document, LspClient

    client = LspClient()
    try:
        client.initialize(root, {"modelPath": str(tiny_model), "debounceMs": 0, "maxTokens": 512,
                                 "promptTokens": 16384})
        client.wait_notification("growpilot/indexReady")
        client.wait_notification("growpilot/modelReady")
        docs = []
        for verb in ("frobnicate", "replenish"):  # two, so that the second prompt cannot reuse the first's KV cache
            # A long document (opened, then removed from disk, never indexed): prompts fill the whole budget.
            long = root / f"{verb}.py"
            long.write_text("\n".join(f"def {verb}_{i}(widget_id, ttl_seconds):\n    CACHE.pop(widget_id, None)\n"
                                      f"    COOLDOWN[widget_id] = ttl_seconds\n    return True\n" for i in range(1200)))
            docs.append(Document(client, long))
            long.unlink()
        # A control request first: when is a request of this size inside the model?
        msg_id, _ = docs[0].inline(len(docs[0].lines) - 5, 4)
        _, control = client.reply(msg_id)
        generation = control["result"]["items"][0]["command"]["arguments"][0]["generationId"]
        deadline = time.monotonic() + 10
        while (row := sqlite3.connect(growpilot_home / "events.sqlite").execute(
                "SELECT timings FROM generations WHERE id=?", (generation,)).fetchone()) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        timings = json.loads(row[0])
        # Wait until well inside the model: past what came before it (retrieval, prompt; warmer now),
        # well before the end of its prefill.
        wait_ms = max(300.0, timings["total_ms"] - timings["model_ms"] + 200)
        assert wait_ms < timings["total_ms"] - timings["decode_ms"] - 500, timings

        msg_id, _ = docs[1].inline(len(docs[1].lines) - 5, 4)
        time.sleep(wait_ms / 1000)
        assert msg_id not in client.replies, "the request finished before the cancel: make it longer"
        sent = client.cancel(msg_id)
        arrived, reply = client.reply(msg_id, timeout=5)
        assert reply["error"]["code"] == -32800  # RequestCancelled
        assert (arrived - sent) * 1000 < 50, f"cancel → reply took {(arrived - sent) * 1000:.1f} ms"
        assert client.command("growpilot.status")["model"]["loaded"]  # the server goes on
    finally:
        client.close()


async def test_unknown_commands_and_bad_arguments_get_errors(client: LanguageClient):
    with pytest.raises(Exception, match="not defined"):
        await command(client, "growpilot.nope")
    with pytest.raises(Exception, match="query"):
        await command(client, "growpilot.search", "just a string")
    assert (await _status(client))["folders"]


@pytest.mark.parametrize("client", [{"maxTokens": "lots", "device": "tpu"}], indirect=True)
async def test_bad_settings_fall_back_with_one_message_each(client: LanguageClient):
    texts = [m.message for m in client.messages]
    assert sum("maxTokens" in t for t in texts) == 1 and sum("device" in t for t in texts) == 1
    assert (await _status(client))["model"]["loaded"]


async def test_reindex_reports_progress_and_counts(client: LanguageClient, root):
    (root / "inventory/extra.py").write_text("def restock_widget(widget, count):\n    return count\n")
    before = len(client.progress_reports)
    result = await command(client, "growpilot.reindex")
    assert result["folders"][0]["files"] == 4
    assert len(client.progress_reports) > before


@pytest_lsp.fixture(config=SERVER)
async def multi(lsp_client: LanguageClient, tmp_path, tiny_model):
    roots = [write_files(tmp_path / name, files) for name, files in (
        ("alpha", {"billing.py": "def alpha_invoice_total(lines):\n    return sum(lines)\n"}),
        ("beta", {"shipping.py": "def beta_parcel_weight(items):\n    return len(items)\n", "notes.md": "# Beta\n"}))]
    lsp_client.roots = roots
    lsp_client.rec = Recorder(lsp_client, "growpilot/indexReady", "growpilot/modelReady")
    params = init_params(roots[0], {"modelPath": str(tiny_model), "debounceMs": 0})
    params.workspace_folders = [types.WorkspaceFolder(uri=r.as_uri(), name=r.name) for r in roots]
    await lsp_client.initialize_session(params)
    await lsp_client.rec.wait("growpilot/indexReady", count=2)
    yield
    await lsp_client.shutdown_session()


async def test_multi_root_keeps_one_index_per_folder(multi: LanguageClient):
    ready = {r["folderUri"]: r["files"] for r in multi.rec.seen["growpilot/indexReady"]}
    alpha, beta = multi.roots
    assert ready == {alpha.as_uri(): 1, beta.as_uri(): 2}
    status = await _status(multi)
    assert sorted(f["files"] for f in status["folders"]) == [1, 2]
    assert len({f["state_dir"] for f in status["folders"]}) == 2
    hits = await command(multi, "growpilot.search", {"query": "beta_parcel_weight", "k": 1})
    assert hits[0]["uri"] == (beta / "shipping.py").as_uri()
    model_progress = [r for reports in multi.progress_reports.values() for r in reports
                      if r.kind == "begin" and "model" in r.title]
    assert model_progress  # the model loads with $/progress too


async def test_warm_up_where_the_cursor_rests_and_bad_params_change_nothing(client: LanguageClient, root, growpilot_home):
    text = LSP_FILES["app.py"]
    uri = open_doc(client, root, "app.py", text)
    client.protocol.notify("growpilot/warmUp", {"textDocument": {"uri": uri}})  # no position: logged, ignored
    at = end_of(text)
    client.protocol.notify("growpilot/warmUp", {"textDocument": {"uri": uri},
                                                "position": {"line": at.line, "character": at.character}})
    await asyncio.sleep(1.0)  # the tiny model prefills in milliseconds
    line = len(text.rstrip("\n").split("\n")) - 1
    typed = "frob"
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(end_of(text), end_of(text)), text=typed)]))
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(line, end_of(text).character + len(typed))))
    generation = result.items[0].command.arguments[0]["generationId"]
    db = sqlite3.connect(growpilot_home / "events.sqlite")
    deadline = time.monotonic() + 10
    while (row := db.execute("SELECT timings FROM generations WHERE id=?", (generation,)).fetchone()) is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    timings = json.loads(row[0])
    # the first keystroke at the rested cursor kept the warmed prompt's layout and found it cached
    assert timings.get("typing_reuse") and timings["reused_tokens"] >= timings["prompt_tokens"] - 60
