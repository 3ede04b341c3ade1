"""Vector stores of the workspace index: search caches of the catalog's vectors, keyed by chunk id.

The catalog holds each vector once (`embeddings`, by chunk content hash). A vector store holds them
again only as a search structure, keyed by chunk id: SQLite AUTOINCREMENT ids are monotonic and never
reused, and a chunk never changes while it lives, so an id names one vector for good. A store never
reads the catalog: its owner (the indexer) reconciles it with the catalog on every open (`reconcile`:
stale ids out, missing ones back in with their stored vectors), so a missing, corrupt or outdated
store costs no embedding, and a crash between a catalog commit and a store write loses nothing.

Each backend is a llama-index vector store (`llama_store`), so `VectorStoreIndex.from_vector_store`
and its retrievers run on it; node texts and metadata come from the owner's `nodes` callable (catalog
rows), so no store keeps a second copy of the text:
- `FaissStore` (setting vectorStore "faiss", the default): FAISS `IndexIDMap2(IndexFlatIP)` on
  normalized vectors in one file, written atomically (temp file, fsync, `os.replace`);
- `QdrantStore` (vectorStore "qdrant", qdrant_store.py): Qdrant's local mode, no server.

Not llama-index's FAISS stores: `FaissVectorStore.delete` raises NotImplementedError, and
`FaissMapVectorStore` gives a new node the id `index.ntotal`, which reuses a live id after a delete
(add node0..2, delete node0, add node4 → node4 gets node2's id 2). Here the catalog owns the id space.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional, Protocol, Sequence

import faiss
import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryResult,
)

log = logging.getLogger(__name__)
# One query at a time: OpenMP threads only add overhead (100k vectors: 6 ms on one thread, 50 ms on two here).
faiss.omp_set_num_threads(1)
# The owner's view of its chunks as llama-index nodes: chunk id → node (ids it no longer has are left out).
NodesFor = Callable[[Sequence[int]], "dict[int, BaseNode]"]
RECONCILE_BATCH = 4096


class StoreBusy(RuntimeError):
    """The vector store's files are held by another process (Qdrant local mode allows one)."""


class VectorCache(Protocol):
    """What the owner needs from a vector store. Ids are chunk ids; vectors are float32 rows."""

    @property
    def llama_store(self) -> BasePydanticVectorStore: ...
    @property
    def count(self) -> int: ...
    @property
    def dirty(self) -> bool: ...  # has changes `persist` would write
    def held_ids(self) -> set[int]: ...
    def put(self, ids: Sequence[int], vectors: np.ndarray) -> None: ...
    def remove(self, ids: Iterable[int]) -> None: ...
    def nearest(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]: ...
    def vectors(self, ids: Iterable[int]) -> dict[int, np.ndarray]: ...  # what it holds (checks, tests)
    def persist(self) -> None: ...
    def close(self) -> None: ...


def reconcile(store: VectorCache, live: set[int], vectors_of: Callable[[list[int]], dict[int, np.ndarray]]) -> tuple[int, int]:
    """Make `store` hold exactly the `live` ids: drop the others, add the missing ones with the vectors
    `vectors_of` gives (the catalog's, by each chunk's hash). Returns (removed, restored)."""
    held = store.held_ids()
    stale, missing = sorted(held - live), sorted(live - held)
    if stale:
        store.remove(stale)
    restored = 0
    for i in range(0, len(missing), RECONCILE_BATCH):
        found = vectors_of(missing[i:i + RECONCILE_BATCH])
        if found:
            store.put(list(found), np.stack(list(found.values())))
            restored += len(found)
    if stale or missing:
        log.info("vector store reconciled with the catalog: %d stale removed, %d restored", len(stale), restored)
    if restored < len(missing):
        log.warning("%d chunks have no stored vector: dense search cannot find them", len(missing) - restored)
    return len(stale), restored


def chunk_id_of(node_id: str) -> int:
    """Node ids in our stores are chunk ids; anything else is a caller's mistake, said clearly."""
    try:
        return int(node_id)
    except (TypeError, ValueError):
        raise ValueError(f"node id {node_id!r} is not a chunk id: the catalog owns the ids of this store "
                         "(index files through WorkspaceIndex, not VectorStoreIndex.insert)") from None


def _new_index(dim: int) -> faiss.IndexIDMap2:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def _normalized(vectors: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(vectors), -1).copy()
    faiss.normalize_L2(out)
    return out


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so a crash leaves either the old or the new content, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FaissStore(BasePydanticVectorStore):
    """Inner product over normalized vectors (cosine), `IndexIDMap2(IndexFlatIP)`, ids = chunk ids.
    Every call holds `lock` (the owner passes its own, so llama-index callers are serialized with syncs)."""

    stores_text: bool = False  # True when the owner gives `nodes`: query results then carry them
    dim: int
    path: Optional[str] = None  # where the FAISS file lives; None = memory only

    _index: Any = PrivateAttr()
    _ids: set = PrivateAttr(default_factory=set)  # mirrors the id map: upserts and removals check it
    _nodes: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default=None)
    _dirty: bool = PrivateAttr(default=False)

    def __init__(self, dim: int, path: str | os.PathLike[str] | None = None, nodes: NodesFor | None = None,
                 lock: threading.RLock | None = None):
        super().__init__(dim=dim, path=str(path) if path else None, stores_text=nodes is not None)
        self._nodes = nodes
        self._lock = lock or threading.RLock()
        self._index = self._load()
        self._ids = set(faiss.vector_to_array(self._index.id_map).tolist()) if self._index.ntotal else set()

    def _load(self) -> faiss.IndexIDMap2:
        """The FAISS file, or an empty index (marked dirty) when it is missing, corrupt or of another shape."""
        if self.path and os.path.exists(self.path):
            try:
                index = faiss.read_index(self.path)
                if index.d == self.dim and isinstance(index, faiss.IndexIDMap2):
                    return index
                log.warning("FAISS file %s has dimension %d, expected %d: rebuilding it", self.path, index.d, self.dim)
            except RuntimeError as exc:
                log.warning("FAISS file %s is unreadable (%s): rebuilding it from stored vectors", self.path, exc)
        self._dirty = True
        return _new_index(self.dim)

    # ----- the owner's interface (VectorCache)
    @property
    def llama_store(self) -> "FaissStore":
        return self

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    @property
    def dirty(self) -> bool:
        return self._dirty

    def held_ids(self) -> set[int]:
        with self._lock:
            return set(self._ids)

    def put(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        if not len(ids):
            return
        vecs = _normalized(vectors)
        with self._lock:
            self.remove([i for i in ids if i in self._ids])  # an upsert replaces, never duplicates
            self._index.add_with_ids(vecs, np.asarray(ids, dtype=np.int64))
            self._ids.update(int(i) for i in ids)
            self._dirty = True

    def remove(self, ids: Iterable[int]) -> None:
        with self._lock:
            held = [int(i) for i in ids if i in self._ids]
            if held:  # remove_ids scans the whole index: skip it when there is nothing to remove
                self._index.remove_ids(np.array(held, dtype=np.int64))
                self._ids.difference_update(held)
                self._dirty = True

    def nearest(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        q = _normalized(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        with self._lock:
            if k <= 0 or self._index.ntotal == 0:
                return []
            scores, ids = self._index.search(q, min(k, self._index.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def vectors(self, ids: Iterable[int]) -> dict[int, np.ndarray]:
        with self._lock:
            return {int(i): self._index.reconstruct(int(i)) for i in ids if i in self._ids}

    def persist(self, persist_path: str | None = None, fs: Any = None) -> None:
        """Write the FAISS file atomically (only when something changed)."""
        target = persist_path or self.path
        with self._lock:
            if not target or (not self._dirty and persist_path is None):
                return
            atomic_write(Path(target), faiss.serialize_index(self._index).tobytes())
            self._dirty = False

    def close(self) -> None:
        pass  # nothing held open: the owner persists before closing

    # ----- llama-index's interface (reads for VectorStoreIndex and its retrievers; writes by chunk id)
    @property
    def client(self) -> Any:
        return self._index

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> List[str]:
        if nodes:
            self.put([chunk_id_of(n.node_id) for n in nodes], np.array([n.get_embedding() for n in nodes]))
        return [n.node_id for n in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        raise NotImplementedError("this store keeps no document map: the catalog owns which chunks a file "
                                  "has (WorkspaceIndex.update removes a file's vectors); delete_nodes takes chunk ids")

    def delete_nodes(self, node_ids: Optional[List[str]] = None, filters: Optional[MetadataFilters] = None,
                     **delete_kwargs: Any) -> None:
        if filters is not None:
            raise NotImplementedError("metadata filters are not supported")
        self.remove(chunk_id_of(n) for n in node_ids or [])

    def clear(self) -> None:
        with self._lock:
            self._index = _new_index(self.dim)
            self._ids = set()
            self._dirty = True

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        if query.filters is not None:
            raise NotImplementedError("metadata filters are not supported")
        if query.query_embedding is None:
            return VectorStoreQueryResult(nodes=None, similarities=[], ids=[])
        pairs = self.nearest(np.asarray(query.query_embedding, dtype=np.float32), query.similarity_top_k)
        return query_result(pairs, self._nodes, str)


def query_result(pairs: list[tuple[int, float]], nodes: NodesFor | None, node_id: Callable[[int], str]) -> VectorStoreQueryResult:
    """(chunk id, score) pairs as llama-index wants them; with `nodes`, chunks gone meanwhile are left out."""
    if nodes is None:
        return VectorStoreQueryResult(nodes=None, similarities=[s for _, s in pairs], ids=[node_id(i) for i, _ in pairs])
    found = nodes([i for i, _ in pairs])
    kept = [(i, s) for i, s in pairs if i in found]
    return VectorStoreQueryResult(nodes=[found[i] for i, _ in kept], similarities=[s for _, s in kept],
                                  ids=[node_id(i) for i, _ in kept])
