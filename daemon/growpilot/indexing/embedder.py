"""Sentence embeddings of chunks and queries (sentence-transformers, normalized float32).

The model loads on first use: opening an index for `status` or a BM25-only look never pays for
importing torch.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def _declared_dim(folder: Path) -> int:
    pooling = folder / "1_Pooling" / "config.json"
    if pooling.exists():
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    return int(json.loads((folder / "config.json").read_text())["hidden_size"])


# all-MiniLM-L6-v2 was trained on 128 word pieces; longer inputs cost 2x for little gain (BM25 sees the
# whole chunk anyway).
MAX_SEQ_TOKENS = 128


class Embedder:
    def __init__(self, folder: Path, name: str, device: str = "auto", batch_size: int = 64):
        self.folder = Path(folder)
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self.dim = _declared_dim(self.folder)
        # Identity of the vector space: vectors from another model must never be mixed in.
        self.identity = f"{name}:{self.dim}:{MAX_SEQ_TOKENS}"
        self._model = None
        self._load_lock = threading.Lock()
        self._query = functools.lru_cache(maxsize=256)(self._embed_one)

    @property
    def model(self):
        with self._load_lock:
            if self._model is None:
                from growpilot.models.device import fast_dtype, pick_device
                from growpilot.models.imports import exclusive_load

                device = pick_device(self.device)
                with exclusive_load():
                    from sentence_transformers import SentenceTransformer

                    model = SentenceTransformer(str(self.folder), device=device, local_files_only=True,
                                                model_kwargs={"dtype": fast_dtype(device)})
                model.max_seq_length = min(model.max_seq_length or MAX_SEQ_TOKENS, MAX_SEQ_TOKENS)
                dim = getattr(model, "get_embedding_dimension", model.get_sentence_embedding_dimension)()
                if dim != self.dim:
                    raise ValueError(f"embedder {self.folder} produces {dim}-d vectors, its config says {self.dim}")
                self._model = model
            return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

    def _embed_one(self, text: str) -> np.ndarray:
        vec = self.embed([text])[0]
        vec.setflags(write=False)
        return vec

    def embed_query(self, text: str) -> np.ndarray:
        """Queries repeat (search-as-you-type, completions on one line): cache the last few."""
        return self._query(text)


def load_embedder(embedder_path: str, device: str = "auto") -> Embedder:
    from growpilot.models.provision import resolve_embedder

    name, folder = resolve_embedder(embedder_path)
    return Embedder(folder, name, device=device)
