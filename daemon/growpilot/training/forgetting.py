"""Forgotten feedback leaves the training data. The store is the source of every new run's feedback, so
a generation deleted there (`growpilot feedback forget`) is in no later run; but each run folder froze a
copy of its feedback samples (`feedback.jsonl`, and the trainer's `samples.jsonl`), and an unfinished run
is resumed with them. Here those copies are dropped, and a run that held any is never resumed (its
checkpoints learned from them): it is marked failed and its checkpoints are deleted.

A sample is recognised by the generation id it carries (`Sample.generation`), else (runs written before
samples carried one) by its content: `keys` (Sample.key of the forgotten generations' prompt and
target) or `loose` ((path, target) of those whose prompt retention had already cleared).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Collection, Iterable

from growpilot.paths import workspace_state_dir
from growpilot.training import data as D
from growpilot.training.corpus import read_json, read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)
FILES = ("feedback.jsonl", "samples.jsonl")
ABANDONED = "abandoned: it held feedback that was forgotten (growpilot feedback forget); the next cycle starts afresh"


class Matcher:
    def __init__(self, ids: Collection[str], keys: Collection[str] = (), loose: Iterable[tuple[str, str]] = ()):
        self.ids, self.keys, self.loose = set(ids), set(keys), set(loose)

    def __bool__(self) -> bool:
        return bool(self.ids or self.keys or self.loose)

    def __call__(self, row: dict) -> bool:
        if row.get("kind") != "feedback":
            return False
        if row.get("generation"):  # the same text may also be another, remembered generation's sample
            return row["generation"] in self.ids
        if (row.get("path", ""), row.get("target", "")) in self.loose:
            return True
        try:
            return D.Sample.from_dict(row).key in self.keys
        except (KeyError, TypeError):
            return False


def forget_in_runs(root: str | os.PathLike[str], match: Matcher) -> dict:
    """Drop matching feedback samples from every run folder of the workspace. Returns {runs: folders
    changed, samples: distinct samples removed, abandoned: [unfinished runs marked failed], adapters:
    [registered versions whose run had trained on some], training_running: whether a cycle holds the lock
    (it may have read them already; its run is then left for the next forget or cycle to clean)}."""
    result: dict = {"runs": 0, "samples": 0, "abandoned": [], "adapters": [], "training_running": False}
    runs = workspace_state_dir(root, create=False) / "training" / "runs"
    if not match or not runs.is_dir():
        return result
    from growpilot.training.cycle import cycle_lock
    from growpilot.training.errors import CycleBusy

    lock = cycle_lock(root)
    try:
        lock.__enter__()
    except CycleBusy:
        lock = None
        result["training_running"] = True
    try:
        for run in sorted(p for p in runs.iterdir() if p.is_dir()):
            removed = scrub_run(run, match)
            if not removed:
                continue
            result["runs"] += 1
            result["samples"] += removed
            registered = read_json(run / "registered.json")
            if registered.get("version"):
                result["adapters"].append(registered["version"])
            elif lock is not None and not (run / "failed.json").exists():
                abandon(run)
                result["abandoned"].append(run.name)
    finally:
        if lock is not None:
            lock.__exit__(None, None, None)
    return result


def scrub_run(run: Path, match: Matcher) -> int:
    """Rewrite the run's sample files without the matching rows; the number of distinct samples removed."""
    gone: set[str] = set()
    for name in FILES:
        path = run / name
        if not path.exists():
            continue
        try:
            rows = list(read_jsonl(path))
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s (%s): left as it is", path, exc)
            continue
        kept = [r for r in rows if not match(r)]
        if len(kept) != len(rows):
            gone |= {r.get("generation") or D.Sample.from_dict(r).key for r in rows if match(r)}
            write_jsonl(path, kept)
    return len(gone)


def abandon(run: Path) -> None:
    """Mark an unfinished run failed (never resumed) and delete what it trained so far."""
    write_json(run / "failed.json", {"message": ABANDONED, "forgotten": True})
    for done in [*run.glob("ckpt-*"), *run.glob("best-*")]:
        shutil.rmtree(done, ignore_errors=True)
    for pointer in ("checkpoint.json", "best.json"):
        (run / pointer).unlink(missing_ok=True)
    log.info("training run %s abandoned: it held forgotten feedback", run.name)


def abandon_if_forgotten(run: Path, forgotten: Collection[str]) -> bool:
    """For the cycle, about to resume `run` (it holds the lock): a run holding samples of forgotten
    generations (a forget that ran while it trained) is scrubbed and abandoned instead. True if so."""
    if forgotten and scrub_run(run, Matcher(forgotten)):
        abandon(run)
        return True
    return False
