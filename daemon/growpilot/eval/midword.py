"""`growpilot eval midword`: do completions inside a word continue that word?

Tasks are identifiers in the code of a repository (Python `NAME` tokens of five or more characters, not
keywords; one per line), typed up to `k` = 0 (the word start), 1, 2 or 3 of their characters: the
document is the file with the cursor's line cut there and the lines after it as they are. A suggestion
*completes the word* when what was typed plus the suggestion spells the word and then leaves it (the next
character is no identifier character). Run through the engine (the product's pipeline, typed-ahead reuse
off so every request reaches the model), the typed characters in order as a user types them. Variants:
`healed` as the product serves (token healing, and `typingReuse`: from the second character on, the
prompt keeps its layout and a short suffix), `healed_fresh` (healing, a fresh full prompt at every
keystroke) and `raw` (neither). Retrieved context is off: the question is the prompt's end, and the
index would hold the very line being typed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import keyword
import logging
import random
import statistics
import time
import tokenize
from dataclasses import dataclass
from pathlib import Path

from growpilot.completion.engine import CompletionRequest
from growpilot.eval.stats import bootstrap_mean
from growpilot.server.services import Services

log = logging.getLogger(__name__)
TYPED = (0, 1, 2, 3)
MIN_WORD = 5
VARIANTS = {"healed": {"token_healing": True, "typing_reuse": True},
            "healed_fresh": {"token_healing": True, "typing_reuse": False},
            "raw": {"token_healing": False, "typing_reuse": False}}


@dataclass(frozen=True)
class WordTask:
    path: str  # workspace-relative
    line: int  # 0-based
    column: int  # where the word starts
    word: str


def word_tasks(files: dict[str, str], limit: int, seed: int = 0) -> list[WordTask]:
    """Identifiers of real code (never in a comment or a string), one per line, lines unique. Pure."""
    tasks, seen = [], set()
    for path, text in sorted(files.items()):
        lines = text.split("\n")
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        except (tokenize.TokenError, SyntaxError, IndentationError):
            continue
        by_line: dict[int, list[tokenize.TokenInfo]] = {}
        for tok in tokens:
            if tok.type == tokenize.NAME and len(tok.string) >= MIN_WORD and not keyword.iskeyword(tok.string):
                by_line.setdefault(tok.start[0] - 1, []).append(tok)
        for i, names in by_line.items():
            stripped = lines[i].strip()
            if stripped in seen or len(stripped) > 160:
                continue
            seen.add(stripped)
            tok = random.Random(f"{seed}:{path}:{i}").choice(names)
            tasks.append(WordTask(path, i, tok.start[1], tok.string))
    random.Random(seed).shuffle(tasks)
    return tasks[:limit]


def completes(word: str, typed: int, suggestion: str) -> bool:
    """Whether typed characters plus the suggestion spell `word` and then leave it."""
    full = word[:typed] + suggestion
    return full.startswith(word) and (len(full) == len(word) or not (full[len(word)].isalnum() or full[len(word)] == "_"))


def run(services: Services, workspace: str, limit: int = 100, rows_path: str | None = None,
        variants: tuple[str, ...] = tuple(VARIANTS)) -> dict:
    folder = services.add_folder(workspace)
    services.index_folder(folder)
    files = {p: (folder.root / p).read_text(errors="replace") for p in folder.index.files() if p.endswith(".py")}
    tasks = word_tasks(files, limit)
    if not tasks:
        return {"tasks": 0, "error": f"no Python identifiers found in {folder.root}"}
    engine = services.engine
    settings = services.settings
    base = dataclasses.replace(settings, retrieval_snippets=0)
    started = time.perf_counter()
    rows = []
    for n, task in enumerate(tasks):
        row = {"path": task.path, "line": task.line + 1, "word": task.word}
        lines = files[task.path].split("\n")
        for label in variants:
            services.settings = dataclasses.replace(base, **VARIANTS[label])
            for k in TYPED:
                cut = lines[: task.line] + [lines[task.line][: task.column + k]] + lines[task.line + 1:]
                req = CompletionRequest(str(folder.root / task.path), "\n".join(cut), task.line, task.column + k, "cli")
                engine.forget_last()  # every request reaches the model: no typed-ahead reuse of the previous one
                s = asyncio.run(engine.complete(req, debounce=False))
                text = s.text if s else ""
                row[f"{label}_{k}"] = completes(task.word, k, text)
                row[f"{label}_{k}_text"] = text
        rows.append(row)
        if (n + 1) % 10 == 0:
            log.info("midword: %d/%d tasks, %.0fs", n + 1, len(tasks), time.perf_counter() - started)
    services.settings = settings
    if rows_path:
        import json

        Path(rows_path).write_text("".join(json.dumps(r) + "\n" for r in rows))
    result: dict = {"workspace": str(folder.root), "model": services.model.backend.name, "tasks": len(rows)}
    for label in variants:
        result[label] = {f"typed_{k}": _rate([r[f"{label}_{k}"] for r in rows]) for k in TYPED}
        result[label]["typed_1_to_3"] = _rate([r[f"{label}_{k}"] for r in rows for k in TYPED[1:]])
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def _rate(values: list[bool]) -> dict:
    lo, hi = bootstrap_mean([float(v) for v in values])
    return {"rate": round(statistics.fmean(values), 4), "ci95": [round(lo, 4), round(hi, 4)], "n": len(values)}
