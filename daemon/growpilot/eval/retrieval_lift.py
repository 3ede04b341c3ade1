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
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from growpilot.completion.context import CursorContext
from growpilot.server.services import Services

log = logging.getLogger(__name__)
_SKIP_LINE = re.compile(r"^\s*(from\s|import\s|def\s|class\s|async\s+def\s|@|#)")
_IMPORT = re.compile(r"^\s*(from\s|import\s)")


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
        in_import = False  # inside `from x import (` … `)`
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
            if _IMPORT.match(line) or in_import:
                in_import = (in_import or "(" in line) and ")" not in line
            else:
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


def _definitions(services: Services, folder) -> dict[str, set[str]]:
    rows = folder.index.catalog.conn.execute(
        "SELECT DISTINCT symbol, path FROM chunks WHERE language='python' AND symbol IS NOT NULL AND instr(symbol, '.') = 0")
    homes: dict[str, set[str]] = defaultdict(set)
    for symbol, path in rows:
        homes[symbol].add(path)
    return {name: paths for name, paths in homes.items() if len(paths) <= 2}


def run(services: Services, workspace: str, limit: int = 200, rows_path: str | None = None) -> dict:
    folder = services.add_folder(workspace)
    services.index_folder(folder)
    backend = services.model.backend
    engine = services.engine
    ws = services.workspace_for(str(folder.root))
    files = {p: (folder.root / p).read_text(errors="replace") for p in folder.index.catalog.file_rows() if p.endswith(".py")}
    tasks = build_tasks(files, _definitions(services, folder), limit)
    started = time.perf_counter()
    rows = []
    for n, task in enumerate(tasks):
        lines = files[task.path].split("\n")
        prefix = "\n".join(lines[: task.line] + [lines[task.line][: task.column]])
        suffix = "\n".join(lines[task.line + 1:])  # the hole is the rest of the line and its line break
        ctx = CursorContext(task.path, "python", prefix, suffix, task.line, "line")
        snippets = engine.retrieve(ws, ctx)
        row = {"path": task.path, "line": task.line + 1, "name": task.name, "gold": task.gold,
               "retrieved_definition": any(s.path in task.defined_in and _defines(s.text, task.name) for s in snippets)}
        gold = backend.encode(task.gold + "\n")  # as the file tokenizes it: `)` and `\n` are one token
        for label, context, repo_format in (("with", snippets, True), ("comments", snippets, False),
                                            ("without", [], True)):
            prompt = engine.build(ws, ctx, backend, context, repo_format)
            row[f"nll_{label}"], row[f"exact_{label}"] = backend.score(backend.encode(prompt.text), gold)
        rows.append(row)
        if (n + 1) % 10 == 0:
            log.info("retrieval-lift: %d/%d tasks, %.0fs", n + 1, len(tasks), time.perf_counter() - started)
    if rows_path:
        Path(rows_path).write_text("".join(json.dumps(r) + "\n" for r in rows))
    if not rows:
        return {"tasks": 0, "error": "no cross-file call sites found in this workspace"}
    mean = lambda key: statistics.fmean(r[key] for r in rows)  # noqa: E731
    return {
        "workspace": str(folder.root), "model": backend.name, "tasks": len(rows),
        "nll_with_context": round(mean("nll_with"), 4), "nll_without_context": round(mean("nll_without"), 4),
        "nll_ratio": round(mean("nll_with") / mean("nll_without"), 4),
        "exact_match_with_context": round(mean("exact_with"), 4),
        "exact_match_without_context": round(mean("exact_without"), 4),
        "context_as_comments": {"nll": round(mean("nll_comments"), 4),
                                "nll_ratio": round(mean("nll_comments") / mean("nll_without"), 4),
                                "exact_match": round(mean("exact_comments"), 4)},
        "definition_retrieved": round(mean("retrieved_definition"), 4),
        "prompt_tokens": services.settings.prompt_tokens, "seconds": round(time.perf_counter() - started, 1),
    }
