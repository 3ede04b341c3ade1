"""A/B of adapters (learning/ab.py): the stable split, the tests on seeded counts, the experiment's
state, and through the language server: half the lines served by the challenger, each generation
recording its adapter, `growpilot.abStatus` counting them."""

import math
import os
import re
import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from growpilot.learning import ab
from lsp_fixtures import command, open_doc, start_session
from test_training_cycle import make_workspace, options

# ----- pure


def test_the_split_is_stable_per_line_and_about_half():
    exp = ab.Experiment("v2", "v3", 0.0)
    arms = [exp.arm("src/app.py", line) for line in range(2000)]
    assert 900 < arms.count("challenger") < 1100
    assert arms == [exp.arm("src/app.py", line) for line in range(2000)]  # the same line, the same arm
    other = ab.Experiment("v2", "v4", 0.0)  # a new experiment deals the lines again
    assert sum(a != other.arm("src/app.py", i) for i, a in enumerate(arms)) > 800


def test_challenger_setting():
    versions = ["v1", "v2", "v3"]
    assert ab.challenger_label("", versions, "v3") == (None, None)
    assert ab.challenger_label("latest", versions, "v3") == ("v2", None)
    assert ab.challenger_label("latest", versions, ab.BASE) == ("v3", None)
    assert ab.challenger_label("base", versions, "v3") == (ab.BASE, None)
    assert ab.challenger_label("v1", versions, "v3") == ("v1", None)
    label, why = ab.challenger_label("v9", versions, "v3")
    assert label is None and "unknown adapter version 'v9'" in why
    label, why = ab.challenger_label("v3", versions, "v3")
    assert label is None and "is the active adapter" in why
    assert ab.challenger_label("latest", ["v1"], "v1")[0] is None


def test_tests_on_hand_computed_values():
    # pooled 0.5, se = sqrt(0.25 * 0.02), z = 0.2 / se = 2.828: p = erfc(2) = 0.004678
    assert ab.two_proportion_p(60, 100, 40, 100) == pytest.approx(math.erfc(2.0), rel=1e-9)
    assert ab.two_proportion_p(0, 0, 3, 10) is None
    # means 3 and 5, variances 2.5 each: se = 1, z = 2
    assert ab.welch_p([1, 2, 3, 4, 5], [3, 4, 5, 6, 7]) == pytest.approx(math.erfc(2 / math.sqrt(2)), rel=1e-9)
    assert ab.welch_p([1], [2, 3]) is None


def _rows(adapter, shown, accepted, created=100.0):
    """`shown` suggestions of 10 characters, the first `accepted` accepted and kept whole."""
    return [{"id": f"{adapter}-{i}", "created": created, "adapter": None if adapter == ab.BASE else adapter,
             "chars": 10, "latency_ms": 100.0,
             "events": [{"kind": "accept", "value": None}, {"kind": "retained_120s", "value": "1.0"}] if i < accepted else []}
            for i in range(shown)]


def test_status_names_the_winner_on_kept_characters():
    exp = ab.Experiment("v2", "v3", 50.0)
    rows = _rows("v2", 100, 30) + _rows("v3", 100, 60) + _rows("v3", 50, 0, created=10.0) + _rows("v1", 40, 40)
    s = ab.status(rows, exp)
    a, c = s["arms"]["active"], s["arms"]["challenger"]
    assert (a["adapter"], a["shown"], a["accepted"], a["retained_per_shown"]) == ("v2", 100, 30, 3.0)
    assert (c["adapter"], c["shown"], c["accepted"], c["retained_per_shown"]) == ("v3", 100, 60, 6.0)
    assert s["tests"]["acceptance_p"] == pytest.approx(math.erfc(0.3 / math.sqrt(0.45 * 0.55 * 0.02) / math.sqrt(2)), abs=1e-6)
    assert s["tests"]["retained_per_shown_p"] < 0.001
    assert s["winner"] == {"arm": "challenger", "adapter": "v3"} and s["offer_promote"] is True
    # too few suggestions per arm: no winner yet, whatever the difference
    few = ab.status(_rows("v2", 99, 10) + _rows("v3", 99, 90), exp)
    assert few["winner"] is None and few["offer_promote"] is False
    # the active one winning is a result too, but nothing to promote
    back = ab.status(_rows("v2", 100, 60) + _rows("v3", 100, 30), exp)
    assert back["winner"] == {"arm": "active", "adapter": "v2"} and back["offer_promote"] is False
    assert ab.status(rows, None) == {"on": False, "experiment": None}


def test_an_experiment_continues_until_the_pair_changes(tmp_path):
    first = ab.experiment(tmp_path, "v2", "v3", now=100.0)
    assert ab.experiment(tmp_path, "v2", "v3", now=200.0) == first  # a restart continues it
    assert ab.current(tmp_path) == first
    promoted = ab.experiment(tmp_path, "v3", "v2", now=300.0)
    assert promoted.started == 300.0 and ab.current(tmp_path) == promoted


# ----- through the language server

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"])


def _random_adapter(tiny_model, folder):
    """A random LoRA adapter for the tiny model, registered as a rejected candidate v1 of `root`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    lora = LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), lora).save_pretrained(folder)
    return folder


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, workspace, tiny_model, growpilot_home, tmp_path):
    from growpilot.training.registry import Registry, base_identity

    make_workspace(workspace)
    registry = Registry.for_workspace(os.path.realpath(workspace))
    registry.add(_random_adapter(tiny_model, tmp_path / "lora"),
                 {"status": "rejected", "decision": "rejected", "reason": "test",
                  "base_model": {"name": "tiny", "hash": base_identity(tiny_model)}})
    await start_session(lsp_client, workspace, options(tiny_model, debounceMs=0, maxTokens=6))
    yield
    await lsp_client.shutdown_session()


async def test_half_the_lines_go_to_the_challenger_and_are_counted(client: LanguageClient, growpilot_home):
    import sqlite3

    off = await command(client, "growpilot.abStatus")
    assert off == {"on": False, "experiment": None}
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams({"growpilot": {"abChallenger": "latest"}}))
    rel = "services/widget_service.py"
    lines = [f"value_{i} = compute_{i}(" for i in range(24)]
    uri = open_doc(client, client.root, rel, "\n".join(lines) + "\n")
    for i, line in enumerate(lines):
        await client.text_document_inline_completion_async(types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
            text_document=types.TextDocumentIdentifier(uri), position=types.Position(i, len(line))))
    status = await command(client, "growpilot.abStatus")
    assert status["on"] and status["experiment"]["active"] == "base" and status["experiment"]["challenger"] == "v1"
    db = sqlite3.connect(growpilot_home / "events.sqlite")
    rows = db.execute("SELECT line, adapter, json_extract(timings, '$.ab_arm') FROM generations").fetchall()
    expected = ab.Experiment("base", "v1", 0.0)
    assert rows and all(arm == expected.arm(rel, line) for line, _, arm in rows)  # the split as the pure one
    assert all((adapter == "v1") == (arm == "challenger") for _, adapter, arm in rows)  # served by its arm's adapter
    arms = status["arms"]
    assert arms["challenger"]["shown"] == sum(a == "challenger" for *_, a in rows) > 0
    assert arms["active"]["shown"] == sum(a == "active" for *_, a in rows) > 0
    assert status["winner"] is None  # two dozen suggestions decide nothing


def test_cli_judges_the_recorded_experiment(workspace, growpilot_home):
    import json
    import subprocess
    import time

    from growpilot.training.registry import Registry

    root = os.path.realpath(workspace)
    ab.experiment(Registry.for_workspace(root).folder, "base", "v1", now=time.time() - 60)
    _seed(root, ((None, 120, 20), ("v1", 110, 70)))
    out = subprocess.run([sys.executable, "-m", "growpilot", "ab", "status", "--workspace", str(workspace), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    a, c = s["arms"]["active"], s["arms"]["challenger"]
    assert (a["adapter"], a["shown"], a["accepted"], a["retained_per_shown"]) == ("base", 120, 20, round(100 / 120, 6))
    assert (c["adapter"], c["shown"], c["accepted"], c["retained_per_shown"]) == ("v1", 110, 70, round(350 / 110, 6))
    assert s["winner"] == {"arm": "challenger", "adapter": "v1"} and s["offer_promote"]


def _seed(root, counts):
    """Suggestions of 10 characters per adapter (None: the base model): (adapter, shown, accepted and kept half)."""
    from growpilot.learning.events import EventStore, GenerationRecord

    store = EventStore()
    for adapter, shown, accepted in counts:
        for i in range(shown):
            gid = store.record_generation(GenerationRecord(root, "a.py", i, 0, "inline", "line", "p", "x" * 10, "m",
                                                           adapter, 50.0, "model"))
            if i < accepted:
                store.accept(gid)
                store.record_signal(gid, "retained_120s", "0.5")
    store.close()


async def _offers_after_a_won_ab(client: LanguageClient, root: str, answer: str, until) -> list:
    """v1 has won a running A/B (seeded counts); one suggestion is served, so that its implicit signals fall
    due (an ignored one is rejected after 10 s) and with them the A/B is judged. Returns the offers the
    client got, each answered with the action titled `answer`, once `until()` holds (60 s at most)."""
    import asyncio
    import time

    from growpilot.training.registry import Registry

    ab.experiment(Registry.for_workspace(root).folder, "base", "v1", now=time.time() - 60)
    _seed(root, ((None, 120, 20), ("v1", 110, 70)))
    offers = []

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def _answer(ls, params):
        offers.append(params)
        return next(a for a in params.actions if a.title == answer)

    client.workspace_did_change_configuration(types.DidChangeConfigurationParams({"growpilot": {"abChallenger": "latest"}}))
    line = "value = compute("
    uri = open_doc(client, client.root, "services/widget_service.py", line + "\n")
    await client.text_document_inline_completion_async(types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        text_document=types.TextDocumentIdentifier(uri), position=types.Position(0, len(line))))
    deadline = time.monotonic() + 60
    while not until(offers) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)  # what an answer does, it has done by now
    return offers


async def test_a_winning_challenger_is_offered_and_promoted_when_the_user_says_so(client: LanguageClient, workspace):
    from growpilot.training.registry import Registry

    root = os.path.realpath(workspace)
    assert Registry.for_workspace(root).active() is None
    offers = await _offers_after_a_won_ab(client, root, "Promote v1", lambda _: Registry.for_workspace(root).active())
    assert len(offers) == 1, offers
    message = offers[0].message
    counts = re.search(r"(\d+) \+ (\d+) suggestions\)\. Promote it\?$", message)
    assert "v1 beat base on the characters you kept" in message and counts, message
    assert int(counts[1]) in (110, 111) and int(counts[2]) in (120, 121)  # the seeded ones, and the one just served
    assert [a.title for a in offers[0].actions] == ["Promote v1", "Not now"]
    assert Registry.for_workspace(root).active().version == "v1"
    status = await command(client, "growpilot.abStatus")
    assert not status["on"]  # v1 now serves, and no other version is left to challenge it


async def test_not_now_leaves_the_active_adapter(client: LanguageClient, workspace):
    from growpilot.training.registry import Registry

    root = os.path.realpath(workspace)
    offers = await _offers_after_a_won_ab(client, root, "Not now", bool)
    assert len(offers) == 1 and Registry.for_workspace(root).active() is None
    status = await command(client, "growpilot.abStatus")
    assert status["on"] and status["winner"] == {"arm": "challenger", "adapter": "v1"}
