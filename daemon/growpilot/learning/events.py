"""Append-only event store (SQLite, WAL) under GROWPILOT_HOME: every suggestion shown, every accept,
every rating. Rows are never updated, with one exception: retention clears the prompts (the bulk, and
the private part) of old generations, beyond `historyMaxDays` or `historyMaxMb`, marking them `pruned`;
rows, outputs and events stay, so counts stay true and later work (memory, training) keeps its ratings.
Prompts and outputs are stored with the secrets detect-secrets finds in them redacted (indexing/secrets.py).

Each generation also keeps its provenance (a JSON column): which retrieved snippets (path, source lines)
and which few-shot examples (generation ids) its prompt held; it stays when retention clears the prompt.
`forget` really deletes generations and their events (secure_delete, WAL checkpointed) and keeps only
their ids in `forgotten`, so that copies made elsewhere (training run folders, memory) can be recognised
and dropped; `growpilot feedback export|forget` and `growpilot prompt` (learning/feedback.py) read here."""

from __future__ import annotations

import json
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from growpilot.indexing.secrets import redact
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
CREATE TABLE IF NOT EXISTS forgotten(id TEXT PRIMARY KEY, workspace TEXT, forgotten REAL NOT NULL);
"""
# Columns added after the first release: (name, declaration); added to an older file when it is opened.
_ADDED_COLUMNS = (("pruned", "INTEGER NOT NULL DEFAULT 0"), ("provenance", "TEXT"))
EXPORT_BATCH = 500
RATINGS = ("up", "down")
PRUNE_EVERY_S = 3600.0
MB = 1 << 20
log = logging.getLogger(__name__)


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
    # {"snippets": [{path, start_line, end_line}], "examples": [generation ids]} (BuiltPrompt.provenance());
    # None: not recorded (cached and typed-ahead suggestions, code actions, older records)
    provenance: dict | None = None


class EventStore:
    def __init__(self, path: Path | None = None):
        self.path = path or growpilot_home() / "events.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA secure_delete=ON")  # a cleared prompt is overwritten, not left in free pages
        self._conn.executescript(_SCHEMA)
        self._add_missing_columns()
        self._conn.execute("CREATE INDEX IF NOT EXISTS generations_created ON generations(created)")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="growpilot-events")  # off the reply's path
        self._limits: Callable[[], tuple[float, float]] | None = None
        self._next_prune = 0.0
        self._changes = 0  # accepts, ratings, signals, prunes, clears, forgets through this store (change_marker)

    def _add_missing_columns(self) -> None:
        """Older files get the newer columns (nullable or defaulted: existing rows stay valid). Two processes
        opening an old file at once may both try: the loser's "duplicate column" is the same outcome."""
        have = {row[1] for row in self._conn.execute("PRAGMA table_info(generations)")}
        for name, declaration in _ADDED_COLUMNS:
            if name not in have:
                try:
                    self._conn.execute(f"ALTER TABLE generations ADD COLUMN {name} {declaration}")
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc):
                        raise

    def record_generation(self, rec: GenerationRecord) -> str:
        """Queue the record (written in order by a background thread); return its id at once."""
        self._writer.submit(self._insert, rec)
        return rec.id

    def _insert(self, rec: GenerationRecord) -> None:
        row = asdict(rec)
        # Secrets never reach the file: the model saw the real text (locally), the history keeps it
        # redacted. Here, on the writer thread, it costs the reply nothing.
        row["prompt"], row["output"] = redact(rec.prompt, rec.path), redact(rec.output, rec.path)
        row["timings"] = json.dumps(rec.timings)
        row["provenance"] = None if rec.provenance is None else json.dumps(rec.provenance)
        cols = ",".join(row)
        with self._lock:
            self._conn.execute(f"INSERT INTO generations({cols}) VALUES ({','.join('?' * len(row))})", list(row.values()))
        self._maybe_prune()

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
            self._changes += 1
            return int(cur.lastrowid)

    def accept(self, generation_id: str, source: str | None = None) -> int:
        return self._event(generation_id, "accept", None, source)

    def record_signal(self, generation_id: str, kind: str, value: str | None = None) -> None:
        """Queue an implicit signal (learning/signals.py: rejected, rewritten, retained_30s, retained_120s),
        source `implicit`; written on the writer thread, after the generation it is about. A `rewritten`
        text is redacted as prompts are; a generation gone by then (forgotten, cleared) gets nothing."""
        self._writer.submit(self._insert_signal, generation_id, kind, value, time.time())

    def _insert_signal(self, generation_id: str, kind: str, value: str | None, created: float) -> None:
        with self._lock:
            row = self._conn.execute("SELECT path FROM generations WHERE id=?", (generation_id,)).fetchone()
            if row is None:
                log.debug("implicit %s of unknown generation %s dropped", kind, generation_id)
                return
            if kind == "rewritten" and value is not None:
                value = redact(value, row[0] or "")
            self._conn.execute("INSERT INTO events(created, generation_id, kind, value, source) VALUES (?,?,?,?,?)",
                               (created, generation_id, kind, value, "implicit"))
            self._changes += 1  # a rewrite is a memory example (change_marker)

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

    # ----- retention
    def start_pruning(self, limits: Callable[[], tuple[float, float]]) -> None:
        """Prune now, then at most hourly, on the writer thread (never on a reply's path). `limits()` gives
        (max days, max MB) as the settings say at that moment."""
        self._limits = limits
        self._next_prune = 0.0
        self._writer.submit(self._maybe_prune)

    def _maybe_prune(self) -> None:
        if self._limits is None or time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        try:
            self._prune(*self._limits())
        except Exception as exc:  # retention must never stop the recording
            log.exception("pruning the suggestion history failed: %s", exc)

    def prune(self, max_days: float, max_mb: float, now: float | None = None, compact: bool = False) -> dict:
        """Clear the prompts of generations older than `max_days`, then of the oldest beyond `max_mb` of
        prompt text; `compact` also shrinks the file. Returns how many prompts each limit cleared."""
        self.flush()
        result = self._prune(max_days, max_mb, now)
        if compact:
            with self._lock:
                self._conn.execute("VACUUM")
        return result

    def _prune(self, max_days: float, max_mb: float, now: float | None = None) -> dict:
        cutoff = (time.time() if now is None else now) - max_days * 86400
        kept = "prompt IS NOT NULL AND prompt != ''"
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                aged = self._conn.execute(f"UPDATE generations SET prompt = NULL, pruned = 1 WHERE {kept} AND created < ?",
                                          (cutoff,)).rowcount
                sized = self._conn.execute(
                    "UPDATE generations SET prompt = NULL, pruned = 1 WHERE id IN (SELECT id FROM ("
                    "SELECT id, SUM(length(CAST(prompt AS BLOB))) OVER (ORDER BY created DESC, rowid DESC) AS newer "
                    f"FROM generations WHERE {kept}) WHERE newer > ?)", (int(max_mb * MB),)).rowcount
                self._conn.execute("COMMIT")
                self._changes += 1
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            if aged or sized:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # old page images leave the WAL too
        if aged or sized:
            log.info("suggestion history: cleared %d prompts older than %g days, %d beyond %g MB",
                     aged, max_days, sized, max_mb)
        return {"pruned_by_age": aged, "pruned_by_size": sized}

    def clear(self, workspace: str | None = None) -> dict:
        """Delete the generations of one workspace (or all) with their events; the file is compacted and
        the freed pages were zeroed (secure_delete)."""
        self.flush()
        where, args = ("WHERE workspace = ?", [workspace]) if workspace else ("", [])
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                events = self._conn.execute(
                    f"DELETE FROM events WHERE generation_id IN (SELECT id FROM generations {where})", args).rowcount
                generations = self._conn.execute(f"DELETE FROM generations {where}", args).rowcount
                self._conn.execute("COMMIT")
                self._changes += 1
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return {"generations": generations, "events": events}

    # ----- export, forget (growpilot feedback …, growpilot prompt: learning/feedback.py shapes the output)
    def select_ids(self, workspace: str, ids: Iterable[str] | None = None, path: str | None = None,
                   since: float | None = None, until: float | None = None) -> list[str]:
        """Ids of the workspace's generations that match every filter given, oldest first: one of `ids`;
        `path` (workspace-relative) the file or a folder with everything under it; created in [since, until)."""
        where, args = ["workspace = ?"], [workspace]
        if path is not None:
            path = path.rstrip("/")
            where.append("(path = ? OR substr(path, 1, ?) = ?)")
            args += [path, len(path) + 1, path + "/"]
        if since is not None:
            where.append("created >= ?")
            args.append(since)
        if until is not None:
            where.append("created < ?")
            args.append(until)
        self.flush()
        if ids is None:
            with self._lock:
                return [r[0] for r in self._conn.execute(
                    f"SELECT id FROM generations WHERE {' AND '.join(where)} ORDER BY created, rowid", args)]
        found: list[tuple] = []
        with self._lock:
            for part in _chunks(list(dict.fromkeys(ids))):
                found += self._conn.execute(
                    f"SELECT created, rowid, id FROM generations WHERE {' AND '.join(where)} "
                    f"AND id IN ({','.join('?' * len(part))})", args + part).fetchall()
        return [r[2] for r in sorted(found)]

    def generations_with_events(self, workspace: str, since: float | None = None, until: float | None = None,
                                ids: Sequence[str] | None = None) -> Iterator[dict]:
        """The workspace's generations (all columns, oldest first), each with `events`: [{id, created, kind,
        value, source}] in the order they happened. Read in batches: a large history is never in memory."""
        self.flush()
        if ids is not None:
            for part in _chunks(list(ids)):
                yield from self._with_events(self._rows(
                    f"SELECT * FROM generations WHERE workspace = ? AND id IN ({','.join('?' * len(part))}) "
                    "ORDER BY created, rowid", [workspace, *part]))
            return
        after = (float("-inf"), -1)
        while True:
            rows = self._rows(
                "SELECT rowid AS _rowid, * FROM generations WHERE workspace = ? AND created >= ? AND created < ? "
                "AND (created, rowid) > (?, ?) ORDER BY created, rowid LIMIT ?",
                [workspace, float("-inf") if since is None else since, float("inf") if until is None else until,
                 *after, EXPORT_BATCH])
            if not rows:
                return
            after = (rows[-1]["created"], rows[-1].pop("_rowid"))
            for row in rows:
                row.pop("_rowid", None)
            yield from self._with_events(rows)

    def _rows(self, sql: str, args: list) -> list[dict]:
        with self._lock:
            cur = self._conn.execute(sql, args)
            names = [c[0] for c in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def _with_events(self, rows: list[dict]) -> list[dict]:
        by_id = {row["id"]: row for row in rows}
        for row in rows:
            row["events"] = []
        if rows:
            for e in self._rows("SELECT id, created, generation_id, kind, value, source FROM events WHERE generation_id "
                                f"IN ({','.join('?' * len(by_id))}) ORDER BY id", list(by_id)):
                by_id[e.pop("generation_id")]["events"].append(e)
        return rows

    def forget(self, workspace: str, ids: Sequence[str]) -> dict:
        """Delete these generations of `workspace` and their events, in one transaction; keep only their
        ids (table `forgotten`). secure_delete zeroes the freed space and the WAL is checkpointed, so the
        text leaves the files, not only the queries. Returns {generations, events} deleted."""
        self.flush()
        generations = events = 0
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for part in _chunks(list(dict.fromkeys(ids))):
                    mine = f"SELECT id FROM generations WHERE workspace = ? AND id IN ({','.join('?' * len(part))})"
                    self._conn.execute(f"INSERT OR IGNORE INTO forgotten(id, workspace, forgotten) SELECT id, ?, ? "
                                       f"FROM ({mine})", [workspace, time.time(), workspace, *part])
                    events += self._conn.execute(f"DELETE FROM events WHERE generation_id IN ({mine})",
                                                 [workspace, *part]).rowcount
                    generations += self._conn.execute(f"DELETE FROM generations WHERE id IN ({mine})",
                                                      [workspace, *part]).rowcount
                self._conn.execute("COMMIT")
                self._changes += 1
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            if generations:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # old page images leave the WAL too
        if generations:
            log.info("forgot %d suggestions and %d events of %s", generations, events, workspace)
        return {"generations": generations, "events": events}

    def forgotten_ids(self, workspace: str) -> set[str]:
        """Ids of the generations of `workspace` that were forgotten (their content is gone)."""
        with self._lock:
            return {r[0] for r in self._conn.execute("SELECT id FROM forgotten WHERE workspace = ?", (workspace,))}

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        with self._lock:
            self._conn.close()

    # ----- read by training (growpilot.training.data.select_feedback decides what becomes a sample)
    def training_feedback(self, workspace: str) -> list[dict]:
        """Every completion of one workspace that got an accept or a rating, with its prompt, output
        and counts of accepts, thumbs-up and thumbs-down (oldest first). Code actions are left out: their
        prompts are chat turns, not the fill-in-the-middle prompts the adapter is trained to complete."""
        self.flush()
        with self._lock:
            cur = self._conn.execute(
                "SELECT g.id, g.created, g.path, g.prompt, g.output, g.model, g.adapter, g.timings, "
                "SUM(e.kind = 'accept'), SUM(e.kind = 'rating' AND e.value = 'up'), "
                "SUM(e.kind = 'rating' AND e.value = 'down') "
                "FROM generations g JOIN events e ON e.generation_id = g.id AND e.kind IN ('accept', 'rating') "
                "WHERE g.workspace = ? AND g.kind != 'action' GROUP BY g.id ORDER BY g.created", (workspace,))
            rows = cur.fetchall()
        keys = ("id", "created", "path", "prompt", "output", "model", "adapter", "timings", "accepts", "up", "down")
        return [dict(zip(keys, row)) for row in rows]

    # ----- read by the few-shot memory (growpilot.learning.memory)
    def memory_rows(self, workspace: str, limit: int) -> list[dict]:
        """The `limit` most recent completions of one workspace that got an accept or a rating (oldest
        first), as training_feedback gives them but without their prompts: `has_prompt` says whether it
        still has one (retention clears them); `healed`, the text its prompt gave up to token healing."""
        self.flush()
        with self._lock:
            rows = self._conn.execute(
                "SELECT g.id, g.created, g.path, g.output, "
                "CASE WHEN json_valid(g.timings) THEN json_extract(g.timings, '$.healed') END, "
                "g.prompt IS NOT NULL AND g.prompt != '', "
                "SUM(e.kind = 'accept'), SUM(e.kind = 'rating' AND e.value = 'up'), "
                "SUM(e.kind = 'rating' AND e.value = 'down') "
                "FROM generations g JOIN events e ON e.generation_id = g.id AND e.kind IN ('accept', 'rating') "
                "WHERE g.workspace = ? AND g.kind != 'action' "
                "GROUP BY g.id ORDER BY g.created DESC, g.rowid DESC LIMIT ?", (workspace, limit)).fetchall()
        keys = ("id", "created", "path", "output", "healed", "has_prompt", "accepts", "up", "down")
        return [dict(zip(keys, row)) for row in reversed(rows)]

    def memory_rewrites(self, workspace: str, limit: int) -> list[dict]:
        """The `limit` most recent completions of one workspace that the user rewrote (oldest first): `rewrite`,
        the latest `rewritten` text (what was typed in place of the rejected suggestion); `path`, `healed`
        and `has_prompt` as memory_rows gives them."""
        self.flush()
        with self._lock:
            rows = self._conn.execute(
                "SELECT g.id, g.created, g.path, "
                "CASE WHEN json_valid(g.timings) THEN json_extract(g.timings, '$.healed') END, "
                "g.prompt IS NOT NULL AND g.prompt != '', "
                "(SELECT r.value FROM events r WHERE r.generation_id = g.id AND r.kind = 'rewritten' "
                "ORDER BY r.created DESC, r.id DESC LIMIT 1) AS rewrite "
                "FROM generations g WHERE g.workspace = ? AND g.kind != 'action' AND EXISTS "
                "(SELECT 1 FROM events e WHERE e.generation_id = g.id AND e.kind = 'rewritten') "
                "ORDER BY g.created DESC, g.rowid DESC LIMIT ?", (workspace, limit)).fetchall()
        keys = ("id", "created", "path", "healed", "has_prompt", "rewrite")
        return [dict(zip(keys, row)) for row in reversed(rows)]

    def change_marker(self) -> tuple[int, int]:
        """Changes when what memory_rows reads may have: an accept, rating, signal, prune, clear or forget through
        this store, or any commit by another connection (another process: `growpilot feedback forget`)."""
        with self._lock:
            return self._changes, self._conn.execute("PRAGMA data_version").fetchone()[0]

    def prompts(self, workspace: str, ids: Sequence[str]) -> dict[str, str]:
        """The stored prompts of these generations of `workspace` (those that still have one)."""
        out: dict[str, str] = {}
        with self._lock:
            for part in _chunks(list(ids)):
                out.update(self._conn.execute(
                    f"SELECT id, prompt FROM generations WHERE workspace = ? AND id IN ({','.join('?' * len(part))}) "
                    "AND prompt IS NOT NULL AND prompt != ''", [workspace, *part]).fetchall())
        return out

    # ----- read by the metrics (growpilot.learning.metrics aggregates them)
    def metric_rows(self, workspace: str, kinds: Sequence[str] = ("inline", "completion")) -> list[dict]:
        """The workspace's suggestions of these kinds (oldest first) without their text: id, created, kind,
        source, model, adapter, latency_ms, chars (length of the output), and `events`: [{kind, value}] of
        accepts, ratings and retained_* signals, in the order they happened."""
        self.flush()
        marks = ",".join("?" * len(kinds))
        rows = self._rows(f"SELECT id, created, kind, source, model, adapter, latency_ms, length(output) AS chars "
                          f"FROM generations WHERE workspace = ? AND kind IN ({marks}) ORDER BY created, rowid",
                          [workspace, *kinds])
        by_id = {row["id"]: row for row in rows}
        for row in rows:
            row["events"] = []
        for e in self._rows(
                "SELECT e.generation_id, e.kind, e.value FROM events e JOIN generations g ON g.id = e.generation_id "
                f"WHERE g.workspace = ? AND g.kind IN ({marks}) AND (e.kind IN ('accept', 'rating') "
                "OR e.kind LIKE 'retained%') ORDER BY e.id", [workspace, *kinds]):
            if e["generation_id"] in by_id:
                by_id[e.pop("generation_id")]["events"].append(e)
        return rows


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    """`items` in slices that stay within SQLite's limit on bound parameters."""
    for i in range(0, len(items), size):
        yield items[i:i + size]
