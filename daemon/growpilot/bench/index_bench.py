"""`growpilot bench index`: the figures of the index issue, measured on a copy of a real repository.

- cold index throughput ÷ the raw embedder's throughput on the same chunks, same process;
- no-op refresh time (scaled to 10k files);
- one-function edit → searchable through the watcher, p50/p95: a real function of the largest files
  edited (a local renamed, a statement added), found by words of its new body in the top k;
- embeddings spent on renaming 50 files, and on a git branch switch there and back;
- hybrid search latency at N chunks (real texts recycled, synthetic vectors);
- peak RSS.
"""

from __future__ import annotations

import ast
import logging
import os
import random
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np

from growpilot.completion.engine import QUERY_LINES
from growpilot.config import Settings
from growpilot.indexing.embedder import load_embedder
from growpilot.indexing.indexer import WorkspaceIndex
from growpilot.indexing.watcher import Watcher

log = logging.getLogger(__name__)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _summary(values: list[float], digits: int = 4) -> dict:
    return {"p50": round(_pct(values, 0.5), digits), "p95": round(_pct(values, 0.95), digits), "n": len(values)}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_index(workspace: str, runs: int = 3, edits: int = 20, scale_chunks: int = 100_000) -> dict:
    settings = Settings()
    embedder = load_embedder(settings.embedder_path)
    embedder.embed(["warm up the model"])
    tmp = Path(tempfile.mkdtemp(prefix="growpilot-bench-"))
    try:
        repo = tmp / "repo"
        # A copy, so edits and renames never touch the user's tree; vendored folders are never indexed.
        shutil.copytree(workspace, repo, symlinks=True, ignore=shutil.ignore_patterns(*settings.exclude_dirs))
        result: dict = {"workspace": os.path.realpath(workspace)}
        result["cold"] = _cold(repo, tmp, embedder, settings, runs)
        index = WorkspaceIndex(repo, embedder, settings, state_dir=tmp / "state-main")
        index.refresh()
        result["files"], result["chunks"] = index.catalog.counts()
        result["noop_refresh"] = _noop(index, runs)
        result["edit_to_searchable_ms"] = _edits(index, edits)
        result["rename_50_files_embedded"] = _rename(index)
        result["branch_switch_embedded"] = _branches(index)
        index.close()
        result["search_at_scale"] = _search_scale(embedder, settings, tmp, repo, scale_chunks)
        result["peak_rss_mb"] = round(_rss_mb(), 1)
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cold_run(repo: Path, state: Path, embedder, settings: Settings):
    """One cold index into an empty state folder, timed from opening it until the index is persisted (the
    FAISS file written) and closed: what a user waits for. Returns (stats, seconds)."""
    t0 = time.perf_counter()
    index = WorkspaceIndex(repo, embedder, settings, state_dir=state)
    stats = index.refresh()
    index.close()
    return stats, time.perf_counter() - t0


def _cold(repo: Path, tmp: Path, embedder, settings: Settings, runs: int) -> dict:
    ratios, index_rates, raw_rates, seconds = [], [], [], []
    for run in range(runs):
        state = tmp / f"state-cold-{run}"
        stats, index_s = cold_run(repo, state, embedder, settings)
        seconds.append(index_s)
        db = sqlite3.connect(state / "catalog.sqlite")
        texts = [t for (t,) in db.execute("SELECT text FROM chunks WHERE id IN (SELECT min(id) FROM chunks GROUP BY hash)")]
        db.close()
        shutil.rmtree(state, ignore_errors=True)
        t0 = time.perf_counter()
        embedder.embed(texts)
        raw_s = time.perf_counter() - t0
        index_rates.append(stats.embedded / index_s)
        raw_rates.append(len(texts) / raw_s)
        ratios.append(index_rates[-1] / raw_rates[-1])
        log.info("cold run %d: %d chunks embedded, index %.1fs, raw embedder %.1fs, ratio %.3f",
                 run, stats.embedded, index_s, raw_s, ratios[-1])
    return {"throughput_ratio_median": round(statistics.median(ratios), 3),
            "index_chunks_per_s_median": round(statistics.median(index_rates), 1),
            "raw_embedder_chunks_per_s_median": round(statistics.median(raw_rates), 1),
            "ratios": [round(r, 3) for r in ratios], "seconds": [round(x, 2) for x in seconds],
            "peak_rss_mb": round(_rss_mb(), 1)}


def _noop(index: WorkspaceIndex, runs: int) -> dict:
    times = []
    for _ in range(max(runs, 5)):
        t0 = time.perf_counter()
        stats = index.refresh()
        times.append(time.perf_counter() - t0)
        assert stats.embedded == 0 and stats.changed == 0, stats
    median = statistics.median(times)
    return {"seconds_median": round(median, 4), "seconds_per_10k_files": round(median * 10_000 / max(stats.files, 1), 4),
            "files": stats.files}


_RENAMES = ("checked", "resolved", "current", "final", "local", "seen")
EDIT_TOP_K = 5


def plausible_edit(text: str, round_: int = 0) -> tuple[str, str] | None:
    """What a developer does to a function: rename its first local variable and add a statement after
    its assignment. Returns (new function text, a query of the new body's words: its last lines up to the
    new statement, as the completion engine would search them), or None when the text is not one whole
    function with such a local."""
    try:
        tree = ast.parse(textwrap.dedent(text))
    except SyntaxError:
        return None
    fn = tree.body[0] if len(tree.body) == 1 else None
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    params = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    assign = next((st for st in fn.body if isinstance(st, ast.Assign) and len(st.targets) == 1
                   and isinstance(st.targets[0], ast.Name) and st.targets[0].id not in params), None)
    if assign is None:
        return None
    old = assign.targets[0].id
    new = f"{old.rstrip('_')}_{_RENAMES[round_ % len(_RENAMES)]}" + (str(round_ // len(_RENAMES)) if round_ >= len(_RENAMES) else "")
    lines = text.split("\n")
    first = fn.body[0].lineno - 1
    lines[first:] = [re.sub(rf"(?<![\w.]){re.escape(old)}\b", new, line) for line in lines[first:]]
    at = lines[assign.lineno - 1]
    indent = at[:len(at) - len(at.lstrip())]
    added = [f"{indent}if {new} is None:", f'{indent}    raise ValueError("no {old.strip("_").replace("_", " ")} to use")']
    lines[assign.end_lineno:assign.end_lineno] = added
    edited = "\n".join(lines)
    try:
        ast.parse(textwrap.dedent(edited))
    except SyntaxError:
        return None
    end = assign.end_lineno + len(added)  # the query: the lines up to the new statement, as the engine asks
    return edited, "\n".join(lines[max(0, end - QUERY_LINES):end])


def _edit_targets(index: WorkspaceIndex) -> list[tuple[str, str]]:
    """(path, function text) of the Python functions that take a plausible edit, largest files first."""
    files = sorted((p for p in index.catalog.file_rows() if p.endswith(".py")),
                   key=lambda p: -(index.root / p).stat().st_size)
    out = []
    for rel in files:
        rows = index.catalog.conn.execute(
            "SELECT text FROM chunks WHERE path = ? AND symbol IS NOT NULL ORDER BY start_line", (rel,)).fetchall()
        content = (index.root / rel).read_text(errors="replace")
        out += [(rel, t) for (t,) in rows if plausible_edit(t) and content.count(t) == 1]
    return out


def _edits(index: WorkspaceIndex, edits: int) -> dict:
    """Edit a real function of the largest files (a local renamed, a statement added), time until a
    search with words of its new body returns the edited chunk in the top k (watcher path). Each edit is
    undone (untimed) before the next, so that no earlier edit competes with it in the ranking."""
    applied = threading.Event()

    def on_batch(paths: set[str]) -> None:
        index.update(paths)
        applied.set()

    targets = _edit_targets(index)
    if not targets:
        return {"error": "no Python function with a local variable to edit"}
    watcher = Watcher(str(index.root), on_batch, debounce_s=index.settings.watch_debounce_ms / 1000)
    watcher.start()
    latencies, edited, missed = [], [], 0
    try:
        time.sleep(0.5)
        for n in range(edits):
            rel, function = targets[n % len(targets)]
            path = index.root / rel
            new_text, query = plausible_edit(function, n)
            original = path.read_text(errors="replace")
            applied.clear()
            t0 = time.perf_counter()
            path.write_text(original.replace(function, new_text, 1))
            while applied.wait(5):  # each batch the watcher applies; none for 5 s: the edit was missed
                applied.clear()
                if any(h.path == rel and query in h.text for h in index.search(query, k=EDIT_TOP_K)):
                    latencies.append((time.perf_counter() - t0) * 1000)
                    break
            else:
                missed += 1
            edited.append(rel)
            applied.clear()
            path.write_text(original)  # undo, and let the index catch up before the next edit
            applied.wait(5)
            time.sleep(0.2)
    finally:
        watcher.stop()
    return {**(_summary(latencies, 1) if latencies else {"n": 0}), "missed": missed, "top_k": EDIT_TOP_K,
            "files": sorted(set(edited)),
            "largest_file_lines": (index.root / targets[0][0]).read_text(errors="replace").count("\n") + 1}


def _wait_for(index: WorkspaceIndex, present: set[str], absent: set[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = index.catalog.file_rows()
        if present <= rows.keys() and not (absent & rows.keys()):
            return
        time.sleep(0.05)
    raise TimeoutError("the watcher did not apply the rename")


def _embedded_total(index: WorkspaceIndex) -> int:
    return int(index.catalog.meta("embedded_total", "0"))


def _rename(index: WorkspaceIndex) -> int:
    """Move 50 files into a new folder through the watcher; count embeddings spent."""
    files = sorted(index.catalog.file_rows())[:50]
    before = _embedded_total(index)
    watcher = Watcher(str(index.root), index.update, debounce_s=index.settings.watch_debounce_ms / 1000)
    watcher.start()
    try:
        time.sleep(0.3)
        dest = index.root / "renamed_by_bench"
        moved = set()
        for rel in files:
            target = dest / rel.replace("/", "__")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(index.root / rel, target)
            moved.add(target.relative_to(index.root).as_posix())
        _wait_for(index, moved, set(files))
    finally:
        watcher.stop()
    return _embedded_total(index) - before


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args], cwd=repo,
                   check=True, capture_output=True)


def _branches(index: WorkspaceIndex) -> dict:
    """main → feature (30 files edited) → main → feature; embeddings spent at each switch."""
    repo = index.root
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "main")
    index.refresh()
    _git(repo, "checkout", "-q", "-b", "feature")
    for n, rel in enumerate(sorted(p for p in index.catalog.file_rows() if p.endswith(".py"))[:30]):
        with open(repo / rel, "a") as fh:
            fh.write(f"\n\ndef feature_branch_helper_{n}():\n    return {n}\n")
    _git(repo, "commit", "-q", "-am", "feature")
    spent = []
    for branch in ("feature", "main", "feature"):
        _git(repo, "checkout", "-q", branch)
        before = _embedded_total(index)
        index.refresh()
        spent.append(_embedded_total(index) - before)
    return {"first_visit_feature": spent[0], "back_to_main": spent[1], "feature_again": spent[2]}


def _search_scale(embedder, settings: Settings, tmp: Path, repo: Path, n_chunks: int) -> dict:
    """Fill an index with n chunks (real texts recycled, random unit vectors) and time hybrid search."""
    from growpilot.indexing.chunker import Chunk

    empty = tmp / "empty"
    empty.mkdir(exist_ok=True)
    index = WorkspaceIndex(empty, embedder, settings, state_dir=tmp / "state-scale")
    donor = WorkspaceIndex(repo, embedder, settings, state_dir=tmp / "state-main")
    texts = [(p, t) for p, t in donor.catalog.conn.execute("SELECT path, text FROM chunks")]
    donor.close()
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    per_file = 20
    with index.catalog.transaction():
        for f in range(0, n_chunks, per_file):
            rel = f"synthetic/{f // per_file}.py"
            chunks = [Chunk(1, 10, texts[(f + i) % len(texts)][1] + f"\n# {f + i}", "python") for i in range(per_file)]
            _, ids = index.catalog.replace_chunks(rel, chunks)
            vecs = rng.standard_normal((len(ids), embedder.dim)).astype(np.float32)
            index.catalog.put_vectors({c.hash: v for c, v in zip(chunks, vecs)})
            index.store.put(ids, vecs)  # chunk ids are the vector ids
            index.catalog.upsert_file(rel, 0, 0, "synthetic", "python")
    fill_s = time.perf_counter() - t0
    random.seed(0)  # queries like the engine's: the last lines of real code before a cursor
    queries = ["\n".join(t.split("\n")[:QUERY_LINES]) for _, t in random.sample(texts, min(60, len(texts)))]
    warm = min(10, len(queries) // 2)  # the first queries warm caches up: left out
    total, retrieval = [], []
    for q in queries:
        t0 = time.perf_counter()
        index.search(q, k=10)
        total.append((time.perf_counter() - t0) * 1000)
        t1 = time.perf_counter()
        index.search(q, k=10)  # second time: the query vector is cached, so this is retrieval alone
        retrieval.append((time.perf_counter() - t1) * 1000)
    vectors = index.store.count
    index.close()
    return {"chunks": vectors, "fill_seconds": round(fill_s, 1),
            "hybrid_ms_with_query_embedding": _summary(total[warm:], 2),
            "hybrid_ms_retrieval_only": _summary(retrieval[warm:], 2)}
