"""Idle-time training in the running daemon: one background thread checks every folder's schedule
(training/scheduler.py decides) and asks the server to start a cycle through the same path as
*Retrain Now*; the handlers report activity, which makes an automatic cycle yield at once. No LSP types:
the server hands in `start(folder)` (called from this thread: it must hop to the event loop itself) and
`changed(folder, schedule)` (a folder's schedule changed in a way a client should hear about).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from growpilot.indexing.indexer import DB_FILE
from growpilot.training.corpus import training_dir
from growpilot.training.scheduler import (DEVICE_TTL_S, Decision, Device, Scheduler, code_chunks, new_code_samples,
                                          new_feedback_samples, probe_device, registered_end)

if TYPE_CHECKING:
    from growpilot.server.services import Folder, Services

log = logging.getLogger(__name__)
CHECK_EVERY_S = 30.0  # at most this long between checks (device, data and settings can change meanwhile)
DATA_TTL_S = 60.0  # the new-data count is reused this long, and counted afresh right before a start
FEEDBACK_ROWS = 5000


class IdleTrainer:
    def __init__(self, services: "Services", clock: Callable[[], float] = time.time):
        self.services = services
        self.scheduler = Scheduler(clock, training_dir, registered_end)
        self.scheduler.last_activity = clock()  # a daemon that just started has a user around
        self.start: Callable[["Folder"], None] | None = None
        self.changed: Callable[["Folder", dict], None] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._device: tuple[float, tuple[str, str], Device] | None = None
        self._data: dict[Path, tuple[float, int]] = {}
        self._sent: dict[Path, tuple] = {}
        self._starting: set[Path] = set()
        self._backoff: dict[Path, float] = {}  # monotonic time before which no automatic start is tried

    # ----- from the event loop (cheap)
    def activity(self) -> None:
        """An edit or a request: every automatic cycle yields now (SIGTERM; it resumes when idle again)."""
        for root in self.scheduler.activity():
            log.info("the user is back: pausing the automatic training of %s", root.name)
            self.services.learning.cancel(root, "pausing while you work: saving a checkpoint; resumes when idle")
            self._wake.set()

    def describe(self, root: Path) -> dict:
        """The folder's schedule for growpilot.status, from the last readings (no I/O)."""
        return self._decide(root, fresh=False).as_dict(self.scheduler.clock())

    def cycle_started(self, folder: "Folder", automatic: bool, chunks: dict | None) -> None:
        self._starting.discard(folder.root)
        self.scheduler.started(folder.root, automatic, None if chunks is None else chunks.keys())
        self._data.pop(folder.root, None)
        self._wake.set()

    def cycle_ended(self, folder: "Folder", error_kind: str | None) -> bool:
        yielded = self.scheduler.ended(folder.root, error_kind)
        self._data.pop(folder.root, None)
        self._wake.set()
        return yielded

    def chunks_of(self, folder: "Folder") -> dict[str, int]:
        """The folder's index chunks {hash: lines} (blocking: a read of the catalog)."""
        return code_chunks(folder.index.state_dir / DB_FILE)

    def quiet_for(self) -> float:
        """Seconds since the last edit or request (the daemon's start counts as one)."""
        last = self.scheduler.last_activity
        return float("inf") if last is None else self.scheduler.clock() - last

    def poke(self) -> None:
        """Settings or folders changed: check now."""
        self._wake.set()

    # ----- the thread
    def run_in_background(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="growpilot-idle", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = CHECK_EVERY_S
            try:
                wait = self.check()
            except Exception:  # the schedule must never take the daemon down
                log.exception("checking the training schedule failed")
            self._wake.wait(max(0.05, min(wait, CHECK_EVERY_S)))
            self._wake.clear()

    def check(self) -> float:
        """One round: tell clients of changed schedules, start at most one cycle; returns when to look again."""
        now = self.scheduler.clock()
        soonest = CHECK_EVERY_S
        for folder in list(self.services.folders.values()):
            decision = self._decide(folder.root, fresh=True)
            self._tell(folder, decision, now)
            if (decision.status == "start" and folder.root not in self._starting and self.start is not None
                    and self._backoff.get(folder.root, 0) <= time.monotonic()):
                decision = self._decide(folder.root, fresh=True, recount=True)  # the data counted afresh
                if decision.status == "start":
                    log.info("%s is idle with new data: starting an automatic training cycle", folder.root.name)
                    self._starting.add(folder.root)
                    self.start(folder)
                    return 1.0  # one at a time; look again once it runs
            if decision.status == "scheduled" and decision.at is not None:
                soonest = min(soonest, decision.at - now + 0.05)
        return soonest

    def start_failed(self, folder: "Folder", retry_after_s: float = 0.0) -> None:
        """An automatic start did not happen: the user came back first (0), or it was refused (a cycle
        of another process holds the folder…): not again for `retry_after_s`."""
        self._starting.discard(folder.root)
        if retry_after_s:
            self._backoff[folder.root] = time.monotonic() + retry_after_s
        self._wake.set()

    def _decide(self, root: Path, fresh: bool, recount: bool = False) -> Decision:
        s = self.services.settings
        folder = self.services.folders.get(root)
        ready = bool(folder and folder.ready) and self.services.model.backend is not None
        running = next((r.name for r in self.services.folders if self.services.learning.running(r)), None)
        if running is None and (active := self.scheduler.active()) is not None:
            running = active.name  # its thread is done, its end not yet recorded on the event loop
        if root in self._starting and running is None:
            running = root.name
        fresh = fresh and s.idle_minutes > 0  # off: nothing to probe or count
        device = self._device_reading(s.train_device, s.train_on_cpu, fresh)
        samples = self._new_samples(folder, fresh and ready, recount) if folder is not None else 0
        return self.scheduler.decide_for(root, idle_s=s.idle_minutes * 60,
                                         min_interval_s=s.train_min_interval_hours * 3600,
                                         min_samples=s.train_min_new_samples, new_samples=samples, device=device,
                                         running=running, ready=ready)

    def _device_reading(self, train_device: str, train_on_cpu: str, fresh: bool) -> Device:
        now, key = time.monotonic(), (train_device, train_on_cpu)
        if self._device is not None and self._device[1] == key and (not fresh or now - self._device[0] < DEVICE_TTL_S):
            return self._device[2]
        if not fresh:
            return Device(True, "unknown", "not probed yet")
        device = probe_device(train_device, train_on_cpu)
        self._device = (now, key, device)
        return device

    def _new_samples(self, folder: "Folder", fresh: bool, recount: bool) -> int:
        cached = self._data.get(folder.root)
        now = time.monotonic()
        if cached is not None and not recount and (not fresh or now - cached[0] < DATA_TTL_S):
            return cached[1]
        if not fresh and not recount:
            return cached[1] if cached else 0
        rec = self.scheduler.record(folder.root)
        code = new_code_samples(self.chunks_of(folder), rec.seen_chunks)
        rows = self.services.events.memory_rows(str(folder.root), FEEDBACK_ROWS)
        count = code + int(new_feedback_samples(rows, rec.last_start))
        self._data[folder.root] = (now, count)
        return count

    def _tell(self, folder: "Folder", decision: Decision, now: float) -> None:
        """A client hears of a schedule when its status or reason kind changes, or its start moved by a minute."""
        sent = self._sent.get(folder.root)
        key = (decision.status, decision.why, decision.new_samples if decision.why == "no_new_data" else None)
        if sent is not None and sent[0] == key and (decision.at is None or abs((sent[1] or 0) - decision.at) < 60):
            return
        self._sent[folder.root] = (key, decision.at)
        if self.changed is not None:
            self.changed(folder, decision.as_dict(now))
