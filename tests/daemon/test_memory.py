"""Few-shot memory (learning/memory.py): which past suggestions of a workspace come back as examples in
a later prompt, and how they are laid out. Pure selection tests on a real event store with a
deterministic embedder; the real embedder's similarity against the threshold; and end to end over LSP
with the tiny model: a 👍 suggestion shows up in a similar later prompt, a 👎 one (even accepted) never,
and a forgotten one never again."""

import json
import os
import re
import sqlite3
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import run_cli, write_files
from growpilot.completion.context import search_query
from growpilot.completion.prompt import Budget, build_prompt
from growpilot.learning.events import EventStore, GenerationRecord
from growpilot.learning.memory import (MEMORY_RETAIN_AFTER_S, MEMORY_SHARE, SIMILARITY_THRESHOLD, TYPED_SHARE, Example,
                                       Memory, TypedLines, context_of, rank, tail)
from growpilot.models.fim import TEMPLATES, Snippet
from lsp_fixtures import LSP_FILES, Recorder, command, end_of, init_params, open_doc

QWEN = TEMPLATES["qwen"]


def count(text: str) -> int:
    return (len(text) + 3) // 4


class WordsEmbedder:
    """Bag of hashed words, normalized: texts sharing words are similar. Counts what it embeds."""

    identity = "words:64"

    def __init__(self):
        self.embedded: list[str] = []

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(64, dtype=np.float32)
        for word in re.findall(r"[a-z]+", text.lower()):
            v[zlib.crc32(word.encode()) % 64] += 1.0
        return v / (np.linalg.norm(v) or 1.0)

    def embed(self, texts):
        self.embedded += texts
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, 64), np.float32)

    def embed_query(self, text):
        return self._vec(text)


def _prompt(prefix: str, snippets=(), suffix: str = "\n") -> str:
    return build_prompt(QWEN, count, prefix, suffix, list(snippets), "app.py", "ws", Budget(1024, 0.35, 0.3),
                        repo_format=True).text


@pytest.fixture
def ws(workspace) -> str:
    return os.path.realpath(workspace)


@pytest.fixture
def store(growpilot_home):
    s = EventStore()
    yield s
    s.close()


def _gen(store, ws, prefix, output, *, path="app.py", created=None, kind="inline", healed="", prompt=None) -> str:
    return store.record_generation(GenerationRecord(
        workspace=ws, path=path, line=3, character=4, kind=kind, mode="line",
        prompt=_prompt(prefix) if prompt is None else prompt, output=output, model="tiny", adapter=None,
        latency_ms=1.0, source="model", timings={"healed": healed}, created=time.time() if created is None else created))


WIDGET = "def refresh_widget(widget):\n    \"\"\"Drop the widget from the cache.\"\"\"\n    return helpers."
GADGET = "def refresh_gadget(gadget):\n    \"\"\"Drop the gadget from the cache.\"\"\"\n    return helpers."
PARSER = "import argparse\n\nparser = argparse.ArgumentParser(description=\"tool\")\nparser.add_argument("


# ----- the context a stored prompt shows
def test_context_of_is_the_prefix_after_the_snippets_in_every_layout():
    snippet = Snippet("inventory/helpers.py", "def frobnicate_widget_cache(widget_id, ttl_seconds):\n    return True")
    assert context_of(_prompt(WIDGET, [snippet], suffix="\n\nprint('after')\n")) == WIDGET
    comments = build_prompt(QWEN, count, WIDGET, "\nz = 1\n", [], "app.py", "ws", Budget(1024, 0.35, 0.3)).text
    assert context_of(comments) == WIDGET
    deepseek = TEMPLATES["deepseek"].render(WIDGET, "\nz = 1\n", [], "app.py", "ws")
    assert context_of(deepseek) == WIDGET
    assert context_of(TEMPLATES["plain"].render(WIDGET, "", [], "app.py", "ws")) == WIDGET
    long = "\n".join(f"line_{i} = {i}" for i in range(30)) + "\nx = "
    assert tail(long) == "\n".join(long.split("\n")[-8:]) and tail(long, 2) == "line_29 = 29\nx = "


# ----- ranking
def test_rank_orders_by_similarity_keeps_k_and_cuts_at_the_threshold():
    q = np.array([1.0, 0.0], np.float32)
    items = [("far", np.array([0.0, 1.0], np.float32)), ("near", np.array([0.96, 0.28], np.float32)),
             ("exact", q), ("mid", np.array([0.6, 0.8], np.float32))]
    assert [name for name, _ in rank(items, q, 2, 0.5)] == ["exact", "near"]
    assert [name for name, _ in rank(items, q, 10, 0.5)] == ["exact", "near", "mid"]  # "far" (0.0) never
    assert rank(items, q, 10, 1.01) == [] and rank(items, q, 0, 0.0) == [] and rank([], q, 3, 0.0) == []
    twins = [("older", q), ("newer", q)]
    assert [name for name, _ in rank(twins, q, 1, 0.5)] == ["newer"]  # a tie: the more recent one


# ----- selection from the store
def test_selection_takes_up_and_retained_accepts_and_never_down_or_rejected(ws, store):
    write_files(Path(ws), {"app.py": "def refresh_widget(widget):\n    return helpers.drop(widget)\n"})
    old = time.time() - 2 * MEMORY_RETAIN_AFTER_S
    up = _gen(store, ws, WIDGET, "frob(widget)")
    store.rate(up, "up")
    retained = _gen(store, ws, WIDGET, "drop(widget)", created=old)  # still in app.py
    store.accept(retained)
    not_retained = _gen(store, ws, WIDGET, "gone_since(widget)", created=old)
    store.accept(not_retained)
    pending = _gen(store, ws, WIDGET, "drop(widget)")  # accepted just now: not known to be kept yet
    store.accept(pending)
    down = _gen(store, ws, WIDGET, "bad(widget)")
    store.rate(down, "down")
    accepted_down = _gen(store, ws, WIDGET, "drop(widget)", created=old)  # accepted and kept, but 👎
    store.accept(accepted_down)
    store.rate(accepted_down, "down")
    changed_mind = _gen(store, ws, WIDGET, "meh(widget)")
    store.rate(changed_mind, "up")
    store.rate(changed_mind, "down")
    _gen(store, ws, WIDGET, "shown_only(widget)")  # shown, never accepted: rejected
    action = _gen(store, ws, WIDGET, "action_text", kind="action")
    store.rate(action, "up")
    other_ws = _gen(store, ws + "-other", WIDGET, "elsewhere(widget)")
    store.rate(other_ws, "up")
    empty = _gen(store, ws, WIDGET, "   ")
    store.rate(empty, "up")
    memory = Memory(store, WordsEmbedder)
    got = memory.examples(ws, WIDGET, 10)
    assert {e.id for e in got} == {up, retained}, [e.completion for e in got]
    assert all(e.score >= SIMILARITY_THRESHOLD and e.context == WIDGET for e in got)
    # Retention is judged on the document as the editor has it, when it is the file in question.
    now_gone = memory.examples(ws, WIDGET, 10, current=("app.py", "def refresh_widget(widget):\n    pass\n"))
    assert {e.id for e in now_gone} == {up}
    assert memory.examples(ws, WIDGET, 0) == []


def test_selection_ranks_by_context_similarity_with_a_threshold_and_caches_vectors(ws, store):
    gadget = _gen(store, ws, GADGET, "frob(gadget)")
    widget = _gen(store, ws, WIDGET, "frob(widget)", healed="")
    parser = _gen(store, ws, PARSER, "\"--verbose\")")
    for gid in (gadget, widget, parser):
        store.rate(gid, "up")
    embedder = WordsEmbedder()
    memory = Memory(store, lambda: embedder)
    got = memory.examples(ws, WIDGET.replace("refresh_widget", "refresh_widgets"), 2)
    assert [e.id for e in got] == [widget, gadget] and got[0].score > got[1].score
    assert memory.examples(ws, PARSER, 1)[0].id == parser
    assert [e.id for e in memory.examples(ws, "totally unrelated words here", 3)] == []  # below the threshold
    # Each candidate's context was embedded once, however many requests.
    assert len(embedder.embedded) == 3 and memory.cached_ids(ws) == {gadget, widget, parser}
    # The example as the prompt shows it: the context's last lines, then the suggestion.
    assert got[0].snippet(2) == Snippet("app.py", '    """Drop the widget from the cache."""\n    return helpers.frob(widget)')


def test_healed_text_counts_as_context_and_is_spelled_by_the_example(ws, store):
    # Token healing gave up "hel" of the cursor's line: the prompt ends before it, the output after it.
    gid = _gen(store, ws, WIDGET[:-len("helpers.")], "pers.frob(widget)", healed="hel")
    store.rate(gid, "up")
    [ex] = Memory(store, WordsEmbedder).examples(ws, WIDGET, 1)
    assert ex.snippet(1).text == "    return helpers.frob(widget)"


def test_forgotten_cleared_and_pruned_generations_leave_the_memory_and_its_cache(ws, store):
    keep = _gen(store, ws, WIDGET, "frob(widget)")
    forget = _gen(store, ws, WIDGET, "forget_me(widget)")
    pruned = _gen(store, ws, WIDGET, "old(widget)", created=time.time() - 400 * 86400)
    for gid in (keep, forget, pruned):
        store.rate(gid, "up")
    memory = Memory(store, WordsEmbedder)
    assert {e.id for e in memory.examples(ws, WIDGET, 5)} == {keep, forget, pruned}
    from growpilot.learning import feedback

    feedback.forget(store, ws, ids=[forget])
    store.prune(max_days=90, max_mb=200)  # the old prompt is cleared: its context with it
    assert {e.id for e in memory.examples(ws, WIDGET, 5)} == {keep}
    assert memory.cached_ids(ws) == {keep}
    store.rate(keep, "down")  # a later 👎 takes it out too
    assert memory.examples(ws, WIDGET, 5) == [] and memory.cached_ids(ws) == set()


def test_a_long_history_is_embedded_a_few_per_request_newest_first(ws, store, monkeypatch):
    from growpilot.learning import memory as M

    monkeypatch.setattr(M, "EMBED_PER_REQUEST", 2)
    ids = [_gen(store, ws, WIDGET, f"frob_{i}(widget)", created=time.time() - 10 + i) for i in range(5)]
    for gid in ids:
        store.rate(gid, "up")
    embedder = WordsEmbedder()
    memory = Memory(store, lambda: embedder)
    assert {e.id for e in memory.examples(ws, WIDGET, 5)} == set(ids[3:])  # the two newest only, for now
    assert {e.id for e in memory.examples(ws, WIDGET, 5)} == set(ids[1:])
    assert {e.id for e in memory.examples(ws, WIDGET, 5)} == set(ids) and len(embedder.embedded) == 5


def test_a_rejected_then_rewritten_position_teaches_the_rewrite(ws, store):
    rejected = _gen(store, ws, WIDGET, "bad_guess(widget)")
    memory = Memory(store, WordsEmbedder)
    assert memory.examples(ws, WIDGET, 3) == []  # read once: the rows are cached until the store changes
    store.record_signal(rejected, "rejected")
    store.record_signal(rejected, "rewritten", "first_try(widget")
    store.record_signal(rejected, "rewritten", "drop(widget)")  # the latest one is what the user wanted
    down = _gen(store, ws, GADGET, "worse_guess(gadget)")  # 👎 on the model's output, not on the rewrite
    store.rate(down, "down")
    store.record_signal(down, "rewritten", "drop(gadget)")
    blank = _gen(store, ws, WIDGET, "other(widget)")
    store.record_signal(blank, "rewritten", "  \n")
    store.flush()
    got = memory.examples(ws, WIDGET, 5)
    assert {(e.id, e.completion) for e in got} == {(rejected, "drop(widget)"), (down, "drop(gadget)")}
    assert got[0].id == rejected and got[0].context == WIDGET
    assert got[0].snippet(1).text == "    return helpers.drop(widget)"
    assert not any("guess" in e.completion for e in got)  # the model's rejected or 👎'd text never
    store.record_signal(rejected, "rewritten", "purge(widget)")  # a signal alone is a change of the store
    store.flush()
    assert memory.examples(ws, WIDGET, 1)[0].completion == "purge(widget)"


def test_typed_lines_are_the_users_rewrites_elsewhere_in_the_language_newest_last_each_once(ws, store):
    def rewrite(path, typed):
        gid = _gen(store, ws, WIDGET, "print(widget)", path=path)
        store.record_signal(gid, "rejected")
        store.record_signal(gid, "rewritten", typed)
        return gid

    old = rewrite("inventory/stock.py", "raise StockError(widget)")
    rewrite("web/app.js", "log.debug(widget);")  # another language
    rewrite("app.py", "logger.debug(widget)")  # the current file: its lines are in view
    same = rewrite("inventory/orders.py", "\n    raise StockError(widget)\n")  # first non-blank line, stripped: a repeat
    new = rewrite("inventory/prices.py", "logger.info('priced %s', widget)")
    store.flush()
    memory = Memory(store, WordsEmbedder)
    got = memory.typed_lines(ws, "app.py", "    ")
    assert got == TypedLines((same, new), ("raise StockError(widget)", "logger.info('priced %s', widget)"),
                             "conventions.py")
    assert memory.typed_lines(ws, "app.py", "", n=1).lines == ("logger.info('priced %s', widget)",)
    assert memory.typed_lines(ws, "web/other.js", "  ").lines == ("log.debug(widget);",)
    assert memory.typed_lines(ws, "README.md", "") is None
    assert memory.typed_lines(ws, "app.py", "    x = ") is None  # not at a statement start
    store.forget(ws, [same, new])  # forgotten: the older rewrite of the same line is what is left
    assert memory.typed_lines(ws, "app.py", "    ").ids == (old,)


def test_a_forget_by_another_process_is_seen_at_the_next_request(ws, store):
    gid = _gen(store, ws, WIDGET, "frob(widget)")
    store.rate(gid, "up")
    memory = Memory(store, WordsEmbedder)
    assert [e.id for e in memory.examples(ws, WIDGET, 2)] == [gid]
    assert [e.id for e in memory.examples(ws, WIDGET, 2)] == [gid]  # the store did not change: rows reused
    other = EventStore()  # another connection, as `growpilot feedback forget` in its own process
    other.forget(ws, [gid])
    other.close()
    assert memory.examples(ws, WIDGET, 2) == [] and memory.cached_ids(ws) == set()


# ----- the prompt
def test_examples_have_their_own_share_whole_and_next_to_the_current_file():
    ex1 = _ex("a" * 32, WIDGET + "frob(widget)")
    ex2 = _ex("b" * 32, GADGET + "frob(gadget)")
    snippet = Snippet("inventory/helpers.py", "def frobnicate_widget_cache(widget_id, ttl_seconds):\n    return True")
    budget = Budget(1024, 0.35, 0.3, 0.0, MEMORY_SHARE)
    built = build_prompt(QWEN, count, "x = 1\ny = ", "\n", [snippet], "app.py", "ws", budget, repo_format=True,
                         examples=[ex1, ex2])
    assert built.examples == (ex1.id, ex2.id) and built.provenance()["examples"] == [ex1.id, ex2.id]
    assert [s.path for s in built.snippets] == ["inventory/helpers.py"]  # examples are not retrieval snippets
    text = built.text
    assert text.index("frobnicate_widget_cache") < text.index("frob(gadget)") < text.index("frob(widget)") < text.index("y = ")
    assert "<|file_sep|>app.py\n" + ex1.snippet(4).text + "\n<|file_sep|>app.py\nx = 1" in text  # the best nearest
    # A tight budget: the best whole, the next one left out rather than cut (never half a suggestion).
    tight = build_prompt(QWEN, count, "y = ", "", [], "app.py", "ws", Budget(300, 0.35, 0.3, 0.0, 0.15),
                         repo_format=True, examples=[ex1, ex2])
    assert tight.examples == (ex1.id,) and "frob(widget)" in tight.text and "gadget" not in tight.text
    # Tighter: the best one shows fewer lines of its context, its suggestion still whole.
    tighter = build_prompt(QWEN, count, "y = ", "", [], "app.py", "ws", Budget(200, 0.35, 0.3, 0.0, 0.15),
                           repo_format=True, examples=[ex1, ex2])
    assert tighter.examples == (ex1.id,) and "    return helpers.frob(widget)\n" in tighter.text
    assert "def refresh_widget" not in tighter.text
    none = build_prompt(QWEN, count, "y = ", "", [], "app.py", "ws", Budget(1024, 0.35, 0.3), examples=[ex1])
    assert none.examples == () and "frob(widget)" not in none.text  # no share, no examples


def test_typed_lines_have_their_own_share_newest_first_last_before_the_file():
    ex = _ex("a" * 32, WIDGET + "frob(widget)")
    typed = TypedLines(tuple(f"g{n}" for n in range(40)), tuple(f"raise StockError('case {n}')" for n in range(40)),
                       "conventions.py")
    snippet = Snippet("inventory/helpers.py", "def frobnicate_widget_cache(widget_id, ttl_seconds):\n    return True")
    budget = Budget(1024, 0.35, 0.3, 0.0, MEMORY_SHARE, TYPED_SHARE)
    built = build_prompt(QWEN, count, "x = 1\ny = ", "\n", [snippet], "app.py", "ws", budget, repo_format=True,
                         examples=[ex], typed=typed)
    shown = [n for n in range(40) if f"'case {n}'" in built.text]
    assert shown and shown == list(range(40 - len(shown), 40)) and len(shown) < 40  # the newest that fit the share
    assert built.examples == tuple(f"g{n}" for n in shown) + (ex.id,)  # provenance: every memory in the prompt
    assert [s.path for s in built.snippets] == ["inventory/helpers.py"]
    text = built.text
    assert text.index("frobnicate") < text.index("frob(widget)") < text.index("<|file_sep|>conventions.py\n") < text.index("y = ")
    none = build_prompt(QWEN, count, "y = ", "", [], "app.py", "ws", Budget(1024, 0.35, 0.3), typed=typed)
    assert none.examples == () and "StockError" not in none.text  # no share, no lines


def _ex(gid, text):
    context, _, completion = text.rpartition("helpers.")
    return Example(gid, "app.py", context + "helpers.", completion, 1.0)


# ----- the real embedder against the threshold
def test_the_threshold_separates_similar_from_unrelated_contexts_with_the_real_embedder(embedder):
    q = embedder.embed_query(search_query(WIDGET.replace("refresh_widget", "invalidate_widget")))
    similar, unrelated = embedder.embed([search_query(GADGET), search_query(PARSER)])
    assert float(similar @ q) >= SIMILARITY_THRESHOLD > float(unrelated @ q), (float(similar @ q), float(unrelated @ q))


# ----- end to end over LSP (tiny model)
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"])
# Files whose last line is app.py's: similar contexts, each a fresh prompt (no cached answer).
SIMILAR = {f"app_{n}.py": LSP_FILES["app.py"].replace("def refresh_widget", f"def refresh_widget_{n}")
           for n in ("two", "three", "four")}


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, workspace, tiny_model):
    write_files(workspace, {**LSP_FILES, **SIMILAR})
    lsp_client.root = workspace
    lsp_client.rec = Recorder(lsp_client, "growpilot/indexReady", "growpilot/modelReady")
    await lsp_client.initialize_session(init_params(workspace, {"modelPath": str(tiny_model), "debounceMs": 0,
                                                                "maxTokens": 12}))
    await lsp_client.rec.wait("growpilot/indexReady")
    await lsp_client.rec.wait("growpilot/modelReady")
    yield
    await lsp_client.shutdown_session()


async def _complete(client, *rels: str) -> tuple[str, str]:
    """(generation id, suggestion) of an inline completion at the end of the first of `rels` where the tiny
    model says something (its weights, trained per session, differ by CPU: at some similar positions it has
    nothing to say, and an empty answer is not recorded)."""
    for rel in rels:
        uri = open_doc(client, client.root, rel)
        result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
            text_document=types.TextDocumentIdentifier(uri), position=end_of((client.root / rel).read_text())))
        items = result.items if isinstance(result, types.InlineCompletionList) else result
        if items and items[0].insert_text.strip():
            return items[0].command.arguments[0]["generationId"], items[0].insert_text
    pytest.fail(f"no suggestion at the end of {', '.join(rels)}")


def _stored(home, gid: str) -> tuple[str, dict, dict]:
    """(prompt, provenance, timings) of a generation, from events.sqlite (the daemon writes it in the background)."""
    deadline = time.monotonic() + 15
    db = sqlite3.connect(home / "events.sqlite")
    try:
        while (row := db.execute("SELECT prompt, provenance, timings FROM generations WHERE id=?", (gid,)).fetchone()) is None:
            assert time.monotonic() < deadline, f"generation {gid} was never written"
            time.sleep(0.05)
    finally:
        db.close()
    return row[0], json.loads(row[1]), json.loads(row[2])


async def test_a_thumbs_up_suggestion_is_an_example_later_until_it_is_forgotten(client: LanguageClient, growpilot_home):
    first, text = await _complete(client, "app.py")
    prompt, prov, timings = _stored(growpilot_home, first)
    assert prov["examples"] == []  # nothing rated yet
    example = f"{tail(context_of(prompt), 2)}{timings['healed']}{text}\n<|file_sep|>"  # its context, what it said
    assert (await command(client, "growpilot.feedback", {"generationId": first, "rating": "up"}))["ok"]
    second, _ = await _complete(client, "app_two.py")
    prompt, prov, timings = _stored(growpilot_home, second)
    assert prov["examples"] == [first]
    assert example in prompt and prompt.index(example) < prompt.index("<|file_sep|>app_two.py\n")  # far from the cursor
    assert timings["memory_ms"] >= 0
    view = json.loads(run_cli("prompt", second, "--workspace", os.path.realpath(client.root), "--json").stdout)
    assert view["examples"] == [first]  # what `growpilot prompt` tells the user
    # Forgotten: never again, though the daemon (and its memory's cache) kept running.
    forgot = run_cli("feedback", "forget", "--workspace", os.path.realpath(client.root), "--id", first, "--json")
    assert forgot.returncode == 0 and json.loads(forgot.stdout)["generations"] == 1, forgot.stderr
    third, _ = await _complete(client, "app_three.py", "app_four.py")
    prompt, prov, _ = _stored(growpilot_home, third)
    assert prov["examples"] == [] and example not in prompt


async def test_a_thumbs_down_suggestion_never_is_an_example_even_accepted(client: LanguageClient, growpilot_home):
    first, text = await _complete(client, "app.py")
    prompt, _, timings = _stored(growpilot_home, first)
    example = f"{tail(context_of(prompt), 2)}{timings['healed']}{text}\n<|file_sep|>"
    await command(client, "growpilot.accept", {"generationId": first})
    await command(client, "growpilot.feedback", {"generationId": first, "rating": "up"})
    await command(client, "growpilot.feedback", {"generationId": first, "rating": "down"})  # changed their mind
    second, _ = await _complete(client, "app_two.py")
    prompt, prov, _ = _stored(growpilot_home, second)
    assert prov["examples"] == [] and example not in prompt
