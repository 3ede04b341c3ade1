"""The workspace index: files → chunks → embeddings → FAISS + BM25, kept current by a watcher."""
