"""The ML stack's first import, under one lock. transformers resolves its names lazily and not
thread-safely: the embedder (sentence-transformers) and the model loader importing it at the same
moment made `from transformers import AutoModelForCausalLM` raise ImportError in the daemon (seen once
in CI, with the index and the model loading side by side on a busy machine)."""

from __future__ import annotations

import threading

_LOCK = threading.Lock()


def import_ml_stack() -> None:
    """Import, once and one thread at a time, every transformers name the daemon uses; later imports of
    them are plain lookups."""
    with _LOCK:
        from sentence_transformers import SentenceTransformer  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache  # noqa: F401
        from transformers.utils import logging  # noqa: F401
