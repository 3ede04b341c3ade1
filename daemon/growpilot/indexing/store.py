"""FAISS vector store behind llama-index's vector-store interface, with our own id space.

llama-index's FAISS stores cannot serve: `FaissVectorStore.delete` raises NotImplementedError, and
`FaissMapVectorStore` hands a new node the id `index.ntotal`, which reuses a live id after a delete.
Here every node gets a monotonic int64 from SQLite (AUTOINCREMENT never reuses one), the SQLite table
is the truth (node id, document id, vector), and the FAISS file is a cache of it: written atomically
(temp file, fsync, os.replace) and reconciled with the table whenever it is opened.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any, List, Optional, Sequence

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
_TABLE = """
CREATE TABLE IF NOT EXISTS vector_ids(
    faiss_id INTEGER PRIMARY KEY AUTOINCREMENT, node_id TEXT NOT NULL UNIQUE, ref_doc_id TEXT, vec BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS vector_ids_doc ON vector_ids(ref_doc_id);
"""


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
    """Inner product over normalized vectors (cosine), `IndexIDMap2(IndexFlatIP)`. Not thread-safe:
    the owner serializes calls."""

    stores_text: bool = False
    dim: int
    path: Optional[str] = None  # where the FAISS file lives; None = memory only

    _conn: sqlite3.Connection = PrivateAttr()
    _index: Any = PrivateAttr()
    _dirty: bool = PrivateAttr(default=False)

    def __init__(self, conn: sqlite3.Connection, dim: int, path: str | os.PathLike[str] | None = None):
        super().__init__(dim=dim, path=str(path) if path else None)
        self._conn = conn
        conn.executescript(_TABLE)
        self._index = self._load()

    # ----- open / reconcile
    def _load(self) -> faiss.IndexIDMap2:
        """Load the FAISS file and make it agree with the table; rebuild it when missing or corrupt."""
        index = None
        if self.path and os.path.exists(self.path):
            try:
                index = faiss.read_index(self.path)
                if index.d != self.dim or not isinstance(index, faiss.IndexIDMap2):
                    log.warning("FAISS file %s has dimension %d, expected %d: rebuilding it", self.path, index.d, self.dim)
                    index = None
            except RuntimeError as exc:
                log.warning("FAISS file %s is unreadable (%s): rebuilding it from stored vectors", self.path, exc)
                index = None
        if index is None:
            index = _new_index(self.dim)
            self._dirty = True
        self._reconcile(index)
        return index

    def _reconcile(self, index: faiss.IndexIDMap2) -> None:
        in_faiss = set(faiss.vector_to_array(index.id_map).tolist()) if index.ntotal else set()
        in_table = {r[0] for r in self._conn.execute("SELECT faiss_id FROM vector_ids")}
        stale, missing = in_faiss - in_table, sorted(in_table - in_faiss)
        if stale:
            index.remove_ids(np.fromiter(stale, dtype=np.int64))
        for i in range(0, len(missing), 4096):
            part = missing[i:i + 4096]
            rows = self._conn.execute(
                f"SELECT faiss_id, vec FROM vector_ids WHERE faiss_id IN ({','.join('?' * len(part))})", part).fetchall()
            vecs = np.stack([np.frombuffer(v, dtype=np.float32) for _, v in rows])
            index.add_with_ids(_normalized(vecs), np.array([r[0] for r in rows], dtype=np.int64))
        if stale or missing:
            self._dirty = True
            log.info("vector index reconciled with catalog: %d stale removed, %d restored", len(stale), len(missing))

    # ----- llama-index interface
    @property
    def client(self) -> Any:
        return self._index

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> List[str]:
        if not nodes:
            return []
        self.delete_nodes([n.node_id for n in nodes])  # upsert
        vecs = _normalized(np.array([n.get_embedding() for n in nodes], dtype=np.float32))
        ids = []
        for node, vec in zip(nodes, vecs):
            cur = self._conn.execute("INSERT INTO vector_ids(node_id, ref_doc_id, vec) VALUES (?,?,?)",
                                     (node.node_id, node.ref_doc_id, vec.tobytes()))
            ids.append(cur.lastrowid)
        self._index.add_with_ids(vecs, np.array(ids, dtype=np.int64))
        self._dirty = True
        return [n.node_id for n in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of one document (here: one file)."""
        ids = [r[0] for r in self._conn.execute("SELECT faiss_id FROM vector_ids WHERE ref_doc_id=?", (ref_doc_id,))]
        self._remove(ids)

    def delete_nodes(self, node_ids: Optional[List[str]] = None, filters: Optional[MetadataFilters] = None,
                     **delete_kwargs: Any) -> None:
        if filters is not None:
            raise NotImplementedError("metadata filters are not supported")
        ids: list[int] = []
        node_ids = list(node_ids or [])
        for i in range(0, len(node_ids), 500):
            part = node_ids[i:i + 500]
            ids += [r[0] for r in self._conn.execute(
                f"SELECT faiss_id FROM vector_ids WHERE node_id IN ({','.join('?' * len(part))})", part)]
        self._remove(ids)

    def _remove(self, ids: list[int]) -> None:
        if not ids:
            return
        self._conn.executemany("DELETE FROM vector_ids WHERE faiss_id=?", ((i,) for i in ids))
        self._index.remove_ids(np.array(ids, dtype=np.int64))
        self._dirty = True

    def clear(self) -> None:
        self._conn.execute("DELETE FROM vector_ids")
        self._index = _new_index(self.dim)
        self._dirty = True

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        if query.query_embedding is None or self._index.ntotal == 0:
            return VectorStoreQueryResult(nodes=None, similarities=[], ids=[])
        q = _normalized(np.array([query.query_embedding], dtype=np.float32))
        scores, ids = self._index.search(q, min(query.similarity_top_k, self._index.ntotal))
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        names = dict(self._conn.execute(
            f"SELECT faiss_id, node_id FROM vector_ids WHERE faiss_id IN ({','.join('?' * len(pairs))})",
            [i for i, _ in pairs]).fetchall()) if pairs else {}
        kept = [(names[i], s) for i, s in pairs if i in names]
        return VectorStoreQueryResult(nodes=None, similarities=[s for _, s in kept], ids=[n for n, _ in kept])

    def persist(self, persist_path: str | None = None, fs: Any = None) -> None:
        """Write the FAISS file atomically (only when something changed)."""
        target = persist_path or self.path
        if not target or (not self._dirty and persist_path is None):
            return
        atomic_write(Path(target), faiss.serialize_index(self._index).tobytes())
        self._dirty = False

    # ----- introspection (tests, status)
    def faiss_ids(self) -> dict[str, int]:
        return dict(self._conn.execute("SELECT node_id, faiss_id FROM vector_ids"))

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def dirty(self) -> bool:
        return self._dirty
