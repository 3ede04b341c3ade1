"""Vector stores (FAISS, Qdrant local mode) as caches of the catalog: ids are chunk ids, vectors come from
the catalog's `embeddings`, `reconcile` repairs whatever a crash or a damaged file left."""

import faiss
import numpy as np
import pytest
from llama_index.core.schema import TextNode

from growpilot.indexing.catalog import Catalog, connect
from growpilot.indexing.chunker import Chunk
from growpilot.indexing.qdrant_store import QdrantStore, StoreBusy
from growpilot.indexing.store import FaissStore, reconcile

DIM = 16
KINDS = ["faiss", "qdrant"]


def _open(kind, tmp_path, dim=DIM):
    if kind == "faiss":
        return FaissStore(dim, tmp_path / "vectors.faiss")
    return QdrantStore(dim, tmp_path / "qdrant")


def _reopen(kind, store, tmp_path):
    """What a restart sees: the FAISS file as last persisted, or the Qdrant folder as last committed."""
    store.close()
    return _open(kind, tmp_path)


@pytest.fixture
def catalog(tmp_path):
    return Catalog(connect(tmp_path / "c.sqlite"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _write_file(catalog, rel, n, rng, store=None) -> list[int]:
    """Commit a file of n chunks (and their vectors) to the catalog; the store follows if given."""
    chunks = [Chunk(i + 1, i + 1, f"{rel} chunk {i}", "python") for i in range(n)]
    vecs = {c.hash: rng.standard_normal(DIM).astype(np.float32) for c in chunks}
    vecs = {h: v / np.linalg.norm(v) for h, v in vecs.items()}
    with catalog.transaction():
        catalog.put_vectors(vecs)
        removed, ids = catalog.replace_chunks(rel, chunks)
    if store is not None:
        store.remove(removed)
        store.put(ids, np.stack([vecs[c.hash] for c in chunks]))
    return ids


def _delete_file(catalog, rel, store=None) -> list[int]:
    with catalog.transaction():
        ids = catalog.delete_file(rel)
    if store is not None:
        store.remove(ids)
    return ids


def _agrees(store, catalog) -> None:
    live = catalog.live_chunk_ids()
    assert store.held_ids() == live and store.count == len(live)
    truth = catalog.chunk_vectors(live)
    held = store.vectors(live)
    for cid in live:
        np.testing.assert_allclose(held[cid], truth[cid], atol=1e-5)
        assert store.nearest(truth[cid], 1)[0][0] == cid


@pytest.mark.parametrize("kind", KINDS)
def test_ids_are_chunk_ids_never_reused_after_deletes(kind, tmp_path, catalog, rng):
    """The sequence that breaks llama-index's FaissMapVectorStore (it gives a new node the id
    `index.ntotal`): add node0..2, delete node0, add node4 → node4 got node2's live id."""
    store = _open(kind, tmp_path)
    first = [_write_file(catalog, f"node{i}.py", 1, rng, store)[0] for i in range(3)]
    _delete_file(catalog, "node0.py", store)
    [node4] = _write_file(catalog, "node4.py", 1, rng, store)
    assert store.held_ids() == {first[1], first[2], node4} and node4 > max(first)
    assert store.count == 3
    _agrees(store, catalog)
    if kind == "faiss":
        assert sorted(faiss.vector_to_array(store.client.id_map).tolist()) == sorted(catalog.live_chunk_ids())
    store.close()


@pytest.mark.parametrize("kind", KINDS)
def test_reconcile_drops_stale_ids_and_restores_missing_ones_from_the_catalog(kind, tmp_path, catalog, rng):
    store = _open(kind, tmp_path)
    a = _write_file(catalog, "a.py", 3, rng, store)
    _write_file(catalog, "b.py", 2, rng, store)
    store.persist()
    # A crash after the catalog committed these, before the store followed:
    _delete_file(catalog, "a.py")
    c = _write_file(catalog, "c.py", 4, rng)
    store = _reopen(kind, store, tmp_path)
    assert store.held_ids() >= set(a) and not store.held_ids() & set(c)
    assert reconcile(store, catalog.live_chunk_ids(), catalog.chunk_vectors) == (3, 4)
    _agrees(store, catalog)
    assert reconcile(store, catalog.live_chunk_ids(), catalog.chunk_vectors) == (0, 0)
    store.close()


def _damage(kind, tmp_path, how):
    if kind == "faiss":
        path = tmp_path / "vectors.faiss"
        if how == "deleted":
            path.unlink()
        elif how == "garbage":
            path.write_bytes(b"not a faiss index")
        elif how == "empty":
            path.write_bytes(b"")
        else:  # another dimension
            faiss.write_index(faiss.IndexIDMap2(faiss.IndexFlatIP(DIM * 2)), str(path))
    else:
        folder = tmp_path / "qdrant"
        if how == "deleted":
            import shutil

            shutil.rmtree(folder)
        elif how in ("garbage", "empty"):
            (folder / "meta.json").write_bytes(b"{not json" if how == "garbage" else b"")
        else:
            store = QdrantStore(DIM * 2, folder)  # replaces the collection by one of another dimension
            store.close()


@pytest.mark.parametrize("how", ["deleted", "garbage", "empty", "other-dimension"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_or_damaged_store_is_rebuilt_from_catalog_vectors(kind, how, tmp_path, catalog, rng, caplog):
    store = _open(kind, tmp_path)
    _write_file(catalog, "a.py", 5, rng, store)
    store.persist()
    store.close()
    _damage(kind, tmp_path, how)
    store = _open(kind, tmp_path)
    assert reconcile(store, catalog.live_chunk_ids(), catalog.chunk_vectors) == (0, 5)
    _agrees(store, catalog)
    if how != "deleted":
        assert "rebuilding" in caplog.text
    store.close()


def test_faiss_persist_and_reload_atomically(tmp_path, catalog, rng):
    path = tmp_path / "vectors.faiss"
    store = FaissStore(DIM, path)
    _write_file(catalog, "a.py", 5, rng, store)
    assert store.dirty
    store.persist()
    assert path.exists() and not store.dirty
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left
    again = FaissStore(DIM, path)
    assert not again.dirty
    _agrees(again, catalog)


def test_an_upsert_replaces_and_never_duplicates(tmp_path, rng):
    store = FaissStore(DIM)
    store.put([7, 8], rng.standard_normal((2, DIM)))
    replacement = rng.standard_normal((1, DIM)).astype(np.float32)
    store.put([7], replacement)
    assert store.count == 2 and store.held_ids() == {7, 8}
    assert store.nearest(replacement[0], 1)[0] == (7, pytest.approx(1.0, abs=1e-5))


def test_llama_index_writes_take_chunk_ids_only(tmp_path):
    store = FaissStore(DIM)
    store.add([TextNode(id_="12", embedding=[1.0] * DIM)])
    assert store.held_ids() == {12}
    with pytest.raises(ValueError, match="not a chunk id"):
        store.add([TextNode(id_="a-uuid-from-llama-index", embedding=[1.0] * DIM)])
    with pytest.raises(NotImplementedError, match="catalog owns"):
        store.delete("a.py")
    store.delete_nodes(["12"])
    assert store.count == 0


def test_a_qdrant_folder_open_elsewhere_is_a_clear_error(tmp_path):
    store = QdrantStore(DIM, tmp_path / "qdrant")
    with pytest.raises(StoreBusy, match="another growpilot process"):
        QdrantStore(DIM, tmp_path / "qdrant")
    store.close()
    QdrantStore(DIM, tmp_path / "qdrant").close()  # free again once closed


def test_qdrant_point_ids_map_chunk_ids_one_to_one(tmp_path, rng):
    from growpilot.indexing.qdrant_store import chunk_id, point_id

    for cid in (1, 2, 2**31, 2**63 - 1):
        assert chunk_id(point_id(cid)) == cid
    store = QdrantStore(DIM, tmp_path / "qdrant")
    store.put([1, 2**40], rng.standard_normal((2, DIM)))
    assert store.held_ids() == {1, 2**40}
    store.close()
