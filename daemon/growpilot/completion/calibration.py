"""Does retrieved context help in this workspace? Asked once per workspace and model, and kept.

On a repository the model has not seen, definitions from other files lower the loss of cross-file code
(openai-agents: NLL ratio ~0.8). On one it has memorized (rich, likely in its pretraining data), the
same snippets only take room from the file's own far prefix: the ratio was 1.06 even though the right
definition was among the snippets in 85% of tasks, and no feature of a single prompt (why a snippet was
chosen, how its name matches the words at the cursor, the file's length) told the two apart. So the
workspace is asked: CALIBRATION_TASKS of its own cross-file call sites (crossfile.py, a seed the
evaluation does not use) are scored with and without context, the way `growpilot eval retrieval-lift`
scores them, and context is shown only if it lowers the mean NLL there. The answer is stored in the
index's state folder, keyed by the model, and asked again when the model changes. Setting
`contextGate`: `auto` (this), `always`, `never`."""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from growpilot.completion.context import CursorContext
from growpilot.completion.crossfile import Task, build_tasks, cross_file_symbols

log = logging.getLogger(__name__)
CALIBRATION_TASKS = 24
MIN_TASKS = 8  # fewer call sites than this: too little to go on, context stays on (the common case helps)
SEED = 1  # the evaluation draws its tasks with seed 0 and leaves these out
FILE = "context.json"


@dataclass(frozen=True)
class Calibration:
    enabled: bool
    ratio: float | None  # mean NLL with context ÷ without, over the tasks; None: too few tasks
    tasks: int
    model: str
    at: float

    def as_dict(self) -> dict:
        return asdict(self)


def decide(pairs: list[tuple[float, float]], model: str) -> Calibration:
    """Context on iff it lowered the mean NLL over the (with, without) pairs; on with too few of them."""
    if len(pairs) < MIN_TASKS:
        return Calibration(True, None, len(pairs), model, time.time())
    ratio = statistics.fmean(w for w, _ in pairs) / statistics.fmean(wo for _, wo in pairs)
    return Calibration(ratio < 1.0, round(ratio, 4), len(pairs), model, time.time())


def task_context(task: Task, text: str) -> CursorContext:
    """The cursor where the task's name begins; the hole is the rest of the line and its line break."""
    lines = text.split("\n")
    prefix = "\n".join(lines[: task.line] + [lines[task.line][: task.column]])
    return CursorContext(task.path, "python", prefix, "\n".join(lines[task.line + 1:]), task.line, "line")


def score(engine, ws, backend, snippets: list, ctx: CursorContext, gold: str) -> float:
    """NLL of `gold` and its line break (as the file tokenizes it: `)` and `\n` are one token) after the
    prompt the engine builds with `snippets`."""
    prompt = engine.build(ws, ctx, backend, snippets)
    return backend.score(backend.encode(prompt.text), backend.encode(gold + "\n"))[0]


def calibration_tasks(index, files: dict[str, str], limit: int = CALIBRATION_TASKS) -> list[Task]:
    return build_tasks(files, cross_file_symbols(index), limit, seed=SEED)


def calibrate(engine, ws, index, backend, model: str, on_model: Callable = lambda fn, *a: fn(*a),
              read: Callable[[str], str] | None = None) -> Calibration:
    """Score the workspace's calibration tasks (each prompt on the model thread through `on_model`) and decide.
    The task's own file is left out of its context: the index holds its later lines, not yet written
    when the line is first typed."""
    root = Path(ws.root)
    read = read or (lambda rel: (root / rel).read_text(errors="replace"))
    files = {p: read(p) for p in index.files() if p.endswith(".py")}
    tasks = calibration_tasks(index, files)
    if len(tasks) < MIN_TASKS:
        return decide([], model)  # a small workspace: not worth the model's time, context stays on
    pairs = []
    for task in tasks:
        ctx = task_context(task, files[task.path])
        ranked = [(c, why) for c, why in engine.ranked_context(ws, ctx) if c.path != task.path]
        if not ranked:
            continue  # nothing would be shown: nothing to learn from this task
        # One prompt per model call: a user who comes back waits for one at most.
        pairs.append((on_model(score, engine, ws, backend, engine.group(ranked), ctx, task.gold),
                      on_model(score, engine, ws, backend, [], ctx, task.gold)))
    return decide(pairs, model)


def load(state_dir: Path, model: str) -> Calibration | None:
    try:
        data = json.loads((state_dir / FILE).read_text())
        found = Calibration(**data)
    except (OSError, ValueError, TypeError):
        return None
    return found if found.model == model else None


def save(state_dir: Path, found: Calibration) -> None:
    tmp = state_dir / f".{FILE}.tmp"
    tmp.write_text(json.dumps(found.as_dict()))
    os.replace(tmp, state_dir / FILE)
