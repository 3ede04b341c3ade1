"""One learning cycle for one workspace: data → trainer subprocess → evaluator subprocess → gate →
registry. This is what the server runs from a background thread and `growpilot train` from the
command line; it imports no torch: the training stack lives in the subprocesses only.

    cycle = TrainingCycle(root, settings, events, on_progress)
    result = cycle.run()        # blocking; raises TrainingError subclasses with a clear message
    cycle.cancel()              # from another thread: SIGTERM to the trainer (it checkpoints)

- One cycle per workspace at a time (an flock on `<state>/training/cycle.lock`; a second is refused
  with CycleBusy, also from another process). The lock goes with the process that holds it.
- The run folder (`<state>/training/runs/<id>/`) freezes the run's inputs (files, held-out files,
  feedback samples). A cancelled or killed run is resumed by the next cycle from its checkpoint (same
  samples, step count continuing); a trained but unevaluated one goes straight to evaluation.
- A trainer that crashes, is killed or reports an error ends the cycle with TrainerFailed and
  changes nothing in the registry.

Progress events (`on_progress(dict)`, called on the cycle's thread), by `event`:
`phase` {phase: data | resuming | training | evaluating | done, run_dir?, version?, decision?, reason?},
`subprocess` (as phase, with module and pid), `data_progress` {files, of, samples, needed},
`data` {files, samples}, `step` {step, steps, loss, tokens_per_second, eta_s, lr},
`eval` {step, heldout_loss, best?, improved?}, `stopped`, `resumed` {step}, `done` (the trainer's result),
`eval_progress` {model, done, total} (tasks scored of all models to score), `eval_model` {model, nll,
exact_match, sanity_nll, …}, `metrics`, `error` {message}.

`GROWPILOT_TRAIN_HYPER` (JSON, e.g. `{"lr": 0.002}`) overrides the trainer's defaults
(`modeling.Hyper`: lr, batch, accum, rank, alpha, eval_every, patience…) for experiments and the tests.
`GROWPILOT_TRAIN_PROCESSES=N` trains data-parallel on N GPUs (or N CPU processes when the device is
cpu) through `accelerate launch` (trainer `--processes N`); the trainer's pid is then the launcher's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from growpilot.config import Settings
from growpilot.training import data as D
from growpilot.training.corpus import (collect_files, file_rows, read_json, split_for, training_dir, write_json,
                                       write_jsonl)
from growpilot.training.errors import Cancelled, CycleBusy, TrainerFailed, TrainingError
from growpilot.training.gate import decide
from growpilot.training.registry import Registry, base_identity

log = logging.getLogger(__name__)
Progress = Callable[[dict], None]
KEEP_RUNS = 3  # run folders kept (each holds a copy of its inputs and its best adapter)
RESUME_MAX_AGE_S = 7 * 24 * 3600
KILL_AFTER_S = 60.0  # a trainer that ignores SIGTERM this long is killed


@dataclass
class CycleResult:
    version: str
    decision: str  # promoted | rejected
    reason: str
    metrics: dict  # {"base", "active" (None when none was), "candidate", "tasks"}
    active_before: str | None
    steps: int
    tokens_per_second: float
    seconds: float
    run_dir: Path
    stop_reason: str = ""
    data: dict = field(default_factory=dict)  # the manifest's counts

    def as_json(self) -> dict:
        """The `growpilot train --json` object."""
        def per(key: str) -> dict:
            return {k: (self.metrics.get(k) or {}).get(key) if self.metrics.get(k) else None
                    for k in ("base", "active", "candidate")}

        return {"version": self.version, "decision": self.decision, "reason": self.reason, "nll": per("nll"),
                "exact_match": per("exact_match"), "sanity_nll": per("sanity_nll"), "steps": self.steps,
                "tokens_per_second": self.tokens_per_second, "seconds": round(self.seconds, 1),
                "active_before": self.active_before, "stop_reason": self.stop_reason, "data": self.data,
                "tasks": self.metrics.get("tasks"), "run_dir": str(self.run_dir)}


class TrainingCycle:
    def __init__(self, root: str | os.PathLike[str], settings: Settings, events=None,
                 on_progress: Progress | None = None):
        self.root = Path(os.path.realpath(root))
        self.settings = settings
        self.events = events
        self.on_progress = on_progress or (lambda event: None)
        self._cancelled = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._proc_lock = threading.Lock()

    # ----- control from other threads
    def cancel(self) -> None:
        """Stop the cycle: SIGTERM to the running subprocess (the trainer saves a checkpoint)."""
        self._cancelled.set()
        with self._proc_lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            timer = threading.Timer(KILL_AFTER_S, lambda: proc.poll() is None and proc.kill())
            timer.daemon = True
            timer.start()

    @property
    def trainer_pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    # ----- the cycle
    def run(self) -> CycleResult:
        started = time.monotonic()
        with cycle_lock(self.root):
            from growpilot.models.provision import ModelError, resolve_lm

            self._phase("data")
            try:
                source = resolve_lm(self.settings.model_path, progress=lambda m: log.info(m))
            except ModelError as exc:
                raise TrainingError(str(exc)) from exc
            model = {"name": source.name, "folder": str(source.folder), "hash": base_identity(source.folder)}
            registry = Registry.for_workspace(self.root)
            active = registry.active()
            if active is not None and (active.meta.get("base_model") or {}).get("hash") != model["hash"]:
                log.info("active adapter %s was trained on another base model: comparing with the base", active.version)
                active = None
            run = self._resumable(model) or self._prepare(model)
            self._check_cancel(run)
            self._phase("training", run_dir=str(run))
            result = self._train(run)
            self._phase("evaluating", run_dir=str(run))
            best = run / result["adapter"]
            metrics = self._evaluate(run, model, active, best)
            decision = decide(metrics, self.settings.promote_ratio, self.settings.sanity_tolerance,
                              active.version if active else None)
            manifest = read_json(run / "manifest.json")
            meta = {"base_model": model, "decision": decision.label, "status": decision.label,
                    "reason": decision.reason, "metrics": metrics, "active_before": active.version if active else None,
                    "data": {"manifest_hash": D.manifest_hash(manifest), "files": manifest.get("files"),
                             "samples": manifest.get("samples"), "feedback": manifest.get("feedback"),
                             "samples_hash": manifest.get("samples_hash")},
                    "training": {k: result.get(k) for k in ("steps", "max_steps", "stop_reason", "best_step",
                                                             "best_heldout_loss", "base_heldout_loss", "tokens",
                                                             "tokens_per_second", "train_seconds", "seconds",
                                                             "device", "dtype", "processes", "hyper")},
                    "settings": {k: getattr(self.settings, k) for k in (
                        "train_max_steps", "train_max_minutes", "train_sequence_tokens", "loss_filter",
                        "promote_ratio", "sanity_tolerance", "context_format", "suffix_share")},
                    "run": run.name, "trained_at": read_json(run / "run.json").get("created")}
            shutil.copy2(run / "manifest.json", best / "manifest.json")
            version = registry.add(best, meta)
            if decision.promote:
                registry.promote(version.version, decision.reason)
            write_json(run / "registered.json", {"version": version.version, "decision": decision.label})
            self._prune_runs(run)
            self._phase("done", version=version.version, decision=decision.label, reason=decision.reason)
            return CycleResult(version.version, decision.label, decision.reason, metrics,
                               active.version if active else None, int(result["steps"]),
                               float(result["tokens_per_second"]), time.monotonic() - started, run,
                               result.get("stop_reason", ""),
                               {"files": manifest.get("files"), "samples": manifest.get("samples"),
                                "feedback": manifest.get("feedback")})

    def _phase(self, phase: str, **fields) -> None:
        self._progress({"event": "phase", "phase": phase, **fields})

    def _progress(self, event: dict) -> None:
        try:
            self.on_progress(event)
        except Exception:  # a broken progress callback must not end the cycle
            log.exception("progress callback failed")

    def _check_cancel(self, run: Path | None = None) -> None:
        if self._cancelled.is_set():
            raise Cancelled("training was cancelled" + (f"; the next run resumes {run.name}" if run else ""))

    # ----- inputs
    def _prepare(self, model: dict) -> Path:
        """A new run folder with this moment's files, held-out split and feedback."""
        files = collect_files(self.root, self.settings)
        split = split_for(self.root, files)
        self._check_cancel()
        by_rel = {f.rel: f for f in files}
        samples, counts = self._feedback(files, split, model["name"])
        now = time.time()
        stamp = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{int(now * 1000) % 1000:03d}"
        run = training_dir(self.root) / "runs" / f"{stamp}-{os.getpid()}"
        tmp = run.with_name(f".{run.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        write_jsonl(tmp / "corpus.jsonl", file_rows(by_rel[r] for r in split.train))
        write_jsonl(tmp / "heldout.jsonl", file_rows(by_rel[r] for r in sorted(split.heldout)))
        write_jsonl(tmp / "feedback.jsonl", (s.as_dict() for s in samples))
        s = self.settings
        write_json(tmp / "run.json", {
            "run_dir": str(run), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "model": model,
            "device": s.train_device, "threads": s.train_threads, "seq_tokens": s.train_sequence_tokens,
            "max_steps": s.train_max_steps, "max_minutes": s.train_max_minutes, "loss_filter": s.loss_filter,
            "feedback_tokens": s.prompt_tokens + s.max_tokens + 32,
            "layout": {"repo": self.root.name, "repo_format": s.context_format == "repo", "suffix_share": s.suffix_share,
                       "token_healing": s.token_healing},
            "loss_cache": str(training_dir(self.root) / "loss_cache.json"), "seed": 0,
            "feedback_counts": counts, "split": {"heldout": len(split.heldout), "retired": len(split.retired),
                                                 "train": len(split.train), "added": list(split.added),
                                                 "dropped": list(split.dropped)},
            "hyper": json.loads(os.environ.get("GROWPILOT_TRAIN_HYPER", "{}") or "{}"),
        })
        os.replace(tmp, run)
        return run

    @contextlib.contextmanager
    def _store(self):
        """The cycle's event store: the daemon's own when given, else one opened for this call."""
        from growpilot.learning.events import EventStore

        if self.events is not None:
            yield self.events
            return
        store = EventStore()
        try:
            yield store
        finally:
            store.close()

    def _feedback(self, files: list[D.SourceFile], split: D.Split, model_name: str) -> tuple[list[D.Sample], dict]:
        with self._store() as store:
            rows = store.training_feedback(str(self.root))
        parsed = [D.FeedbackRow(r["id"], r["created"], r["path"] or "", r["prompt"] or "", r["output"] or "",
                                r["model"] or "", _healed(r["timings"]), bool(r["accepts"]), int(r["up"] or 0),
                                int(r["down"] or 0)) for r in rows]
        heldout = set(split.heldout) | set(split.retired)
        return D.select_feedback(parsed, {f.rel: f.text for f in files}, heldout, model_name, time.time())

    def _resumable(self, model: dict) -> Path | None:
        """The latest run that stopped before it was registered, for the same model and length."""
        runs = training_dir(self.root) / "runs"
        if not runs.is_dir():
            return None
        for run in sorted((p for p in runs.iterdir() if not p.name.startswith(".")), reverse=True):
            cfg = read_json(run / "run.json")
            if (run / "registered.json").exists() or (run / "failed.json").exists() or not cfg:
                return None  # only the latest unfinished run is resumed
            if (cfg.get("model", {}).get("hash") != model["hash"]
                    or cfg.get("seq_tokens") != self.settings.train_sequence_tokens
                    or time.time() - run.stat().st_mtime > RESUME_MAX_AGE_S):
                return None
            if self._holds_forgotten(run):
                return None  # a forget ran while it trained: scrubbed and abandoned, start afresh
            # The budget is this cycle's; the data stays the run's.
            cfg.update(max_steps=self.settings.train_max_steps, max_minutes=self.settings.train_max_minutes,
                       device=self.settings.train_device, threads=self.settings.train_threads)
            write_json(run / "run.json", cfg)
            self._phase("resuming", run_dir=str(run))
            return run
        return None

    def _holds_forgotten(self, run: Path) -> bool:
        from growpilot.training.forgetting import abandon_if_forgotten

        with self._store() as store:
            forgotten = store.forgotten_ids(str(self.root))
        return abandon_if_forgotten(run, forgotten)

    # ----- subprocesses
    def _train(self, run: Path) -> dict:
        processes = int(os.environ.get("GROWPILOT_TRAIN_PROCESSES", "1") or 1)
        events = self._supervise("growpilot.training.trainer", run / "run.json", run / "trainer.log", run,
                                 ("--processes", str(processes)) if processes > 1 else ())
        last = events[-1] if events else {}
        if last.get("event") == "done":
            return last
        raise TrainerFailed("the trainer ended without a result")

    def _evaluate(self, run: Path, model: dict, active, best: Path) -> dict:
        s = self.settings
        cfg = {"model": model, "device": s.train_device, "threads": s.train_threads, "seq_tokens": read_json(
            run / "run.json").get("seq_tokens", s.train_sequence_tokens),
               "layout": read_json(run / "run.json")["layout"], "heldout": str(run / "heldout.jsonl"),
               "active": str(active.path) if active else None, "candidate": str(best), "out": str(run / "metrics.json"),
               "cache": str(training_dir(self.root) / "eval_cache.json")}
        write_json(run / "eval.json", cfg)
        self._supervise("growpilot.training.evaluate", run / "eval.json", run / "evaluate.log", run)
        metrics = read_json(run / "metrics.json")
        if not metrics.get("candidate"):
            raise TrainerFailed("the evaluator ended without metrics")
        return metrics

    def _supervise(self, module: str, config: Path, log_path: Path, run: Path, extra: tuple = ()) -> list[dict]:
        """Run `python -m module --config config`; forward its JSON lines; raise on any failure."""
        self._check_cancel(run)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([_package_root(), os.environ.get("PYTHONPATH", "")]),
               "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        cfg = read_json(config)
        cfg["parent_pid"] = os.getpid()
        write_json(config, cfg)
        events: list[dict] = []
        with open(log_path, "ab") as err:
            with self._proc_lock:
                self._check_cancel(run)
                proc = subprocess.Popen([sys.executable, "-m", module, "--config", str(config), *extra],
                                        stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=str(run))
                self._proc = proc
            self._phase("subprocess", module=module, pid=proc.pid)
            assert proc.stdout is not None
            for raw in proc.stdout:
                try:
                    event = json.loads(raw)
                except ValueError:
                    log.info("%s: %s", module, raw.decode(errors="replace").rstrip())
                    continue
                events.append(event)
                self._progress(event)
            rc = proc.wait()
        with self._proc_lock:
            self._proc = None
        last = events[-1] if events else {}
        if self._cancelled.is_set() or last.get("event") == "stopped":
            raise Cancelled(f"training was cancelled at step {last.get('step', 0)}; "
                            f"the next run resumes {run.name} from its checkpoint")
        if last.get("event") == "error":  # reported (no data, a bad setting, a bug): never resumed
            write_json(run / "failed.json", {"message": last["message"]})
            raise TrainerFailed(f"{module.rsplit('.', 1)[-1]} failed: {last['message']}")
        if rc != 0 and last.get("event") == "done" and (run / "result.json").exists():
            # Finished and saved, then crashed on its way out (seen: a gloo thread aborting the exit of a
            # 2-process CPU run, "terminate called without an active exception"): the run is whole.
            log.warning("the %s exited with status %s after it finished; its result stands. Log: %s",
                        module.rsplit(".", 1)[-1], rc, log_path)
        elif rc != 0:
            why = f"was killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}"
            raise TrainerFailed(f"the {module.rsplit('.', 1)[-1]} {why} (out of memory?); nothing was registered. "
                                f"Log: {log_path}\n{_tail(log_path)}")
        return events

    def _prune_runs(self, keep: Path) -> None:
        runs = sorted(p for p in keep.parent.iterdir() if p.is_dir() and not p.name.startswith("."))
        for old in runs[:-KEEP_RUNS]:
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)


def run_cycle(root: str | os.PathLike[str], settings: Settings, events=None,
              on_progress: Progress | None = None) -> CycleResult:
    """One blocking cycle (see TrainingCycle for cancelling one)."""
    return TrainingCycle(root, settings, events, on_progress).run()


def with_budget(settings: Settings, max_steps: int | None = None, max_minutes: float | None = None) -> Settings:
    changes = {}
    if max_steps is not None:
        changes["train_max_steps"] = max_steps
    if max_minutes is not None:
        changes["train_max_minutes"] = float(max_minutes)
    return dataclasses.replace(settings, **changes)


def cycle_lock(root: str | os.PathLike[str]) -> "_Lock":
    """The workspace's training lock (a context manager; CycleBusy when a cycle holds it)."""
    return _Lock(training_dir(root) / "cycle.lock", Path(os.path.realpath(root)))


class _Lock:
    """An exclusive, non-blocking flock on a file, released when the holder exits or dies."""

    def __init__(self, path: Path, root: Path):
        self.path, self.root = path, root
        self.fh = None

    def __enter__(self):
        import fcntl

        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise CycleBusy(f"a training cycle is already running for {self.root} ({holder}); "
                            "wait for it to finish or cancel it") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}")
        fh.flush()
        self.fh = fh
        return self

    def __exit__(self, *exc):
        import fcntl

        self.fh.truncate(0)
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
        self.fh.close()


def _healed(timings) -> str:
    try:
        return (json.loads(timings) if isinstance(timings, str) else timings or {}).get("healed", "") or ""
    except (ValueError, AttributeError):
        return ""


def _package_root() -> str:
    import growpilot

    return str(Path(growpilot.__file__).resolve().parents[1])


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
