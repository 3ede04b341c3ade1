import sqlite3

import faiss
import numpy as np
import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery

from growpilot.indexing.store import FaissStore

DIM = 16


def _node(name, doc="doc", seed=None):
    rng = np.random.default_rng(seed if seed is not None else abs(hash(name)) % 2**32)
    return TextNode(id_=name, embedding=rng.standard_normal(DIM).tolist(),
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)})


@pytest.fixture
def conn(tmp_path):
    return sqlite3.connect(tmp_path / "c.sqlite", isolation_level=None)


def test_no_live_id_is_reused_after_delete(conn):
    """The sequence that breaks llama-index's FaissMapVectorStore: add 0..2, delete 0, add 4."""
    store = FaissStore(conn, DIM)
    store.add([_node(f"node{i}") for i in range(3)])
    store.delete_nodes(["node0"])
    store.add([_node("node4")])
    ids = store.faiss_ids()
    assert set(ids) == {"node1", "node2", "node4"}
    assert len(set(ids.values())) == 3
    assert ids["node4"] > max(ids["node1"], ids["node2"])
    assert store.ntotal == 3
    assert sorted(faiss.vector_to_array(store.client.id_map).tolist()) == sorted(ids.values())


def test_query_finds_nearest_and_maps_back_to_node_ids(conn):
    store = FaissStore(conn, DIM)
    nodes = [_node(f"n{i}", seed=i) for i in range(20)]
    store.add(nodes)
    result = store.query(VectorStoreQuery(query_embedding=nodes[7].embedding, similarity_top_k=3))
    assert result.ids[0] == "n7" and result.similarities[0] == pytest.approx(1.0, abs=1e-5)
    assert len(result.ids) == 3


def test_delete_by_document_and_upsert(conn):
    store = FaissStore(conn, DIM)
    store.add([_node("a1", "a.py"), _node("a2", "a.py"), _node("b1", "b.py")])
    store.delete("a.py")
    assert set(store.faiss_ids()) == {"b1"} and store.ntotal == 1
    old = store.faiss_ids()["b1"]
    store.add([_node("b1", "b.py", seed=5)])  # same node id again: replaced, not duplicated
    assert store.ntotal == 1 and store.faiss_ids()["b1"] != old


def test_persist_and_reload(tmp_path, conn):
    path = tmp_path / "v.faiss"
    store = FaissStore(conn, DIM, path)
    store.add([_node(f"n{i}", seed=i) for i in range(5)])
    store.persist()
    assert path.exists() and not store.dirty
    again = FaissStore(conn, DIM, path)
    assert again.ntotal == 5 and not again.dirty


def test_reconcile_restores_missing_and_drops_stale(tmp_path, conn):
    path = tmp_path / "v.faiss"
    store = FaissStore(conn, DIM, path)
    store.add([_node("n0", seed=0), _node("n1", seed=1)])
    store.persist()
    store.add([_node("n2", seed=2)])  # committed in SQLite, FAISS file not written: a crash here
    store.delete_nodes(["n0"])
    again = FaissStore(conn, DIM, path)
    assert sorted(faiss.vector_to_array(again.client.id_map).tolist()) == sorted(again.faiss_ids().values())
    assert again.ntotal == 2 and again.dirty


@pytest.mark.parametrize("damage", [b"not a faiss index", b""])
def test_corrupt_faiss_file_is_rebuilt_from_stored_vectors(tmp_path, conn, caplog, damage):
    path = tmp_path / "v.faiss"
    store = FaissStore(conn, DIM, path)
    nodes = [_node(f"n{i}", seed=i) for i in range(4)]
    store.add(nodes)
    store.persist()
    path.write_bytes(damage)
    again = FaissStore(conn, DIM, path)
    assert again.ntotal == 4
    assert again.query(VectorStoreQuery(query_embedding=nodes[2].embedding, similarity_top_k=1)).ids == ["n2"]
    assert "rebuilding" in caplog.text


def test_wrong_dimension_file_is_rebuilt(tmp_path, conn):
    path = tmp_path / "v.faiss"
    faiss.write_index(faiss.IndexIDMap2(faiss.IndexFlatIP(DIM * 2)), str(path))
    store = FaissStore(conn, DIM, path)
    store.add([_node("n0")])
    assert store.ntotal == 1


def test_persist_is_atomic_no_temp_left(tmp_path, conn):
    path = tmp_path / "v.faiss"
    store = FaissStore(conn, DIM, path)
    store.add([_node("n0")])
    store.persist()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
