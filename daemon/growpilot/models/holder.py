"""Loads the language model in the background and hands it out once ready; never blocks a request.

Which backend serves follows the `backend` setting: llama.cpp (models/llamacpp.py: the quantized GGUF,
several times faster on a CPU) or transformers (models/backend.py: any HF folder; training uses it)."""

from __future__ import annotations

import logging
import threading
from typing import Callable

from growpilot.config import Settings

log = logging.getLogger(__name__)


class ModelHolder:
    def __init__(self):
        self.backend = None  # a TransformersBackend or LlamaCppBackend once loaded
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
        from growpilot.models.provision import ModelError, resolve_lm

        try:
            backend = build_backend(settings, resolve_lm(settings.model_path))
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
                "backend": getattr(b, "kind", "transformers") if b else None, "device": b.device if b else None, "dtype": str(b.dtype).replace("torch.", "") if b else None,
                "template": b.template.family if b else None,
                "load_seconds": round(b.load_seconds, 2) if b else None, "error": self.error}


def choose_backend(setting: str, has_gguf: bool, llama_imports: Callable[[], bool], native_bf16: bool = False) -> str:
    """"transformers" or "llama.cpp" for a `backend` setting. "auto" takes transformers where torch computes
    in bf16 natively (a GPU; a CPU with AVX512-BF16 or AMX), else llama.cpp when the model has a GGUF and
    the binding imports. On the 2-core AVX512-BF16 CI machine torch read 534 prompt tokens/s and llama.cpp
    155 (`growpilot bench backend`), and a single-line suggestion is mostly its prompt: 1.9 s vs 6.6 s cold;
    llama.cpp decodes 3x faster, which pays where torch runs in fp32. An explicit choice that cannot be
    served is an error."""
    from growpilot.models.provision import ModelError

    if setting == "transformers":
        return "transformers"
    if setting == "llama.cpp":
        if not has_gguf:
            raise ModelError("backend llama.cpp needs a GGUF model: set modelPath to a .gguf file, or backend to auto")
        if not llama_imports():
            raise ModelError("backend llama.cpp: llama-cpp-python is not installed or does not load here "
                             "(bash scripts/setup.sh builds it); or set backend to auto")
        return "llama.cpp"
    return "llama.cpp" if has_gguf and not native_bf16 and llama_imports() else "transformers"


def build_backend(settings: Settings, source):
    """The backend the settings choose, loaded (blocking)."""
    from growpilot.models import llamacpp

    kind = choose_backend(settings.backend, getattr(source, "gguf", None) is not None, llamacpp.available,
                          settings.backend == "auto" and _native_bf16(settings.device))
    if kind == "llama.cpp":
        return llamacpp.LlamaCppBackend(source, settings.device, settings.threads,
                                        n_ctx=settings.prompt_tokens + settings.max_tokens + 64)
    from growpilot.models.backend import TransformersBackend

    return TransformersBackend(source, settings.device, settings.threads)


def _native_bf16(device_setting: str) -> bool:
    import torch

    from growpilot.models.device import fast_dtype, pick_device

    return fast_dtype(pick_device(device_setting)) != torch.float32
