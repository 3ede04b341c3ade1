"""Qdrant as the index's vector store (setting vectorStore "qdrant"), in local mode: a folder under the
workspace's state dir, no server.

Same contract as the FAISS store (store.py): ids are chunk ids, the catalog is the truth, the owner
reconciles on open. Qdrant point ids must be unsigned ints or UUIDs: a chunk id maps to
`UUID(int=chunk_id)` and back, one to one. Points hold only the vector (no payload): texts and
metadata come from the catalog, also for llama-index's `QdrantVectorStore` (`llama_store`), whose
query results are rebuilt from the owner's `nodes` callable. A team whose index outgrows one machine
hands this class a `QdrantClient(url=...)` instead of the local folder.

Two local-mode traits are handled here: it commits (and fsyncs) once per point — 24 ms a point on
this machine; with its SQLite file in WAL mode at synchronous=NORMAL, 0.5 ms, and a kill -9 still
loses nothing committed (a power cut may lose the last writes: reconciled on open) — and only one
process may open the folder at a time (`StoreBusy`).
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryResult
from llama_index.vector_stores.qdrant import QdrantVectorStore
from llama_index.vector_stores.qdrant.base import DEFAULT_DENSE_VECTOR_NAME
from qdrant_client import QdrantClient, models

from growpilot.indexing.store import NodesFor, StoreBusy, chunk_id_of, query_result

log = logging.getLogger(__name__)
COLLECTION = "chunks"
VECTOR = DEFAULT_DENSE_VECTOR_NAME  # the named vector llama-index's store queries
SCROLL_PAGE = 10_000


def point_id(chunk_id: int) -> str:
    return str(uuid.UUID(int=int(chunk_id)))


def chunk_id(point: Any) -> int:
    return point if isinstance(point, int) else uuid.UUID(str(point)).int


class CatalogQdrantVectorStore(QdrantVectorStore):
    """llama-index's Qdrant store whose results carry the owner's nodes (the points hold only vectors);
    writes take chunk ids only, as the FAISS store's do."""

    _nodes: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default=None)
    _put: Any = PrivateAttr(default=None)

    def add(self, nodes: list[BaseNode], **kwargs: Any) -> list[str]:
        if nodes:
            self._put([chunk_id_of(n.node_id) for n in nodes], np.array([n.get_embedding() for n in nodes]))
        return [n.node_id for n in nodes]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        with self._lock:
            return super().query(query, **kwargs)

    def parse_to_query_result(self, response: list[Any]) -> VectorStoreQueryResult:
        pairs = [(chunk_id(p.id), float(getattr(p, "score", None) or 0.0)) for p in response]
        return query_result(pairs, self._nodes, point_id)


class QdrantStore:
    """The owner's interface (store.VectorCache) over one Qdrant collection of `dim`-d cosine vectors."""

    def __init__(self, dim: int, path: str | Path | None = None, nodes: NodesFor | None = None,
                 lock: threading.RLock | None = None, client: QdrantClient | None = None):
        self.dim = dim
        self.path = Path(path) if path else None
        self._lock = lock or threading.RLock()
        self._client = client or self._open(self.path)
        self._ensure_collection()
        self._llama = CatalogQdrantVectorStore(collection_name=COLLECTION, client=self._client)
        self._llama._nodes, self._llama._lock, self._llama._put = nodes, self._lock, self.put

    @staticmethod
    def _open(path: Path | None) -> QdrantClient:
        if path is None:
            return QdrantClient(location=":memory:")
        try:
            return QdrantClient(path=str(path))
        except RuntimeError as exc:
            if "already accessed" in str(exc):
                raise StoreBusy(f"the Qdrant folder {path} is open in another growpilot process (Qdrant local "
                                "mode allows one): close it, or use vectorStore \"faiss\"") from None
            raise
        except Exception as exc:  # a torn or foreign folder: it is only a cache of the catalog
            log.warning("Qdrant folder %s is unreadable (%s): rebuilding it from stored vectors", path, exc)
            shutil.rmtree(path, ignore_errors=True)
            return QdrantClient(path=str(path))

    def _ensure_collection(self) -> None:
        if self._client.collection_exists(COLLECTION):
            vectors = self._client.get_collection(COLLECTION).config.params.vectors
            params = vectors.get(VECTOR) if isinstance(vectors, dict) else None
            if params is not None and params.size == self.dim and params.distance == models.Distance.COSINE:
                self._fast_local_commits()
                return
            log.warning("Qdrant collection %s has another vector shape: rebuilding it", COLLECTION)
            self._client.delete_collection(COLLECTION)
        self._client.create_collection(COLLECTION, vectors_config={
            VECTOR: models.VectorParams(size=self.dim, distance=models.Distance.COSINE)})
        self._fast_local_commits()

    def _fast_local_commits(self) -> None:
        """WAL + synchronous=NORMAL on local mode's SQLite file (see the module docstring). Private API:
        when it moves, writes are only slower."""
        try:
            conn = self._client._client.collections[COLLECTION].storage.storage
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        except (AttributeError, KeyError, TypeError):
            log.debug("not a local Qdrant collection (or its internals moved): default commits")

    # ----- the owner's interface
    @property
    def llama_store(self) -> CatalogQdrantVectorStore:
        return self._llama

    @property
    def count(self) -> int:
        with self._lock:
            return int(self._client.count(COLLECTION, exact=True).count)

    @property
    def dirty(self) -> bool:
        return False  # every write is committed by Qdrant itself

    def held_ids(self) -> set[int]:
        ids: set[int] = set()
        offset = None
        with self._lock:
            while True:
                points, offset = self._client.scroll(COLLECTION, limit=SCROLL_PAGE, offset=offset,
                                                     with_payload=False, with_vectors=False)
                ids.update(chunk_id(p.id) for p in points)
                if offset is None:
                    return ids

    def put(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        if not len(ids):
            return
        vecs = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        # Normalized here, as in FAISS: local mode keeps what it is given on disk and normalizes in memory.
        vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        batch = models.Batch(ids=[point_id(i) for i in ids], vectors={VECTOR: vecs.tolist()})
        with self._lock:
            self._client.upsert(COLLECTION, points=batch, wait=True)

    def remove(self, ids: Iterable[int]) -> None:
        points = [point_id(i) for i in ids]
        if points:
            with self._lock:
                self._client.delete(COLLECTION, points_selector=models.PointIdsList(points=points), wait=True)

    def nearest(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        with self._lock:
            found = self._client.query_points(COLLECTION, query=np.asarray(vector, dtype=np.float32).tolist(),
                                              using=VECTOR, limit=k, with_payload=False).points
        return [(chunk_id(p.id), float(p.score)) for p in found]

    def vectors(self, ids: Iterable[int]) -> dict[int, np.ndarray]:
        with self._lock:
            points = self._client.retrieve(COLLECTION, ids=[point_id(i) for i in ids], with_vectors=True)
        return {chunk_id(p.id): np.asarray(p.vector[VECTOR], dtype=np.float32) for p in points}

    def persist(self) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            self._client.close()
