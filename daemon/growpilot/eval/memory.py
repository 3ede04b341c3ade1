"""`growpilot eval memory`: does the few-shot memory teach the model this codebase's way at once?

Positions: statement starts where the repository writes something of its own — `raise E(` with an
exception class it defines ("error"), a call of one of its loggers, `logger.debug(` ("logging") — in its
non-test Python files. The files are split in two by a hash of their path: the history files and the
held-out files. At each position the cursor stands after the indentation, as the product would see it
(the file indexed only up to the cursor, its later lines in the FIM suffix), and the default model's
greedy suggestion is its *default way* there.

History: at each history position, what a user of the base model did, replayed into a fresh event store
(never the user's own): the suggestion is recorded with its real prompt; when it is the file's line, it
was accepted (and kept, as the file shows); otherwise it was rejected and the file's line was typed in
its place (a `rewritten` signal). Held out: at each held-out position where the default way is not the
repository's (a *preference site*), the repository's words (`raise AgentsException`, `logger.debug`: up
to the call's parenthesis) and the default's, cut the same way, are scored after the product's prompt
with the memory's examples and without them; the site is won when the repository's words are more likely
(log-probability margin > 0). Goal (issue 14): memory wins ≥ 20 points more of them than no memory.

Memory must not cost the plain figures either: on retrieval-lift's cross-file tasks (the same history in
memory) the NLL with retrieved snippets and memory's examples over the NLL with the snippets alone should
stay within 1.02.
"""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import json
import logging
import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from growpilot.actions import conventions
from growpilot.completion.calibration import task_context
from growpilot.completion.context import CursorContext, stop_rule
from growpilot.completion.crossfile import build_tasks, cross_file_symbols
from growpilot.eval.retrieval_lift import as_first_typed
from growpilot.eval.stats import bootstrap_mean, bootstrap_ratio
from growpilot.learning.events import EventStore, GenerationRecord
from growpilot.learning.memory import EMBED_PER_REQUEST, SIMILARITY_THRESHOLD, Memory
from growpilot.learning.preferences import LOG_METHODS
from growpilot.models.healing import heal_split

log = logging.getLogger(__name__)
MAX_PER_FILE = 6  # positions per category and file: spread over the repository, not one long module
SUGGESTION_TOKENS = 24
_CLASS = re.compile(r"^\s*class\s+(\w+)\s*\(([^)]*)\)\s*:", re.M)
_RAISE = re.compile(r"^(\s*)(raise\s+(\w+))\(")
_LOG_CALL = re.compile(rf"^(\s*)(((?:self\.)?\w*log\w*)\.(?:{LOG_METHODS}))\(", re.I)


@dataclass(frozen=True)
class Site:
    path: str
    line: int  # 0-based
    column: int  # after the indentation
    category: str  # error | logging
    head: str  # the repository's words: "raise AgentsException" (up to the parenthesis), "logger"
    rest: str  # the line from the cursor on: what the user typed


def project_exceptions(files: dict[str, str]) -> set[str]:
    """Names of exception classes the repository defines: a class whose base is a builtin exception or
    another of them (by name: a dotted base counts by its last part). Pure."""
    bases: dict[str, set[str]] = {}
    for text in files.values():
        for name, raw in _CLASS.findall(text):
            bases.setdefault(name, set()).update(b.strip().split(".")[-1] for b in raw.split(",") if b.strip())
    builtin = {n for n in dir(builtins) if isinstance(getattr(builtins, n), type)
               and issubclass(getattr(builtins, n), BaseException)}
    found: set[str] = set()
    while True:
        more = {n for n, bs in bases.items() if n not in found and n not in builtin and bs & (builtin | found)}
        if not more:
            return found
        found |= more


def convention_sites(files: dict[str, str]) -> list[Site]:
    """The positions where the repository writes its own error type or logger (see the module's
    docstring), at most MAX_PER_FILE per category and file, in path and line order. Pure."""
    errors = project_exceptions(files)
    sites = []
    for path, text in sorted(files.items()):
        if not path.endswith(".py") or conventions.is_test_code(path):
            continue
        taken = {"error": 0, "logging": 0}
        for i, line in enumerate(text.split("\n")):
            if (m := _RAISE.match(line)) and m.group(3) in errors:
                category = "error"
            elif m := _LOG_CALL.match(line):
                category = "logging"
            else:
                continue
            if taken[category] < MAX_PER_FILE and i > 0:
                taken[category] += 1
                indent = len(m.group(1))
                head = m.group(2) if category == "error" else m.group(3)  # the logger, whatever the level
                sites.append(Site(path, i, indent, category, head, line[indent:]))
    return sites


def split(path: str) -> str:
    """"history" or "heldout", by a stable hash of the file's path."""
    return "history" if hashlib.sha1(path.encode()).digest()[0] % 2 == 0 else "heldout"


def head_of(text: str, category: str) -> str:
    """A suggestion's words cut as a Site's head: up to the first parenthesis, else to the line's end;
    for a logging site, without the method (`logger.info` → `logger`, `print` stays)."""
    head = text.split("\n", 1)[0].split("(", 1)[0].rstrip()
    if category == "logging" and re.fullmatch(r"[\w.]+\.\w+", head):
        head = head.rsplit(".", 1)[0]
    return head


def site_context(site: Site, text: str) -> CursorContext:
    lines = text.split("\n")
    prefix = "\n".join(lines[: site.line] + [lines[site.line][: site.column]])
    return CursorContext(site.path, "python", prefix, "\n".join(lines[site.line + 1:]), site.line, "line")


def run(services, workspace: str, limit: int = 200, rows_path: str | None = None, lift_tasks: int = 60,
        threshold: float = SIMILARITY_THRESHOLD) -> dict:
    """`limit`: positions per split at most; `lift_tasks`: retrieval-lift tasks for the no-harm check."""
    folder = services.add_folder(workspace)
    services.index_folder(folder)
    backend, engine = services.model.backend, services.engine
    ws = services.workspace_for(str(folder.root))
    files = {p: (folder.root / p).read_text(errors="replace") for p in folder.index.files() if p.endswith(".py")}
    sites = convention_sites(files)
    history = [s for s in sites if split(s.path) == "history"][:limit]
    heldout = [s for s in sites if split(s.path) == "heldout"][:limit]
    started = time.perf_counter()
    k = services.settings.memory_examples or 2
    out = open(rows_path, "w") if rows_path else None
    with tempfile.TemporaryDirectory(prefix="growpilot-eval-memory-") as tmp:
        store = EventStore(Path(tmp) / "events.sqlite")
        memory = Memory(store, lambda: services.embedder, threshold=threshold)
        try:
            replayed = _replay(history, files, folder, ws, engine, backend, store)
            _warm(memory, ws.root, len(history))
            rows = []
            for n, site in enumerate(heldout):
                row = _score_site(site, files, folder, ws, engine, backend, memory, k)
                rows.append(row)
                if out:
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                if (n + 1) % 10 == 0:
                    log.info("eval memory: %d/%d held-out positions, %.0fs", n + 1, len(heldout),
                             time.perf_counter() - started)
            lift = _lift(files, folder, ws, engine, backend, memory, k, lift_tasks)
        finally:
            store.close()
            if out:
                out.close()
    return {"workspace": str(folder.root), "model": backend.name, "examples_per_prompt": k,
            "similarity_threshold": threshold, "history": replayed, **summarize(rows), "retrieval_lift": lift,
            "seconds": round(time.perf_counter() - started, 1)}


def _prompt_context(ctx: CursorContext, folder, files: dict[str, str], ws, engine):
    """The snippets the engine retrieves for a cursor when its line is first typed."""
    return as_first_typed(folder, ctx, files[ctx.path], lambda: engine.retrieve(ws, ctx))


def _replay(history: list[Site], files, folder, ws, engine, backend, store: EventStore) -> dict:
    counts = {"positions": len(history), "accepted": 0, "rewritten": 0}
    t0 = time.time() - 3600 - 10 * len(history)  # an hour ago and older: every accept is past its retention wait
    for i, site in enumerate(history):
        ctx = site_context(site, files[site.path])
        healed, forced = heal(ctx, backend)
        prompt = engine.build(ws, healed, backend, _prompt_context(ctx, folder, files, ws, engine))
        suggestion = _suggest(backend, prompt.text, ctx, forced)
        gid = store.record_generation(GenerationRecord(
            ws.root, site.path, site.line, site.column, "inline", "line", prompt.text, suggestion, backend.name,
            None, 0.0, "model", {"healed": forced}, created=t0 + 10 * i))
        if suggestion.strip() and suggestion.rstrip() == site.rest.rstrip():
            store.accept(gid, "eval")
            counts["accepted"] += 1
        else:
            store.record_signal(gid, "rejected")
            store.record_signal(gid, "rewritten", site.rest)
            counts["rewritten"] += 1
        if (i + 1) % 20 == 0:
            log.info("eval memory: %d/%d history positions replayed", i + 1, len(history))
    store.flush()
    return counts


def heal(ctx: CursorContext, backend) -> tuple[CursorContext, str]:
    """The cursor as the product's prompt has it (token healing: the line's last token, or the last
    character of its indentation, given up), and the text the answer must start with."""
    forced = heal_split(ctx.line_prefix, backend.encode, backend.decode)
    return dataclasses.replace(ctx, prefix=ctx.prefix[:len(ctx.prefix) - len(forced)]), forced


def _suggest(backend, prompt: str, ctx: CursorContext, forced: str) -> str:
    """The product's single-line suggestion after `prompt`, without the healed text."""
    return backend.generate(prompt, SUGGESTION_TOKENS, stop_rule("line", ctx.prefix), None, forced).text[
        len(forced):].split("\n", 1)[0]


def _warm(memory: Memory, root: str, n: int) -> None:
    """Embed the whole history before measuring: the product embeds EMBED_PER_REQUEST per request, so a
    fresh daemon gets there after a few requests."""
    for _ in range(n // EMBED_PER_REQUEST + 2):
        memory.examples(root, "\n", 1)


def _logprob(backend, prompt_ids: list[int], text: str) -> float:
    ids = backend.encode(text)
    nll, _ = backend.score(prompt_ids, ids)
    return -nll * len(ids)


def _score_site(site: Site, files, folder, ws, engine, backend, memory: Memory, k: int) -> dict:
    ctx = site_context(site, files[site.path])
    snippets = _prompt_context(ctx, folder, files, ws, engine)
    healed, forced = heal(ctx, backend)
    plain = engine.build(ws, healed, backend, snippets)
    default = head_of(_suggest(backend, plain.text, ctx, forced), site.category)
    current = (ctx.path, ctx.prefix + ctx.suffix)
    nearest = memory.examples(ws.root, ctx.prefix, 1, current, threshold=-1.0)  # below the cut too: for tuning it
    row = {"path": site.path, "line": site.line + 1, "category": site.category, "head": site.head,
           "default": default, "preference_site": default != site.head,
           "nearest_similarity": nearest[0].score if nearest else None}
    if not row["preference_site"]:
        return row  # the model already writes it the repository's way here
    examples = memory.examples(ws.root, ctx.prefix, k, current)
    typed = memory.typed_lines(ws.root, ctx.path, ctx.line_prefix)
    with_memory = engine.build(ws, healed, backend, snippets, examples=examples, typed=typed)
    row["examples"] = [{"id": e.id, "path": e.path, "score": e.score} for e in examples]
    row["typed_lines"] = len(typed.lines) if typed else 0
    for label, prompt in (("without", plain), ("with", with_memory)):
        ids = backend.encode(prompt.text)
        # An empty default (the model ends the line at once) is scored as the line break it wrote.
        row[f"margin_{label}"] = round(_logprob(backend, ids, forced + site.head)
                                       - _logprob(backend, ids, forced + default if default else "\n"), 4)
    return row


def _lift(files, folder, ws, engine, backend, memory: Memory, k: int, n: int) -> dict:
    """Retrieval-lift's tasks scored with the snippets, and with the snippets and memory's examples."""
    tasks = build_tasks(files, cross_file_symbols(folder.index), n)
    rows = []
    for task in tasks:
        ctx = task_context(task, files[task.path])
        snippets = _prompt_context(ctx, folder, files, ws, engine)
        examples = memory.examples(ws.root, ctx.prefix, k, (ctx.path, ctx.prefix + ctx.suffix))
        typed = memory.typed_lines(ws.root, ctx.path, ctx.line_prefix)
        gold = backend.encode(task.gold + "\n")
        row = {"examples": len(examples)}
        for label, ex, lines in (("context", [], None), ("memory", examples, typed)):
            prompt = engine.build(ws, ctx, backend, snippets, examples=ex, typed=lines)
            row[label], _ = backend.score(backend.encode(prompt.text), gold)
        rows.append(row)
    if not rows:
        return {"tasks": 0}
    lo, hi = bootstrap_ratio([r["memory"] for r in rows], [r["context"] for r in rows])
    return {"tasks": len(rows), "nll_with_context": round(statistics.fmean(r["context"] for r in rows), 4),
            "nll_with_context_and_memory": round(statistics.fmean(r["memory"] for r in rows), 4),
            "nll_ratio": round(statistics.fmean(r["memory"] for r in rows) / statistics.fmean(r["context"] for r in rows), 4),
            "nll_ratio_ci95": [round(lo, 4), round(hi, 4)],
            "tasks_with_examples": round(statistics.fmean(r["examples"] > 0 for r in rows), 4)}


def summarize(rows: list[dict]) -> dict:
    """Win rates at the preference sites with memory and without, their difference in points with a
    bootstrap 95% interval (sites resampled), per category too."""
    scored = [r for r in rows if r.get("preference_site")]
    out = {"heldout_positions": len(rows), "preference_sites": len(scored),
           "already_the_repository_way": len(rows) - len(scored)}
    if not scored:
        return out
    out.update(_wins(scored))
    near = [r["nearest_similarity"] for r in scored if r.get("nearest_similarity") is not None]
    out["median_nearest_similarity"] = round(statistics.median(near), 4) if near else None
    out["by_category"] = {c: _wins([r for r in scored if r["category"] == c])
                          for c in sorted({r["category"] for r in scored})}
    return out


def _wins(rows: list[dict]) -> dict:
    without = [float(r["margin_without"] > 0) for r in rows]
    with_ = [float(r["margin_with"] > 0) for r in rows]
    lo, hi = bootstrap_mean([a - b for a, b in zip(with_, without)])
    return {"sites": len(rows), "win_rate_without": round(statistics.fmean(without), 4),
            "win_rate_with": round(statistics.fmean(with_), 4),
            "gain_points": round(100 * (statistics.fmean(with_) - statistics.fmean(without)), 1),
            "gain_points_ci95": [round(100 * lo, 1), round(100 * hi, 1)],
            "mean_margin_without": round(statistics.fmean(r["margin_without"] for r in rows), 3),
            "mean_margin_with": round(statistics.fmean(r["margin_with"] for r in rows), 3),
            "sites_with_examples": round(statistics.fmean(bool(r["examples"]) for r in rows), 4)}
