"""Loads the language model in the background and hands it out once ready; never blocks a request."""

from __future__ import annotations

import logging
import threading
from typing import Callable

from growpilot.config import Settings

log = logging.getLogger(__name__)


class ModelHolder:
    def __init__(self):
        self.backend = None  # a TransformersBackend once loaded
        self.state = "idle"  # idle | loading | ready | failed
        self.error: str | None = None
        self._lock = threading.Lock()
        self._generation = 0  # a newer load supersedes an older one still running

    def load_async(self, settings: Settings, on_done: Callable[["ModelHolder"], None] = lambda h: None) -> threading.Thread:
        with self._lock:
            self._generation += 1
            ticket = self._generation
            self.state, self.error = "loading", None
        thread = threading.Thread(target=self._load, args=(settings, ticket, on_done), name="growpilot-model", daemon=True)
        thread.start()
        return thread

    def load(self, settings: Settings) -> "ModelHolder":
        """Load in the calling thread (CLI)."""
        with self._lock:
            self._generation += 1
            ticket = self._generation
        self._load(settings, ticket, lambda h: None)
        if self.state == "failed":
            raise RuntimeError(self.error)
        return self

    def _load(self, settings: Settings, ticket: int, on_done: Callable[["ModelHolder"], None]) -> None:
        from growpilot.models.backend import TransformersBackend
        from growpilot.models.provision import ModelError, resolve_lm

        try:
            backend = TransformersBackend(resolve_lm(settings.model_path), settings.device, settings.threads)
            error = None
        except (ModelError, OSError, ValueError, RuntimeError) as exc:
            log.error("model failed to load: %s", exc)
            backend, error = None, str(exc)
        except Exception as exc:  # anything else too: a load that dies silently leaves clients waiting forever
            log.exception("model failed to load")
            backend, error = None, f"{type(exc).__name__}: {exc}"
        with self._lock:
            if ticket == self._generation:  # else settings changed while loading: the newer load wins
                self.backend, self.error = backend, error
                self.state = "ready" if backend else "failed"
        on_done(self)

    def describe(self) -> dict:
        b = self.backend
        return {"state": self.state, "loaded": b is not None, "name": b.name if b else None,
                "device": b.device if b else None, "dtype": str(b.dtype).replace("torch.", "") if b else None,
                "template": b.template.family if b else None, "adapter": b.adapter if b else None,
                "load_seconds": round(b.load_seconds, 2) if b else None, "error": self.error}
