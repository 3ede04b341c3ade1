import numpy as np
import pytest

from growpilot.indexing import catalog as catalog_module
from growpilot.indexing.catalog import Catalog, CorruptDatabase, connect, fts_expression, query_words, quarantine
from growpilot.indexing.chunker import Chunk


@pytest.fixture
def catalog(tmp_path):
    return Catalog(connect(tmp_path / "c.sqlite"))


def _chunk(text, line=1):
    return Chunk(line, line, text, "python")


def test_replace_chunks_updates_bm25_in_the_same_transaction(catalog):
    with catalog.transaction():
        _, ids = catalog.replace_chunks("a.py", [_chunk("def alpha_handler(): pass"), _chunk("beta = 2", 2)])
    assert [cid for cid, _ in catalog.bm25("alpha handler", 10)] == [ids[0]]
    with catalog.transaction():
        removed, new = catalog.replace_chunks("a.py", [_chunk("def gamma(): pass")])
    assert removed == ids and new[0] > max(ids)  # ids are never reused
    assert catalog.bm25("alpha", 10) == [] and [c for c, _ in catalog.bm25("gamma", 10)] == new


def test_rollback_leaves_catalog_and_bm25_untouched(catalog):
    with catalog.transaction():
        catalog.replace_chunks("a.py", [_chunk("def keep_me(): pass")])
        catalog.upsert_file("a.py", 1, 1, "h1", "python")
    with pytest.raises(RuntimeError):
        with catalog.transaction():
            catalog.replace_chunks("a.py", [_chunk("def replaced(): pass")])
            raise RuntimeError("crash mid-file")
    assert catalog.bm25("keep_me", 5) and not catalog.bm25("replaced", 5)
    assert catalog.counts() == (1, 1)


def test_file_rows_under_a_folder(catalog):
    with catalog.transaction():
        for p in ("src/a.py", "src/sub/b.py", "src.py", "srcx/c.py"):
            catalog.upsert_file(p, 1, 1, "h", "python")
    assert sorted(catalog.file_rows(under="src")) == ["src/a.py", "src/sub/b.py"]
    assert sorted(catalog.file_rows(under="src.py")) == ["src.py"]


def test_vector_cache_keeps_recent_orphans_only(catalog):
    vec = np.ones(4, dtype=np.float32)
    with catalog.transaction():
        catalog.put_vectors({f"h{i}": vec * i for i in range(5)})
        catalog.replace_chunks("a.py", [Chunk(1, 1, "x", "python")])
    live = Chunk(1, 1, "x", "python").hash
    with catalog.transaction():
        catalog.put_vectors({live: vec})
        assert catalog.prune_vectors(keep_orphans=2) == 3
    assert len(catalog.cached_vectors([f"h{i}" for i in range(5)])) == 2
    assert live in catalog.cached_vectors([live])


def test_fts_query_is_safe_for_any_text():
    assert fts_expression(query_words('foo("bar") AND NOT -baz* self')) == '"foo" OR "bar" OR "baz"'
    assert query_words("!!! ()") == []


def test_bm25_drops_the_commonest_words_past_the_postings_budget(catalog, monkeypatch):
    with catalog.transaction():
        _, ids = catalog.replace_chunks("a.py", [_chunk(f"ubiquitous filler{i}", i) for i in range(30)]
                                        + [_chunk("ubiquitous zanzibar", 31)])
    words = query_words("ubiquitous zanzibar nowhere")
    assert catalog.affordable_words(words) == ["zanzibar", "ubiquitous"]  # rarest first; unindexed dropped
    monkeypatch.setattr(catalog_module, "POSTINGS_BUDGET", 10)
    assert catalog.affordable_words(words) == ["zanzibar"]
    assert [cid for cid, _ in catalog.bm25("ubiquitous zanzibar", 5)] == [ids[-1]]
    monkeypatch.setattr(catalog_module, "POSTINGS_BUDGET", 0)
    assert catalog.affordable_words(["ubiquitous"]) == ["ubiquitous"]  # the rarest word always stays


def test_corrupt_database_is_detected_and_quarantined(tmp_path):
    db = tmp_path / "c.sqlite"
    db.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(CorruptDatabase):
        connect(db)
    moved = quarantine(db)
    assert moved.exists() and not db.exists()
    assert Catalog(connect(db)).counts() == (0, 0)


def test_chunks_find_their_vectors_by_content_one_row_per_text(catalog):
    same, other = _chunk("def twin(): pass"), _chunk("def other(): pass", 2)
    vec = {same.hash: np.full(4, 1, np.float32), other.hash: np.full(4, 2, np.float32)}
    with catalog.transaction():
        catalog.put_vectors(vec)
        _, a = catalog.replace_chunks("a.py", [same, other])
        _, b = catalog.replace_chunks("b.py", [same])
    assert catalog.conn.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 2
    got = catalog.chunk_vectors([*a, *b, 999])
    assert sorted(got) == sorted([*a, *b]) and got[b[0]].tolist() == got[a[0]].tolist() == [1.0] * 4
    assert catalog.live_chunk_ids() == {*a, *b} and catalog.paths_without_vectors() == []
    with catalog.transaction():
        catalog.replace_chunks("c.py", [_chunk("def unembedded(): pass")])
    assert catalog.paths_without_vectors() == ["c.py"]


def test_a_new_or_schema_1_catalog_is_outdated_until_migrated(tmp_path):
    conn = connect(tmp_path / "old.sqlite")
    conn.execute("CREATE TABLE vector_ids(faiss_id INTEGER PRIMARY KEY AUTOINCREMENT, node_id TEXT, vec BLOB)")
    old = Catalog(conn)
    assert old.outdated()
    with old.transaction():
        old.migrate()
    assert not old.outdated() and old.meta("schema") == catalog_module.SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'vector_ids'").fetchone()[0] == 0
