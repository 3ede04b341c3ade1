"""Idle-time training: when the daemon starts a train → evaluate → gate cycle by itself, and when an
automatic cycle must yield to the user. Pure decisions with an injectable clock; no LSP types, no
threads of its own (server/idle.py runs the checks and starts cycles through the same path as
*Retrain Now*).

A folder's cycle starts when all of these hold (`decide`):
- `idleMinutes` > 0, and nothing trains now (here: any folder; one CPU/GPU serves them all);
- the user has been away `idleMinutes`: no edit (didOpen/didChange), completion, code action or
  accept/rating anywhere in this daemon — idle is the user's, not a folder's;
- enough new data since the last cycle started (`trainMinNewSamples`, `new_samples`), and the last
  cycle ended at least `trainMinIntervalHours` ago — both waived for a cycle that yielded to the user
  and is to be resumed;
- the device allows it (`probe_device`): a CUDA GPU with enough free memory, or the CPU when
  `trainOnCpu` allows (`auto`: not on battery).

An edit or a request while an automatic cycle runs cancels it at once (SIGTERM: the trainer saves a
checkpoint); the next idle window resumes it. A cycle the user started (*Retrain Now*) is never
cancelled by activity: they asked for it, and *Cancel Training* stops it.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from growpilot.training.data import FEEDBACK_WEIGHT, LINES_PER_FIM

log = logging.getLogger(__name__)
# Free GPU memory a cycle needs: the 0.5B default model in bf16 with LoRA, 16 × 512-token sequences a
# step with gradient checkpointing, peaks near 5 GiB; 6 leaves room for the evaluator's second model.
MIN_GPU_FREE_MB = 6 * 1024
MIN_CPU_FREE_MB = 2 * 1024  # MemAvailable below this: the trainer would swap the editor out
DEVICE_TTL_S = 60.0  # a device probe (nvidia-smi, /sys, /proc) is reused this long
STATE_FILE = "schedule.json"  # <state>/training/: when cycles started and ended, what data they saw


@dataclass(frozen=True)
class Device:
    """Whether the machine allows a training cycle now, and on what."""
    allowed: bool
    kind: str  # "cuda" | "cpu" | "none"
    reason: str
    why: str = ""  # machine-readable reason when not allowed: battery | cpu_never | gpu_memory | memory


@dataclass(frozen=True)
class Decision:
    """`status`: start | scheduled | not_scheduled | running. `at`: when it would start (clock time)
    if nothing changes (scheduled only). `why`: a code clients can branch on; `reason`: words."""
    status: str
    reason: str
    why: str
    at: float | None = None
    new_samples: int | None = None
    needed: int | None = None

    def as_dict(self, now: float) -> dict:
        return {"status": self.status, "reason": self.reason, "why": self.why,
                "in_s": None if self.at is None else max(0, round(self.at - now)),
                "new_samples": self.new_samples, "needed": self.needed}


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 2 * 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def decide(now: float, *, idle_s: float, min_interval_s: float, min_samples: int, last_activity: float | None,
           last_end: float | None, new_samples: int, resume: bool, device: Device, running: str | None = None,
           ready: bool = True) -> Decision:
    """Whether one folder's automatic cycle starts now, later (and when), or not (and why). Pure.

    `running`: the name of a folder whose cycle runs now (this one or another), else None. `resume`:
    an automatic cycle of this folder yielded to the user and waits for the next idle window."""
    if idle_s <= 0:
        return Decision("not_scheduled", "automatic training is off (idleMinutes is 0)", "off")
    if running is not None:
        return Decision("running", f"a training cycle of {running} is running", "running")
    if not ready:
        return Decision("not_scheduled", "waiting for the index and the model", "not_ready")
    if not device.allowed:
        return Decision("not_scheduled", device.reason, device.why or "device")
    if not resume and new_samples < min_samples:
        return Decision("not_scheduled", f"{new_samples} new training samples since the last cycle, "
                        f"{min_samples} needed", "no_new_data", new_samples=new_samples, needed=min_samples)
    idle_at = last_activity + idle_s if last_activity is not None else now  # None: no activity seen
    interval_at = (last_end + min_interval_s) if last_end is not None and not resume else now
    at = max(idle_at, interval_at)
    if at > now:
        why = "interval" if interval_at > idle_at else "idle"
        reason = (f"{_minutes(min_interval_s)} after the last cycle" if why == "interval"
                  else f"after {_minutes(idle_s)} without edits or requests")
        verb = "resumes" if resume else "starts"
        return Decision("scheduled", f"{verb} in {_minutes(at - now)} ({reason})", why, at, new_samples, min_samples)
    return Decision("start", "resuming the cycle that yielded" if resume else "idle, with new data", "idle",
                    now, new_samples, min_samples)


# ----- what the machine allows (cheap: no torch in the serving daemon)
def on_battery(root: str = "/sys/class/power_supply") -> bool | None:
    """True when running on battery, False on mains, None when it cannot be told (no power_supply)."""
    mains, battery = [], []
    for supply in glob.glob(os.path.join(root, "*")):
        kind = _read(os.path.join(supply, "type"))
        if kind == "Mains" or kind == "USB":
            online = _read(os.path.join(supply, "online"))
            if online in ("0", "1"):
                mains.append(online == "1")
        elif kind == "Battery" and _read(os.path.join(supply, "scope")) != "Device":  # not a mouse's battery
            status = _read(os.path.join(supply, "status"))
            if status:
                battery.append(status == "Discharging")
    if any(mains):
        return False
    if battery:
        return any(battery)  # discharging, or charging / full / not charging
    return None


def gpu_free_mb(smi: str | None = None, timeout_s: float = 5.0) -> list[int] | None:
    """Free memory per CUDA GPU by nvidia-smi, or None when there is no NVIDIA GPU (or no driver)."""
    smi = smi or shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=memory.free", "--format=csv,noheader,nounits"], capture_output=True,
                             text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    free = [int(float(line.strip())) for line in out.stdout.splitlines() if line.strip().replace(".", "", 1).isdigit()]
    return free or None


def mem_available_mb(path: str = "/proc/meminfo") -> int | None:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def device_check(train_device: str, train_on_cpu: str, gpus: list[int] | None, battery: bool | None,
                 mem_mb: int | None, min_gpu_mb: int = MIN_GPU_FREE_MB, min_cpu_mb: int = MIN_CPU_FREE_MB) -> Device:
    """Where a cycle would run and whether it may (pure). The trainer picks CUDA when there is a GPU and
    `trainDevice` is auto or cuda, so a GPU that is present but full blocks, rather than falling back."""
    if train_device != "cpu" and gpus:
        best = max(gpus)
        if best >= min_gpu_mb:
            return Device(True, "cuda", f"a GPU with {best / 1024:.1f} GiB free")
        return Device(False, "cuda", f"the GPU has {best / 1024:.1f} GiB free, {min_gpu_mb / 1024:.0f} needed",
                      "gpu_memory")
    if train_device == "cuda":
        return Device(False, "none", "trainDevice is cuda and no CUDA GPU answers (nvidia-smi)", "no_gpu")
    if train_on_cpu == "never":
        return Device(False, "cpu", "no GPU, and trainOnCpu is never", "cpu_never")
    if train_on_cpu == "auto" and battery:
        return Device(False, "cpu", "on battery (trainOnCpu auto trains on the CPU only on mains power)", "battery")
    if mem_mb is not None and mem_mb < min_cpu_mb:
        return Device(False, "cpu", f"only {mem_mb / 1024:.1f} GiB of memory available", "memory")
    return Device(True, "cpu", "the CPU" + (" (on mains power)" if battery is False else ""))


def probe_device(train_device: str, train_on_cpu: str) -> Device:
    """`device_check` on this machine's readings (nvidia-smi only unless trainDevice is cpu)."""
    gpus = gpu_free_mb() if train_device != "cpu" else None
    return device_check(train_device, train_on_cpu, gpus, on_battery(), mem_available_mb())


# ----- how much new data arrived since the last cycle (cheap: counts, no file reads)
def code_chunks(catalog: Path) -> dict[str, int]:
    """The index's chunks of code as {content hash: lines}, read on a connection of its own (WAL: readers
    never block the indexer)."""
    if not catalog.exists():
        return {}
    conn = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=5)
    try:
        return {h: int(n) for h, n in conn.execute("SELECT hash, end_line - start_line + 1 FROM chunks")}
    except sqlite3.Error as exc:
        log.warning("cannot read %s: %s", catalog, exc)
        return {}
    finally:
        conn.close()


def new_code_samples(chunks: dict[str, int], seen: Iterable[str]) -> int:
    """Samples the changed code would give: chunks whose content the last cycle did not see, one per
    LINES_PER_FIM lines as the data builder makes fill-in-the-middle samples (whole functions and
    windows: a one-line edit makes its function new, not its file)."""
    known = set(seen)
    return sum(lines for h, lines in chunks.items() if h[:HASH_CHARS] not in known) // LINES_PER_FIM


def new_feedback_samples(rows: Iterable[dict], since: float | None) -> float:
    """Weighted feedback samples since `since` (memory_rows shape: created, accepts, up, down): 👍 as
    the trainer weighs them, accepts as retained ones (the cycle checks retention itself: an upper
    bound), never one with a 👎."""
    total = 0.0
    for r in rows:
        if (since is not None and (r.get("created") or 0) <= since) or r.get("down"):
            continue
        if r.get("up"):
            total += FEEDBACK_WEIGHT["up"]
        elif r.get("accepts"):
            total += FEEDBACK_WEIGHT["retained"]
    return total


HASH_CHARS = 12  # prefix of a chunk's content hash kept in schedule.json (collisions only undercount)


# ----- the per-folder record, thread-safe
@dataclass
class FolderRecord:
    last_start: float | None = None  # a fresh cycle (not a resume) started: its data is "seen"
    last_end: float | None = None  # a cycle finished or failed (not: yielded to the user)
    seen_chunks: list[str] = field(default_factory=list)
    resume: bool = False  # an automatic cycle yielded and waits for the next idle window
    automatic: bool = False  # the running cycle was started by the scheduler
    yielding: bool = False  # ... and is being cancelled because the user came back
    active: bool = False  # a cycle started and its end has not been recorded yet

    def as_json(self) -> dict:
        return {"last_start": self.last_start, "last_end": self.last_end, "seen_chunks": self.seen_chunks,
                "resume": self.resume}


class Scheduler:
    """Activity, cycle starts and ends per folder; `decide_for` applies `decide`. The clock (time.time by
    default) is injectable; state_dir(root) is where schedule.json lives (None: memory only)."""

    def __init__(self, clock: Callable[[], float] = time.time, state_dir: Callable[[Path], Path] | None = None,
                 registered_end: Callable[[Path], float | None] | None = None):
        self.clock = clock
        self._state_dir = state_dir
        # when the newest registered version was written: the last cycle's end for a folder trained before
        # this schedule existed (Retrain Now, `growpilot train`)
        self._registered_end = registered_end
        self._lock = threading.Lock()
        self._records: dict[Path, FolderRecord] = {}
        self.last_activity: float | None = None  # the daemon's start counts as activity (set by the glue)

    def record(self, root: Path) -> FolderRecord:
        with self._lock:
            return self._record(root)

    def _record(self, root: Path) -> FolderRecord:
        if root not in self._records:
            rec = FolderRecord()
            if self._state_dir is not None:
                data = _read_json(self._state_dir(root) / STATE_FILE)
                rec.last_start, rec.last_end = data.get("last_start"), data.get("last_end")
                rec.seen_chunks, rec.resume = list(data.get("seen_chunks") or ()), bool(data.get("resume"))
            if self._registered_end is not None:
                registered = self._registered_end(root)
                if registered is not None and (rec.last_end is None or registered > rec.last_end):
                    rec.last_end = registered  # e.g. `growpilot train` from a shell since
            self._records[root] = rec
        return self._records[root]

    def _save(self, root: Path, rec: FolderRecord) -> None:
        if self._state_dir is not None:
            try:
                _write_json(self._state_dir(root) / STATE_FILE, rec.as_json())
            except OSError as exc:
                log.warning("cannot write the training schedule of %s: %s", root, exc)

    def activity(self) -> list[Path]:
        """The user did something: returns the folders whose automatic cycle must yield now (each once)."""
        now = self.clock()
        with self._lock:
            self.last_activity = now
            out = [root for root, rec in self._records.items() if rec.automatic and not rec.yielding]
            for root in out:
                self._records[root].yielding = True
        return out

    def started(self, root: Path, automatic: bool, chunks: Iterable[str] | None) -> None:
        """A cycle starts; `chunks`: the content hashes it will see (None when it resumes a run)."""
        with self._lock:
            rec = self._record(root)
            rec.automatic, rec.yielding, rec.active = automatic, False, True
            if chunks is not None and not rec.resume:
                rec.last_start = self.clock()
                rec.seen_chunks = sorted({h[:HASH_CHARS] for h in chunks})
            self._save(root, rec)

    def adopt(self, root: Path) -> bool:
        """The user asked for the cycle that runs (Retrain Now): activity no longer stops it."""
        with self._lock:
            rec = self._record(root)
            was = rec.automatic and not rec.yielding
            rec.automatic = False
            return was

    def ended(self, root: Path, error_kind: str | None) -> bool:
        """A cycle ended; True when it was an automatic one that yielded to the user (it will resume)."""
        with self._lock:
            rec = self._record(root)
            yielded = rec.automatic and rec.yielding and error_kind == "cancelled"
            rec.resume = yielded
            if not yielded:
                rec.last_end = self.clock()
            rec.automatic = rec.yielding = rec.active = False
            self._save(root, rec)
            return yielded

    def active(self) -> Path | None:
        """A folder whose cycle started and has not ended (as far as this scheduler was told)."""
        with self._lock:
            return next((root for root, rec in self._records.items() if rec.active), None)

    def is_automatic(self, root: Path) -> bool:
        with self._lock:
            return self._record(root).automatic

    def decide_for(self, root: Path, *, idle_s: float, min_interval_s: float, min_samples: int, new_samples: int,
                   device: Device, running: str | None, ready: bool = True) -> Decision:
        with self._lock:
            rec = self._record(root)
            last_activity, last_end, resume = self.last_activity, rec.last_end, rec.resume
        return decide(self.clock(), idle_s=idle_s, min_interval_s=min_interval_s, min_samples=min_samples,
                      last_activity=last_activity, last_end=last_end, new_samples=new_samples, resume=resume,
                      device=device, running=running, ready=ready)


def registered_end(root: Path) -> float | None:
    """When the folder's newest adapter version was registered (its folder's mtime), or None."""
    from growpilot.training.registry import Registry
    from growpilot.training.errors import TrainingError

    try:
        versions = Registry.for_workspace(root).list()
        return versions[-1].path.stat().st_mtime if versions else None
    except (OSError, ValueError, TrainingError):
        return None


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
