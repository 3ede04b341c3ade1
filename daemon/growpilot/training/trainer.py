"""The LoRA trainer, always its own process: `python -m growpilot.training.trainer --config run.json`.

A crash, an out-of-memory kill or a bad setting here leaves the daemon serving with the adapter it
had. Stdout is this process's own pipe to its supervisor (training/cycle.py): one JSON object per
line, `{"event": "step", "step", "steps", "loss", "tokens_per_second", "eta_s"}` per optimizer step,
and `data`, `eval`, `stopped`, `done` or `error` events. Logs go to stderr.

Everything a run needs is in its run folder (written by the cycle): `run.json`, `corpus.jsonl` (the
files to learn from), `heldout.jsonl` (never trained on; a few spans of them tell when to stop),
`feedback.jsonl` (samples from accepted and liked suggestions). The run writes `samples.jsonl` and
`manifest.json` once, checkpoints (`ckpt-N/`, pointer `checkpoint.json`), the best adapter so far
(`best-N/`, pointer `best.json`) and, at the end, `result.json`. SIGTERM saves a checkpoint and exits
within seconds; started again on the same folder, the run resumes from it with the same samples in
the same order.

The loop reads top to bottom, nanoGPT style: data → model → resume → steps (micro-batches of similar
length, loss on labelled positions only, gradient accumulation, warmup + cosine) → periodic held-out
loss → keep the best → early stop.

Data-parallel on N GPUs (or N CPU processes): `accelerate launch --multi_gpu --num_processes N -m
growpilot.training.trainer --config run.json`, or `--processes N` here (which execs that launch;
the cycle passes it when `GROWPILOT_TRAIN_PROCESSES` is set). The same loop: accelerate's DDP syncs
the gradients, every process runs its share of each micro-batch (the global batch and the schedule
are those of one process), losses are summed over the processes, and only the main process builds
the data, writes checkpoints and adapters and prints progress; every process resumes from the same
checkpoint. Decisions that depend on a clock or a signal (stop, out of time, evaluate now) are
agreed on at each step, so that no process waits alone in a collective.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

from growpilot.training import data as D
from growpilot.training.corpus import files_from, read_json, read_jsonl, write_json, write_jsonl

log = logging.getLogger("growpilot.trainer")
VAL_FIM, VAL_NEXT = 16, 8  # held-out spans that decide when to stop (other spans than the evaluator's)
VAL_SEED = 7
LOSS_BATCH = 4


class Stop(Exception):
    """SIGTERM arrived: save what can be saved and leave."""


class Trainer:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.run = Path(cfg["run_dir"])
        self.started = time.monotonic()
        self.stop_requested = False
        # Which of `accelerate launch`'s processes this is (torchrun's env until the Accelerator exists).
        self.rank, self.world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        self.lockstep = False  # in the steps of several processes: stops only where all agree (`agree`)
        self.acc = None

    # ----- plumbing
    def emit(self, event: str, **fields) -> None:
        if self.rank:  # one progress stream: the main process's
            return
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()

    def check_stop(self) -> None:
        if self.stop_requested and not self.lockstep:
            raise Stop()

    def agree(self, *flags: bool) -> list[bool]:
        """The same turn for every process (stop, out of time, evaluate now): one process's yes is
        everyone's; a process going its own way would wait forever in a collective the others skip."""
        if self.world == 1:
            return list(flags)
        import torch

        votes = torch.tensor([float(f) for f in flags], device=self.acc.device)
        return [v > 0 for v in self.acc.reduce(votes, "max").tolist()]

    def agree_max(self, value: int) -> int:
        """One number for every process (the schedule's horizon): the largest, so that all use the same lr."""
        if self.world == 1:
            return value
        import torch

        return int(self.acc.reduce(torch.tensor([float(value)], device=self.acc.device), "max").item())

    def leave(self) -> None:
        """Under a launcher: wait for the others, then close the process group. A process that just exits
        while the main one still writes aborts in gloo's threads, and torchrun takes that for a failure."""
        if self.acc is not None and self.world > 1:
            self.acc.wait_for_everyone()
            self.acc.end_training()

    # ----- the run
    def main(self) -> int:
        import torch

        from growpilot.models.device import pick_device
        from growpilot.training.modeling import hyper_for, load_base

        cfg = self.cfg
        if (self.run / "result.json").exists():  # finished before: say so again
            self.emit("done", **read_json(self.run / "result.json"))
            return 0
        random.seed(cfg.get("seed", 0))
        torch.manual_seed(cfg.get("seed", 0))
        device = "cpu" if _env_flag("ACCELERATE_USE_CPU") else pick_device(cfg.get("device", "auto"))
        self.acc = accelerator(device)  # before the model: it picks this process's GPU
        self.rank, self.world = self.acc.process_index, self.acc.num_processes
        threads = cfg.get("threads", 0) or (max(1, (os.cpu_count() or 1) // self.world) if self.world > 1 else 0)
        base = load_base(cfg["model"]["folder"], device, threads)
        self.base = base
        hyper = hyper_for(base.device, cfg.get("hyper"))
        self.check_stop()

        # 1. data: built once per run folder, so a resumed run sees the same samples in the same order
        # (by the main process; the others read what it wrote)
        samples = self.samples(hyper) if self.rank == 0 else None
        self.acc.wait_for_everyone()
        samples = samples or self.samples(hyper)
        self.lockstep = self.world > 1
        encoded = [e for s in samples if (e := D.encode_sample(s, base.encode, base.end_id, self.limit(s))) is not None]
        if not encoded:
            raise D_error("no training samples fit in the training length (trainSequenceTokens)")
        val = self.val_set()

        # 2. model: LoRA on the base; gradient checkpointing on CUDA, where memory is the limit
        from peft import get_peft_model

        from growpilot.training.modeling import lora_config, loss_module

        model = base.model
        if base.device == "cuda":
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model = get_peft_model(model, lora_config(model, hyper))
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=hyper.lr, weight_decay=hyper.weight_decay)
        # accelerate: in one process the loss module as it is; under `accelerate launch` DDP around it, so
        # that backward all-reduces the LoRA gradients. `model` stays the peft model, for saving and loading.
        step_model, opt = self.acc.prepare(loss_module(model), opt)

        # 3. the whole schedule of micro-batches, fixed by the seed: resuming is an index into it
        steps = int(cfg["max_steps"])
        order = self.micro_batches(encoded, hyper, steps)
        state = {"step": 0, "best": math.inf, "best_step": None, "bad": 0, "elapsed": 0.0, "tokens": 0,
                 "train_seconds": 0.0, "base_val": None, "history": []}
        resumed = self.resume(model, opt, state)
        if resumed is None and val:
            t0 = time.monotonic()
            state["base_val"] = self.val_loss(model, val, hyper)  # step 0: where the base model stands
            self.emit("eval", step=0, heldout_loss=state["base_val"])
            # Until a step is timed, a training token costs about three forward ones (forward + backward).
            per_token = 3 * (time.monotonic() - t0) / max(1, sum(len(v.ids) for v in val))
            state["per_step_s"] = per_token * hyper.batch * hyper.accum * sum(len(e.ids) for e in encoded) / len(encoded)
        budget_s = float(cfg["max_minutes"]) * 60
        session_elapsed = state["elapsed"]
        stop_reason = "max_steps"
        tokens_session = 0
        train_session = 0.0

        # 4. the loop
        model.train()
        step = first = state["step"]
        loop_started = time.monotonic()
        last_eval = step
        try:
            while step < steps:
                elapsed = session_elapsed + time.monotonic() - self.started
                stop, out_of_time = self.agree(self.stop_requested, elapsed >= budget_s)
                if stop:
                    raise Stop()
                if out_of_time:
                    stop_reason = "max_minutes"
                    break
                t0 = time.monotonic()
                # The schedule spans the steps this run can reach: a 30-minute CPU run that does 15 of its
                # 200 steps still warms up and decays, instead of ending early in a 20-step warmup.
                horizon = self.agree_max(schedule_horizon(steps, step, budget_s - elapsed, state.get("per_step_s")))
                lr = self.lr_at(step, horizon, hyper)
                for group in opt.param_groups:
                    group["lr"] = lr
                batches = [[encoded[i] for i in order[step * hyper.accum + k]] for k in range(hyper.accum)]
                # between micro-batches: SIGTERM waits one at most (one step with several processes)
                loss, real = optimizer_step(step_model, opt, params, batches, hyper, base.pad_id, base.device,
                                            self.check_stop, self.acc)
                step += 1
                dt = time.monotonic() - t0
                tokens_session += real
                train_session += dt
                state.update(step=step, tokens=state["tokens"] + real, train_seconds=state["train_seconds"] + dt)
                tps = tokens_session / train_session if train_session else 0.0
                per_step = (time.monotonic() - loop_started) / (step - first)  # evaluations included
                state["per_step_s"] = per_step
                eta = min((steps - step) * per_step, max(0.0, budget_s - elapsed - dt))
                self.emit("step", step=step, steps=steps, loss=round(loss, 4),
                          tokens_per_second=round(tps, 1), eta_s=round(eta, 1), lr=lr)
                # About six held-out evaluations over what the budget lets this run reach.
                reach = min(steps, step + int(max(0.0, budget_s - elapsed - dt) / per_step))
                if self.agree(step - last_eval >= self.eval_interval(reach, hyper) or step == steps)[0]:
                    last_eval = step
                    if val and self.evaluate(model, val, hyper, state):
                        stop_reason = "early_stop"
                        break
                    self.checkpoint(model, opt, state, session_elapsed)  # what a SIGKILL would lose at most
            if val and (state["best_step"] is None or state["history"][-1]["step"] != step):
                self.evaluate(model, val, hyper, state)  # the budget ran out between evaluations
        except Stop:
            opt.zero_grad(set_to_none=True)  # a half-accumulated step is dropped, not applied
            self.checkpoint(model, opt, state, session_elapsed)
            self.emit("stopped", step=state["step"], steps=steps)
            return 0
        if state["best_step"] is None:  # no held-out spans to choose by: the last weights are the best
            self.save_best(model, state, step, math.nan)
        if self.rank:
            return 0
        state["elapsed"] = session_elapsed + time.monotonic() - self.started
        result = {"steps": step, "max_steps": steps, "stop_reason": stop_reason, "best_step": state["best_step"],
                  "best_heldout_loss": _num(state["best"]), "base_heldout_loss": state["base_val"],
                  "tokens": state["tokens"], "train_seconds": round(state["train_seconds"], 2),
                  "tokens_per_second": round(state["tokens"] / state["train_seconds"], 1) if state["train_seconds"] else 0.0,
                  "seconds": round(state["elapsed"], 2), "adapter": read_json(self.run / "best.json").get("dir"),
                  "history": state["history"], "device": base.device, "dtype": str(base.dtype).replace("torch.", ""),
                  "processes": self.world, "hyper": hyper.__dict__}
        write_json(self.run / "result.json", result)
        self.prune("ckpt-", keep="")  # finished: only the best adapter is needed from here on
        (self.run / "checkpoint.json").unlink(missing_ok=True)
        self.emit("done", **result)
        return 0

    @property
    def seq(self) -> int:
        return int(self.cfg["seq_tokens"])

    def limit(self, s: D.Sample) -> int:
        """Feedback keeps its recorded prompt whole, which the serving budget may make longer than the
        training length; everything else is cut to the training length."""
        return max(self.seq, int(self.cfg.get("feedback_tokens", 0))) if s.kind == "feedback" else self.seq

    def layout(self) -> D.Layout:
        lay = self.cfg["layout"]
        return D.Layout(self.base.template, lay["repo"], lay["repo_format"], lay["suffix_share"], self.seq,
                        self.base.heal if lay.get("token_healing") else None)

    # ----- data
    def samples(self, hyper) -> list[D.Sample]:
        path = self.run / "samples.jsonl"
        if path.exists():
            return [D.Sample.from_dict(r) for r in read_jsonl(path)]
        cfg, base, layout = self.cfg, self.base, self.layout()
        files, dup_files = D.dedup_files(files_from(read_jsonl(self.run / "corpus.jsonl")))
        random.Random(cfg.get("seed", 0)).shuffle(files)
        needed = int(cfg["max_steps"]) * hyper.batch * hyper.accum
        cache_path = Path(cfg["loss_cache"]) if cfg.get("loss_cache") else None
        cache_all = read_json(cache_path) if cache_path else {}
        cache = cache_all.setdefault(f"{cfg['model']['hash']}:{self.seq}", {})
        threshold = float(cfg["loss_filter"])
        out: list[D.Sample] = []
        used: dict[str, str] = {}
        filtered: list[dict] = []
        reached = 0
        try:
            for i in range(0, len(files), LOSS_BATCH):
                if len(out) >= needed:
                    break
                self.check_stop()
                group = files[i:i + LOSS_BATCH]
                reached += len(group)
                self.emit("data_progress", files=reached, of=len(files), samples=len(out), needed=needed)
                if threshold > 0:
                    todo = [f for f in group if f.hash not in cache]
                    for f, loss in zip(todo, self.file_losses(todo, layout)):
                        cache[f.hash] = loss
                for f in group:
                    loss = cache.get(f.hash) if threshold > 0 else None
                    if not D.passes_loss_filter(loss, threshold):
                        filtered.append({"path": f.rel, "loss": round(loss, 3)})
                        continue
                    used[f.rel] = f.hash
                    out += D.file_samples(f, layout, base.count, cfg.get("seed", 0))
        finally:  # scores are kept across runs (by content hash): a stopped run's work is not lost
            if cache_path:
                write_json(cache_path, cache_all, indent=None)
        feedback = [D.Sample.from_dict(r) for r in read_jsonl(self.run / "feedback.jsonl")] \
            if (self.run / "feedback.jsonl").exists() else []
        samples, dups = D.dedup(out + feedback)
        if not samples:
            raise D_error(f"no training data left: {len(filtered)} of {reached} files were left out by the loss "
                          f"filter (lossFilter={threshold}) and there is no feedback to learn from")
        too_long = sum(1 for s in samples if D.encode_sample(s, base.encode, base.end_id, self.limit(s)) is None)
        heldout = {f.rel: f.hash for f in files_from(read_jsonl(self.run / "heldout.jsonl"))}
        manifest = {
            "model": cfg["model"], "seq_tokens": self.seq, "seed": cfg.get("seed", 0), "loss_filter": threshold,
            "files": {"corpus": len(files) + dup_files, "duplicates": dup_files, "used": len(used),
                      "loss_filtered": len(filtered), "not_reached": len(files) - reached, "heldout": len(heldout)},
            "loss_filtered": filtered[:100],
            "samples": {**D.kind_counts(samples), "total": len(samples), "duplicates": dups, "too_long": too_long,
                        "feedback": len([s for s in samples if s.kind == "feedback"])},
            "feedback": cfg.get("feedback_counts", {}),
            "samples_hash": D.samples_hash(samples),
            "train_files": dict(sorted(used.items())), "heldout_files": dict(sorted(heldout.items())),
        }
        write_json(self.run / "manifest.json", manifest)
        write_jsonl(path, (s.as_dict() for s in samples))
        self.emit("data", files=manifest["files"], samples=manifest["samples"])
        return samples

    def file_losses(self, files: list[D.SourceFile], layout: D.Layout) -> list[float]:
        """Mean token loss of each file's first window under the base model (one batch)."""
        import torch

        from growpilot.training.modeling import HEAD_CHUNK, collate, head_logits, label_hidden

        encoded = [D.encode_sample(D.Sample("plain", "", D.loss_window(f, layout, self.base.count)), self.base.encode,
                                   None, self.seq) for f in files]
        present = [e for e in encoded if e is not None]
        means: list[float] = []
        if present:
            with torch.inference_mode():
                ids, mask, labels, _ = collate(present, self.base.pad_id, self.base.device)
                h, target, rows, _ = label_hidden(self.base.model, ids, mask, labels)
                nll = torch.cat([torch.nn.functional.cross_entropy(head_logits(self.base.model, h[i:i + HEAD_CHUNK]),
                                                                   target[i:i + HEAD_CHUNK], reduction="none")
                                 for i in range(0, h.shape[0], HEAD_CHUNK)])
                sums = torch.zeros(len(present), device=nll.device).index_add_(0, rows, nll)
                counts = torch.zeros(len(present), device=nll.device).index_add_(0, rows, torch.ones_like(nll))
                means = (sums / counts.clamp(min=1)).tolist()
        it = iter(means)
        return [next(it) if e is not None else math.inf for e in encoded]

    def val_set(self) -> list:
        heldout = files_from(read_jsonl(self.run / "heldout.jsonl"))
        tasks = D.eval_tasks(heldout, self.layout(), self.base.count, VAL_FIM, VAL_NEXT, 0, VAL_SEED)
        return [e for s in tasks.fim + tasks.next
                if (e := D.encode_sample(s, self.base.encode, None, self.seq)) is not None]

    def micro_batches(self, encoded: list, hyper, steps: int) -> list[list[int]]:
        lengths = [len(e.ids) for e in encoded]
        order: list[list[int]] = []
        epoch = 0
        while len(order) < steps * hyper.accum:
            order += D.length_batches(lengths, hyper.batch, random.Random(f"{self.cfg.get('seed', 0)}:{epoch}"))
            epoch += 1
        return order

    @staticmethod
    def eval_interval(reach: int, hyper) -> int:
        return hyper.eval_every or max(2, min(50, reach // 6))

    @staticmethod
    def lr_at(step: int, horizon: int, hyper) -> float:
        """Linear warmup (at most a tenth of the horizon), then cosine down to `min_lr_share` at `horizon`."""
        warmup = min(hyper.warmup, max(1, horizon // 10))
        if step < warmup:
            return hyper.lr * (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, horizon - warmup))
        return hyper.lr * (hyper.min_lr_share + (1 - hyper.min_lr_share) * 0.5 * (1 + math.cos(math.pi * progress)))

    # ----- held-out loss, best and checkpoints
    def val_loss(self, model, val: list, hyper) -> float:
        import torch

        from growpilot.training.modeling import batch_loss

        was_training = model.training
        model.eval()
        total = weight = 0.0
        order = sorted(range(len(val)), key=lambda i: len(val[i].ids))
        with torch.inference_mode():
            for k in range(0, len(order), hyper.batch)[self.rank::self.world]:  # this process's batches
                self.check_stop()
                loss, w, _ = batch_loss(model, [val[i] for i in order[k:k + hyper.batch]], self.base.pad_id,
                                        self.base.device)
                total += float(loss)
                weight += w
        if self.world > 1:
            sums = torch.tensor([total, weight], dtype=torch.float64, device=self.acc.device)
            total, weight = self.acc.reduce(sums, "sum").tolist()
        model.train(was_training)
        return round(total / max(weight, 1.0), 5)

    def evaluate(self, model, val: list, hyper, state: dict) -> bool:
        """Held-out loss now; keep the weights if they are the best so far. True: stop early."""
        loss = self.val_loss(model, val, hyper)
        state["history"].append({"step": state["step"], "heldout_loss": loss})
        improved = loss < state["best"]
        if improved:
            state["best"], state["bad"] = loss, 0
            self.save_best(model, state, state["step"], loss)
        else:
            state["bad"] += 1
        self.emit("eval", step=state["step"], heldout_loss=loss, best=state["best"], improved=improved)
        return state["bad"] >= hyper.patience

    def save_best(self, model, state: dict, step: int, loss: float) -> None:
        state["best_step"] = step
        if self.rank:  # files are the main process's
            return
        name = self.save_folder(f"best-{step:06d}", lambda tmp: model.save_pretrained(tmp))
        write_json(self.run / "best.json", {"dir": name, "step": step, "heldout_loss": _num(loss)})
        self.prune("best-", keep=name)

    def checkpoint(self, model, opt, state: dict, session_elapsed: float) -> None:
        import torch

        state["elapsed"] = session_elapsed + time.monotonic() - self.started
        if self.rank:
            return

        def write(tmp: Path) -> None:
            model.save_pretrained(tmp)
            torch.save({"optimizer": opt.state_dict(), "state": state}, tmp / "trainer_state.pt")

        name = self.save_folder(f"ckpt-{state['step']:06d}", write)
        write_json(self.run / "checkpoint.json", {"dir": name, "step": state["step"]})
        self.prune("ckpt-", keep=name)

    def save_folder(self, name: str, write) -> str:
        """Write a folder under a temp name and rename it: a folder that exists is complete."""
        tmp = self.run / f".{name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        write(tmp)
        final = self.run / name
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        return name

    def prune(self, prefix: str, keep: str) -> None:
        for p in self.run.iterdir():
            if p.name.startswith(prefix) and p.name != keep:
                shutil.rmtree(p, ignore_errors=True)

    def resume(self, model, opt, state: dict) -> int | None:
        """Load the last checkpoint into the model, optimizer and state; its step, or None."""
        pointer = read_json(self.run / "checkpoint.json")
        folder = self.run / pointer["dir"] if pointer.get("dir") else None
        if folder is None or not (folder / "trainer_state.pt").exists():
            return None
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        set_peft_model_state_dict(model, load_file(str(folder / "adapter_model.safetensors")))
        saved = torch.load(folder / "trainer_state.pt", map_location=self.base.device, weights_only=False)
        opt.load_state_dict(saved["optimizer"])
        state.update(saved["state"])
        log.info("resuming %s at step %d", self.run, state["step"])
        self.emit("resumed", step=state["step"])
        return state["step"]


def schedule_horizon(max_steps: int, step: int, remaining_s: float, per_step_s: float | None) -> int:
    """The last step this run reaches: `max_steps`, or fewer when the time left at `per_step_s` a step
    (evaluations included) runs out first. Unknown speed: `max_steps`."""
    if not per_step_s or per_step_s <= 0:
        return max_steps
    return max(step + 1, min(max_steps, step + int(max(0.0, remaining_s) / per_step_s)))


def optimizer_step(model, opt, params, batches: list, hyper, pad_id: int, device: str, between=lambda: None,
                   acc=None):
    """One optimizer step over `batches` (gradient accumulation): the loss is the weighted mean over
    every labelled token of the step, whatever the micro-batches' sizes. (loss, real tokens).

    `model` is the peft model, or with `acc` (accelerate) the loss module it prepared. With N processes
    each runs its share of every micro-batch; DDP averages the gradients over the processes, hence the
    × N, and syncs once a step (no_sync on all micro-batches but the last). The accelerator keeps
    gradient_accumulation_steps=1: its own accumulation would divide by the number of micro-batches
    instead of the step's tokens."""
    import contextlib

    import torch

    from growpilot.training.modeling import collate, loss_module

    step_model = model if acc is not None else loss_module(model)
    world, rank = (acc.num_processes, acc.process_index) if acc is not None else (1, 0)
    norm = sum(sum(e.weight * e.targets for e in b) for b in batches) or 1.0
    loss_sum, real = 0.0, 0
    for k, batch in enumerate(batches):
        between()
        part = rank_share(batch, rank, world)
        last = k == len(batches) - 1
        with acc.no_sync(step_model) if acc is not None and not last else contextlib.nullcontext():
            ids, mask, labels, weights = collate(part, pad_id, device)
            loss, _ = step_model(ids, mask, labels, weights)
            scaled = loss / norm * world
            acc.backward(scaled) if acc is not None else scaled.backward()
        loss_sum += float(loss.detach())
        real += int(mask.sum()) if any(e.weight for e in part) else 0  # a stand-in's are not trained on
    if world > 1:
        sums = torch.tensor([loss_sum, real], dtype=torch.float64, device=acc.device)
        loss_sum, real = acc.reduce(sums, "sum").tolist()
        real = int(real)
    (acc.clip_grad_norm_ if acc is not None else torch.nn.utils.clip_grad_norm_)(params, hyper.clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss_sum / norm, real


def rank_share(batch: list, rank: int, world: int) -> list:
    """This process's sequences of a micro-batch (every world-th). Every process must run as many
    backward passes as the others, so one with none left gets a weight-0 stand-in (nothing learned)."""
    if world == 1:
        return batch
    import dataclasses

    return batch[rank::world] or [dataclasses.replace(batch[0], weight=0.0)]


def accelerator(device: str):
    """accelerate's Accelerator: one process as it is, or one of `accelerate launch`'s N. A long timeout:
    the other processes wait at a barrier while the main one builds the data (the loss filter takes
    minutes on a large workspace)."""
    from datetime import timedelta

    from accelerate import Accelerator
    from accelerate.utils import InitProcessGroupKwargs

    return Accelerator(cpu=device == "cpu", kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(hours=2))])


def launch_argv(processes: int, config: str) -> list[str]:
    """`accelerate launch` of this module on `processes` processes. `--multi_gpu` is what makes it start
    N processes (torchrun), on CPUs too (`--cpu` alone starts one unless MPI is set up); each process
    then takes the run's device. A free port, as two workspaces may train at once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
            str(port), "-m", "growpilot.training.trainer", "--config", config]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def D_error(message: str) -> Exception:
    from growpilot.training.errors import NoTrainingData

    return NoTrainingData(message)


def _num(x: float):
    return None if x is None or not math.isfinite(x) else round(x, 5)


def _die_with_parent(parent: int | None) -> None:
    """If the daemon dies, the trainer gets SIGTERM (and so checkpoints) rather than running on alone."""
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m growpilot.training.trainer")
    p.add_argument("--config", required=True, help="run.json in the run folder")
    p.add_argument("--processes", type=int, default=1,
                   help="data-parallel processes through `accelerate launch` (GPUs, or CPU ones with device cpu)")
    args = p.parse_args(argv)
    launched = "LOCAL_RANK" in os.environ  # one of torchrun's processes
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("transformers", "peft", "accelerate"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    cfg = json.loads(Path(args.config).read_text())
    if args.processes > 1 and not launched:
        _die_with_parent(cfg.get("parent_pid"))  # kept across exec: the launcher goes when the daemon goes
        os.execv(sys.executable, launch_argv(args.processes, args.config))
    trainer = Trainer(cfg)

    def on_term(signum, frame):
        trainer.stop_requested = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    _die_with_parent(os.getppid() if launched else cfg.get("parent_pid"))  # under a launcher: the launcher
    from growpilot.training.errors import TrainingError

    try:
        rc = trainer.main()
        trainer.leave()
        return rc
    except Stop:
        trainer.emit("stopped", step=0)
        return 0
    except TrainingError as exc:
        trainer.emit("error", message=str(exc))
        return 2
    except Exception as exc:  # a crash: the supervisor gets the reason, the traceback goes to stderr
        log.exception("the trainer failed")
        trainer.emit("error", message=f"{type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
