"""The index inside llama-index: VectorStoreIndex and its retrievers on our stores (FAISS and Qdrant),
our embedder as a BaseEmbedding, the hybrid search as a BaseRetriever."""

import asyncio

import numpy as np
import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.retrievers import BaseRetriever

from conftest import write_files
from growpilot.config import Settings
from growpilot.indexing.indexer import WorkspaceIndex
from growpilot.indexing.llamaindex import ChunkEmbedding, HybridRetriever, vector_index
from test_indexer import FILES


@pytest.fixture(params=["faiss", "qdrant"])
def index(request, workspace, embedder):
    write_files(workspace, FILES)
    idx = WorkspaceIndex(workspace, embedder, Settings(vector_store=request.param))
    idx.refresh()
    yield idx
    idx.close()


def test_vector_store_index_retrieves_chunks_with_text_and_location(index, embedder, workspace):
    llama_index = VectorStoreIndex.from_vector_store(index.vector_store, embed_model=ChunkEmbedding(embedder))
    [top, *_] = llama_index.as_retriever(similarity_top_k=3).retrieve("invoice total of the order lines")
    assert top.node.metadata == {"path": "billing/invoice.py", "start_line": 1, "end_line": 2,
                                 "symbol": "compute_invoice_total", "language": "python"}
    assert top.node.text == FILES["billing/invoice.py"].rstrip("\n") and top.node.ref_doc_id == "billing/invoice.py"
    assert 0.3 < top.score <= 1.0  # cosine
    # Edits reach it with no rebuild: the nodes are the catalog's rows, the vectors the store's.
    (workspace / "docs/guide.md").write_text("# Guide\n\nRotate the signing keys every quarter.\n")
    index.update(["docs/guide.md"])
    [hit] = vector_index(index).as_retriever(similarity_top_k=1).retrieve("rotate signing keys")
    assert hit.node.metadata["path"] == "docs/guide.md" and "Rotate the signing keys" in hit.node.text
    assert not any("docker" in n.node.text for n in vector_index(index).as_retriever(similarity_top_k=10).retrieve("docker"))


def test_our_embedder_as_a_llama_index_embedding(embedder):
    model = ChunkEmbedding(embedder)
    query = "deploy the service"
    np.testing.assert_allclose(model.get_query_embedding(query), embedder.embed_query(query), atol=1e-6)
    batch = model.get_text_embedding_batch(["a", "b c"])
    np.testing.assert_allclose(batch, embedder.embed(["a", "b c"]), atol=1e-5)
    assert len(model.get_text_embedding("x")) == embedder.dim


def test_hybrid_search_as_a_llama_index_retriever(index):
    retriever = HybridRetriever(index, similarity_top_k=3)
    assert isinstance(retriever, BaseRetriever)
    got = retriever.retrieve("compute_invoice_total of the lines")
    hits = index.search("compute_invoice_total of the lines", k=3)
    assert [(n.node.node_id, n.score) for n in got] == [(str(h.chunk_id), h.score) for h in hits]
    assert got[0].node.metadata["path"] == "billing/invoice.py" and "def compute_invoice_total" in got[0].node.text
    # BM25 finds what dense search alone ranks low: a rare identifier.
    assert retriever.retrieve("registerRoutes")[0].node.metadata["path"] == "web/routes.ts"
    skip_tax = HybridRetriever(index, similarity_top_k=10, exclude=lambda row: row.path == "billing/tax.py")
    assert all(n.node.metadata["path"] != "billing/tax.py" for n in skip_tax.retrieve("apply_vat amount"))
    async_got = asyncio.run(retriever.aretrieve("compute_invoice_total of the lines"))
    assert [n.node.node_id for n in async_got] == [n.node.node_id for n in got]


def test_llama_index_cannot_insert_behind_the_catalog(index, embedder):
    """Ids and vectors belong to the catalog: an insert through llama-index is refused, clearly."""
    from llama_index.core.schema import TextNode

    llama_index = VectorStoreIndex.from_vector_store(index.vector_store, embed_model=ChunkEmbedding(embedder))
    with pytest.raises(ValueError, match="not a chunk id"):
        llama_index.insert_nodes([TextNode(text="def sneaky(): pass")])
    assert index.store.held_ids() == index.catalog.live_chunk_ids()
