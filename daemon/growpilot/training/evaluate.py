"""One evaluator, one process, the same samples for every model:
`python -m growpilot.training.evaluate --config eval.json`.

The base model is loaded once; the active adapter and the candidate are loaded beside each other on
it (peft `load_adapter`), and switched with `set_adapter` / `disable_adapter`, so base, active and
candidate see identical inputs and no reload skews anything. Per model, on the held-out files:

- `nll`: mean token NLL of fill-in-the-middle middles and of next lines (pooled over tokens), also
  apart as `nll_fim` and `nll_next`;
- `exact_match`: the share of whole statement lines (the cursor at the indentation, FIM with the
  rest of the file as suffix) that greedy decoding reproduces exactly and then ends. Computed in one
  teacher-forced pass: greedy decoding follows the target as long as every target token is the argmax;
- `sanity_nll`: the same NLL on the sanity set shipped with the project (training/sanity/: plain
  Python that is not the workspace's), which catches forgetting.

Writes `metrics.json` (`{"base": {...}, "active": {...} | null, "candidate": {...}, "tasks": {...}}`);
stdout carries `{"event": "eval_progress", ...}` lines and a final `{"event": "metrics", ...}`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from growpilot.training import data as D
from growpilot.training.corpus import files_from, read_json, read_jsonl, write_json

log = logging.getLogger("growpilot.evaluate")
# Tasks per model: on 2 CPU cores the default model scores these in a few minutes (a cycle's figures of
# the base and of the active adapter are cached, so only the candidate is scored each time).
EVAL_FIM, EVAL_NEXT, EVAL_LINES = 48, 24, 32
SANITY_FIM, SANITY_NEXT = 24, 12
EVAL_SEED = 0
SANITY_DIR = Path(__file__).resolve().parent / "sanity"


def sanity_files() -> list[D.SourceFile]:
    out = []
    for path in sorted(SANITY_DIR.glob("*.py")):
        if path.name.startswith("_"):
            continue
        data = path.read_bytes()
        out.append(D.SourceFile(f"sanity/{path.name}", data.decode(), D.content_hash(data), 0, "python"))
    return out


class Evaluator:
    def __init__(self, base, layout: D.Layout, batch: int):
        self.base = base
        self.layout = layout
        self.batch = batch
        self.model = base.model
        self.adapters: list[str] = []
        self._line_end: set[int] | None = None

    def add_adapter(self, name: str, folder: str | Path) -> None:
        from peft import PeftModel

        if not self.adapters:
            self.model = PeftModel.from_pretrained(self.base.model, str(folder), adapter_name=name)
        else:
            self.model.load_adapter(str(folder), adapter_name=name)
        self.model.eval()
        self.adapters.append(name)

    def using(self, name: str | None):
        """A context in which the model is the base (None) or has adapter `name` on."""
        if name is None:
            return self.model.disable_adapter() if self.adapters else nullcontext()
        self.model.set_adapter(name)
        return nullcontext()

    def encode(self, samples: list[D.Sample]) -> list:
        return [e for s in samples if (e := D.encode_sample(s, self.base.encode, None, self.layout.seq_tokens))]

    def scores(self, encoded: list, exact: bool = False, progress=None) -> dict:
        """Token NLL sum and count over `encoded`, and with `exact` how many are reproduced and ended."""
        import torch

        from growpilot.training.modeling import collate, label_logits, line_end_ids

        if exact and self._line_end is None:
            self._line_end = line_end_ids(self.base.tokenizer, self.base.template)
        nll = tokens = 0.0
        hits = 0
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
        with torch.inference_mode():
            for k in range(0, len(order), self.batch):
                batch = [encoded[i] for i in order[k:k + self.batch]]
                ids, mask, labels, _ = collate(batch, self.base.pad_id, self.base.device)
                logits, target, rows, last = label_logits(self.model, ids, mask, labels, extra_last=exact)
                nll += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
                tokens += int(target.numel())
                if exact:
                    right = logits.argmax(-1) == target
                    for r in range(len(batch)):
                        ok = bool(right[rows == r].all()) and int(last[r].argmax()) in self._line_end
                        hits += ok
                if progress:
                    progress(len(batch))
        return {"nll": nll, "tokens": tokens, "hits": hits, "n": len(encoded)}


def _mean(*parts: dict) -> float | None:
    tokens = sum(p["tokens"] for p in parts)
    return round(sum(p["nll"] for p in parts) / tokens, 5) if tokens else None


def evaluate(cfg: dict, emit) -> dict:
    from growpilot.training.modeling import load_base

    base = load_base(cfg["model"]["folder"], cfg.get("device", "auto"), cfg.get("threads", 0))
    lay = cfg["layout"]
    layout = D.Layout(base.template, lay["repo"], lay["repo_format"], lay["suffix_share"], int(cfg["seq_tokens"]),
                      base.heal if lay.get("token_healing") else None)
    heldout = files_from(read_jsonl(Path(cfg["heldout"])))
    tasks = D.eval_tasks(heldout, layout, base.count, EVAL_FIM, EVAL_NEXT, EVAL_LINES, EVAL_SEED)
    sanity = D.eval_tasks(sanity_files(), D.Layout(base.template, "sanity", layout.repo_format, layout.suffix_share,
                                                   layout.seq_tokens, layout.heal), base.count, SANITY_FIM, SANITY_NEXT, 0, EVAL_SEED)
    ev = Evaluator(base, layout, 32 if base.device == "cuda" else 8)
    sets = {"fim": ev.encode(tasks.fim), "next": ev.encode(tasks.next), "line": ev.encode(tasks.line),
            "sanity": ev.encode(sanity.fim + sanity.next)}
    if not sets["fim"] and not sets["next"]:
        from growpilot.training.errors import TrainingError

        raise TrainingError("the held-out files gave nothing to evaluate on")
    # Figures of the base and of an adapter on the same tasks never change: they are kept by content
    # (model, adapter weights, tasks), so a later cycle scores only its new candidate.
    tasks_key = D.samples_hash(s for group in (tasks.fim, tasks.next, tasks.line, sanity.fim, sanity.next) for s in group)
    cache_path = Path(cfg["cache"]) if cfg.get("cache") else None
    cache = read_json(cache_path) if cache_path else {}
    models: dict[str, tuple[str | None, str]] = {"base": (None, f"{cfg['model']['hash']}:base:{tasks_key}")}
    for name in ("active", "candidate"):
        if cfg.get(name):
            models[name] = (name, f"{cfg['model']['hash']}:{adapter_hash(cfg[name])}:{tasks_key}")
    out: dict = {"active": None}
    per_model = sum(len(s) for s in sets.values())
    todo = [label for label, (_, key) in models.items() if key not in cache]
    progress = {"done": 0, "total": per_model * len(todo), "at": 0.0}

    def advance(label: str, n: int) -> None:  # overall progress, at most every two seconds
        progress["done"] += n
        if time.monotonic() - progress["at"] >= 2 or progress["done"] == progress["total"]:
            progress["at"] = time.monotonic()
            emit("eval_progress", model=label, done=progress["done"], total=progress["total"])

    for label, (adapter, key) in models.items():
        if key in cache:
            out[label] = {**cache[key], "cached": True}
            emit("eval_model", model=label, **out[label])
            continue
        if adapter is not None:
            ev.add_adapter(adapter, cfg[adapter])
        step = lambda n, label=label: advance(label, n)  # noqa: E731
        with ev.using(adapter):
            fim, nxt = ev.scores(sets["fim"], progress=step), ev.scores(sets["next"], progress=step)
            line = ev.scores(sets["line"], exact=True, progress=step)
            san = ev.scores(sets["sanity"], progress=step)
        out[label] = cache[key] = {
            "nll": _mean(fim, nxt), "nll_fim": _mean(fim), "nll_next": _mean(nxt),
            "exact_match": round(line["hits"] / line["n"], 4) if line["n"] else None, "exact_hits": line["hits"],
            "sanity_nll": _mean(san), "tokens": int(fim["tokens"] + nxt["tokens"])}
        emit("eval_model", model=label, **out[label])
    if cache_path:
        write_json(cache_path, dict(list(cache.items())[-200:]), indent=None)
    out["tasks"] = {k: len(v) for k, v in sets.items()}
    return out


def adapter_hash(folder: str | Path) -> str:
    import hashlib

    h = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        path = Path(folder) / name
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()[:32]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m growpilot.training.evaluate")
    p.add_argument("--config", required=True)
    args = p.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("transformers", "peft"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    cfg = json.loads(Path(args.config).read_text())

    def emit(event: str, **fields) -> None:
        sys.stdout.write(json.dumps({"event": event, **fields}, allow_nan=False, default=_finite) + "\n")
        sys.stdout.flush()

    from growpilot.training.errors import TrainingError

    try:
        metrics = evaluate(cfg, emit)
    except TrainingError as exc:
        emit("error", message=str(exc))
        return 2
    except Exception as exc:
        log.exception("the evaluator failed")
        emit("error", message=f"{type(exc).__name__}: {exc}")
        return 1
    write_json(Path(cfg["out"]), metrics)
    emit("metrics", **metrics)
    return 0


def _finite(x):
    return None if isinstance(x, float) and not math.isfinite(x) else x


if __name__ == "__main__":
    sys.exit(main())
