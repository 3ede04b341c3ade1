"""Hybrid retrieval: dense (FAISS) + BM25 (FTS5), fused by reciprocal rank."""
