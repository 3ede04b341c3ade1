"""Append-only event store (SQLite, WAL) under GROWPILOT_HOME: every suggestion shown, every accept,
every rating. Rows are never updated; later work (memory, training) reads them."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from growpilot.paths import growpilot_home

_SCHEMA = """
CREATE TABLE IF NOT EXISTS generations(
    id TEXT PRIMARY KEY, created REAL NOT NULL, workspace TEXT, path TEXT, line INTEGER, character INTEGER,
    kind TEXT, mode TEXT, prompt TEXT, output TEXT, model TEXT, adapter TEXT, latency_ms REAL, source TEXT,
    timings TEXT);
CREATE INDEX IF NOT EXISTS generations_workspace ON generations(workspace, created);
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, generation_id TEXT NOT NULL REFERENCES generations(id),
    kind TEXT NOT NULL, value TEXT, source TEXT);
CREATE INDEX IF NOT EXISTS events_generation ON events(generation_id);
"""
RATINGS = ("up", "down")


class UnknownGeneration(KeyError):
    pass


@dataclass
class GenerationRecord:
    workspace: str | None
    path: str
    line: int
    character: int
    kind: str  # inline | completion | cli
    mode: str  # line | block
    prompt: str
    output: str
    model: str
    adapter: str | None
    latency_ms: float
    source: str  # model | cache | typeahead
    timings: dict = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: float = field(default_factory=time.time)


class EventStore:
    def __init__(self, path: Path | None = None):
        self.path = path or growpilot_home() / "events.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="growpilot-events")  # off the reply's path

    def record_generation(self, rec: GenerationRecord) -> str:
        """Queue the record (written in order by a background thread); return its id at once."""
        self._writer.submit(self._insert, rec)
        return rec.id

    def _insert(self, rec: GenerationRecord) -> None:
        row = asdict(rec)
        row["timings"] = json.dumps(rec.timings)
        cols = ",".join(row)
        with self._lock:
            self._conn.execute(f"INSERT INTO generations({cols}) VALUES ({','.join('?' * len(row))})", list(row.values()))

    def flush(self) -> None:
        """Wait until every queued record is written."""
        self._writer.submit(lambda: None).result()

    def _event(self, generation_id: str, kind: str, value: str | None, source: str | None) -> int:
        self.flush()  # the suggestion being rated may still be in the queue
        with self._lock:
            if self._conn.execute("SELECT 1 FROM generations WHERE id=?", (generation_id,)).fetchone() is None:
                raise UnknownGeneration(generation_id)
            cur = self._conn.execute("INSERT INTO events(created, generation_id, kind, value, source) VALUES (?,?,?,?,?)",
                                     (time.time(), generation_id, kind, value, source))
            return int(cur.lastrowid)

    def accept(self, generation_id: str, source: str | None = None) -> int:
        return self._event(generation_id, "accept", None, source)

    def rate(self, generation_id: str, rating: str, source: str | None = None) -> int:
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {', '.join(RATINGS)}, got {rating!r}")
        return self._event(generation_id, "rating", rating, source)

    def generation(self, generation_id: str) -> dict | None:
        self.flush()
        with self._lock:
            cur = self._conn.execute("SELECT * FROM generations WHERE id=?", (generation_id,))
            row = cur.fetchone()
            return dict(zip([c[0] for c in cur.description], row)) if row else None

    def summary(self, workspace: str | None = None) -> dict:
        """Counts of generations, accepts and ratings (for one workspace, or all)."""
        where, args = ("WHERE g.workspace = ?", [workspace]) if workspace else ("", [])
        self.flush()
        with self._lock:
            gens = self._conn.execute(f"SELECT count(*) FROM generations g {where}", args).fetchone()[0]
            rows = self._conn.execute(
                f"SELECT e.kind, e.value, count(*) FROM events e JOIN generations g ON g.id = e.generation_id {where} "
                "GROUP BY e.kind, e.value", args).fetchall()
        counts = {(k, v): n for k, v, n in rows}
        return {"generations": gens, "accepted": counts.get(("accept", None), 0),
                "up": counts.get(("rating", "up"), 0), "down": counts.get(("rating", "down"), 0)}

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        with self._lock:
            self._conn.close()
