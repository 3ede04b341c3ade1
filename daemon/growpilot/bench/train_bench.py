"""`growpilot bench train`: our training loop against a plain `transformers.Trainer` + peft loop on the
same samples, the same LoRA, batch size, accumulation, learning rate and step count, in this process.

Tokens/s counts real (not padding) tokens. The first optimizer step of each loop is warm-up and not
timed. The Trainer is used as a user would start it: default random order, padding to the longest
sequence of each batch (DataCollatorForSeq2Seq), the model's own loss over full logits. Ours buckets
samples by length and runs the LM head on labelled positions only (training/modeling.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path


def bench_train(args, settings) -> dict:
    from growpilot.models.provision import resolve_lm
    from growpilot.training import data as D
    from growpilot.training.corpus import collect_files, read_json, training_dir
    from growpilot.training.modeling import hyper_for, load_base

    root = Path(os.path.realpath(args.workspace))
    if not root.is_dir():
        raise SystemExit(f"growpilot: workspace {args.workspace} is not a folder")
    source = resolve_lm(settings.model_path)
    files = collect_files(root, settings)
    split = D.split_heldout(files, read_json(training_dir(root) / "heldout.json"))  # read, never written here
    base = load_base(source.folder, settings.train_device, settings.train_threads)
    hyper = hyper_for(base.device, json.loads(os.environ.get("GROWPILOT_TRAIN_HYPER", "{}") or "{}"))
    steps = max(2, int(args.steps))
    needed = steps * hyper.batch * hyper.accum
    layout = D.Layout.of(base.template, settings, root.name)
    by_rel = {f.rel: f for f in files}
    train = [by_rel[r] for r in split.train]
    random.Random(0).shuffle(train)
    samples: list[D.Sample] = []
    for f in train:
        if len(samples) >= needed * 2:
            break
        samples += D.file_samples(f, layout, base.count)
    samples, _ = D.dedup(samples)
    random.Random(1).shuffle(samples)
    encoded = [e for s in samples if (e := D.encode_sample(s, base.encode, base.end_id, layout.seq_tokens))][:needed]
    if len(encoded) < needed:
        raise SystemExit(f"growpilot: the workspace gave {len(encoded)} samples; {needed} are needed for {steps} steps")
    del base
    trainer = _hf_trainer(source.folder, settings, encoded, hyper, steps)
    ours = _ours(source.folder, settings, encoded, hyper, steps)
    return {"model": source.name, "device": ours.pop("device"), "dtype": ours.pop("dtype"), "steps": steps,
            "batch": hyper.batch, "accum": hyper.accum, "samples": len(encoded),
            "real_tokens": sum(len(e.ids) for e in encoded), "seq_tokens": layout.seq_tokens,
            "ours": ours, "trainer": trainer,
            "ratio": round(ours["tokens_per_second"] / trainer["tokens_per_second"], 3)
            if trainer["tokens_per_second"] else None}


def _rate(step_ends: list[float], tokens_total: int, steps: int) -> tuple[float, float]:
    """(tokens/s, seconds) over the steps after the first (warm-up), from each step's end time."""
    timed = step_ends[-1] - step_ends[0]
    per_step = timed / max(1, len(step_ends) - 1)
    return (tokens_total / (per_step * steps) if per_step else 0.0), timed


def _ours(folder, settings, encoded, hyper, steps: int) -> dict:
    import torch
    from peft import get_peft_model

    from growpilot.training import data as D
    from growpilot.training.modeling import load_base, lora_config
    from growpilot.training.trainer import Trainer as Loop, optimizer_step

    base = load_base(folder, settings.train_device, settings.train_threads)
    model = get_peft_model(base.model, lora_config(base.model, hyper))
    if base.device == "cuda":
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=hyper.lr, weight_decay=hyper.weight_decay)
    order = D.length_batches([len(e.ids) for e in encoded], hyper.batch, random.Random(0))
    ends, losses = [time.perf_counter()], []
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = Loop.lr_at(step, steps, hyper)
        batches = [[encoded[i] for i in order[step * hyper.accum + k]] for k in range(hyper.accum)]
        loss, _ = optimizer_step(model, opt, params, batches, hyper, base.pad_id, base.device)
        _sync(base.device)
        ends.append(time.perf_counter())
        losses.append(round(loss, 4))
    tps, seconds = _rate(ends[1:], sum(len(e.ids) for e in encoded), steps)
    share = D.padding_share(order[:steps * hyper.accum], [len(e.ids) for e in encoded])
    return {"tokens_per_second": round(tps, 1), "timed_seconds": round(seconds, 2), "padding_share": round(share, 3),
            "loss_first": losses[0], "loss_last": losses[-1], "device": base.device,
            "dtype": str(base.dtype).replace("torch.", "")}


def _hf_trainer(folder, settings, encoded, hyper, steps: int) -> dict:
    from peft import get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments

    from growpilot.training.modeling import load_base, lora_config

    base = load_base(folder, settings.train_device, settings.train_threads)
    model = get_peft_model(base.model, lora_config(base.model, hyper))
    rows = [{"input_ids": e.ids, "labels": e.labels, "attention_mask": [1] * len(e.ids)} for e in encoded]
    inner = DataCollatorForSeq2Seq(base.tokenizer, padding=True, label_pad_token_id=-100, return_tensors="pt")
    padded = {"real": 0, "total": 0}

    def collate(batch):
        out = inner(batch)
        padded["real"] += int(out["attention_mask"].sum())
        padded["total"] += int(out["attention_mask"].numel())
        return out

    ends: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            _sync(base.device)
            ends.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=hyper.batch, gradient_accumulation_steps=hyper.accum,
            max_steps=steps, learning_rate=hyper.lr, lr_scheduler_type="cosine",
            warmup_steps=min(hyper.warmup, max(1, steps // 10)), weight_decay=hyper.weight_decay,
            max_grad_norm=hyper.clip, logging_steps=1, save_strategy="no", report_to=[], disable_tqdm=True,
            use_cpu=base.device == "cpu", dataloader_num_workers=0, remove_unused_columns=False, seed=0,
            gradient_checkpointing=base.device == "cuda",
            gradient_checkpointing_kwargs={"use_reentrant": False} if base.device == "cuda" else None)
        trainer = Trainer(model=model, args=targs, train_dataset=rows, data_collator=collate, callbacks=[Clock()])
        with contextlib.redirect_stdout(sys.stderr):  # its printer callback writes logs to stdout: ours is the JSON
            trainer.train()
    losses = [round(r["loss"], 4) for r in trainer.state.log_history if "loss" in r]
    tps, seconds = _rate(ends, sum(len(e.ids) for e in encoded), steps)
    return {"tokens_per_second": round(tps, 1), "timed_seconds": round(seconds, 2),
            "padding_share": round(1 - padded["real"] / padded["total"], 3) if padded["total"] else None,
            "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None}


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
