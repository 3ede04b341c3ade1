"""What a user sees and undoes of the history: `growpilot feedback export|forget`, `growpilot prompt`
(with the snippets and examples a prompt held), forgotten feedback leaving the training data, and
ratings surviving a `kill -9` of the daemon."""

import datetime as dt
import inspect
import json
import os
import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, write_files
from growpilot import cli
from growpilot.completion.prompt import Budget, build_prompt
from growpilot.config import Settings
from growpilot.learning import feedback
from growpilot.learning.events import EventStore, GenerationRecord
from growpilot.models.fim import TEMPLATES, Snippet
from growpilot.training import data as D
from growpilot.training.corpus import read_json, read_jsonl, training_dir, write_json, write_jsonl
from growpilot.training.cycle import TrainingCycle
from lsp_fixtures import LSP_FILES

DAY = 86400.0
EXPORT_FIELDS = {"id", "created", "time", "workspace", "path", "line", "character", "kind", "mode", "source", "model",
                 "adapter", "latency_ms", "prompt", "pruned", "output", "snippets", "examples", "events", "accepts",
                 "rating"}
PROVENANCE = {"snippets": [{"path": "inventory/helpers.py", "start_line": 4, "end_line": 8}],
              "examples": ["0123456789abcdef0123456789abcdef"]}


def _gen(store: EventStore, ws: str, created: float, prompt: str, output: str = "return x", path: str = "app.py",
         kind: str = "inline", source: str = "model", provenance: dict | None = None, timings: dict | None = None) -> str:
    return store.record_generation(GenerationRecord(
        workspace=ws, path=path, line=6, character=19, kind=kind, mode="line", prompt=prompt, output=output,
        model="tiny", adapter=None, latency_ms=12.5, source=source, created=created, provenance=provenance,
        timings=timings or {}))


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _export(capsys, ws) -> list[dict]:
    rc, out, _ = _cli(capsys, "feedback", "export", "--workspace", str(ws))
    assert rc == 0
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def ws(workspace) -> str:
    return os.path.realpath(workspace)


# ----- export
def test_export_is_one_json_line_per_suggestion_with_its_events(ws, growpilot_home):
    store = EventStore()
    now = time.time()
    old = _gen(store, ws, now - 3 * DAY, "PROMPT-OLD", "old_output()")
    new = _gen(store, ws, now - DAY, "PROMPT-NEW", "new_output()", provenance=PROVENANCE)
    cached = _gen(store, ws, now - DAY + 1, "", "new_output()", source="cache")
    _gen(store, "/elsewhere", now, "PROMPT-OTHER")
    store.accept(new, "inline")
    store.rate(new, "down")
    store.rate(new, "up")
    store.rate(old, "down")
    store.prune(max_days=2, max_mb=200)  # the old prompt is cleared; its row and rating stay
    store.close()
    result = run_cli("feedback", "export", "--workspace", ws)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == [old, new, cached]  # oldest first, this workspace only
    assert all(set(r) == EXPORT_FIELDS for r in rows)  # stable names (docs/feedback.md)
    o, n, c = rows
    assert (o["prompt"], o["pruned"], o["output"], o["rating"]) == (None, True, "old_output()", "down")
    assert (n["prompt"], n["pruned"], n["accepts"], n["rating"]) == ("PROMPT-NEW", False, 1, "up")
    assert [(e["kind"], e["value"], e["source"]) for e in n["events"]] == [
        ("accept", None, "inline"), ("rating", "down", None), ("rating", "up", None)]
    assert n["snippets"] == PROVENANCE["snippets"] and n["examples"] == PROVENANCE["examples"]
    assert o["snippets"] is None and c["prompt"] == "" and c["source"] == "cache" and c["events"] == []
    assert (n["workspace"], n["path"], n["line"], n["character"], n["kind"], n["model"]) == (
        ws, "app.py", 6, 19, "inline", "tiny")
    assert abs(dt.datetime.fromisoformat(n["time"].replace("Z", "+00:00")).timestamp() - n["created"]) < 0.001


def test_every_export_field_is_documented():
    doc = (ROOT / "docs" / "feedback.md").read_text()
    row = {"id": "x", "created": 0.0, "workspace": "/w", "path": "a.py", "line": 0, "character": 0, "kind": "inline",
           "mode": "line", "source": "model", "model": "m", "adapter": None, "latency_ms": 1.0, "prompt": "p",
           "pruned": 0, "output": "o", "provenance": json.dumps(PROVENANCE),
           "events": [{"id": 1, "created": 0.0, "kind": "rating", "value": "up", "source": None}]}
    record = feedback.export_record(row)
    documented = set(re.findall(r"^\| `([a-z_.]+)`", doc, re.M))
    fields = set(record) | {f"events.{k}" for k in record["events"][0]} | {f"snippets.{k}" for k in record["snippets"][0]}
    assert fields <= documented, fields - documented
    view = feedback.prompt_view(row)
    assert {f"prompt.{k}" for k in view} <= documented, {f"prompt.{k}" for k in view} - documented


def test_export_since_until(ws, capsys):
    store = EventStore()
    base = dt.datetime(2026, 3, 1, 12, 0).timestamp()  # local noon
    ids = [_gen(store, ws, base + i * DAY, f"p{i}") for i in range(4)]  # 1, 2, 3, 4 March
    store.close()
    rc, out, _ = _cli(capsys, "feedback", "export", "--workspace", ws, "--since", "2026-03-02", "--until", "2026-03-03")
    assert rc == 0 and [json.loads(line)["id"] for line in out.splitlines()] == ids[1:3]  # the end date's whole day
    rc, out, _ = _cli(capsys, "feedback", "export", "--workspace", ws, "--since", str(int(base + 2 * DAY)))
    assert [json.loads(line)["id"] for line in out.splitlines()] == ids[2:]


# ----- forget
def _file_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.glob("events.sqlite*"))


def test_forget_by_id_really_deletes_and_leaves_the_export(ws, growpilot_home, capsys):
    store = EventStore()
    gone = _gen(store, ws, time.time() - 60, "FORGET-ME-PROMPT-" + "q" * 5000, "forget_me_output()")
    kept = _gen(store, ws, time.time() - 30, "KEEP-ME-PROMPT", "keep_me_output()")
    store.rate(gone, "up")
    store.accept(gone)
    store.rate(kept, "up")
    store.close()
    assert b"FORGET-ME-PROMPT" in _file_bytes(growpilot_home)  # the check below can fail
    db = sqlite3.connect(growpilot_home / "events.sqlite")  # another process holding the file (a daemon)
    db.execute("SELECT count(*) FROM generations").fetchone()
    rc, out, _ = _cli(capsys, "feedback", "forget", "--workspace", ws, "--id", gone, "--json")
    assert rc == 0
    summary = json.loads(out)
    assert (summary["generations"], summary["events"], summary["ids"], summary["dry_run"]) == (1, 2, [gone], False)
    assert [r["id"] for r in _export(capsys, ws)] == [kept]
    assert db.execute("SELECT count(*) FROM events WHERE generation_id = ?", (gone,)).fetchone() == (0,)
    data = _file_bytes(growpilot_home)  # while the other connection is still open (no checkpoint at its close)
    assert b"FORGET-ME-PROMPT" not in data and b"forget_me_output" not in data  # not only hidden
    assert b"KEEP-ME-PROMPT" in data
    db.close()
    store = EventStore()
    assert store.forgotten_ids(ws) == {gone} and store.summary(ws) == {"generations": 1, "accepted": 0, "up": 1,
                                                                       "down": 0}
    with pytest.raises(KeyError):
        store.rate(gone, "up")  # a late rating cannot bring it back
    store.close()
    # Unknown ids are said, and the exit status is not 0.
    rc, out, err = _cli(capsys, "feedback", "forget", "--workspace", ws, "--id", gone, "--id", "nope")
    assert rc == 1 and "nope" in out and "forgot 0 suggestions" in out


def test_forget_by_file_or_folder_resolves_paths_like_the_export(ws, capsys, monkeypatch):
    write_files(Path(ws), {"pkg/a.py": "x\n", "pkg/sub/b.py": "y\n", "pkgs.py": "z\n", "app.py": "w\n"})
    store = EventStore()
    ids = {p: _gen(store, ws, time.time(), f"prompt {p}", path=p) for p in ("pkg/a.py", "pkg/sub/b.py", "pkgs.py", "app.py")}
    store.close()
    monkeypatch.chdir(Path(ws) / "pkg")  # a path relative to the current folder …
    rc, out, _ = _cli(capsys, "feedback", "forget", "--workspace", ws, "--file", "sub", "--json")
    assert rc == 0 and json.loads(out)["ids"] == [ids["pkg/sub/b.py"]]
    monkeypatch.chdir(Path(ws).parent)  # … or to the workspace (as the export prints it)
    rc, out, _ = _cli(capsys, "feedback", "forget", "--workspace", ws, "--file", "pkg/", "--json")
    assert json.loads(out)["ids"] == [ids["pkg/a.py"]]  # the folder and below it, not pkgs.py
    rc, out, _ = _cli(capsys, "feedback", "forget", "--workspace", ws, "--file", str(Path(ws) / "app.py"), "--json")
    assert json.loads(out)["ids"] == [ids["app.py"]]
    assert [r["path"] for r in _export(capsys, ws)] == ["pkgs.py"]
    for bad in (".", "/etc/passwd", "../outside.py"):
        with pytest.raises(SystemExit, match="whole workspace|not inside"):
            cli.main(["feedback", "forget", "--workspace", ws, "--file", bad])


def test_forget_by_time_range_accepts_iso_and_unix_seconds(ws, capsys):
    store = EventStore()
    base = dt.datetime(2026, 3, 1, 12, 0).timestamp()
    ids = [_gen(store, ws, base + i * 3600, f"p{i}") for i in range(6)]  # 12:00 … 17:00 local
    store.close()
    rc, out, _ = _cli(capsys, "feedback", "forget", "--workspace", ws, "--since", "2026-03-01T13:00",
                      "--until", str(base + 3 * 3600), "--json")
    assert json.loads(out)["ids"] == ids[1:3]  # since inclusive, until exclusive
    utc = dt.datetime.fromtimestamp(base + 5 * 3600, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    rc, out, _ = _cli(capsys, "feedback", "forget", "--workspace", ws, "--since", utc, "--dry-run", "--json")
    assert json.loads(out)["ids"] == ids[5:] and json.loads(out)["dry_run"]
    assert len(_export(capsys, ws)) == 4  # the dry run changed nothing
    rc, out, _ = _cli(capsys, "feedback", "forget", "--workspace", ws, "--until", "2026-03-01T12:30:00")
    assert rc == 0 and out.startswith("forgot 1 suggestions")
    assert [r["id"] for r in _export(capsys, ws)] == [ids[3], ids[4], ids[5]]


def test_forget_needs_a_selector_and_good_times(ws):
    for bad in ([], ["--since", "next tuesday"], ["--since", "2026-03-02", "--until", "2026-03-01"],
                ["--until", "nan"]):
        result = run_cli("feedback", "forget", "--workspace", ws, *bad)
        assert result.returncode != 0 and result.stderr.strip() and not result.stdout, bad


@pytest.mark.parametrize("text, end, expected", [
    ("1767225600", False, 1767225600.0), ("1767225600.25", True, 1767225600.25),
    ("2026-03-01T10:00:00Z", False, dt.datetime(2026, 3, 1, 10, tzinfo=dt.timezone.utc).timestamp()),
    ("2026-03-01T10:00:00+02:00", False, dt.datetime(2026, 3, 1, 8, tzinfo=dt.timezone.utc).timestamp()),
    ("2026-03-01 10:00", False, dt.datetime(2026, 3, 1, 10).timestamp()),
    ("2026-03-01", False, dt.datetime(2026, 3, 1).timestamp()),
    ("2026-03-01", True, dt.datetime(2026, 3, 2).timestamp()),
])
def test_parse_time(text, end, expected):
    assert feedback.parse_time(text, end) == expected


# ----- forgotten feedback and training
def _run_folder(ws: str, name: str, samples: list, registered: str | None = None) -> Path:
    run = training_dir(ws) / "runs" / name
    run.mkdir(parents=True)
    write_jsonl(run / "feedback.jsonl", [s.as_dict() for s in samples if s.kind == "feedback"])
    write_jsonl(run / "samples.jsonl", [s.as_dict() for s in samples])
    write_json(run / "run.json", {"model": {"hash": "h"}, "seq_tokens": Settings().train_sequence_tokens})
    (run / "ckpt-4").mkdir()
    write_json(run / "checkpoint.json", {"step": 4})
    if registered:
        write_json(run / "registered.json", {"version": registered, "decision": "promoted"})
    return run


def test_forgotten_feedback_leaves_training_runs_and_is_never_resumed(ws, capsys):
    store = EventStore()
    created = time.time() - 2 * 3600
    gone = _gen(store, ws, created, "<|fim_prefix|>gone<|fim_middle|>", "gone_value = 1", timings={"healed": "x"})
    legacy = _gen(store, ws, created, "<|fim_prefix|>legacy<|fim_middle|>", "legacy_value = 1")
    kept = _gen(store, ws, created, "<|fim_prefix|>kept<|fim_middle|>", "kept_value = 1")
    for gid in (gone, legacy, kept):
        store.rate(gid, "up")
    # What the cycle makes of them: samples that carry their generation.
    rows = [D.FeedbackRow(r["id"], r["created"], r["path"], r["prompt"], r["output"], r["model"],
                          json.loads(r["timings"]).get("healed", ""), False, r["up"], r["down"])
            for r in store.training_feedback(ws)]
    samples, _ = D.select_feedback(rows, {}, (), "tiny", time.time())
    by_gen = {s.generation: s for s in samples}
    assert set(by_gen) == {gone, legacy, kept} and by_gen[gone].target == "xgone_value = 1"
    plain = D.Sample("plain", "", "def f():\n    return 1\n")
    old_style = D.Sample(**{**by_gen[legacy].as_dict(), "generation": ""})  # a run from before samples had ids
    done = _run_folder(ws, "20260101-000000-000-1", [plain, by_gen[gone], by_gen[kept]], registered="v1")
    unfinished = _run_folder(ws, "20260102-000000-000-1", [plain, by_gen[gone], old_style, by_gen[kept]])
    store.close()

    rc, out, _ = _cli(capsys, "feedback", "forget", "--workspace", ws, "--id", gone, "--id", legacy, "--json")
    training = json.loads(out)["training"]
    assert rc == 0 and training == {"runs": 2, "samples": 3, "abandoned": [unfinished.name], "adapters": ["v1"],
                                    "training_running": False}
    for run in (done, unfinished):
        for name in ("feedback.jsonl", "samples.jsonl"):
            left = [D.Sample.from_dict(r) for r in read_jsonl(run / name)]
            assert by_gen[kept] in left and not {s.target for s in left} & {"xgone_value = 1", "legacy_value = 1"}
    assert D.Sample.from_dict(next(read_jsonl(done / "samples.jsonl"))) == plain
    assert read_json(unfinished / "failed.json")["forgotten"] and not (unfinished / "ckpt-4").exists()
    assert (done / "ckpt-4").exists()  # a registered run is left as it is (its adapter is the user's to roll back)
    store = EventStore()
    assert [r["id"] for r in store.training_feedback(ws)] == [kept]  # a new run's feedback
    store.close()


def test_a_run_that_read_forgotten_feedback_while_training_is_not_resumed(ws):
    store = EventStore()
    gone = _gen(store, ws, time.time() - 3600, "<|fim_prefix|>g<|fim_middle|>", "g = 1")
    sample = D.Sample("feedback", "<|fim_prefix|>g<|fim_middle|>", "g = 1", True, 2.0, "app.py", gone)
    cycle = TrainingCycle(ws, Settings(), events=store)
    run = _run_folder(ws, "20260103-000000-000-1", [sample])
    assert cycle._resumable({"hash": "h"}) == run  # resumable while nothing is forgotten
    store.forget(ws, [gone])  # as a forget would while the cycle held the lock and wrote this folder
    assert cycle._resumable({"hash": "h"}) is None
    assert list(read_jsonl(run / "feedback.jsonl")) == [] and (run / "failed.json").exists()
    store.close()


# ----- the prompt of a generation
def test_prompt_prints_the_exact_prompt_and_what_was_in_it(ws, growpilot_home, capsys):
    prompt = "<|fim_prefix|><|repo_name|>ws\n<|file_sep|>inventory/helpers.py\ndef f():\n<|fim_middle|>"  # no \n at the end
    store = EventStore()
    gid = _gen(store, ws, time.time(), prompt, provenance=PROVENANCE)
    old = _gen(store, ws, time.time() - 400 * DAY, "OLD PROMPT", provenance=PROVENANCE)
    cached = _gen(store, ws, time.time(), "", source="cache")
    store.prune(max_days=90, max_mb=200)
    store.close()
    result = run_cli("prompt", gid, "--workspace", ws)
    assert result.returncode == 0 and result.stdout == prompt  # byte for byte
    assert "inventory/helpers.py:4-8" in result.stderr and PROVENANCE["examples"][0] in result.stderr
    rc, out, _ = _cli(capsys, "prompt", gid, "--workspace", ws, "--json")
    view = json.loads(out)
    assert rc == 0 and (view["prompt"], view["examples"], view["snippets"], view["pruned"]) == (
        prompt, PROVENANCE["examples"], PROVENANCE["snippets"], False)
    # Retention cleared a prompt: said so, never an empty prompt.
    result = run_cli("prompt", old, "--workspace", ws)
    assert result.returncode == 1 and result.stdout == "" and "cleared by the history retention" in result.stderr
    rc, out, _ = _cli(capsys, "prompt", old, "--workspace", ws, "--json")
    view = json.loads(out)
    assert view["prompt"] is None and view["pruned"] and "retention" in view["note"]
    assert view["snippets"] == PROVENANCE["snippets"]  # what was in it outlives its text
    rc, out, err = _cli(capsys, "prompt", cached, "--workspace", ws)
    assert rc == 1 and out == "" and "no prompt of its own" in err
    rc, out, err = _cli(capsys, "prompt", gid, "--workspace", "/elsewhere")
    assert rc == 2 and out == "" and gid in err


def test_an_older_history_file_gains_the_provenance_column(growpilot_home, capsys):
    """A file written before `pruned` and `provenance` existed opens, keeps its rows and takes new ones."""
    db = sqlite3.connect(growpilot_home / "events.sqlite")
    db.executescript("""
        CREATE TABLE generations(id TEXT PRIMARY KEY, created REAL NOT NULL, workspace TEXT, path TEXT, line INTEGER,
            character INTEGER, kind TEXT, mode TEXT, prompt TEXT, output TEXT, model TEXT, adapter TEXT,
            latency_ms REAL, source TEXT, timings TEXT);
        CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL,
            generation_id TEXT NOT NULL REFERENCES generations(id), kind TEXT NOT NULL, value TEXT, source TEXT);
        INSERT INTO generations VALUES('old1', 1700000000, '/ws', 'a.py', 1, 2, 'inline', 'line', 'OLD', 'out', 'm',
            NULL, 3.0, 'model', '{}');
        INSERT INTO events(created, generation_id, kind, value) VALUES(1700000001, 'old1', 'rating', 'up');""")
    db.close()
    store = EventStore()
    columns = {row[1] for row in sqlite3.connect(growpilot_home / "events.sqlite").execute("PRAGMA table_info(generations)")}
    assert {"pruned", "provenance"} <= columns
    new = _gen(store, "/ws", time.time(), "NEW", provenance=PROVENANCE)
    store.close()
    EventStore().close()  # opening it again changes nothing
    rows = _export(capsys, "/ws")
    assert [(r["id"], r["snippets"], r["rating"]) for r in rows] == [("old1", None, "up"), (new, PROVENANCE["snippets"], None)]


# ----- provenance as the prompt builder gives it
class _Chunk:
    def __init__(self, start, end, text):
        self.start_line, self.end_line, self.text = start, end, text


def count(text: str) -> int:
    return (len(text) + 3) // 4


def test_the_built_prompt_names_the_source_lines_of_its_snippets():
    body = "\n".join(f"    value_{i} = compute_{i}(x)" for i in range(40))
    helpers = Snippet.of_chunks("lib/helpers.py", [_Chunk(50, 90, "def big(x):\n" + body),
                                                   _Chunk(3, 4, "def small(x):\n    return x")])
    models = Snippet.of_chunks("lib/models.py", [_Chunk(10, 12, "class Widget:\n    def price(self): ...")])
    assert helpers.text.startswith("def small") and helpers.parts == ((3, 4, 2), (50, 90, 41))
    roomy = build_prompt(TEMPLATES["qwen"], count, "x = ", "", [helpers, models], "m.py", "p", Budget(8192, 0.5, 0.2))
    assert roomy.provenance() == {"examples": [], "snippets": [
        {"path": "lib/helpers.py", "start_line": 3, "end_line": 4}, {"path": "lib/helpers.py", "start_line": 50, "end_line": 90},
        {"path": "lib/models.py", "start_line": 10, "end_line": 12}]}
    tight = build_prompt(TEMPLATES["qwen"], count, "x = ", "", [helpers], "m.py", "p", Budget(300, 0.5, 0.2))
    [shown] = tight.snippets
    lines = shown.text.count("\n") + 1
    assert 4 < lines < 44  # the budget cut the long chunk, which still shows
    assert tight.provenance()["snippets"] == [{"path": "lib/helpers.py", "start_line": 3, "end_line": 4},
                                              {"path": "lib/helpers.py", "start_line": 50, "end_line": 50 + lines - 4}]
    assert Snippet("a.py", "x").spans() == [{"path": "a.py", "start_line": None, "end_line": None}]


_ENGINE_FILLS_PROVENANCE = "provenance" in inspect.getsource(__import__("growpilot.completion.engine", fromlist=["x"]))


@pytest.mark.skipif(not _ENGINE_FILLS_PROVENANCE, reason="completion/engine.py does not pass the prompt's "
                    "provenance to its GenerationRecord yet")
async def test_a_completion_records_the_snippets_in_its_prompt(workspace, tiny_model, capsys):
    from growpilot.completion.engine import CompletionRequest
    from growpilot.server.services import Services

    write_files(workspace, LSP_FILES)
    settings = Settings(model_path=str(tiny_model), debounce_ms=0, max_tokens=8)
    services = Services(settings)
    try:
        folder = services.add_folder(workspace)
        services.index_folder(folder)
        services.model.load(settings)
        lines = LSP_FILES["app.py"].rstrip("\n").split("\n")
        s = await services.engine.complete(CompletionRequest(str(workspace / "app.py"), LSP_FILES["app.py"],
                                                             len(lines) - 1, len(lines[-1])))
        services.events.flush()
        assert s is not None and "provenance" not in s.timings
        row = services.events.generation(s.generation_id)
        catalog = folder.index.catalog
        chunks = {(c.path, c.start_line, c.end_line)
                  for c in catalog.chunks_by_ids(catalog.chunk_ids("inventory/helpers.py")).values()}
    finally:
        services.close()
    prov = json.loads(row["provenance"])
    assert prov["examples"] == [] and prov["snippets"], prov
    helper = [x for x in prov["snippets"] if x["path"] == "inventory/helpers.py"]
    assert helper and all(1 <= x["start_line"] <= x["end_line"] for x in helper)
    assert "inventory/helpers.py" in row["prompt"]
    assert {(x["path"], x["start_line"], x["end_line"]) for x in helper} <= chunks  # whole chunks: nothing was cut


# ----- durability
def test_a_rating_survives_kill_9_of_the_daemon(workspace, tiny_model, growpilot_home):
    from growpilot.bench.lsp_client import LspClient, generation_id

    write_files(workspace, LSP_FILES)
    ws = os.path.realpath(workspace)
    client = LspClient()
    try:
        client.initialize(workspace, {"modelPath": str(tiny_model), "debounceMs": 0, "maxTokens": 8})
        client.wait_notification("growpilot/indexReady")
        client.wait_notification("growpilot/modelReady")
        uri = (workspace / "app.py").as_uri()
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                                "text": LSP_FILES["app.py"]}})
        lines = LSP_FILES["app.py"].rstrip("\n").split("\n")
        msg_id, _ = client.send("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": {"line": len(lines) - 1, "character": len(lines[-1])},
            "context": {"triggerKind": 1}})
        gid = generation_id(client.reply(msg_id)[1])
        assert gid
        client.command("growpilot.accept", {"generationId": gid})
        reply = client.command("growpilot.feedback", {"generationId": gid, "rating": "down"})
        assert reply["ok"]
        os.kill(client.proc.pid, signal.SIGKILL)  # no shutdown, no exit: nothing gets to flush or close
        assert client.proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if client.proc.poll() is None:
            client.proc.kill()
            client.proc.wait()
    db = sqlite3.connect(growpilot_home / "events.sqlite")
    assert db.execute("SELECT kind, value FROM events WHERE generation_id = ? ORDER BY id", (gid,)).fetchall() == [
        ("accept", None), ("rating", "down")]
    db.close()
    result = run_cli("feedback", "export", "--workspace", ws)
    assert result.returncode == 0, result.stderr
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["id"] == gid and row["rating"] == "down" and row["accepts"] == 1 and row["prompt"]
