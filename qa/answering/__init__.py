"""The answer stage: question (+ history) -> engine: condense -> retrieval (dense + BM25 fused,
recency) -> not-found rule -> backend (streaming) -> citation check -> Answer. Reads the store
through `IndexReader` only."""
