"""The daemon's side of learning: one background training cycle per workspace folder at a time, its
state for `growpilot.status` and the status bar, and what serves afterwards (the folder's active
adapter). The cycle itself runs its trainer and evaluator in subprocesses (cycle.py): the serving
threads never import the training stack, and a crashed trainer only ends the cycle.

No LSP types here: the server's handlers turn the callbacks into `$/progress` and notifications.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from growpilot.config import Settings
from growpilot.training.cycle import CycleResult, TrainingCycle
from growpilot.training.errors import CycleBusy, TrainingError
from growpilot.training.registry import AdapterVersion, Registry

log = logging.getLogger(__name__)


@dataclass
class LearningState:
    """What a user sees of one folder's learning: idle / training 45% / evaluating / the last outcome."""
    state: str = "idle"  # idle | preparing | training | evaluating | stopping (cancelled, saving its checkpoint)
    percent: int | None = None
    message: str = ""
    last: dict | None = None  # the last cycle's outcome: {decision, version, reason, finished} or {error}
    started: float | None = None

    def as_dict(self) -> dict:
        return {"state": self.state, "percent": self.percent, "message": self.message, "last": self.last}


def progress_view(event: dict, state: LearningState) -> bool:
    """Fold one progress event of a cycle into `state`; True when something a user sees changed. Pure."""
    kind = event.get("event")
    if kind == "phase":
        phase = event.get("phase")
        if phase in ("data", "resuming"):
            state.state, state.percent, state.message = "preparing", 0, "preparing the training data"
        elif phase == "training":
            state.state, state.message = "training", "training"
        elif phase == "evaluating":
            state.state, state.percent, state.message = "evaluating", None, "evaluating on held-out files"
        else:
            return False
        return True
    if kind == "step" and event.get("steps"):
        percent = int(100 * event["step"] / event["steps"])
        eta = event.get("eta_s")
        state.state, state.percent = "training", percent
        state.message = f"training {percent}%" + (f", ~{int(eta // 60) + 1} min left" if eta else "")
        return True
    if kind == "eval_progress" and event.get("total"):
        state.percent = int(100 * event["done"] / event["total"])
        state.message = f"evaluating {state.percent}%"
        return True
    return False


@dataclass
class _Run:
    cycle: TrainingCycle
    thread: threading.Thread
    state: LearningState = field(default_factory=LearningState)


class Supervisor:
    """Runs cycles on background threads; `on_progress(root, state)` and `on_done(root, result, error)`
    are called from those threads."""

    def __init__(self, settings: Callable[[], Settings], events=None):
        self._settings = settings
        self._events = events
        self._runs: dict[Path, _Run] = {}
        self._states: dict[Path, LearningState] = {}
        self._lock = threading.Lock()

    def state(self, root: Path) -> LearningState:
        with self._lock:
            if root not in self._states:  # a restarted daemon still knows how the last cycle ended
                self._states[root] = LearningState(last=last_outcome(root))
            return self._states[root]

    def running(self, root: Path) -> bool:
        with self._lock:
            return root in self._runs

    def start(self, root: Path, on_progress: Callable[[Path, LearningState], None],
              on_done: Callable[[Path, CycleResult | None, str | None], None], **overrides) -> None:
        """Start a train → evaluate → gate cycle for `root`; CycleBusy if one is running (here, or in
        another process: the cycle's own lock file says so when it starts)."""
        with self._lock:
            if root in self._runs:
                raise CycleBusy(f"a training cycle of {root.name} is already running")
            state = self._states.setdefault(root, LearningState(last=last_outcome(root)))
            state.state, state.percent, state.message, state.started = "preparing", 0, "starting", time.time()

            def progress(event: dict) -> None:
                if state.state != "stopping" and progress_view(event, state):
                    on_progress(root, state)

            settings = self._settings()
            if overrides:
                import dataclasses

                settings = dataclasses.replace(settings, **overrides)
            cycle = TrainingCycle(root, settings, self._events, progress)
            thread = threading.Thread(target=self._work, args=(root, cycle, state, on_done),
                                      name=f"growpilot-train-{root.name}", daemon=True)
            self._runs[root] = _Run(cycle, thread, state)
        thread.start()

    def _work(self, root: Path, cycle: TrainingCycle, state: LearningState,
              on_done: Callable[[Path, CycleResult | None, str | None], None]) -> None:
        result, error, kind = None, None, None
        try:
            result = cycle.run()
        except TrainingError as exc:
            error, kind = str(exc), error_kind(exc)
        except Exception as exc:  # the daemon keeps serving whatever broke
            log.exception("training cycle of %s failed", root)
            error, kind = f"{type(exc).__name__}: {exc}", "crashed"
        finished = time.strftime("%Y-%m-%dT%H:%M:%S")
        with self._lock:
            self._runs.pop(root, None)
            state.state, state.percent, state.message = "idle", None, ""
            state.last = ({"error": error, "error_kind": kind, "finished": finished} if error else
                          {"decision": result.decision, "version": result.version, "reason": result.reason,
                           "finished": finished})
        on_done(root, result, error)

    def cancel(self, root: Path, message: str = "stopping: the trainer saves a checkpoint") -> bool:
        """SIGTERM to the cycle's subprocess; its state says `stopping` until the cycle has ended."""
        with self._lock:
            run = self._runs.get(root)
            if run is not None:
                run.state.state, run.state.percent, run.state.message = "stopping", None, message
        if run is None:
            return False
        run.cycle.cancel()
        return True

    def close(self, wait_s: float = 10.0) -> None:
        """Stop every running cycle (the trainer checkpoints on SIGTERM; the next cycle resumes it)."""
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.cycle.cancel()
        deadline = time.monotonic() + wait_s
        for run in runs:
            run.thread.join(max(0.0, deadline - time.monotonic()))


def error_kind(exc: TrainingError) -> str:
    """`TooLittleCode` → `too_little_code`: what a client can branch on without reading the message."""
    name = type(exc).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def last_outcome(root: str | os.PathLike[str]) -> dict | None:
    """The newest registered version's decision (what the registry remembers across restarts)."""
    try:
        versions = Registry.for_workspace(root).list()
    except (OSError, ValueError, TrainingError):
        return None
    if not versions:
        return None
    v = versions[-1]
    return {"decision": v.meta.get("decision", v.status), "version": v.version, "reason": v.meta.get("reason"),
            "finished": v.meta.get("created")}


def active_adapter(root: str | os.PathLike[str], base_folder: Path | None) -> AdapterVersion | None:
    """The adapter that serves a folder: its registry's active version, if trained on this base model."""
    if base_folder is None:
        return None
    try:
        return Registry.for_workspace(root).active_for(base_folder)
    except (OSError, ValueError, TrainingError) as exc:  # a damaged registry must not stop serving
        log.warning("cannot read the adapters of %s: %s", root, exc)
        return None
