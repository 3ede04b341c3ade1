"""Data-parallel training through `accelerate launch`, on two CPU processes (gloo) with the tiny model.

A cycle with `GROWPILOT_TRAIN_PROCESSES=2` starts the trainer as `accelerate launch --multi_gpu
--num_processes 2 -m growpilot.training.trainer` (its `--processes 2`); the same run folder's inputs
are then trained again by one plain process. The two processes share every step's global batch, so
the run must be the same run: the same tokens, and per-step and held-out losses equal up to bf16
noise (dropout off, so that no random mask tells them apart). A rank that skipped the gradient
all-reduce (1% off by step 2), trained on all sequences (tokens and losses doubled) or left its loss
out of the sum would show here; so would a second process printing progress or writing an adapter.
(The × N that undoes DDP's averaging does not: AdamW and clipping are blind to a gradient's scale.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from growpilot.training.corpus import read_json
from growpilot.training.cycle import TrainingCycle
from growpilot.training.registry import Registry
from test_training_cycle import Watch, make_workspace, settings

STEPS = 6
HYPER = json.dumps({"lr": 2e-3, "dropout": 0.0})


def test_two_processes_train_the_same_run_as_one(workspace, tiny_model, monkeypatch, tmp_path):
    monkeypatch.setenv("GROWPILOT_TRAIN_HYPER", HYPER)
    monkeypatch.setenv("GROWPILOT_TRAIN_PROCESSES", "2")
    make_workspace(workspace)
    watch = Watch()
    result = TrainingCycle(workspace, settings(tiny_model, trainMaxSteps=STEPS, trainDevice="cpu", trainThreads=1),
                           on_progress=watch).run()
    run = result.run_dir
    two = read_json(run / "result.json")
    assert result.steps == STEPS and two["processes"] == 2  # really two: the run says how many it had
    assert [e["step"] for e in watch.of("step")] == list(range(1, STEPS + 1))  # once per step: the main process's
    assert [p.name for p in run.iterdir() if p.name.startswith(("best-", "ckpt-"))] == [two["adapter"]]
    assert [v.version for v in Registry.for_workspace(workspace).list()] == ["v1"]

    one_dir = tmp_path / "one-process"
    one_dir.mkdir()
    for name in ("corpus.jsonl", "heldout.jsonl", "feedback.jsonl"):
        shutil.copy2(run / name, one_dir / name)
    cfg = read_json(run / "run.json") | {"run_dir": str(one_dir), "loss_cache": None, "parent_pid": None}
    (one_dir / "run.json").write_text(json.dumps(cfg))
    plain = subprocess.run([sys.executable, "-m", "growpilot.training.trainer", "--config", str(one_dir / "run.json")],
                           capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr[-2000:]
    one = read_json(one_dir / "result.json")
    one_steps = [e for e in map(json.loads, plain.stdout.splitlines()) if e["event"] == "step"]

    assert one["processes"] == 1 and read_json(one_dir / "manifest.json")["samples_hash"] == \
        read_json(run / "manifest.json")["samples_hash"]
    assert two["tokens"] == one["tokens"]  # each sequence trained on once, by one of the processes
    assert [e["loss"] for e in watch.of("step")] == pytest.approx([e["loss"] for e in one_steps], rel=2e-3)
    assert [h["heldout_loss"] for h in two["history"]] == pytest.approx([h["heldout_loss"] for h in one["history"]],
                                                                         rel=2e-3)
    assert two["base_heldout_loss"] == pytest.approx(one["base_heldout_loss"], rel=1e-4)  # shared out, summed
    assert two["best_heldout_loss"] < 0.9 * two["base_heldout_loss"]  # and it learned
