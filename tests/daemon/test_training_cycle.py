"""The learning cycle end to end on the CPU with the tiny test model: `growpilot train` as a subprocess
(which runs the trainer and the evaluator as its own subprocesses), the registry, cancelling and
resuming, a killed trainer, the loss filter and feedback in the data.

The tiny model is much worse than uniform on new code, so anything learned from a workspace beats it;
the corrupted-data case is therefore judged against an active adapter trained on the real data."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from conftest import TRAIN_HYPER, run_cli
from growpilot.config import Settings
from growpilot.training.corpus import read_json, read_jsonl, training_dir
from growpilot.training.cycle import TrainingCycle
from growpilot.training.errors import Cancelled, CycleBusy, TrainerFailed
from growpilot.training.registry import Registry

NOUNS = ["widget", "gadget", "order", "invoice", "customer", "parcel", "ticket", "booking", "review", "account",
         "supplier", "shipment", "coupon", "basket", "payment", "refund", "report", "session", "profile", "device",
         "sensor", "meter", "route", "driver"]
SERVICE = '''"""Service functions for {noun}s."""

import logging

log = logging.getLogger(__name__)
REGISTRY = {{}}


def register_{noun}(key, {noun}):
    if key in REGISTRY:
        raise KeyError(f"{noun} {{key}} is already registered")
    REGISTRY[key] = {noun}
    log.info("registered {noun} %s", key)
    return {noun}


def lookup_{noun}(key, default=None):
    return REGISTRY.get(key, default)


def remove_{noun}(key):
    {noun} = REGISTRY.pop(key, None)
    if {noun} is None:
        log.warning("no {noun} %s to remove", key)
    return {noun}


def all_{noun}s():
    return sorted(REGISTRY.values(), key=lambda item: item.name)
'''


def make_workspace(root: Path, nouns=NOUNS) -> Path:
    """One service module per noun; the last three are the most recently modified (the held-out files)."""
    for i, noun in enumerate(nouns):
        path = root / "services" / f"{noun}_service.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SERVICE.format(noun=noun))
        os.utime(path, (1_700_000_000 + i * 100,) * 2)
    (root / "package-lock.json").write_text('{"lockfileVersion": 3}\n' * 50)  # the index skips lockfiles
    return root


def corrupt(root: Path, keep: set[str]) -> None:
    """Shuffle the words of every file but `keep`, keeping whitespace and modification times."""
    rng = random.Random(0)
    for path in sorted((root / "services").glob("*.py")):
        if f"services/{path.name}" in keep:
            continue
        st = path.stat()
        parts = re.split(r"(\s+)", path.read_text())
        words = [p for p in parts[::2] if p]
        rng.shuffle(words)
        it = iter(words)
        path.write_text("".join(next(it) if i % 2 == 0 and p else p for i, p in enumerate(parts)))
        os.utime(path, (st.st_atime, st.st_mtime))


def options(tiny_model, **extra) -> dict:
    return {"modelPath": str(tiny_model), "lossFilter": 0, "trainSequenceTokens": 128, **extra}


def settings(tiny_model, **extra) -> Settings:
    from growpilot.config import settings_from

    s, problems = settings_from(options(tiny_model, **extra))
    assert not problems
    return s


def train_cli(workspace: Path, tiny_model, *args: str, **extra):
    env = {"GROWPILOT_SETTINGS": json.dumps(options(tiny_model, **extra)), "GROWPILOT_TRAIN_HYPER": TRAIN_HYPER}
    return run_cli("train", "--workspace", str(workspace), *args, env=env)


def test_the_gate_promotes_workspace_training_and_rejects_corrupted_data(workspace, tiny_model):
    make_workspace(workspace)
    first = train_cli(workspace, tiny_model, "--max-steps", "10", "--json")
    assert first.returncode == 0, first.stderr
    r1 = json.loads(first.stdout)
    assert set(r1) >= {"version", "decision", "reason", "nll", "exact_match", "steps", "tokens_per_second", "seconds"}
    assert (r1["version"], r1["decision"], r1["steps"]) == ("v1", "promoted", 10), r1["reason"]
    assert r1["nll"]["active"] is None and r1["exact_match"]["active"] is None
    assert r1["nll"]["candidate"] <= 0.97 * r1["nll"]["base"] and r1["tokens_per_second"] > 0
    assert r1["data"]["files"]["heldout"] == 3 and r1["data"]["files"]["corpus"] == 21  # the lockfile is not code
    heldout = set(read_json(training_dir(workspace) / "heldout.json")["heldout"])
    assert heldout == {f"services/{n}_service.py" for n in NOUNS[-3:]}

    corrupt(workspace, keep=heldout)  # the same held-out files; the training files become word soup
    second = train_cli(workspace, tiny_model, "--max-steps", "10", "--json")
    assert second.returncode == 0, second.stderr
    r2 = json.loads(second.stdout)
    assert (r2["version"], r2["decision"]) == ("v2", "rejected")
    assert r2["nll"]["active"] == r1["nll"]["candidate"] and "active adapter v1" in r2["reason"]
    assert r2["nll"]["candidate"] > 0.97 * r2["nll"]["active"]  # no clear gain over the adapter it would replace
    assert r2["nll"]["base"] == pytest.approx(r1["nll"]["base"], rel=1e-4)  # same held-out samples, same base

    listed = json.loads(run_cli("adapters", "list", "--workspace", str(workspace), "--json").stdout)
    assert [(a["version"], a["status"], a["active"]) for a in listed] == [("v1", "promoted", True), ("v2", "rejected", False)]
    assert all(set(a) >= {"version", "status", "active", "created", "nll"} for a in listed)
    meta = json.loads((Registry.for_workspace(workspace).get("v2").path / "meta.json").read_text())
    assert meta["base_model"]["hash"] and meta["data"]["manifest_hash"] and meta["metrics"]["active"]
    assert meta["status"] == "rejected" and meta["reason"] == r2["reason"]
    assert (Registry.for_workspace(workspace).get("v1").path / "adapter_model.safetensors").exists()

    back = run_cli("adapters", "rollback", "--workspace", str(workspace), "--json")
    assert json.loads(back.stdout) == {"active": None}
    again = run_cli("adapters", "rollback", "--workspace", str(workspace))
    assert again.returncode == 2 and "nothing to roll back to" in again.stderr
    unknown = run_cli("adapters", "promote", "v7", "--workspace", str(workspace))
    assert unknown.returncode == 2 and "unknown adapter version 'v7'" in unknown.stderr
    assert json.loads(run_cli("adapters", "promote", "v2", "--workspace", str(workspace), "--json").stdout) == {"active": "v2"}


def test_too_little_code_is_refused_before_any_training(workspace, tiny_model):
    make_workspace(workspace, NOUNS[:4])
    result = train_cli(workspace, tiny_model)
    assert result.returncode == 2 and "too little code to hold out" in result.stderr
    assert not Registry.for_workspace(workspace).list()


class Watch:
    """Records a cycle's progress events; can act on one."""

    def __init__(self, act=None):
        self.events: list[dict] = []
        self.act = act
        self.seen = threading.Event()

    def __call__(self, event: dict) -> None:
        self.events.append(event)
        if self.act and self.act(event):
            self.seen.set()

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == kind]


def test_sigterm_checkpoints_the_next_cycle_resumes_and_a_second_cycle_is_refused(workspace, tiny_model, small_training):
    make_workspace(workspace)
    s = settings(tiny_model, trainMaxSteps=60)
    watch = Watch(lambda e: e.get("event") == "step" and e["step"] >= 3)
    cycle = TrainingCycle(workspace, s, on_progress=watch)
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = cycle.run()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc
            outcome["at"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    assert watch.seen.wait(180), watch.events
    with pytest.raises(CycleBusy, match="already running"):  # the same workspace, from this process
        TrainingCycle(workspace, s).run()
    busy = train_cli(workspace, tiny_model)  # and from another
    assert busy.returncode == 2 and "already running" in busy.stderr
    cancelled_at = time.monotonic()
    cycle.cancel()
    thread.join(60)
    assert isinstance(outcome.get("error"), Cancelled) and "resumes" in str(outcome["error"])
    assert outcome["at"] - cancelled_at < 15  # SIGTERM: checkpoint and exit within seconds
    run_dir = Path(watch.of("phase")[1]["run_dir"])
    saved = read_json(run_dir / "checkpoint.json")["step"]
    assert saved >= 3 and watch.of("stopped")[0]["step"] == saved
    assert not Registry.for_workspace(workspace).list()

    resumed = Watch()
    result = TrainingCycle(workspace, settings(tiny_model, trainMaxSteps=saved + 2), on_progress=resumed).run()
    assert resumed.of("resumed") == [{"event": "resumed", "step": saved}]
    assert [e["step"] for e in resumed.of("step")] == [saved + 1, saved + 2]  # the step count continues
    assert result.run_dir == run_dir and result.steps == saved + 2 and result.version == "v1"


def test_a_killed_trainer_ends_the_cycle_and_leaves_the_registry_unchanged(workspace, tiny_model, monkeypatch, tmp_path, small_training):
    make_workspace(workspace)
    registry = Registry.for_workspace(workspace)
    fake = tmp_path / "fake-adapter"
    fake.mkdir()
    (fake / "adapter_config.json").write_text("{}")
    registry.add(fake, {"status": "promoted", "decision": "promoted", "reason": "earlier",
                        "base_model": {"hash": "another model"}})
    registry.promote("v1")
    before = (registry.folder / "active.json").read_bytes(), sorted(p.name for p in registry.folder.iterdir())
    cycle: TrainingCycle

    def kill(event: dict) -> bool:
        if event.get("event") == "step" and event["step"] == 2:
            os.kill(cycle.trainer_pid, signal.SIGKILL)
            return True
        return False

    watch = Watch(kill)
    cycle = TrainingCycle(workspace, settings(tiny_model, trainMaxSteps=60), on_progress=watch)
    with pytest.raises(TrainerFailed, match="killed by SIGKILL"):
        cycle.run()
    assert watch.seen.is_set()
    assert ((registry.folder / "active.json").read_bytes(), sorted(p.name for p in registry.folder.iterdir())) == before
    assert registry.active().version == "v1"


def test_a_trainer_that_crashes_on_its_way_out_after_finishing_keeps_its_run(workspace, tiny_model, monkeypatch,
                                                                             tmp_path, small_training):
    make_workspace(workspace)
    hook = tmp_path / "abort-at-exit"  # as a gloo thread did at the exit of a 2-process CPU run
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import atexit, os, sys\n"
        "atexit.register(lambda: getattr(sys.modules['__main__'].__spec__, 'name', '') == 'growpilot.training.trainer'"
        " and os.abort())\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]))
    result = TrainingCycle(workspace, settings(tiny_model, trainMaxSteps=2)).run()
    assert result.version == "v1" and result.steps == 2
    assert Registry.for_workspace(workspace).versions() == ["v1"]


def test_loss_filter_counts_and_feedback_samples(workspace, tiny_model, tmp_path):
    from growpilot.learning.events import EventStore, GenerationRecord

    make_workspace(workspace)
    (workspace / "services" / "table.py").write_text(
        "TABLE = [\n" + "".join(f"    0x{random.Random(i).getrandbits(64):016x},\n" for i in range(200)) + "]\n")
    os.utime(workspace / "services" / "table.py", (1_600_000_000,) * 2)
    kept = "services/widget_service.py"
    store = EventStore()
    for name, accepted, rating, output in (("kept", True, None, 'raise KeyError(f"widget {key} is already registered")'),
                                           ("disliked", True, "down", "REGISTRY[key] = widget")):
        rec = GenerationRecord(str(workspace.resolve()), kept, 9, 4, "inline", "line",
                               f"<|fim_prefix|>{name}<|fim_suffix|><|fim_middle|>", output, tiny_model.name, None, 10.0,
                               "model", created=time.time() - 3600)
        store.record_generation(rec)
        if accepted:
            store.accept(rec.id)
        if rating:
            store.rate(rec.id, rating)
    store.flush()

    def data_only(loss_filter: float) -> dict:
        """Run a cycle up to its data (the manifest is written before the event), then cancel it."""
        shutil.rmtree(training_dir(workspace) / "runs", ignore_errors=True)
        cycle: TrainingCycle

        def stop(event: dict) -> bool:
            if event.get("event") == "data":
                threading.Thread(target=cycle.cancel).start()
                return True
            return False

        watch = Watch(stop)
        cycle = TrainingCycle(workspace, settings(tiny_model, lossFilter=loss_filter, trainMaxSteps=100), events=store,
                              on_progress=watch)
        with pytest.raises(Cancelled):
            cycle.run()
        run_dir = next((training_dir(workspace) / "runs").iterdir())
        return {"manifest": read_json(run_dir / "manifest.json"), "samples": list(read_jsonl(run_dir / "samples.jsonl"))}

    everything = data_only(100.0)
    losses = read_json(training_dir(workspace) / "loss_cache.json")
    scores = next(iter(losses.values()))
    assert len(scores) == 22  # every training file was scored once (cached by content)
    threshold = sorted(scores.values())[len(scores) // 2]
    half = data_only(threshold)
    m = half["manifest"]
    expected = sum(1 for v in scores.values() if v > threshold)
    assert m["files"]["loss_filtered"] == expected > 0 and everything["manifest"]["files"]["loss_filtered"] == 0
    assert m["files"]["used"] == 22 - expected
    assert {x["path"] for x in m["loss_filtered"]}.isdisjoint(m["train_files"])
    assert all(x["loss"] > threshold for x in m["loss_filtered"])

    fb = everything["manifest"]["feedback"]
    assert fb["down_excluded"] == 1 and fb["retained"] == 1, fb
    targets = {s["target"]: s["weight"] for s in everything["samples"] if s["kind"] == "feedback"}
    assert targets == {'raise KeyError(f"widget {key} is already registered")': 2.0}

    store.close()
    shutil.rmtree(training_dir(workspace) / "runs")
    no_feedback = EventStore(tmp_path / "other-events.sqlite")
    with pytest.raises(TrainerFailed, match="22 of 22 files were left out by the loss filter"):
        TrainingCycle(workspace, settings(tiny_model, lossFilter=0.01), events=no_feedback).run()
    no_feedback.close()
    run_dir = next((training_dir(workspace) / "runs").iterdir())
    assert (run_dir / "failed.json").exists()  # a final error: the next cycle starts afresh, not from this run


def test_bench_train_compares_with_a_plain_trainer_on_the_same_samples(workspace, tiny_model):
    make_workspace(workspace)
    env = {"GROWPILOT_SETTINGS": json.dumps(options(tiny_model))}
    result = run_cli("bench", "train", "--workspace", str(workspace), "--steps", "3", "--json", env=env)
    assert result.returncode == 0, result.stderr
    bench = json.loads(result.stdout)
    assert bench["samples"] == 3 * bench["batch"] * bench["accum"] and bench["steps"] == 3
    assert bench["ours"]["tokens_per_second"] > 0 and bench["trainer"]["tokens_per_second"] > 0
    assert bench["ratio"] == pytest.approx(bench["ours"]["tokens_per_second"] / bench["trainer"]["tokens_per_second"], rel=0.01)
    assert bench["ours"]["padding_share"] <= bench["trainer"]["padding_share"]
    assert not (training_dir(workspace) / "heldout.json").exists()  # a benchmark changes no state
