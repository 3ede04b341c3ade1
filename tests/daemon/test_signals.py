"""Implicit feedback (learning/signals.py): rejected, rewritten, retained, computed from real-shaped
didChange sequences (incremental ranges and full texts) with a fake clock; then end to end through the
daemon, whose timings GROWPILOT_SIGNAL_SCALE (test-only) shortens."""

import asyncio
import json
import sqlite3
import sys
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import run_cli, write_files
from lsp_fixtures import LSP_FILES, Recorder, end_of, init_params, open_doc

from growpilot.learning.events import EventStore, GenerationRecord
from growpilot.learning.signals import Signal, Tracker, offset_of

URI = "file:///ws/app.py"
DOC = "def refresh(widget):\n    return helpers.\n"
SUGGESTION = "frobnicate_widget_cache(widget, 600)"
AT = (1, len("    return helpers."))  # end of line 1


def insert(line: int, character: int, text: str) -> types.TextDocumentContentChangePartial:
    p = types.Position(line, character)
    return types.TextDocumentContentChangePartial(range=types.Range(p, p), text=text)


def replace(start: tuple, end: tuple, text: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(*start), types.Position(*end)), text=text)


def whole(text: str) -> types.TextDocumentContentChangeWholeDocument:
    return types.TextDocumentContentChangeWholeDocument(text=text)


def served(tracker: Tracker, gid: str = "g1", text: str = SUGGESTION, doc: str = DOC, at=AT, now: float = 0.0):
    tracker.served(gid, URI, at[0], at[1], text, doc, now)


def kinds(signals):
    return [(s.kind, s.value) for s in signals]


def type_chars(tracker: Tracker, line: int, character: int, text: str, start: float, step: float = 0.15) -> float:
    """Type `text` one character a notification, as an editor sends it; returns the time after."""
    now = start
    for i, ch in enumerate(text):
        tracker.changed(URI, [insert(line, character + i, ch)], now)
        now += step
    return now


# ----- rejected
def test_not_accepted_within_10s_is_rejected_once():
    t = Tracker()
    served(t)
    assert t.next_due() == 10.0
    assert t.tick(9.99) == []
    assert t.tick(10.0) == [Signal("g1", "rejected", None)]
    assert t.tick(60.0) == [] and len(t) == 0 and t.next_due() is None


def test_superseded_within_250ms_counts_as_nothing():
    t = Tracker()
    served(t)
    t.changed(URI, [insert(*AT, "x")], 0.2)  # the user's next keystroke, 200 ms later: never seen
    assert t.tick(100.0) == [] and len(t) == 0


def test_a_change_after_250ms_does_not_save_it_from_being_rejected():
    t = Tracker()
    served(t)
    t.changed(URI, [insert(*AT, "x")], 0.3)
    assert kinds(t.tick(10.0)) == [("rejected", None), ("rewritten", "x")]


def test_the_accepting_edit_within_250ms_is_not_a_supersede():
    t = Tracker()
    served(t)
    t.changed(URI, [insert(*AT, SUGGESTION)], 0.1)  # accepted at once: the edit comes, then the command
    t.accepted("g1", 0.12)
    assert t.tick(10.0) == []
    assert kinds(t.tick(30.12)) == [("retained_30s", "1.000")]


def test_scale_shortens_every_duration():
    t = Tracker(scale=0.1)
    served(t)
    t.changed(URI, [insert(*AT, "x")], 0.02)  # under 25 ms: unseen
    served(t, "g2", now=1.0)
    t.changed(URI, [insert(AT[0], AT[1] + 1, "y")], 1.03)
    assert t.tick(1.99) == []
    assert kinds(t.tick(2.0)) == [("rejected", None), ("rewritten", "y")]


# ----- rewritten
def test_rewritten_is_what_was_typed_at_the_spot_incremental():
    t = Tracker()
    served(t)
    now = type_chars(t, *AT, "CACHE.clear()", 0.5)
    # a backspace and a fix inside what was typed, then the user goes elsewhere and types there
    end = AT[1] + len("CACHE.clear()")
    t.changed(URI, [replace((1, end - 1), (1, end), "")], now)
    t.changed(URI, [insert(1, end - 1, ")  # all")], now + 0.2)
    t.changed(URI, [insert(0, 0, "# note\n")], now + 0.5)
    t.changed(URI, [insert(0, 6, "!!")], now + 0.6)  # nothing typed elsewhere is part of it
    assert kinds(t.tick(10.0)) == [("rejected", None), ("rewritten", "CACHE.clear()  # all")]


def test_rewritten_from_full_text_changes():
    """A client without incremental sync sends the whole text each time (didChange without range)."""
    t = Tracker()
    served(t)
    now, typed = 0.4, ""
    for ch in "CACHE.pop(w)":
        typed += ch
        t.changed(URI, [whole(DOC.replace("helpers.\n", "helpers." + typed + "\n"))], now)
        now += 0.1
    assert kinds(t.tick(10.0)) == [("rejected", None), ("rewritten", "CACHE.pop(w)")]


def test_rewritten_stops_when_the_user_edits_elsewhere_and_is_skipped_when_blank():
    t = Tracker()
    served(t)
    t.changed(URI, [insert(*AT, "ab")], 0.5)
    t.changed(URI, [insert(0, 0, "import os\n")], 1.0)  # elsewhere (above): the spot moved down a line
    t.changed(URI, [insert(2, AT[1] + 2, "cd")], 1.5)  # back at its end: no longer part of the rewrite
    assert kinds(t.tick(10.0)) == [("rejected", None), ("rewritten", "ab")]
    served(t, "g2", doc=DOC, now=20.0)
    t.changed(URI, [whole(DOC.replace("helpers.\n", "helpers.   \n"))], 20.5)  # only blanks
    assert kinds(t.tick(30.0)) == [("rejected", None)]


# ----- retained
def test_retained_is_1_when_untouched_and_follows_edits_elsewhere():
    t = Tracker()
    served(t)
    t.changed(URI, [insert(*AT, SUGGESTION)], 1.0)
    t.accepted("g1", 1.05)
    t.changed(URI, [insert(0, 0, "import os\n\n")], 5.0)  # shifts the region down two lines
    t.changed(URI, [insert(2, len("    return helpers." + SUGGESTION), "  # ok")], 6.0)  # just after it
    assert t.tick(31.0) == []
    assert kinds(t.tick(31.05)) == [("retained_30s", "1.000")]
    assert kinds(t.tick(121.05)) == [("retained_120s", "1.000")]
    assert len(t) == 0


def test_retained_drops_when_the_accepted_text_is_edited():
    t = Tracker()
    served(t)
    t.changed(URI, [insert(*AT, SUGGESTION)], 1.0)
    t.accepted("g1", 1.0)
    assert kinds(t.tick(31.0)) == [("retained_30s", "1.000")]
    start = AT[1] + len("frobnicate_widget_cache(")
    t.changed(URI, [replace((1, start), (1, start + len("widget, 600")), "w, ttl_seconds=60")], 40.0)
    after = DOC.replace("helpers.", "helpers.frobnicate_widget_cache(w, ttl_seconds=60)")
    t.changed(URI, [whole(after.replace("frobnicate_widget_cache", "invalidate"))], 50.0)  # a full-text change
    [signal] = t.tick(121.0)
    assert signal.kind == "retained_120s" and 0.3 < float(signal.value) < 0.9, signal


def test_retained_is_0_when_the_accepted_text_is_deleted():
    t = Tracker()
    served(t)
    t.changed(URI, [insert(*AT, SUGGESTION)], 1.0)
    t.accepted("g1", 1.0)
    t.changed(URI, [replace((1, 0), (2, 0), "")], 3.0)  # the whole line goes
    assert kinds(t.tick(31.0)) == [("retained_30s", "0.000")]


def test_accept_before_its_insertion_and_a_completion_item_that_rewrites_the_word():
    t = Tracker()
    served(t)
    t.accepted("g1", 1.0)  # the command came first
    t.changed(URI, [insert(*AT, SUGGESTION)], 1.01)
    assert kinds(t.tick(31.0)) == [("retained_30s", "1.000")]
    # A classic completion item replaces the word before the cursor with that word and the suggestion.
    doc = "x = help\n"
    t2 = Tracker()
    t2.served("g2", URI, 0, 8, "ers.cache", doc, 0.0)
    t2.changed(URI, [replace((0, 4), (0, 8), "helpers.cache")], 0.5)
    t2.accepted("g2", 0.6)
    assert kinds(t2.tick(30.6)) == [("retained_30s", "1.000")]


def test_closing_the_document_ends_retention_but_not_rejection():
    t = Tracker()
    served(t, "g1")
    t.changed(URI, [insert(*AT, SUGGESTION)], 1.0)
    t.accepted("g1", 1.0)
    served(t, "g2", doc=DOC.replace("helpers.", "helpers." + SUGGESTION), at=(0, 4), now=2.0)
    t.closed(URI)
    assert kinds(t.tick(200.0)) == [("rejected", None)]


def test_utf16_positions():
    text = "s = '😀é'\nnext"
    assert offset_of(text, 0, 7) == text.index("é")  # 😀 is two UTF-16 units
    assert offset_of(text, 0, 7, "utf-32") == text.index("'", 5)
    assert offset_of(text, 0, 6, "utf-8") == text.index("é")
    assert offset_of(text, 1, 99) == len(text) and offset_of(text, 5, 0) == len(text)


# ----- stored
def test_signals_are_stored_redacted_exported_and_kept_out_of_the_readers(growpilot_home):
    store = EventStore()
    try:
        rec = GenerationRecord("/ws", "app.py", 1, 2, "inline", "line", "PROMPT", "out", "m", None, 1.0, "model")
        gid = store.record_generation(rec)
        store.record_signal(gid, "rejected")
        secret = "AKIA" + "Z3MHQW7RTXKL4P2N"
        store.record_signal(gid, "rewritten", f'aws_access_key_id = "{secret}"')
        store.record_signal("unknown", "rejected")  # forgotten meanwhile: dropped, no error
        store.flush()
        rows = list(store.generations_with_events("/ws"))
        assert [(e["kind"], e["source"]) for e in rows[0]["events"]] == [("rejected", "implicit"), ("rewritten", "implicit")]
        assert secret not in rows[0]["events"][1]["value"] and "aws_access_key_id" in rows[0]["events"][1]["value"]
        assert store.training_feedback("/ws") == [] and store.memory_rows("/ws", 10) == []
        store.accept(gid)
        assert store.training_feedback("/ws")[0]["accepts"] == 1
    finally:
        store.close()
    out = run_cli("feedback", "export", "--workspace", "/ws")
    assert out.returncode == 0, out.stderr
    [row] = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["kind"] for e in row["events"]] == ["rejected", "rewritten", "accept"]


# ----- end to end
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"])
SCALE = 0.05  # reject after 0.5 s, unseen under 12.5 ms, retained at 1.5 s and 6 s


@pytest.fixture(autouse=True)
def fast_signals(monkeypatch):
    monkeypatch.setenv("GROWPILOT_SIGNAL_SCALE", str(SCALE))  # the server inherits it at its start


@pytest.fixture
def root(workspace):
    return write_files(workspace, LSP_FILES)


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, root, tiny_model):
    lsp_client.rec = Recorder(lsp_client, "growpilot/indexReady", "growpilot/modelReady")
    await lsp_client.initialize_session(init_params(root, {"modelPath": str(tiny_model), "debounceMs": 0,
                                                           "maxTokens": 8}))
    await lsp_client.rec.wait("growpilot/indexReady")
    await lsp_client.rec.wait("growpilot/modelReady")
    yield
    await lsp_client.shutdown_session()


async def _inline(client, uri, pos):
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        text_document=types.TextDocumentIdentifier(uri), position=pos))
    [item] = result.items
    return item.insert_text, item.command.arguments[0]["generationId"]


async def _type_over(client, uri, pos, suggestion: str) -> str:
    """Type, character by character, something else than `suggestion` where it was shown; what was typed."""
    typed = "CACHE.clear()" if not suggestion.startswith("C") else "zap()"
    for i, ch in enumerate(typed):
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2 + i),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(types.Position(pos.line, pos.character + i), types.Position(pos.line, pos.character + i)),
                text=ch)]))
    await asyncio.sleep(0)
    return typed


def _events(home, gid, want: int, timeout: float = 20.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        db = sqlite3.connect(home / "events.sqlite")
        try:
            rows = db.execute("SELECT kind, value, source FROM events WHERE generation_id = ? ORDER BY id",
                              (gid,)).fetchall()
        finally:
            db.close()
        if len(rows) >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


async def test_served_then_typed_over_is_rejected_and_rewritten_accepted_is_retained(client, root, growpilot_home):
    text = LSP_FILES["app.py"]
    uri = open_doc(client, root, "app.py", text)
    pos = end_of(text)
    suggestion, gid = await _inline(client, uri, pos)
    await asyncio.sleep(0.1)  # seen (past the unseen window), then the user types something else
    typed = await _type_over(client, uri, pos, suggestion)
    rows = await asyncio.get_running_loop().run_in_executor(None, _events, growpilot_home, gid, 2)
    assert rows == [("rejected", None, "implicit"), ("rewritten", typed, "implicit")], rows

    # The typing is undone; the next suggestion there is accepted (the client inserts it, then runs the
    # item's command) and left alone.
    version = 2 + len(typed)
    end = types.Position(pos.line, pos.character + len(typed))
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(pos, end), text="")]))
    suggestion, gid2 = await _inline(client, uri, pos)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version + 1),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(pos, pos), text=suggestion)]))
    await client.workspace_execute_command_async(types.ExecuteCommandParams("growpilot.accept", [{"generationId": gid2}]))
    rows = await asyncio.get_running_loop().run_in_executor(None, _events, growpilot_home, gid2, 3)
    assert rows == [("accept", None, None), ("retained_30s", "1.000", "implicit"),
                    ("retained_120s", "1.000", "implicit")], rows


async def test_what_was_typed_over_a_suggestion_is_in_the_next_prompts_of_other_files(client, root, growpilot_home):
    text = LSP_FILES["app.py"]
    uri = open_doc(client, root, "app.py", text)
    pos = end_of(text)
    suggestion, gid = await _inline(client, uri, pos)
    await asyncio.sleep(0.1)
    typed = await _type_over(client, uri, pos, suggestion)
    await asyncio.get_running_loop().run_in_executor(None, _events, growpilot_home, gid, 2)
    other = "inventory/helpers.py"
    # At a statement's start (the lines typed there are shown there) that the tiny model learned to go on from.
    full = LSP_FILES[other]
    for at in ("CACHE.pop", "COOLDOWN[", "return True"):
        helpers = full[:full.index(at)]
        result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
            text_document=types.TextDocumentIdentifier(open_doc(client, root, other, helpers)),
            position=end_of(helpers)))
        if result.items:
            later = result.items[0].command.arguments[0]["generationId"]
            break
    else:
        pytest.fail("no suggestion in inventory/helpers.py")
    deadline = time.monotonic() + 15  # the daemon writes the generation in the background
    while True:
        db = sqlite3.connect(growpilot_home / "events.sqlite")
        try:
            row = db.execute("SELECT prompt, provenance FROM generations WHERE id = ?", (later,)).fetchone()
        finally:
            db.close()
        if row or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    prompt, provenance = row
    assert f"<|file_sep|>conventions.py\n{typed}\n" in prompt  # the user's own line, as a file of the workspace
    assert gid in json.loads(provenance)["examples"]
