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

import ast
import json
import logging
import random
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from growpilot.completion.context import CursorContext
from growpilot.completion.names import import_statements
from growpilot.eval.stats import bootstrap_ratio
from growpilot.server.services import Services

log = logging.getLogger(__name__)
_SKIP_LINE = re.compile(r"^\s*(from\s|import\s|def\s|class\s|async\s+def\s|@|#)")


@dataclass(frozen=True)
class Task:
    path: str  # workspace-relative
    line: int  # 0-based
    column: int  # where the cross-file name starts: the cursor
    gold: str  # the rest of the line from there
    name: str  # the cross-file symbol it uses
    defined_in: tuple[str, ...]


def build_tasks(files: dict[str, str], definitions: dict[str, set[str]], limit: int, seed: int = 0) -> list[Task]:
    """First uses of names defined in another file: the line where a file first calls (or reaches
    into) a top-level function or class of another file, which its own text before that line only
    imports. What completes such a line is in the other file (CrossCodeEval's criterion). Pure."""
    tasks, seen = [], set()
    for path, text in sorted(files.items()):
        lines = text.split("\n")
        sites = call_sites(text)
        used_before: set[str] = set()
        imports = {n for st in import_statements(lines) for n in range(st.first, st.last + 1)}
        for i, line in enumerate(lines):
            stripped = line.strip()
            if stripped and not _SKIP_LINE.match(line) and len(stripped) <= 160 and stripped not in seen:
                for m in re.finditer(r"\b([A-Za-z_]\w{4,})\s*[(.]", line):
                    name, homes = m.group(1), definitions.get(m.group(1))
                    if (homes and path not in homes and name not in used_before and not name.startswith("__")
                            and (i, m.start(1)) in sites):
                        tasks.append(Task(path, i, m.start(1), line[m.start(1):].rstrip(), name, tuple(sorted(homes))))
                        seen.add(stripped)
                        break
            if i not in imports:
                used_before.update(re.findall(r"\b[A-Za-z_]\w*\b", line))
    random.Random(seed).shuffle(tasks)
    return tasks[:limit]


def call_sites(text: str) -> set[tuple[int, int]]:
    """(0-based line, column) of every name the code calls or reaches into (`f(`, `C.x`): never a word
    in a docstring or comment that merely looks like one. Empty when the file does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return set()
    lines = text.split("\n")
    sites = set()
    for node in ast.walk(tree):
        target = node.func if isinstance(node, ast.Call) else node.value if isinstance(node, ast.Attribute) else None
        if isinstance(target, ast.Name):
            line = target.lineno - 1  # ast's columns count UTF-8 bytes
            sites.add((line, len(lines[line].encode()[:target.col_offset].decode(errors="ignore"))))
    return sites


def _defines(text: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b", text, re.M) is not None


def _definitions(folder) -> dict[str, set[str]]:
    homes = folder.index.top_level_symbols("python")
    return {name: paths for name, paths in homes.items() if len(paths) <= 2}


def run(services: Services, workspace: str, limit: int = 200, rows_path: str | None = None,
        formats: tuple[str, ...] = ("with", "without", "comments")) -> dict:
    """`formats`: which prompts to score per task (`with` snippets in the repo format, `without` any,
    `comments`: snippets as comment lines)."""
    folder = services.add_folder(workspace)
    services.index_folder(folder)
    backend = services.model.backend
    engine = services.engine
    ws = services.workspace_for(str(folder.root))
    files = {p: (folder.root / p).read_text(errors="replace") for p in folder.index.files() if p.endswith(".py")}
    tasks = build_tasks(files, _definitions(folder), limit)
    started = time.perf_counter()
    rows = []
    for n, task in enumerate(tasks):
        lines = files[task.path].split("\n")
        prefix = "\n".join(lines[: task.line] + [lines[task.line][: task.column]])
        suffix = "\n".join(lines[task.line + 1:])  # the hole is the rest of the line and its line break
        ctx = CursorContext(task.path, "python", prefix, suffix, task.line, "line")
        # What exists when the line is first typed: the cursor's file up to the cursor, not its later lines.
        folder.index.update_text(task.path, prefix)
        try:
            ranked = engine.ranked_context(ws, ctx)
        finally:
            folder.index.update_text(task.path, files[task.path])
        snippets = engine.group(ranked)
        row = {"path": task.path, "line": task.line + 1, "name": task.name, "gold": task.gold,
               "snippets": [{"path": c.path, "start_line": c.start_line, "end_line": c.end_line, "why": why}
                            for c, why in ranked],
               "gold_in_snippets": any(task.gold.strip() in s.text for s in snippets),
               "retrieved_definition": any(s.path in task.defined_in and _defines(s.text, task.name) for s in snippets)}
        gold = backend.encode(task.gold + "\n")  # as the file tokenizes it: `)` and `\n` are one token
        for label, context, repo_format in (("with", snippets, True), ("comments", snippets, False),
                                            ("without", [], True)):
            if label in formats:
                prompt = engine.build(ws, ctx, backend, context, repo_format)
                row[f"nll_{label}"], row[f"exact_{label}"] = backend.score(backend.encode(prompt.text), gold)
        rows.append(row)
        if (n + 1) % 10 == 0:
            log.info("retrieval-lift: %d/%d tasks, %.0fs", n + 1, len(tasks), time.perf_counter() - started)
    if rows_path:
        Path(rows_path).write_text("".join(json.dumps(r) + "\n" for r in rows))
    if not rows:
        return {"tasks": 0, "error": "no cross-file call sites found in this workspace"}
    return {"workspace": str(folder.root), "model": backend.name, "tasks": len(rows), **summarize(rows),
            "prompt_tokens": services.settings.prompt_tokens, "seconds": round(time.perf_counter() - started, 1)}


def summarize(rows: list[dict]) -> dict:
    """The figures of scored tasks: mean NLL per prompt, ratios against no context with a bootstrap 95%
    interval (tasks resampled), exact match, and how often the definition / the gold text was shown."""
    mean = lambda key: round(statistics.fmean(r[key] for r in rows), 4)  # noqa: E731
    out: dict = {"nll_without_context": mean("nll_without"), "exact_match_without_context": mean("exact_without")}
    for label, name in (("with", "with_context"), ("comments", "context_as_comments")):
        if f"nll_{label}" not in rows[0]:
            continue
        ratio = statistics.fmean(r[f"nll_{label}"] for r in rows) / statistics.fmean(r["nll_without"] for r in rows)
        lo, hi = bootstrap_ratio([r[f"nll_{label}"] for r in rows], [r["nll_without"] for r in rows])
        out[name] = {"nll": mean(f"nll_{label}"), "nll_ratio": round(ratio, 4),
                     "nll_ratio_ci95": [round(lo, 4), round(hi, 4)], "exact_match": mean(f"exact_{label}")}
    out["definition_retrieved"] = mean("retrieved_definition")
    out["gold_in_snippets"] = mean("gold_in_snippets")
    out["tasks_with_snippets"] = round(statistics.fmean(bool(r["snippets"]) for r in rows), 4)
    return out
