"""Every service of a running daemon, owned by one object; no LSP types here, so the CLI and tests use
it directly."""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

from growpilot import __version__
from growpilot.actions.service import ActionService
from growpilot.completion import calibration
from growpilot.completion.calibration import Calibration
from growpilot.completion.engine import CompletionEngine, Workspace
from growpilot.config import Settings
from growpilot.indexing.indexer import Progress, SyncStats, WorkspaceIndex
from growpilot.indexing.watcher import Watcher
from growpilot.learning import ab
from growpilot.learning.events import EventStore
from growpilot.learning.memory import Memory
from growpilot.learning.preferences import PreferenceCache
from growpilot.models.holder import ModelHolder
from growpilot.plugins.host import PluginHost
from growpilot.server.idle import IdleTrainer
from growpilot.training.registry import AdapterVersion, Registry, base_identity
from growpilot.training.supervisor import Supervisor, active_adapter

log = logging.getLogger(__name__)
# Settings whose change needs the model reloaded / the indexes reopened.
MODEL_SETTINGS = ("model_path", "device", "threads", "backend")
# A pause in the user's typing long enough for a background model call (one scored prompt, seconds on a CPU).
PAUSE_S = 5.0
INDEX_SETTINGS = ("embedder_path", "max_file_bytes", "max_line_chars", "exclude_dirs", "follow_external_symlinks", "vector_store")


@dataclass
class Folder:
    root: Path
    index: WorkspaceIndex
    watcher: Watcher | None = None
    ready: bool = False
    indexing: bool = False
    last_sync: SyncStats = field(default_factory=SyncStats)
    adapter: AdapterVersion | None = None  # the promoted LoRA adapter that serves it; None: the base model
    challenger: tuple[ab.Experiment, str | None] | None = None  # A/B (abChallenger): its experiment, adapter path
    context: Calibration | None = None  # whether retrieved context helps here (None: not asked yet)
    calibrating: bool = False

    def describe(self) -> dict:
        return {**self.index.status(), "ready": self.ready, "indexing": self.indexing,
                "watching": "polling" if self.watcher and self.watcher.polling else bool(self.watcher),
                "last_sync": self.last_sync.as_dict(), "adapter": self.adapter.version if self.adapter else None,
                "context": self.context.as_dict() if self.context else None}


class Services:
    def __init__(self, settings: Settings, events: EventStore | None = None, plugins: PluginHost | None = None):
        self.settings = settings
        self.events = events or EventStore()
        self.model = ModelHolder()
        self.folders: dict[Path, Folder] = {}
        # The `growpilot.plugins` entry points, loaded once, here; completions and code actions call them.
        self.plugins = plugins if plugins is not None else PluginHost.discover()
        # Few-shot examples from the workspace's well-rated suggestions, embedded as the index is.
        self.memory = Memory(self.events, lambda: self.embedder)
        self.engine = CompletionEngine(self.model, self.events, lambda: self.settings, self.workspace_for,
                                       self.plugins, self.memory)
        # Learned and explicit coding preferences per workspace (code actions' prompts; growpilot.preferences).
        self.preferences = PreferenceCache()
        self.actions = ActionService(self.engine, self.events, lambda: self.settings, self.preferences)  # code actions
        self.learning = Supervisor(lambda: self.settings, self.events)
        self.idle = IdleTrainer(self)  # idle-time training: when to start a cycle by itself, when to yield
        self.pause_s = PAUSE_S  # background model calls wait for a pause this long (in_a_pause)
        self.closed = False
        # The suggestion history's retention: now, then hourly, by the settings of that moment.
        self.events.start_pruning(lambda: (self.settings.history_max_days, self.settings.history_max_mb))
        # Index syncs run one at a time, off the event loop; the watcher threads call in directly.
        self.index_pool = ThreadPoolExecutor(1, thread_name_prefix="growpilot-index")
        self.search_pool = ThreadPoolExecutor(1, thread_name_prefix="growpilot-search")
        self._embedder = None

    @property
    def embedder(self):
        if self._embedder is None:
            from growpilot.indexing.embedder import load_embedder

            self._embedder = load_embedder(self.settings.embedder_path, self.settings.device)
        return self._embedder

    # ----- folders
    def add_folder(self, root: str | os.PathLike[str]) -> Folder:
        real = Path(os.path.realpath(root))
        if real not in self.folders:
            self.folders[real] = Folder(real, WorkspaceIndex(real, self.embedder, self.settings))
            self.refresh_adapter(self.folders[real])
        return self.folders[real]

    def remove_folder(self, root: str | os.PathLike[str]) -> None:
        folder = self.folders.pop(Path(os.path.realpath(root)), None)
        if folder is not None:
            self._close_folder(folder)

    def folder_for(self, path: str) -> Folder | None:
        real = Path(os.path.realpath(path))
        best = None
        for root, folder in self.folders.items():
            if (real == root or root in real.parents) and (best is None or len(str(root)) > len(str(best.root))):
                best = folder
        return best

    def workspace_for(self, path: str) -> Workspace | None:
        folder = self.folder_for(path)
        if folder is None:
            return None
        adapter = folder.adapter
        gate = self.settings.context_gate
        enabled = gate == "always" or (gate == "auto" and (folder.context is None or folder.context.enabled))
        return Workspace(str(folder.root), folder.index.search, folder.index.definitions, folder.index.members,
                         str(adapter.path) if adapter else None, adapter.version if adapter else None, enabled,
                         folder.challenger)

    def calibrate_context(self, folder: Folder) -> Calibration | None:
        """Whether context helps in this folder, for the model that serves (blocking: scores its call
        sites on the model thread, in the user's pauses; run it off the event loop once the index is
        ready). Kept in the index's state folder; asked again only for another model."""
        backend = self.model.backend
        if backend is None or self.settings.context_gate != "auto":
            return folder.context
        model = f"{backend.name}:{getattr(backend, 'kind', 'transformers')}:{backend.dtype}"
        found = calibration.load(folder.index.state_dir, model)
        if found is None:
            ws = self.workspace_for(str(folder.root))
            started = time.perf_counter()
            found = calibration.calibrate(self.engine, ws, folder.index, backend, model, self.in_a_pause)
            calibration.save(folder.index.state_dir, found)
            log.info("context calibration of %s: ratio %s over %d call sites, context %s (%.0fs)", folder.root.name,
                     found.ratio, found.tasks, "on" if found.enabled else "off", time.perf_counter() - started)
        folder.context = found
        return found

    def in_a_pause(self, fn: Callable, *args):
        """A background model call (calibration) made in a pause of the user's: only after `pause_s` without
        edits or requests, checked again on the model thread (a completion asked meanwhile goes first). So
        it neither queues ahead of a completion nor evicts the prompt cached for the next keystroke."""
        skipped = object()

        def if_still_quiet():
            return fn(*args) if self.idle.quiet_for() >= self.pause_s else skipped

        while not self.closed:
            if (wait := self.pause_s - self.idle.quiet_for()) > 0:
                time.sleep(min(wait, 1.0))
            elif (out := self.engine.call_on_model(if_still_quiet)) is not skipped:
                return out
        raise RuntimeError("the daemon is shutting down")

    def refresh_adapter(self, folder: Folder) -> tuple[str | None, str | None]:
        """Serve the folder's active adapter from now on (after a load, a promotion or a rollback): the
        next request uses it, none is dropped. Returns (version before, version now)."""
        before = folder.adapter.version if folder.adapter else None
        backend = self.model.backend
        folder.adapter = active_adapter(folder.root, getattr(backend, "base_folder", None))
        self.refresh_challenger(folder)
        return before, folder.adapter.version if folder.adapter else None

    def ab_status(self, folder: Folder) -> dict:
        """`growpilot ab status` of a folder (learning/ab.py): the running experiment, else the last one."""
        status = ab.workspace_status(self.events, folder.root, folder.challenger[0] if folder.challenger else None)
        return {**status, "on": folder.challenger is not None}

    def refresh_challenger(self, folder: Folder) -> str | None:
        """The A/B challenger that serves half of the folder's lines (`abChallenger`), among the versions
        trained on the model that serves; None when off. Returns why there is none when one was asked for."""
        folder.challenger = None
        base_folder = getattr(self.model.backend, "base_folder", None)
        if not self.settings.ab_challenger or base_folder is None:
            return None
        try:
            registry = Registry.for_workspace(folder.root)
            base = base_identity(base_folder)
            versions = [v for v in registry.list() if (v.meta.get("base_model") or {}).get("hash") == base]
            active = folder.adapter.version if folder.adapter else ab.BASE
            label, why = ab.challenger_label(self.settings.ab_challenger, [v.version for v in versions], active)
            if label is None:
                log.warning("A/B is off for %s: %s", folder.root.name, why)
                return why
            path = None if label == ab.BASE else str(next(v.path for v in versions if v.version == label))
            folder.challenger = (ab.experiment(registry.folder, active, label), path)
            log.info("A/B in %s: %s against %s", folder.root.name, active, label)
        except (OSError, ValueError) as exc:  # a damaged registry must not stop serving
            log.warning("A/B is off for %s: %s", folder.root.name, exc)
            return str(exc)
        return None

    def index_folder(self, folder: Folder, progress: Progress | None = None) -> SyncStats:
        """A full sync of one folder (blocking; run it in `index_pool`)."""
        folder.indexing = True
        try:
            folder.last_sync = folder.index.refresh(progress)
            folder.ready = True
            return folder.last_sync
        finally:
            folder.indexing = False

    def delete_index(self, folder: Folder) -> dict:
        """Delete the folder's index and its context calibration from disk and memory (blocking; run it
        in `index_pool`, after any running sync). The watcher goes on; a reindex rebuilds from scratch.
        Trained adapters stay."""
        deleted, size = folder.index.delete(also=(calibration.FILE,))
        folder.context, folder.last_sync = None, SyncStats()
        return {"folderUri": folder.root.as_uri(), "deleted": deleted, "bytes": size}

    def preferences_of(self, folder: Folder, refresh: bool = False) -> dict:
        """The folder's preferences as `growpilot preferences --json` prints them (blocking: reads files)."""
        return self.preferences.as_json(folder.root, self.settings, self.events, refresh)

    def clear_history(self, folder: Folder) -> dict:
        """Delete the folder's suggestion history (generations and their accepts and ratings; blocking:
        the file is compacted)."""
        return {"folderUri": folder.root.as_uri(), **self.events.clear(str(folder.root))}

    def watch(self, folder: Folder, on_error: Callable[[str], None] = log.warning) -> None:
        if folder.watcher is not None:
            return

        def on_batch(paths: set[str]) -> None:
            try:
                folder.last_sync = folder.index.update(paths)
            except Exception as exc:  # keep watching; say what happened
                on_error(f"updating the index of {folder.root} failed: {exc}")
                raise

        folder.watcher = Watcher(str(folder.root), on_batch, debounce_s=self.settings.watch_debounce_ms / 1000)
        folder.watcher.start()

    # ----- settings
    def apply_settings(self, new: Settings) -> tuple[bool, bool]:
        """Take new settings; return (model must reload, indexes must reopen)."""
        changed = {f.name for f in fields(Settings) if getattr(new, f.name) != getattr(self.settings, f.name)}
        self.settings = new
        if "ab_challenger" in changed:
            for folder in self.folders.values():
                self.refresh_challenger(folder)
        return bool(changed & set(MODEL_SETTINGS)), bool(changed & set(INDEX_SETTINGS))

    # ----- status
    def status(self) -> dict:
        workspace = None if len(self.folders) != 1 else str(next(iter(self.folders)))
        return {
            "version": __version__,
            "folders": [{"folderUri": f.root.as_uri(), **f.describe()} for f in self.folders.values()],
            "model": self.model.describe(),
            "queue": {"index_pending": self.index_pool._work_queue.qsize(),
                      "indexing": [str(f.root) for f in self.folders.values() if f.indexing]},
            "feedback": self.events.summary(workspace),
            "learning": {f.root.as_uri(): {**self.learning.state(f.root).as_dict(),
                                           "automatic": self.idle.scheduler.is_automatic(f.root),
                                           "schedule": self.idle.describe(f.root)} for f in self.folders.values()},
            "plugins": self.plugins.describe(),
        }

    def _close_folder(self, folder: Folder) -> None:
        if folder.watcher is not None:
            folder.watcher.stop()
            folder.watcher = None
        folder.index.close()

    def close(self) -> None:
        self.closed = True
        self.idle.close()
        self.learning.close()
        self.actions.shutdown()
        self.engine.shutdown()
        for folder in list(self.folders.values()):
            self._close_folder(folder)
        self.folders.clear()
        self.index_pool.shutdown(wait=False, cancel_futures=True)
        self.search_pool.shutdown(wait=False, cancel_futures=True)
        self.events.close()
