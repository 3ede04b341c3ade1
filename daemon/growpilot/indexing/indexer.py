"""One workspace's index: keeps catalog (SQLite), vector store and BM25 in step with the files.

The flow of a sync: diff files by size/mtime, then by content hash → chunk what changed →
embed only chunk hashes never seen before (in length-sorted batches) → apply each group of files
in one SQLite transaction (files, chunks, BM25 and vectors together), then in the vector store
(FAISS, or Qdrant with vectorStore "qdrant"), whose ids are the chunk ids. A crash at any point
leaves SQLite at a file boundary; the vector store is reconciled with it on the next open.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import BasePydanticVectorStore

from growpilot.config import Settings
from growpilot.indexing.catalog import Catalog, ChunkRow, CorruptDatabase, FileRow, connect, quarantine
from growpilot.indexing.chunker import CHUNKER_VERSION, Chunk, chunk_text
from growpilot.indexing.embedder import Embedder
from growpilot.indexing.filters import IGNORE_FILES, FileEntry, WorkspaceFilter
from growpilot.indexing.languages import language_of
from growpilot.indexing.llamaindex import row_node
from growpilot.indexing.store import FaissStore, VectorCache, reconcile
from growpilot.paths import growpilot_home, workspace_state_dir
from growpilot.retrieval.fusion import rrf

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]  # (files done, files to do)
GROUP_CHUNKS = 2048  # new chunks embedded per group: big enough to batch well, small enough to checkpoint
EMBED_SLICE = 256  # between slices a closing index stops (shutdown never waits for a whole group)
PERSIST_EVERY_S = 30.0
ORPHAN_VECTORS = 50_000  # vectors of vanished content kept, so switching branches back costs nothing
DB_FILE = "catalog.sqlite"
FAISS_FILE = "vectors.faiss"
QDRANT_DIR = "qdrant"


# BM25 (SQLite) runs beside the query embedding and FAISS (both release the GIL): a search costs the
# slower of the two, not their sum.
_BM25_THREAD = ThreadPoolExecutor(1, thread_name_prefix="growpilot-bm25")


class IndexClosed(Exception):
    """The index was closed while a sync was running; nothing of the unfinished group was written."""


@dataclass
class SyncStats:
    files: int = 0  # files in the index after the sync
    chunks: int = 0
    embedded: int = 0  # chunks embedded by this sync
    changed: int = 0  # files (re)chunked
    deleted: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason → count
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Hit:
    path: str
    start_line: int
    end_line: int
    score: float
    text: str
    symbol: str | None
    language: str | None
    chunk_id: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _FileWork:
    entry: FileEntry
    digest: str
    chunks: list[Chunk]


class WorkspaceIndex:
    """Owns one workspace's catalog, vector store and filter. Thread-safe: one lock guards SQLite and
    the vector store (which takes it too, for llama-index callers); embedding runs outside it, so
    searches stay fast during a long sync."""

    def __init__(self, root: str | os.PathLike[str], embedder: Embedder, settings: Settings,
                 state_dir: Path | None = None):
        self.root = Path(os.path.realpath(root))
        self.embedder = embedder
        self.settings = settings
        self.state_dir = state_dir or workspace_state_dir(self.root)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.filter = WorkspaceFilter(self.root, settings, skip_dirs=(str(self.state_dir), str(growpilot_home())))
        self._lock = threading.RLock()
        self._sync_lock = threading.Lock()  # one sync at a time (watcher batches, reindex)
        self._last_persist = time.monotonic()
        self._closing = threading.Event()
        self.catalog, self.store = self._open()

    # ----- open and recover
    def _open(self) -> tuple[Catalog, VectorCache]:
        db = self.state_dir / DB_FILE
        try:
            conn = connect(db)
        except CorruptDatabase as exc:
            moved = quarantine(db)
            log.warning("index database %s was corrupt (%s); moved to %s and rebuilding", db, exc, moved)
            conn = connect(db)
        catalog = Catalog(conn)
        # Each change below voids the vector stores' ids or vectors: they go first, so a crash before
        # the catalog commits the change only repeats it on the next open.
        if catalog.outdated():  # new (ids restart at 1) or schema 1 (whose vector ids were another table's)
            self._drop_vector_stores()
            with catalog.transaction():
                catalog.migrate()
        if catalog.meta("embedder") not in (None, self.embedder.identity):
            log.warning("embedder changed (%s → %s): re-embedding the workspace", catalog.meta("embedder"),
                        self.embedder.identity)
            self._drop_vector_stores()
            with catalog.transaction():
                catalog.forget_all()
        elif catalog.meta("embedder") is not None and catalog.meta("chunker") != CHUNKER_VERSION:
            log.info("chunking rules changed: re-chunking every file (unchanged chunks keep their vectors)")
            with catalog.transaction():
                catalog.forget_files()  # the next sync sees every file as new
        catalog.set_meta("embedder", self.embedder.identity)
        catalog.set_meta("chunker", CHUNKER_VERSION)
        self._drop_chunks_without_vectors(catalog)
        try:
            store = self._open_store()
        except BaseException:  # e.g. StoreBusy: say so, and leave nothing open
            conn.close()
            raise
        reconcile(store, catalog.live_chunk_ids(), catalog.chunk_vectors)
        return catalog, store

    def _open_store(self) -> VectorCache:
        if self.settings.vector_store == "qdrant":
            from growpilot.indexing.qdrant_store import QdrantStore  # qdrant-client takes seconds to import

            return QdrantStore(self.embedder.dim, self.state_dir / QDRANT_DIR, nodes=self.nodes, lock=self._lock)
        return FaissStore(self.embedder.dim, self.state_dir / FAISS_FILE, nodes=self.nodes, lock=self._lock)

    def _drop_vector_stores(self) -> None:
        """Every backend's files: a store not selected now may be selected again later."""
        (self.state_dir / FAISS_FILE).unlink(missing_ok=True)
        shutil.rmtree(self.state_dir / QDRANT_DIR, ignore_errors=True)

    def _reconcile(self) -> None:
        with self._lock:
            reconcile(self.store, self.catalog.live_chunk_ids(), self.catalog.chunk_vectors)

    @staticmethod
    def _drop_chunks_without_vectors(catalog: Catalog) -> None:
        """Chunks and their vectors are written in one transaction; if they ever disagree, forget
        those files so the next sync indexes them again."""
        paths = catalog.paths_without_vectors()
        if paths:
            log.warning("%d files had chunks without vectors; they will be re-indexed", len(paths))
            with catalog.transaction():
                for path in paths:
                    catalog.delete_file(path)

    # ----- syncing
    def refresh(self, progress: Progress | None = None) -> SyncStats:
        """Bring the whole index in line with the workspace (cold start, reindex, or no-op)."""
        with self._sync_lock:
            self.filter.invalidate()
            entries = {e.rel: e for e in self.filter.walk()}
            with self._lock:
                known = self.catalog.file_rows()
            return self._sync(entries, known, progress, prune=True)

    def update(self, rels: Iterable[str]) -> SyncStats:
        """Re-check just these workspace-relative paths (files or folders, present or gone)."""
        rels = {r.strip("/") for r in rels if r.strip("/")}
        if any(r.rsplit("/", 1)[-1] in IGNORE_FILES for r in rels):
            return self.refresh()  # ignore rules changed: anything may have come in or gone out
        with self._sync_lock:
            entries: dict[str, FileEntry] = {}
            known: dict[str, FileRow] = {}
            for rel in sorted(rels):
                if (self.root / rel).is_dir():
                    entries.update((e.rel, e) for e in self.filter.walk(rel))
                elif (entry := self.filter.entry(rel)) is not None:
                    entries[rel] = entry
                with self._lock:
                    known.update(self.catalog.file_rows(under=rel))
            return self._sync(entries, known, None)

    def _sync(self, entries: dict[str, FileEntry], known: dict[str, FileRow], progress: Progress | None,
              prune: bool = False) -> SyncStats:
        started = time.perf_counter()
        stats = SyncStats()
        gone = [p for p in known if p not in entries]
        todo = [e for rel, e in entries.items() if (k := known.get(rel)) is None or (k.size, k.mtime_ns) != (e.size, e.mtime_ns)]
        touched: list[tuple[FileEntry, str]] = []  # content unchanged, only stat info moved on
        group: list[_FileWork] = []
        group_chunks = 0
        done = 0
        if progress:
            progress(0, len(todo))
        for entry in todo:
            work, reason = self._read(entry)
            if work is None:
                stats.skipped[reason] = stats.skipped.get(reason, 0) + 1
                if entry.rel in known:
                    gone.append(entry.rel)
            elif entry.rel in known and known[entry.rel].hash == work.digest:
                touched.append((entry, work.digest))
            else:
                group.append(work)
                group_chunks += len(work.chunks)
            done += 1
            if group_chunks >= GROUP_CHUNKS:
                self._apply(group, [], [], stats)
                group, group_chunks = [], 0
                if progress:
                    progress(done, len(todo))
        self._apply(group, gone, touched, stats)
        if progress:
            progress(len(todo), len(todo))
        with self._lock:
            if prune and (stats.embedded or stats.deleted):  # full syncs only: it scans every vector
                with self.catalog.transaction():
                    self.catalog.prune_vectors(ORPHAN_VECTORS)
            stats.files, stats.chunks = self.catalog.counts()
        self.maybe_persist()
        stats.seconds = time.perf_counter() - started
        return stats

    def _read(self, entry: FileEntry) -> tuple[_FileWork | None, str]:
        try:
            with open(entry.path, "rb") as fh:
                data = fh.read(self.settings.max_file_bytes + 1)
        except OSError as exc:
            return None, f"unreadable ({exc.strerror})"
        return self._work(entry, data)

    def _work(self, entry: FileEntry, data: bytes) -> tuple[_FileWork | None, str]:
        if len(data) > self.settings.max_file_bytes:
            return None, "too large"
        problem = self.filter.content_problem(data, entry.rel)
        if problem:
            return None, problem
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        text = data.decode("utf-8", errors="replace")
        return _FileWork(entry, digest, chunk_text(text, language_of(entry.rel) or "text")), ""

    def update_text(self, rel: str, text: str) -> SyncStats:
        """Index an editor buffer's unsaved text in place of the file on disk. Its mtime is recorded as 0,
        so the next sync from disk re-reads the file (and costs nothing if the text was saved as is)."""
        stats = SyncStats()
        if not self.filter.accepts(rel):
            return stats
        data = text.encode("utf-8", "surrogatepass")
        with self._sync_lock:
            work, reason = self._work(FileEntry(rel, str(self.root / rel), len(data), 0), data)
            with self._lock:
                known = self.catalog.file_rows(under=rel).get(rel)
            if work is not None and (known is None or known.hash != work.digest):
                self._apply([work], [], [], stats)
            elif work is None:
                stats.skipped[reason] = 1
        return stats

    def _apply(self, group: list[_FileWork], gone: list[str], touched: list[tuple[FileEntry, str]], stats: SyncStats) -> None:
        """Embed what is new (outside the lock), then write the group in one transaction."""
        hashes = {c.hash: c.text for w in group for c in w.chunks}
        with self._lock:
            vectors = self.catalog.cached_vectors(hashes)
        new = sorted((h for h in hashes if h not in vectors), key=lambda h: len(hashes[h]))  # less padding
        for i in range(0, len(new), EMBED_SLICE):
            if self._closing.is_set():
                raise IndexClosed(str(self.root))
            part = new[i:i + EMBED_SLICE]
            vectors.update(zip(part, self.embedder.embed([hashes[h] for h in part])))
        with self._lock:
            removed: list[int] = []
            added: list[int] = []
            added_vectors: list[np.ndarray] = []
            try:
                with self.catalog.transaction():
                    if new:
                        self.catalog.put_vectors({h: vectors[h] for h in new})
                        self.catalog.add_embedded(len(new))
                    for work in group:
                        old, ids = self.catalog.replace_chunks(work.entry.rel, work.chunks)
                        removed += old
                        added += ids
                        added_vectors += [vectors[c.hash] for c in work.chunks]
                        self.catalog.upsert_file(work.entry.rel, work.entry.size, work.entry.mtime_ns, work.digest,
                                                 language_of(work.entry.rel))
                    for rel in gone:
                        removed += self.catalog.delete_file(rel)
                    for entry, digest in touched:
                        self.catalog.upsert_file(entry.rel, entry.size, entry.mtime_ns, digest, language_of(entry.rel))
                # Committed: the vector store follows (a crash before it does is reconciled on open).
                self.store.remove(removed)
                if added:
                    self.store.put(added, np.stack(added_vectors))
            except BaseException:
                self._reconcile_after_failure()
                raise
        stats.embedded += len(new)
        stats.changed += len(group)
        stats.deleted += len(gone)

    def _reconcile_after_failure(self) -> None:
        """The catalog rolled back, or the store failed half-way: make the store agree with the catalog."""
        try:
            self._reconcile()
        except Exception:  # the original error matters more; the next open reconciles again
            log.exception("could not reconcile the vector store after a failed write")

    # ----- persistence
    def maybe_persist(self, max_age_s: float = PERSIST_EVERY_S) -> None:
        """Write the FAISS file if it changed and the last write is older than `max_age_s`.
        Not writing on every edit is safe: the FAISS file is reconciled with SQLite on open."""
        with self._lock:
            if self.store.dirty and time.monotonic() - self._last_persist >= max_age_s:
                self.store.persist()
                self._last_persist = time.monotonic()

    def delete(self, also: Sequence[str] = ()) -> tuple[list[str], int]:
        """Delete this index from disk (catalog, vector stores, and the `also` files of its state folder)
        and go on as an empty one: the next sync or reindex rebuilds it. Syncs wait (a watcher batch
        finishes first), searches meanwhile block, then find nothing. Returns (names deleted, bytes)."""
        with self._sync_lock, self._lock:
            self.store.close()
            self.catalog.conn.close()
            deleted, size = [], 0
            for path in sorted(p for pattern in (f"{DB_FILE}*", f"{FAISS_FILE}*", f".{FAISS_FILE}.tmp-*", QDRANT_DIR, *also)
                               for p in self.state_dir.glob(pattern)):
                files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
                size += sum(f.stat().st_size for f in files)
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                deleted.append(path.name)
            self.catalog, self.store = self._open()
        log.info("deleted the index of %s (%d bytes)", self.root, size)
        return deleted, size

    def close(self) -> None:
        """Stop a running sync at its next slice, persist, close."""
        self._closing.set()
        with self._sync_lock, self._lock:
            self.maybe_persist(0)
            self.store.close()
            self.catalog.conn.close()

    # ----- search
    def search(self, query: str, k: int = 10, exclude: Callable[[ChunkRow], bool] | None = None,
               pool: int = 50) -> list[Hit]:
        """Hybrid search: dense and BM25 rankings fused by reciprocal rank."""
        if not query.strip():
            return []
        with self._lock:  # the BM25 thread works under it on our behalf: we wait for it before leaving
            sparse = _BM25_THREAD.submit(self.catalog.bm25, query, pool)
            vec = self.embedder.embed_query(query)
            dense = [cid for cid, _ in self.store.nearest(vec, pool)]
            sparse = [cid for cid, _ in sparse.result()]
            fused = rrf([dense, sparse])
            rows = self.catalog.chunks_by_ids([cid for cid, _ in fused[: max(k * 3, k + 10)]])
        hits = []
        for cid, score in fused:
            row = rows.get(cid)
            if row is None or (exclude and exclude(row)):
                continue
            hits.append(Hit(row.path, row.start_line, row.end_line, round(score, 6), row.text, row.symbol,
                            row.language, row.id))
            if len(hits) == k:
                break
        return hits

    def definitions(self, names: list[str], exclude_path: str | None = None) -> dict[str, list[ChunkRow]]:
        """Chunks defining these top-level names (outside `exclude_path`)."""
        with self._lock:
            return self.catalog.definitions(names, exclude_path)

    def members(self, path: str, symbol: str) -> list[ChunkRow]:
        """The first chunk of each direct member of a definition (a class's methods)."""
        with self._lock:
            return self.catalog.members(path, symbol)

    def files(self) -> list[str]:
        """Workspace-relative paths of the indexed files, sorted."""
        with self._lock:
            return sorted(self.catalog.file_rows())

    def top_level_symbols(self, language: str) -> dict[str, set[str]]:
        """Each top-level symbol (function, class) of one language, and the files that define it."""
        with self._lock:
            return self.catalog.top_level_symbols(language)

    # ----- llama-index (see llamaindex.py)
    @property
    def vector_store(self) -> BasePydanticVectorStore:
        """The vector store as llama-index's interface: `VectorStoreIndex.from_vector_store` takes it."""
        return self.store.llama_store

    def nodes(self, ids: Sequence[int]) -> dict[int, TextNode]:
        """Chunks as llama-index nodes, by chunk id (ids no longer indexed are left out)."""
        with self._lock:
            rows = self.catalog.chunks_by_ids(ids)
        return {cid: row_node(row) for cid, row in rows.items()}

    # ----- status
    def status(self) -> dict:
        with self._lock:
            files, chunks = self.catalog.counts()
            return {
                "root": str(self.root),
                "state_dir": str(self.state_dir),
                "files": files,
                "chunks": chunks,
                "vectors": self.store.count,
                "vector_store": self.settings.vector_store,
                "embedded_total": int(self.catalog.meta("embedded_total", "0")),
                "embedder": self.embedder.identity,
            }
