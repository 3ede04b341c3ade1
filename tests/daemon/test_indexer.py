import logging
import os
import shutil
import sqlite3

import faiss
import numpy as np
import pytest

from conftest import write_files
from growpilot.config import Settings
from growpilot.indexing.indexer import WorkspaceIndex

FILES = {
    "billing/invoice.py": "def compute_invoice_total(lines):\n    return sum(l.price * l.qty for l in lines)\n",
    "billing/tax.py": "VAT = 0.2\n\ndef apply_vat(amount):\n    return amount * (1 + VAT)\n",
    "web/routes.ts": "export function registerRoutes(app: App) {\n  app.get('/health', () => 'ok');\n}\n",
    "docs/guide.md": "# Guide\n\nHow to deploy the service with docker compose.\n",
}


@pytest.fixture(params=["faiss", "qdrant"])
def settings(request):
    return Settings(vector_store=request.param)


@pytest.fixture
def index(workspace, embedder, settings):
    write_files(workspace, FILES)
    idx = WorkspaceIndex(workspace, embedder, settings)
    idx.refresh()
    yield idx
    idx.close()


def consistent(idx: WorkspaceIndex) -> None:
    """The vector store holds exactly the live chunks, under their chunk ids, each with the catalog's
    vector for its text; every chunk's text is what the file holds now."""
    chunks = idx.catalog.chunks_by_ids(idx.catalog.live_chunk_ids())
    assert idx.store.held_ids() == set(chunks) and idx.store.count == len(chunks)
    if idx.settings.vector_store == "faiss":
        faiss_ids = faiss.vector_to_array(idx.store.client.id_map).tolist()
        assert sorted(faiss_ids) == sorted(chunks)  # unique, and FAISS ids are the chunk ids
    truth = idx.catalog.chunk_vectors(chunks)
    held = idx.store.vectors(chunks)
    assert set(truth) == set(chunks)
    for cid, row in chunks.items():
        want = truth[cid] / np.linalg.norm(truth[cid])  # stores keep normalized vectors (cosine)
        np.testing.assert_allclose(held[cid], want, atol=1e-5, err_msg=row.path)
        lines = (idx.root / row.path).read_text().replace("\r\n", "\n").split("\n")
        assert "\n".join(lines[row.start_line - 1:row.end_line]) == row.text, row.path


def test_cold_index_and_search(index):
    status = index.status()
    assert status["files"] == 4 and status["chunks"] == status["vectors"] >= 5
    hit = index.search("invoice total of the order lines", k=3)[0]
    assert hit.path == "billing/invoice.py" and hit.start_line == 1 and hit.symbol == "compute_invoice_total"
    assert index.search("deploy with docker", k=1)[0].path == "docs/guide.md"
    consistent(index)


def test_noop_and_touch_cost_nothing(index, workspace):
    assert index.refresh().embedded == 0
    os.utime(workspace / "billing/tax.py", (1, 1))
    stats = index.refresh()
    assert stats.embedded == 0 and stats.changed == 0
    assert index.catalog.file_rows()["billing/tax.py"].mtime_ns == 1_000_000_000


def test_edit_embeds_only_new_chunks_and_drops_old_text(index, workspace):
    (workspace / "billing/tax.py").write_text("VAT = 0.2\n\ndef apply_reduced_vat(amount):\n    return amount * 1.05\n")
    stats = index.update(["billing/tax.py"])
    assert stats.embedded == 1 and stats.changed == 1  # `VAT = 0.2` kept its vector
    assert index.search("apply_reduced_vat", k=1)[0].symbol == "apply_reduced_vat"
    assert not any("1 + VAT" in h.text for h in index.search("apply_vat amount", k=10))
    consistent(index)


def test_rename_file_and_folder_cost_zero_embeddings(index, workspace):
    before = index.status()["embedded_total"]
    os.rename(workspace / "billing/tax.py", workspace / "billing/taxes.py")
    index.update(["billing/tax.py", "billing/taxes.py"])
    shutil.move(workspace / "billing", workspace / "finance")
    index.update(["billing", "finance"])
    assert index.status()["embedded_total"] == before
    assert sorted(index.catalog.file_rows()) == ["docs/guide.md", "finance/invoice.py", "finance/taxes.py", "web/routes.ts"]
    assert index.search("compute_invoice_total", k=1)[0].path == "finance/invoice.py"
    consistent(index)


def test_content_that_comes_back_is_not_embedded_again(index, workspace):
    """A branch switch there and back: the old content's vectors were kept."""
    original = (workspace / "web/routes.ts").read_text()
    (workspace / "web/routes.ts").write_text("export const feature = () => 'new branch';\n")
    assert index.refresh().embedded == 1
    (workspace / "web/routes.ts").write_text(original)
    assert index.refresh().embedded == 0
    consistent(index)


def test_delete_file_and_folder(index, workspace):
    (workspace / "docs/guide.md").unlink()
    index.update(["docs/guide.md"])
    shutil.rmtree(workspace / "billing")
    index.update(["billing"])
    assert sorted(index.catalog.file_rows()) == ["web/routes.ts"]
    assert all(h.path == "web/routes.ts" for h in index.search("invoice docker vat", k=10))
    consistent(index)


def test_binary_and_ignored_files_leave_the_index(index, workspace):
    (workspace / "billing/tax.py").write_bytes(b"\0\1\2binary now")
    (workspace / ".gitignore").write_text("web/\n")
    stats = index.update([".gitignore", "billing/tax.py"])
    assert stats.skipped.get("binary") == 1
    assert sorted(index.catalog.file_rows()) == ["billing/invoice.py", "docs/guide.md"]
    consistent(index)


def test_state_lives_outside_the_workspace(index, workspace, growpilot_home):
    assert str(index.state_dir).startswith(str(growpilot_home))
    assert sorted(os.listdir(workspace)) == ["billing", "docs", "web"]


def test_corrupt_sqlite_is_rebuilt_with_a_log_line(index, workspace, embedder, settings, caplog):
    state = index.state_dir
    index.close()
    (state / "catalog.sqlite").write_bytes(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        (state / f"catalog.sqlite{suffix}").unlink(missing_ok=True)
    again = WorkspaceIndex(workspace, embedder, settings)
    assert "corrupt" in caplog.text
    # The new catalog's ids start at 1 again: the old FAISS file is gone at once, not at the next persist
    # (a crash before it would leave old vectors under the ids of new chunks).
    assert again.store.count == 0 and not (state / "vectors.faiss").exists()
    assert again.refresh().files == 4
    assert again.search("compute_invoice_total", k=1)[0].path == "billing/invoice.py"
    consistent(again)
    again.close()


@pytest.mark.parametrize("damage", ["corrupt", "deleted"])
def test_a_damaged_vector_store_is_rebuilt_without_embedding(index, workspace, embedder, settings, damage, caplog):
    caplog.set_level(logging.INFO, logger="growpilot.indexing.store")
    state = index.state_dir
    total = index.status()["embedded_total"]
    index.close()
    if settings.vector_store == "faiss":
        target = state / "vectors.faiss"
        target.unlink() if damage == "deleted" else target.write_bytes(b"\x00" * 100)
    else:
        target = state / "qdrant"
        shutil.rmtree(target) if damage == "deleted" else (target / "meta.json").write_bytes(b"\x00" * 100)
    again = WorkspaceIndex(workspace, embedder, settings)
    assert again.status()["embedded_total"] == total and again.refresh().embedded == 0
    assert "restored" in caplog.text
    consistent(again)
    again.close()


def test_stale_and_missing_ids_in_the_store_are_reconciled_on_open(index, workspace, embedder, settings):
    """What a crash between a catalog commit and the store's write leaves: ids the catalog no longer
    has, and live chunks the store never got."""
    live = sorted(index.catalog.live_chunk_ids())
    index.store.put([live[-1] + 1000], np.ones((1, embedder.dim), dtype=np.float32))
    index.store.remove(live[:2])
    index.store.persist()
    index.close()
    again = WorkspaceIndex(workspace, embedder, settings)
    assert live[-1] + 1000 not in again.store.held_ids()
    consistent(again)
    assert again.search("compute_invoice_total", k=1)[0].path == "billing/invoice.py"
    again.close()


def test_each_vector_is_stored_once_and_vector_ids_are_chunk_ids(index):
    tables = {r[0] for r in index.catalog.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "vector_ids" not in tables and "embeddings" in tables
    assert index.store.held_ids() == index.catalog.live_chunk_ids()
    consistent(index)


def test_a_schema_1_state_dir_is_migrated_without_embedding(workspace, embedder, caplog):
    """Schema 1 kept a `vector_ids` table (every vector twice) whose ids were not chunk ids: its FAISS file
    must not be trusted, even where its ids happen to be live chunk ids."""
    write_files(workspace, FILES)
    index = WorkspaceIndex(workspace, embedder, Settings())
    index.refresh()
    ids = sorted(index.catalog.live_chunk_ids())
    total, state = index.status()["embedded_total"], index.state_dir
    index.close()
    db = sqlite3.connect(state / "catalog.sqlite", isolation_level=None)
    db.execute("CREATE TABLE vector_ids(faiss_id INTEGER PRIMARY KEY AUTOINCREMENT, node_id TEXT NOT NULL UNIQUE, "
               "ref_doc_id TEXT, vec BLOB NOT NULL)")
    db.execute("DELETE FROM meta WHERE key = 'schema'")
    db.close()
    old = faiss.IndexIDMap2(faiss.IndexFlatIP(embedder.dim))  # live ids, other chunks' vectors
    vecs = np.random.default_rng(0).standard_normal((len(ids), embedder.dim)).astype(np.float32)
    faiss.normalize_L2(vecs)
    old.add_with_ids(vecs, np.array(ids, dtype=np.int64))
    faiss.write_index(old, str(state / "vectors.faiss"))
    again = WorkspaceIndex(workspace, embedder, Settings())
    assert "vector_ids" not in {r[0] for r in again.catalog.conn.execute("SELECT name FROM sqlite_master")}
    assert again.catalog.meta("schema") == "2"
    assert again.refresh().embedded == 0 and again.status()["embedded_total"] == total
    consistent(again)
    again.close()


def test_changed_chunking_rules_rechunk_every_file_reusing_vectors(index, workspace, embedder, settings):
    index.catalog.set_meta("chunker", "0")  # an index written by an older chunker
    index.catalog.conn.execute("UPDATE chunks SET symbol = 'stale' WHERE path = 'billing/tax.py'")
    index.close()
    again = WorkspaceIndex(workspace, embedder, settings)
    stats = again.refresh()
    assert stats.changed == 4 and stats.embedded == 0  # every file re-chunked, no chunk text is new
    assert "stale" not in {r[0] for r in again.catalog.conn.execute("SELECT symbol FROM chunks")}
    consistent(again)
    again.close()
    third = WorkspaceIndex(workspace, embedder, settings)
    assert third.refresh().changed == 0  # once only
    third.close()


def test_a_file_whose_chunk_lost_its_vector_is_indexed_again(index, workspace, embedder, settings, caplog):
    [row] = [r for r in index.catalog.chunks_by_ids(index.catalog.live_chunk_ids()).values()
             if r.path == "web/routes.ts"]
    index.catalog.conn.execute("DELETE FROM embeddings WHERE hash = ?", (row.hash,))  # a hand-edited database
    index.close()
    again = WorkspaceIndex(workspace, embedder, settings)
    assert "without vectors" in caplog.text and "web/routes.ts" not in again.catalog.file_rows()
    assert again.refresh().embedded == 1
    consistent(again)
    again.close()


def test_a_second_process_on_a_qdrant_index_gets_a_clear_error(workspace, embedder):
    from conftest import run_cli

    write_files(workspace, FILES)
    held = WorkspaceIndex(workspace, embedder, Settings(vector_store="qdrant"))
    try:
        done = run_cli("status", "--workspace", str(workspace), "--json",
                       env={"GROWPILOT_SETTINGS": '{"vectorStore": "qdrant"}'})
    finally:
        held.close()
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "open in another growpilot process" in done.stderr and 'vectorStore "faiss"' in done.stderr
