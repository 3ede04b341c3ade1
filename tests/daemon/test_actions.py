"""Code actions end to end, as an LSP client sees them (pytest-lsp over stdio, the real server process).

Models: the tiny one trained on the fixture files (it answers with workspace-like nonsense, or nothing
to a chat prompt), and a "paren" model that only ever writes `(((( (((( (((( ((((` and stops — a real
model whose code never parses, so the refusal path runs every time, and whose prose is never empty. Neither says anything about quality: `growpilot eval
actions` measures that with the default model."""

import ast
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
from lsp_fixtures import LSP_FILES, Recorder, command, init_params, open_doc, plain

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"])
FILES = {
    "inventory/__init__.py": "",
    "inventory/helpers.py": LSP_FILES["inventory/helpers.py"],
    "inventory/models.py": LSP_FILES["inventory/models.py"],
    "tests/test_helpers.py": ("from inventory.helpers import frobnicate_widget_cache\n\n\n"
                              "def test_frobnicate_is_callable():\n    assert callable(frobnicate_widget_cache)\n"),
}
MODELS = LSP_FILES["inventory/models.py"]  # class Widget: / def __init__(self, widget_id, name): / …


@pytest.fixture(scope="session")
def paren_model(tmp_path_factory):
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("paren-model"), ["(((( (((( (((( ((((<|endoftext|>" * 300], steps=60)


@pytest.fixture
def root(workspace):
    return write_files(workspace, FILES)


async def _start(lsp_client: LanguageClient, root, model, **options):
    lsp_client.rec = Recorder(lsp_client, "growpilot/indexReady", "growpilot/modelReady")
    await lsp_client.initialize_session(init_params(root, {"modelPath": str(model), "debounceMs": 0, **options}))
    await lsp_client.rec.wait("growpilot/indexReady")
    await lsp_client.rec.wait("growpilot/modelReady")


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, root, tiny_model):
    await _start(lsp_client, root, tiny_model)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def paren(lsp_client: LanguageClient, root, paren_model):
    await _start(lsp_client, root, paren_model)
    yield
    await lsp_client.shutdown_session()


def _range(l0, c0, l1=None, c1=None) -> types.Range:
    return types.Range(types.Position(l0, c0), types.Position(l0 if l1 is None else l1, c0 if c1 is None else c1))


async def _actions(client, uri, rng, diagnostics=(), automatic=False, only=None) -> list[types.CodeAction]:
    trigger = types.CodeActionTriggerKind.Automatic if automatic else types.CodeActionTriggerKind.Invoked
    result = await client.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), rng,
        types.CodeActionContext(diagnostics=list(diagnostics), only=only, trigger_kind=trigger)))
    return result or []


async def _pick(client, uri, rng, title, **kw) -> types.CodeAction:
    for action in await _actions(client, uri, rng, **kw):
        if action.title == title:
            return action
    raise AssertionError(f"no {title!r} action")


def _apply(text: str, edits) -> str:
    """LSP text edits applied (ASCII text: UTF-16 units are characters)."""
    lines = text.split("\n")

    def offset(p):
        return sum(len(x) + 1 for x in lines[:p.line]) + p.character

    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[:offset(e.range.start)] + e.new_text + text[offset(e.range.end):]
    return text


def _generation(home, generation_id):
    db = sqlite3.connect(home / "events.sqlite")
    db.row_factory = sqlite3.Row
    deadline = time.monotonic() + 10
    while (row := db.execute("SELECT * FROM generations WHERE id=?", (generation_id,)).fetchone()) is None:
        assert time.monotonic() < deadline, "the generation was never recorded"
        time.sleep(0.05)
    return row


# ----- listing
async def test_listing_is_instant_and_names_what_can_run_here(client: LanguageClient, root):
    uri = open_doc(client, root, "inventory/models.py")
    at_init = await _actions(client, uri, _range(1, 8))
    assert [(a.title, a.kind, a.disabled and a.disabled.reason) for a in at_init] == [
        ("Growpilot: Explain", "refactor.growpilot.explain", None),
        ("Growpilot: Add docstring", "refactor.rewrite", None),
        ("Growpilot: Generate tests", "refactor.growpilot.tests", None),
        ("Growpilot: Refactor selection", "refactor.rewrite", "select the code to refactor first")]
    data = plain(at_init[1].data)
    assert data == {"action": "docstring", "uri": uri, "version": 1,
                    "range": {"start": {"line": 1, "character": 8}, "end": {"line": 1, "character": 8}}}
    assert at_init[1].edit is None  # nothing generated until resolved
    # The lightbulb (automatic requests) does not follow the cursor through a body...
    assert await _actions(client, uri, _range(2, 12), automatic=True) == []
    # ... but a diagnostic there gets its quick fix, and a selection can be refactored.
    problem = types.Diagnostic(_range(2, 8, 2, 12), "Instance attribute widget_id defined outside __init__",
                               source="pylint")
    chosen = await _actions(client, uri, _range(1, 0, 3, 0), [problem])
    assert chosen[0].title == 'Growpilot: Fix "Instance attribute widget_id defined outside __init__"'
    assert chosen[0].kind == "quickfix" and list(chosen[0].diagnostics) == [problem]
    assert plain(chosen[0].data)["diagnostic"]["message"] == problem.message
    assert chosen[-1].title == "Growpilot: Refactor selection" and chosen[-1].disabled is None
    assert [a.kind for a in await _actions(client, uri, _range(1, 0, 3, 0), [problem], only=["quickfix"])] == ["quickfix"]

    # Instant: no model call. Timed on the client, transport included, on a 200-function file.
    big = "\n\n".join(f"def handler_{i}(event, context):\n    return event.get('id', {i})\n" for i in range(200))
    big_uri = open_doc(client, root, "inventory/handlers.py", big)
    times = []
    for i in range(40):
        started = time.perf_counter()
        listed = await _actions(client, big_uri, _range(4 * (i % 100), 4))
        times.append((time.perf_counter() - started) * 1000)
        assert len(listed) == 4
    p95 = sorted(times)[int(0.95 * len(times)) - 1]
    print(f"codeAction listing p95 {p95:.1f} ms, max {max(times):.1f} ms")
    assert p95 < 60, times


async def test_a_file_in_no_workspace_folder_gets_the_reason_and_an_error(client: LanguageClient, root, tmp_path):
    outside = write_files(tmp_path / "elsewhere", {"loose.py": "def loose(a):\n    return a\n"})
    uri = open_doc(client, outside, "loose.py")
    listed = await _actions(client, uri, _range(0, 0, 1, 0))
    assert {a.title for a in listed} == {"Growpilot: Explain", "Growpilot: Refactor selection"}
    assert all("no workspace folder" in a.disabled.reason for a in listed)
    with pytest.raises(Exception, match="no workspace folder"):
        await client.code_action_resolve_async(listed[0])


# ----- resolving
async def test_add_docstring_resolves_to_an_edit_that_applies_parses_and_can_be_rated(client: LanguageClient, root,
                                                                                     growpilot_home):
    uri = open_doc(client, root, "inventory/models.py")
    before = len(client.progress_reports)
    action = await _pick(client, uri, _range(1, 8), "Growpilot: Add docstring")
    resolved = await client.code_action_resolve_async(action)
    change = resolved.edit.document_changes[0]
    assert (change.text_document.uri, change.text_document.version) == (uri, 1)  # rejected by a newer document
    after = _apply(MODELS, change.edits)
    tree = ast.parse(after)
    init = tree.body[0].body[0]
    assert ast.get_docstring(init) and after.split("\n")[2].startswith('        """')  # the body's indentation
    assert after.split("\n")[1] == MODELS.split("\n")[1] and after.endswith(MODELS.split("\n", 2)[2])
    generation = plain(resolved.data)["generationId"]
    assert resolved.command.command == "growpilot.accept"
    assert plain(resolved.command.arguments[0]) == {"generationId": generation, "uri": uri, "line": 1,
                                                   "action": "docstring", "source": "codeAction"}
    reports = [r for token in list(client.progress_reports)[before:] for r in client.progress_reports[token]]
    assert reports[0].kind == "begin" and reports[0].title == "Growpilot: add docstring" and reports[0].cancellable
    assert any(r.kind == "report" for r in reports) and reports[-1].kind == "end" and reports[-1].message == "done"

    row = _generation(growpilot_home, generation)
    assert (row["kind"], row["mode"], row["path"], row["line"]) == ("action", "docstring", "inventory/models.py", 1)
    assert row["prompt"].endswith('```python\ndef __init__(self, widget_id, name):\n    """')
    assert "<|im_start|>assistant" in row["prompt"] and row["latency_ms"] > 0
    assert json.loads(row["timings"])["params"] == ["widget_id", "name"]

    # What the client does once it applied the edit, then the 👍 of the lens.
    await command(client, resolved.command.command, *plain(resolved.command.arguments))
    rated = await command(client, "growpilot.feedback", {"generationId": generation, "rating": "up"})
    assert rated["ok"]
    db = sqlite3.connect(growpilot_home / "events.sqlite")
    assert db.execute("SELECT kind, value, source FROM events WHERE generation_id=? ORDER BY id",
                      (generation,)).fetchall() == [("accept", None, "codeAction"), ("rating", "up", None)]


async def test_explain_shows_markdown_without_touching_the_code(paren: LanguageClient, root, growpilot_home):
    client = paren
    uri = open_doc(client, root, "inventory/helpers.py")
    resolved = await client.code_action_resolve_async(await _pick(client, uri, _range(3, 4), "Growpilot: Explain"))
    assert resolved.edit is None and resolved.command.command == "growpilot.showExplanation"
    args = plain(resolved.command.arguments[0])
    assert args["generationId"] == plain(resolved.data)["generationId"] and (args["uri"], args["line"]) == (uri, 3)
    file = growpilot_home / "explanations" / f"{args['generationId']}.md"
    assert args["explanationUri"] == file.as_uri()
    assert file.read_text().startswith("# Growpilot: explanation of `inventory/helpers.py`, lines 4–8\n\n")
    shown = await command(client, "growpilot.showExplanation", args)
    assert shown == {"shown": True, "uri": file.as_uri()} and client.shown_documents[-1].uri == file.as_uri()
    assert _generation(growpilot_home, args["generationId"])["mode"] == "explain"
    with pytest.raises(Exception, match="explanation file"):
        await command(client, "growpilot.showExplanation", {"explanationUri": (root / "inventory/helpers.py").as_uri()})


async def test_bad_resolves_get_clear_errors_and_change_nothing(client: LanguageClient, root):
    uri = open_doc(client, root, "inventory/models.py")
    action = await _pick(client, uri, _range(1, 8), "Growpilot: Add docstring")
    refactor = await _pick(client, uri, _range(1, 8), "Growpilot: Refactor selection")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [types.TextDocumentContentChangeWholeDocument(text=MODELS + "\n# edited\n")]))
    with pytest.raises(Exception, match=r"the document changed since this action was listed \(version 1, now 2\)"):
        await client.code_action_resolve_async(action)
    refactor.data = {**plain(refactor.data), "version": 2}  # an empty selection, resolved all the same
    with pytest.raises(Exception, match="needs a selection"):
        await client.code_action_resolve_async(refactor)
    with pytest.raises(Exception, match="not a Growpilot code action"):
        await client.code_action_resolve_async(types.CodeAction("Someone else's", data={"fixId": 3}))
    assert (await command(client, "growpilot.status"))["model"]["loaded"]  # the server goes on


async def test_a_resolve_in_flight_is_cancelled_and_the_model_is_free_again(root, paren_model):
    """`$/cancelRequest` for a long Explain (a 16k-token prompt: seconds of prefill even for a tiny
    model): the reply is RequestCancelled and the model thread serves the next action at once."""
    client = pytest_lsp.make_test_lsp_client()
    await client.start_io(*SERVER.server_command)
    try:
        client.rec = Recorder(client, "growpilot/indexReady", "growpilot/modelReady")
        await client.initialize_session(init_params(root, {"modelPath": str(paren_model), "promptTokens": 16384}))
        await client.rec.wait("growpilot/indexReady")
        await client.rec.wait("growpilot/modelReady")
        long = "\n".join(f"def replenish_{i}(widget_id, ttl_seconds):\n    CACHE.pop(widget_id, None)\n"
                         f"    COOLDOWN[widget_id] = ttl_seconds\n    return True\n" for i in range(1200))
        uri = open_doc(client, root, "inventory/long.py", long)
        explain = await _pick(client, uri, _range(0, 0, 4000, 0), "Growpilot: Explain")
        started = time.perf_counter()
        control = await client.code_action_resolve_async(explain)
        full_s = time.perf_counter() - started
        assert control.command.command == "growpilot.showExplanation" and full_s > 1.0, full_s

        explain = await _pick(client, uri, _range(0, 0, 4000, 0), "Growpilot: Explain")
        explain.data = {**plain(explain.data), "range": {"start": {"line": 1, "character": 0},
                                                         "end": {"line": 4000, "character": 0}}}  # no KV reuse
        reply = asyncio.ensure_future(client.protocol.send_request_async(types.CODE_ACTION_RESOLVE, explain,
                                                                         msg_id="long-explain"))
        await asyncio.sleep(full_s / 4)
        assert not reply.done(), "finished before the cancel: make it longer"
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="long-explain"))
        cancelled_at = time.perf_counter()
        with pytest.raises(Exception, match="cancel"):
            await asyncio.wait_for(reply, 5)
        # The progress's Cancel button (window/workDoneProgress/cancel) stops it the same way.
        explain.data = {**plain(explain.data), "range": {"start": {"line": 2, "character": 0},
                                                         "end": {"line": 4000, "character": 0}}}
        known = set(client.progress_reports)
        reply = asyncio.ensure_future(client.code_action_resolve_async(explain))
        deadline = time.monotonic() + full_s
        while not (tokens := [t for t in client.progress_reports if t not in known
                              and client.progress_reports[t][0].title == "Growpilot: explain"]):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(full_s / 4)
        client.protocol.notify(types.WINDOW_WORK_DONE_PROGRESS_CANCEL, types.WorkDoneProgressCancelParams(tokens[0]))
        cancelled_at = time.perf_counter()
        with pytest.raises(Exception, match="cancelled: nothing was changed"):
            await asyncio.wait_for(reply, 5)
        assert client.progress_reports[tokens[0]][-1].message == "cancelled"
        small_uri = open_doc(client, root, "inventory/helpers.py")
        done = await client.code_action_resolve_async(await _pick(client, small_uri, _range(3, 4), "Growpilot: Explain"))
        assert done.command.command == "growpilot.showExplanation"
        assert time.perf_counter() - cancelled_at < full_s / 2, "the cancelled generation held the model"
    finally:
        try:
            await asyncio.wait_for(client.shutdown_session(), 30)
        finally:
            await client.stop()


async def test_code_that_does_not_parse_is_repaired_once_then_refused(paren: LanguageClient, root, growpilot_home):
    uri = open_doc(paren, root, "inventory/models.py")
    refactor = await _pick(paren, uri, _range(1, 0, 4, 0), "Growpilot: Refactor selection")
    with pytest.raises(Exception) as err:
        await paren.code_action_resolve_async(refactor)
    assert "the refactored code does not parse" in str(err.value) and "nothing was changed" in str(err.value)
    data = plain(err.value.data)
    assert data["kind"] == "refused"
    row = _generation(growpilot_home, data["generationId"])
    timings = json.loads(row["timings"])
    assert timings["repaired"] and "does not parse" in timings["first_problem"] and "(((" in row["output"]
    assert "That does not parse as Python" in row["prompt"]  # the repair showed the model its error

    tests = await _pick(paren, uri, _range(1, 8), "Growpilot: Generate tests")
    with pytest.raises(Exception, match="the generated tests do not parse"):
        await paren.code_action_resolve_async(tests)
    assert not (root / "tests/test_models.py").exists()
    assert (await command(paren, "growpilot.status"))["feedback"]["generations"] == 2  # refusals are recorded too


@pytest_lsp.fixture(config=SERVER)
async def no_model(lsp_client: LanguageClient, root, tmp_path):
    lsp_client.rec = Recorder(lsp_client, "growpilot/indexReady", "growpilot/modelReady")
    await lsp_client.initialize_session(init_params(root, {"modelPath": str(tmp_path / "missing-model")}))
    await lsp_client.rec.wait("growpilot/modelReady")
    yield
    await lsp_client.shutdown_session()


async def test_without_a_model_actions_are_greyed_out_and_resolve_says_why(no_model: LanguageClient, root):
    uri = open_doc(no_model, root, "inventory/models.py")
    listed = await _actions(no_model, uri, _range(1, 8))
    assert listed and all("the model failed to load" in a.disabled.reason for a in listed)
    with pytest.raises(Exception, match="the model failed to load"):
        await no_model.code_action_resolve_async(listed[1])
    assert await _actions(no_model, uri, _range(1, 8), automatic=True) == []


def test_a_rated_action_stays_rated_across_a_daemon_restart(root, tiny_model, growpilot_home):
    """A client with no capabilities at all: plain `changes`, no progress; the rating is in the store the
    next daemon reads."""
    from growpilot.bench.lsp_client import LspClient

    options = {"modelPath": str(tiny_model)}
    first = LspClient()
    try:
        first.initialize(root, options)
        first.wait_notification("growpilot/modelReady")
        uri = (root / "inventory/models.py").as_uri()
        first.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 7,
                                                               "text": MODELS}})
        listed = first.request("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": {
            "start": {"line": 1, "character": 8}, "end": {"line": 1, "character": 8}}, "context": {"diagnostics": []}})
        docstring = next(a for a in listed if a["title"] == "Growpilot: Add docstring")
        resolved = first.request("codeAction/resolve", docstring)
        ast.parse(_apply(MODELS, [types.TextEdit(types.Range(types.Position(**e["range"]["start"]),
                                                             types.Position(**e["range"]["end"])), e["newText"])
                                  for e in resolved["edit"]["changes"][uri]]))
        generation = resolved["data"]["generationId"]
        assert first.command("growpilot.feedback", {"generationId": generation, "rating": "down"})["ok"]
    finally:
        first.close()
    second = LspClient()
    try:
        second.initialize(root, options)
        feedback = second.command("growpilot.status")["feedback"]
        assert (feedback["generations"], feedback["down"]) == (1, 1)
        assert second.command("growpilot.feedback", {"generationId": generation, "rating": "up"})["ok"]
    finally:
        second.close()


def test_eval_actions_runs_the_pipeline_from_the_cli(root, tiny_model, tmp_path):
    """The command's wiring and figures' shape (a tiny model's figures mean nothing)."""
    from conftest import run_cli

    write_files(root, {"inventory/pricing.py": "def discount(price, rate):\n    if rate < 0:\n        raise ValueError(rate)\n"
                                               "    return price * (1 - rate)\n"})
    rows = tmp_path / "rows.jsonl"
    done = run_cli("eval", "actions", "--workspace", str(root), "--limit", "1", "--rows", str(rows), "--model",
                   str(tiny_model), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["functions"] == 1 and result["model"] == tiny_model.name
    for action in ("docstring", "tests", "refactor"):
        assert result[action]["latency"]["n"] == 1 and result[action]["latency"]["median_ms"] > 0
    row = json.loads(rows.read_text())
    assert row["function"] in ("discount", "frobnicate_widget_cache") and set(row) >= {"docstring", "tests", "refactor"}
    assert not list(root.rglob("test_growpilot_eval_*"))  # its scratch test files are gone
