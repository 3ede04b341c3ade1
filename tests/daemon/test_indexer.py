import os
import shutil

import faiss
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


@pytest.fixture
def index(workspace, embedder):
    write_files(workspace, FILES)
    idx = WorkspaceIndex(workspace, embedder, Settings())
    idx.refresh()
    yield idx
    idx.close()


def consistent(idx: WorkspaceIndex) -> None:
    """vectors == live chunks, unique ids, every chunk's text is what the file holds now."""
    chunks = idx.catalog.conn.execute("SELECT id, path, start_line, end_line, text FROM chunks").fetchall()
    faiss_ids = faiss.vector_to_array(idx.store.client.id_map).tolist()
    assert idx.store.ntotal == len(chunks) == len(idx.store.faiss_ids())
    assert len(set(faiss_ids)) == len(faiss_ids)
    assert set(idx.store.faiss_ids()) == {str(c[0]) for c in chunks}
    for _, path, start, end, text in chunks:
        lines = (idx.root / path).read_text().replace("\r\n", "\n").split("\n")
        assert "\n".join(lines[start - 1:end]) == text, path


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


def test_corrupt_sqlite_is_rebuilt_with_a_log_line(index, workspace, embedder, caplog):
    state = index.state_dir
    index.close()
    (state / "catalog.sqlite").write_bytes(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        (state / f"catalog.sqlite{suffix}").unlink(missing_ok=True)
    again = WorkspaceIndex(workspace, embedder, Settings())
    assert "corrupt" in caplog.text
    assert again.refresh().files == 4
    assert again.search("compute_invoice_total", k=1)[0].path == "billing/invoice.py"
    consistent(again)
    again.close()


def test_corrupt_faiss_file_is_rebuilt_without_embedding(index, workspace, embedder):
    state = index.state_dir
    total = index.status()["embedded_total"]
    index.close()
    (state / "vectors.faiss").write_bytes(b"\x00" * 100)
    again = WorkspaceIndex(workspace, embedder, Settings())
    assert again.status()["embedded_total"] == total and again.refresh().embedded == 0
    consistent(again)
    again.close()


def test_changed_chunking_rules_rechunk_every_file_reusing_vectors(index, workspace, embedder):
    state = index.state_dir
    index.catalog.set_meta("chunker", "0")  # an index written by an older chunker
    index.catalog.conn.execute("UPDATE chunks SET symbol = 'stale' WHERE path = 'billing/tax.py'")
    index.close()
    again = WorkspaceIndex(workspace, embedder, Settings())
    stats = again.refresh()
    assert stats.changed == 4 and stats.embedded == 0  # every file re-chunked, no chunk text is new
    assert "stale" not in {r[0] for r in again.catalog.conn.execute("SELECT symbol FROM chunks")}
    consistent(again)
    again.close()
    third = WorkspaceIndex(workspace, embedder, Settings())
    assert third.refresh().changed == 0  # once only
    third.close()
