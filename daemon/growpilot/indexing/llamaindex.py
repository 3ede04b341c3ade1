"""The workspace index as llama-index parts, for llama-index query pipelines (and later our MCP server):

- `ChunkEmbedding`: our embedder as a llama-index `BaseEmbedding` (same model, same query cache);
- `chunk_node`: a catalog chunk as a `TextNode` (text; path, lines, symbol, language as metadata);
- `vector_index(index)`: a `VectorStoreIndex` over the index's vector store (FAISS or Qdrant), whose
  retrievers do dense search alone;
- `HybridRetriever`: `WorkspaceIndex.search` (dense + BM25, fused by reciprocal rank) as a `BaseRetriever`.

Read-only: files enter the index through `WorkspaceIndex` (the catalog owns ids and vectors), never
through `VectorStoreIndex.insert`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List

from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode

from growpilot.indexing.embedder import Embedder

if TYPE_CHECKING:
    from growpilot.indexing.catalog import ChunkRow
    from growpilot.indexing.indexer import WorkspaceIndex


def chunk_node(chunk_id: int, path: str, start_line: int, end_line: int, text: str, symbol: str | None,
               language: str | None) -> TextNode:
    return TextNode(
        id_=str(chunk_id), text=text,
        metadata={"path": path, "start_line": start_line, "end_line": end_line, "symbol": symbol, "language": language},
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=path)})


def row_node(row: "ChunkRow") -> TextNode:
    return chunk_node(row.id, row.path, row.start_line, row.end_line, row.text, row.symbol, row.language)


class ChunkEmbedding(BaseEmbedding):
    """Normalized sentence embeddings from our `Embedder` (which loads its model on first use)."""

    _embedder: Any = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs: Any):
        super().__init__(model_name=embedder.identity, embed_batch_size=embedder.batch_size, **kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "GrowpilotChunkEmbedding"

    def _get_query_embedding(self, query: str) -> List[float]:
        return self._embedder.embed_query(query).tolist()

    async def _aget_query_embedding(self, query: str) -> List[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> List[float]:
        return self._embedder.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: List[str]) -> List[List[float]]:
        return self._embedder.embed(texts).tolist()


def vector_index(index: "WorkspaceIndex") -> VectorStoreIndex:
    """llama-index's index over the workspace's vectors: `.as_retriever(similarity_top_k=k)` works."""
    return VectorStoreIndex.from_vector_store(index.vector_store, embed_model=ChunkEmbedding(index.embedder))


class HybridRetriever(BaseRetriever):
    """The index's hybrid search; scores are RRF scores. `exclude` drops chunks (e.g. the file being edited)."""

    def __init__(self, index: "WorkspaceIndex", similarity_top_k: int = 10,
                 exclude: Callable[["ChunkRow"], bool] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._index = index
        self._k = similarity_top_k
        self._exclude = exclude

    def _retrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        hits = self._index.search(query_bundle.query_str, k=self._k, exclude=self._exclude)
        return [NodeWithScore(node=chunk_node(h.chunk_id, h.path, h.start_line, h.end_line, h.text, h.symbol, h.language),
                              score=h.score) for h in hits]
