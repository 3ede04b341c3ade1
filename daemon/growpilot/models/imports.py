"""Loading torch models from two threads (the embedder for the index, the language model) safely.

- transformers resolves its names lazily and not thread-safely: both importing it at the same moment
  made `from transformers import AutoModelForCausalLM` raise ImportError in the daemon (seen in CI).
- `from_pretrained(dtype=…)` sets torch's *global* default dtype while it builds a model, so two models
  built at once get each other's dtype for some layers ("mat1 and mat2 must have the same dtype", CI).
So the first import and every model construction happen one at a time, under one lock."""

from __future__ import annotations

import threading
from contextlib import contextmanager

_LOCK = threading.RLock()


@contextmanager
def exclusive_load():
    """Hold while building a model (or loading a tokenizer or an adapter next to it). Inside, every
    transformers name the daemon uses is imported (the first time) and later imports are plain lookups."""
    with _LOCK:
        from sentence_transformers import SentenceTransformer  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache  # noqa: F401
        from transformers.utils import logging  # noqa: F401
        yield
