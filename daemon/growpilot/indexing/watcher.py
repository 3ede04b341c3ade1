"""Watch a workspace with watchdog and hand debounced batches of changed paths to a callback.

Editors save in bursts (temp file, write, rename); a batch is handed over once the workspace has
been quiet for `debounce_s` (or `max_wait_s` after its first event, so a busy tree still makes
progress). When inotify is out of watches, falls back to polling with a clear warning.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from typing import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

log = logging.getLogger(__name__)
_SKIPPED_EVENTS = {"opened", "closed_no_write"}


class Watcher(FileSystemEventHandler):
    def __init__(self, root: str, on_batch: Callable[[set[str]], None], *, debounce_s: float = 0.1,
                 max_wait_s: float = 1.0, skip: Callable[[str], bool] = lambda rel: False,
                 observer_factory: Callable[[], object] = Observer):
        self.root = os.path.realpath(root)
        self.on_batch = on_batch
        self.debounce_s = debounce_s
        self.max_wait_s = max_wait_s
        self.skip = skip
        self.polling = False
        self._observer_factory = observer_factory
        self._observer = None
        self._pending: set[str] = set()
        self._first = self._last = 0.0
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="growpilot-watch", daemon=True)

    def start(self) -> None:
        try:
            self._observer = self._schedule(self._observer_factory())
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EMFILE, errno.ENFILE):
                raise
            log.warning("inotify limit reached (%s): watching %s by polling instead, which is slower. "
                        "Raise fs.inotify.max_user_watches to watch natively.", exc, self.root)
            self.polling = True
            self._observer = self._schedule(PollingObserver(timeout=1.0))
        self._thread.start()

    def _schedule(self, observer):
        observer.schedule(self, self.root, recursive=True)
        observer.start()
        return observer

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    # ----- watchdog callback (observer thread)
    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _SKIPPED_EVENTS or (event.is_directory and event.event_type == "modified"):
            return
        rels = [self._rel(p) for p in (event.src_path, getattr(event, "dest_path", "")) if p]
        rels = [r for r in rels if r and not self.skip(r)]
        if not rels:
            return
        with self._cond:
            now = time.monotonic()
            if not self._pending:
                self._first = now
            self._pending.update(rels)
            self._last = now
            self._cond.notify()

    def _rel(self, path: str | bytes) -> str | None:
        path = os.fsdecode(path)
        rel = os.path.relpath(path, self.root)
        if rel == "." or rel.startswith(".."):
            return None
        rel = rel.replace(os.sep, "/")
        return None if rel == ".git" or rel.startswith(".git/") else rel

    # ----- debounce thread
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                now = time.monotonic()
                due = min(self._last + self.debounce_s, self._first + self.max_wait_s)
                if now < due:
                    self._cond.wait(due - now)
                    continue
                batch, self._pending = self._pending, set()
            try:
                self.on_batch(batch)
            except Exception:  # one bad batch must not stop the watcher
                log.exception("indexing %d changed paths failed", len(batch))
