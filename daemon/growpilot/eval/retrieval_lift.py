"""`growpilot eval retrieval-lift`: does retrieved context help the model on cross-file code?

Tasks are lines of a repository that call a function or class defined in another file of it, at the
first such use in their file (CrossCodeEval's setting): the cursor stands where the call's name begins
and the gold is the rest of the line with its line break (the suffix starts on the next line), so it is
tokenized as in the file — Qwen's tokenizer joins `)` and a newline into one token, and a gold cut
before the newline would be scored on a token the file never contains (5–7 nats in both conditions).
Each gold is scored with the default model with the engine's retrieved snippets in the prompt and
without them (the prefix then gets their share of the budget, as it would in the product): mean token
NLL, and exact match of greedy decoding (computed in the same teacher-forced pass: greedy decoding
yields the gold iff every gold token is the argmax).
"""

from __future__ import annotations

import json
import logging
import re
import statistics
import time
from typing import Callable, TypeVar

from growpilot.completion.calibration import MIN_TASKS, calibration_tasks, task_context
from growpilot.completion.crossfile import build_tasks, cross_file_symbols
from growpilot.eval.stats import bootstrap_ratio
from growpilot.server.services import Services

log = logging.getLogger(__name__)
T = TypeVar("T")


def as_first_typed(folder, ctx, text: str, lookup: Callable[[], T]) -> T:
    """`lookup()` (a retrieval) with the cursor's file indexed only up to the cursor — what exists when
    the line is first typed, never the file's later lines —, its whole `text` indexed again after."""
    folder.index.update_text(ctx.path, ctx.prefix)
    try:
        return lookup()
    finally:
        folder.index.update_text(ctx.path, text)


def _defines(text: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b", text, re.M) is not None


def run(services: Services, workspace: str, limit: int = 200, rows_path: str | None = None,
        formats: tuple[str, ...] = ("with", "without", "comments")) -> dict:
    """`formats`: which prompts to score per task (`with` snippets in the repo format, `without` any,
    `comments`: snippets as comment lines, `top1`: only the best-ranked snippet)."""
    folder = services.add_folder(workspace)
    services.index_folder(folder)
    backend = services.model.backend
    engine = services.engine
    ws = services.workspace_for(str(folder.root))
    files = {p: (folder.root / p).read_text(errors="replace") for p in folder.index.files() if p.endswith(".py")}
    started = time.perf_counter()
    # What the product does first in a workspace: ask whether context helps here (calibration.py), on
    # call sites of another seed, left out of the tasks below. `served` is what a user then gets.
    calibration = services.calibrate_context(folder)
    served = "with" if services.workspace_for(str(folder.root)).context_enabled else "without"
    asked = calibration_tasks(folder.index, files)
    taken = {(t.path, t.line) for t in asked} if len(asked) >= MIN_TASKS else set()  # fewer: none was scored
    tasks = [t for t in build_tasks(files, cross_file_symbols(folder.index), limit + len(taken))
             if (t.path, t.line) not in taken][:limit]
    rows = []
    out = open(rows_path, "w") if rows_path else None  # a row per task as it is scored: long runs can be read early
    for n, task in enumerate(tasks):
        ctx = task_context(task, files[task.path])
        ranked = as_first_typed(folder, ctx, files[task.path], lambda: engine.ranked_context(ws, ctx))
        snippets = engine.group(ranked)
        row = {"path": task.path, "line": task.line + 1, "name": task.name, "gold": task.gold,
               "snippets": [{"path": c.path, "start_line": c.start_line, "end_line": c.end_line, "why": why,
                             "symbol": c.symbol}
                            for c, why in ranked],
               "gold_in_snippets": any(task.gold.strip() in s.text for s in snippets),
               "retrieved_definition": any(s.path in task.defined_in and _defines(s.text, task.name) for s in snippets),
               "served": served}
        gold = backend.encode(task.gold + "\n")  # as the file tokenizes it: `)` and `\n` are one token
        for label, context, repo_format in (("with", snippets, True), ("comments", snippets, False),
                                            ("top1", engine.group(ranked[:1]), True), ("without", [], True)):
            if label in formats:
                prompt = engine.build(ws, ctx, backend, context, repo_format)
                row[f"nll_{label}"], row[f"exact_{label}"] = backend.score(backend.encode(prompt.text), gold)
        rows.append(row)
        if out:
            out.write(json.dumps(row) + "\n")
            out.flush()
        if (n + 1) % 10 == 0:
            log.info("retrieval-lift: %d/%d tasks, %.0fs", n + 1, len(tasks), time.perf_counter() - started)
    if out:
        out.close()
    if not rows:
        return {"tasks": 0, "error": "no cross-file call sites found in this workspace"}
    return {"workspace": str(folder.root), "model": backend.name, "tasks": len(rows),
            "calibration": calibration.as_dict() if calibration else None, **summarize(rows),
            "prompt_tokens": services.settings.prompt_tokens, "seconds": round(time.perf_counter() - started, 1)}


def summarize(rows: list[dict]) -> dict:
    """The figures of scored tasks: mean NLL per prompt, ratios against no context with a bootstrap 95%
    interval (tasks resampled), exact match, and how often the definition / the gold text was shown."""
    mean = lambda key: round(statistics.fmean(r[key] for r in rows), 4)  # noqa: E731
    out: dict = {}
    if "nll_without" in rows[0]:
        out.update(nll_without_context=mean("nll_without"), exact_match_without_context=mean("exact_without"))
    if "nll_with" in rows[0] and "nll_without" in rows[0]:
        for r in rows:  # what the user gets: context where the workspace's calibration turned it on
            r["nll_served"], r["exact_served"] = r[f"nll_{r['served']}"], r[f"exact_{r['served']}"]
    for label, name in (("served", "served"), ("with", "with_context"), ("comments", "context_as_comments"),
                        ("top1", "best_snippet_only")):
        if f"nll_{label}" not in rows[0]:
            continue
        if "nll_without" not in rows[0]:
            out[name] = {"nll": mean(f"nll_{label}"), "exact_match": mean(f"exact_{label}")}
            continue
        ratio = statistics.fmean(r[f"nll_{label}"] for r in rows) / statistics.fmean(r["nll_without"] for r in rows)
        lo, hi = bootstrap_ratio([r[f"nll_{label}"] for r in rows], [r["nll_without"] for r in rows])
        out[name] = {"nll": mean(f"nll_{label}"), "nll_ratio": round(ratio, 4),
                     "nll_ratio_ci95": [round(lo, 4), round(hi, 4)], "exact_match": mean(f"exact_{label}")}
    out["definition_retrieved"] = mean("retrieved_definition")
    out["gold_in_snippets"] = mean("gold_in_snippets")
    out["tasks_with_snippets"] = round(statistics.fmean(bool(r["snippets"]) for r in rows), 4)
    return out
