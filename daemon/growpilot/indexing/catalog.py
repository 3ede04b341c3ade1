"""The catalog: what is indexed, in SQLite (WAL). The source of truth the vector store is rebuilt from.

- files: per workspace file its size, mtime and content hash;
- chunks: per chunk its lines, symbol, text and content hash. `id` is monotonic and never reused
  (AUTOINCREMENT), and a chunk never changes while it lives, so it is also the chunk's vector id;
- chunks_fts: BM25 over chunk text (FTS5), kept in step with `chunks` by triggers — same transaction;
- embeddings: vectors by chunk content hash — the only copy of each vector we own (the vector store
  is a search cache of it), so unchanged content (touch, rename, branch switch) is never embedded twice;
- meta: schema version, counters and the embedder's identity.

Only this module talks SQL to these tables.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from growpilot.indexing.chunker import Chunk

log = logging.getLogger(__name__)
# 2: chunk ids are the vector ids (schema 1 kept vector ids in a `vector_ids` table, each vector twice).
SCHEMA_VERSION = "2"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, hash TEXT NOT NULL,
    language TEXT, indexed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL, start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL, language TEXT, symbol TEXT, hash TEXT NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(hash);
CREATE INDEX IF NOT EXISTS chunks_symbol ON chunks(symbol);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, symbol, path, content='chunks', content_rowid='id');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, symbol, path) VALUES (new.id, new.text, new.symbol, new.path);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text, symbol, path) VALUES ('delete', old.id, old.text, old.symbol, old.path);
END;
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, 'row');
CREATE TABLE IF NOT EXISTS embeddings(hash TEXT PRIMARY KEY, vec BLOB NOT NULL, last_used INTEGER NOT NULL);
"""
# Words too common in code to say anything about relevance.
_STOPWORDS = frozenset("""self this def return import from class function const let var new the and for not none
null true false int str if else elif while in is of to a an or be as with public private static void""".split())


@dataclass(frozen=True)
class FileRow:
    size: int
    mtime_ns: int
    hash: str


@dataclass(frozen=True)
class ChunkRow:
    id: int
    path: str
    start_line: int
    end_line: int
    language: str | None
    symbol: str | None
    hash: str
    text: str


class CorruptDatabase(Exception):
    pass


def connect(path: Path, check: bool = True) -> sqlite3.Connection:
    """Open (creating) the catalog database; raise CorruptDatabase if SQLite cannot trust it."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if check:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                conn.close()
                raise CorruptDatabase(verdict)
        conn.executescript(_SCHEMA)
        return conn
    except sqlite3.OperationalError:
        raise  # cannot open (permissions, missing folder, locked): not corruption, keep the file
    except sqlite3.DatabaseError as exc:
        raise CorruptDatabase(str(exc)) from exc


def quarantine(path: Path) -> Path:
    """Move a corrupt database (and its WAL files) aside, keeping it for inspection."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            os.replace(src, Path(str(target) + suffix))
    return target


class Catalog:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ----- meta
    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def add_embedded(self, count: int) -> None:
        self.set_meta("embedded_total", str(int(self.meta("embedded_total", "0")) + count))

    # ----- schema and resets (the owner runs them in a transaction)
    def outdated(self) -> bool:
        """A new catalog, or one from before SCHEMA_VERSION: ids in any vector store beside it mean nothing."""
        return self.meta("schema") != SCHEMA_VERSION

    def migrate(self) -> None:
        """Bring an outdated catalog to SCHEMA_VERSION. Schema 1's vector table goes: every vector it held
        is also in `embeddings` (by hash), so nothing is embedded again."""
        self.conn.execute("DROP TABLE IF EXISTS vector_ids")
        self.set_meta("schema", SCHEMA_VERSION)

    def forget_all(self) -> None:
        """Forget every file, chunk and vector (the embedder changed: its vectors are another space)."""
        self.conn.execute("DELETE FROM chunks")
        self.conn.execute("DELETE FROM files")
        self.clear_vectors()

    def forget_files(self) -> None:
        """Forget the files' stat and hash only, so the next sync re-chunks every file (chunks and their
        vectors stay until then and are reused by content)."""
        self.conn.execute("DELETE FROM files")

    # ----- files
    def file_rows(self, under: str | None = None) -> dict[str, FileRow]:
        """Known files, all or those at/under one workspace-relative path."""
        if under:
            rows = self.conn.execute(
                "SELECT path, size, mtime_ns, hash FROM files WHERE path = ? OR (path >= ? AND path < ?)",
                (under, under + "/", under + "0"))  # '0' sorts right after '/'
        else:
            rows = self.conn.execute("SELECT path, size, mtime_ns, hash FROM files")
        return {p: FileRow(s, m, h) for p, s, m, h in rows}

    def upsert_file(self, path: str, size: int, mtime_ns: int, digest: str, language: str | None) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO files(path, size, mtime_ns, hash, language, indexed_at) VALUES (?,?,?,?,?,?)",
            (path, size, mtime_ns, digest, language, time.time()))

    def delete_file(self, path: str) -> list[int]:
        """Remove a file and its chunks; return the removed chunk ids."""
        ids = self.chunk_ids(path)
        self.conn.execute("DELETE FROM chunks WHERE path=?", (path,))
        self.conn.execute("DELETE FROM files WHERE path=?", (path,))
        return ids

    # ----- chunks
    def chunk_ids(self, path: str) -> list[int]:
        return [r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE path=?", (path,))]

    def replace_chunks(self, path: str, chunks: Iterable[Chunk]) -> tuple[list[int], list[int]]:
        """Swap a file's chunks; return (removed ids, new ids in order)."""
        removed = self.chunk_ids(path)
        self.conn.execute("DELETE FROM chunks WHERE path=?", (path,))
        added = []
        for c in chunks:
            cur = self.conn.execute(
                "INSERT INTO chunks(path, start_line, end_line, language, symbol, hash, text) VALUES (?,?,?,?,?,?,?)",
                (path, c.start_line, c.end_line, c.language, c.symbol, c.hash, c.text))
            added.append(cur.lastrowid)
        return removed, added

    def chunks_by_ids(self, ids: Iterable[int]) -> dict[int, ChunkRow]:
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT id, path, start_line, end_line, language, symbol, hash, text FROM chunks WHERE id IN ({marks})", ids)
        return {r[0]: ChunkRow(*r) for r in rows}

    def definitions(self, names: Iterable[str], exclude_path: str | None = None) -> dict[str, list[ChunkRow]]:
        """Chunks that define these top-level names (functions, classes…), by name."""
        names = list(dict.fromkeys(names))
        out: dict[str, list[ChunkRow]] = {}
        for i in range(0, len(names), 500):
            part = names[i:i + 500]
            rows = self.conn.execute(
                "SELECT id, path, start_line, end_line, language, symbol, hash, text FROM chunks "
                f"WHERE symbol IN ({','.join('?' * len(part))}) AND path IS NOT ? ORDER BY path, start_line",
                [*part, exclude_path])
            for r in rows:
                out.setdefault(r[5], []).append(ChunkRow(*r))
        return out

    def members(self, path: str, symbol: str) -> list[ChunkRow]:
        """The first chunk of each direct member (`symbol.name`) of a definition in `path`, in line order."""
        rows = self.conn.execute(
            "SELECT id, path, start_line, end_line, language, symbol, hash, text FROM chunks "
            "WHERE path = ? AND substr(symbol, 1, ?) = ? ORDER BY start_line", (path, len(symbol) + 1, symbol + "."))
        first: dict[str, ChunkRow] = {}
        for r in rows:
            if "." not in r[5][len(symbol) + 1:]:
                first.setdefault(r[5], ChunkRow(*r))
        return list(first.values())

    def live_chunk_ids(self) -> set[int]:
        return {r[0] for r in self.conn.execute("SELECT id FROM chunks")}

    def paths_without_vectors(self) -> list[str]:
        """Files with a chunk whose content has no stored vector (never the case unless the database was
        edited by hand: chunks and their vectors are written in one transaction)."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT path FROM chunks WHERE hash NOT IN (SELECT hash FROM embeddings)")]

    def top_level_symbols(self, language: str) -> dict[str, set[str]]:
        homes: dict[str, set[str]] = {}
        for symbol, path in self.conn.execute(
                "SELECT DISTINCT symbol, path FROM chunks WHERE language=? AND symbol IS NOT NULL "
                "AND instr(symbol, '.') = 0", (language,)):
            homes.setdefault(symbol, set()).add(path)
        return homes

    def counts(self) -> tuple[int, int]:
        files = self.conn.execute("SELECT count(*) FROM files").fetchone()[0]
        chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return files, chunks

    # ----- vectors by content
    def cached_vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        hashes = list(set(hashes))
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(hashes), 500):
            part = hashes[i:i + 500]
            rows = self.conn.execute(
                f"SELECT hash, vec FROM embeddings WHERE hash IN ({','.join('?' * len(part))})", part)
            out.update((h, np.frombuffer(v, dtype=np.float32)) for h, v in rows)
        return out

    def chunk_vectors(self, ids: Iterable[int]) -> dict[int, np.ndarray]:
        """The stored vector of each of these chunks (by its content hash), by chunk id."""
        ids = list(ids)
        out: dict[int, np.ndarray] = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            rows = self.conn.execute(
                "SELECT c.id, e.vec FROM chunks c JOIN embeddings e ON e.hash = c.hash "
                f"WHERE c.id IN ({','.join('?' * len(part))})", part)
            out.update((cid, np.frombuffer(v, dtype=np.float32)) for cid, v in rows)
        return out

    def put_vectors(self, vectors: dict[str, np.ndarray]) -> None:
        now = int(time.time())
        self.conn.executemany("INSERT OR REPLACE INTO embeddings(hash, vec, last_used) VALUES (?,?,?)",
                              ((h, np.asarray(v, dtype=np.float32).tobytes(), now) for h, v in vectors.items()))

    def prune_vectors(self, keep_orphans: int) -> int:
        """Drop the oldest vectors no live chunk uses, beyond `keep_orphans` (kept for branch switches)."""
        self.conn.execute(
            "UPDATE embeddings SET last_used=? WHERE hash IN (SELECT hash FROM chunks)", (int(time.time()),))
        cur = self.conn.execute(
            """DELETE FROM embeddings WHERE hash IN (
                 SELECT hash FROM embeddings WHERE hash NOT IN (SELECT hash FROM chunks)
                 ORDER BY last_used DESC LIMIT -1 OFFSET ?)""", (keep_orphans,))
        return cur.rowcount

    def clear_vectors(self) -> None:
        self.conn.execute("DELETE FROM embeddings")

    # ----- BM25
    def bm25(self, query: str, limit: int) -> list[tuple[int, float]]:
        """Chunk ids ranked by BM25 for the query's words (higher score = better)."""
        words = self.affordable_words(query_words(query))
        if not words:
            return []
        rows = self.conn.execute(
            "SELECT rowid, bm25(chunks_fts, 1.0, 3.0, 0.5) FROM chunks_fts WHERE chunks_fts MATCH ? "
            "ORDER BY bm25(chunks_fts, 1.0, 3.0, 0.5) LIMIT ?", (fts_expression(words), limit))
        return [(r[0], -r[1]) for r in rows]

    def affordable_words(self, words: list[str]) -> list[str]:
        """The indexed words, rarest first, while their postings fit POSTINGS_BUDGET (the rarest always).
        FTS5 scores every posting of every word, so an 8-line query over 100k chunks took ~60 ms; a word
        common enough to break the budget barely moves the ranking (low IDF). Small indexes keep all."""
        if not words:
            return []
        docs = dict(self.conn.execute(
            f"SELECT term, doc FROM chunks_vocab WHERE term IN ({','.join('?' * len(words))})", words))
        kept, postings = [], 0
        for word in sorted((w for w in words if w in docs), key=docs.__getitem__):
            if kept and postings + docs[word] > POSTINGS_BUDGET:
                break
            kept.append(word)
            postings += docs[word]
        return kept


POSTINGS_BUDGET = 10_000


def query_words(text: str, max_terms: int = 24) -> list[str]:
    """The text's distinctive words, lowercased, first occurrence order."""
    words: list[str] = []
    for word in re.findall(r"[A-Za-z0-9]+", text):
        w = word.lower()
        if len(w) >= 2 and w not in _STOPWORDS and w not in words:
            words.append(w)
    return words[:max_terms]


def fts_expression(words: list[str]) -> str:
    """An FTS5 OR-query of the words, quoted so no word is read as syntax."""
    return " OR ".join(f'"{w}"' for w in words)

