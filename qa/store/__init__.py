"""The store: the index on disk. Chroma collections, the record file, the keyword index and the
pointer that names the live generation; one writer, any number of readers.

Layout of `index_dir`:
    index.json              the pointer: live collection, records file, embedding model, version
    index-id                random id of this index (marks its collections on a shared server)
    chroma/                 the embedded Chroma store (absent in server mode)
    records-<gen>.sqlite    record manager, file manifest and chunk terms of generation <gen>
    bm25/<gen>-v<n>/        the keyword index (bm25s) published with pointer version n
    write.lock              held by the one writer

A rebuild (and the very first ingest) writes a new generation beside the live one and switches
by atomically replacing index.json, so a crash at any moment leaves the previous index answering.
Leftovers of a crashed run are removed by the next writer.

An incremental run writes into the live generation, but publishes like a rebuild: readers only
return chunks listed in the keyword snapshot the pointer names, and the deletions of a run (a
changed file's old chunks, a removed file) are journaled and carried out only after the commit
that publishes it. So at every moment, crash or not, each file is seen wholly in its old version
or wholly in its new one. A run that dies is rolled back by the next writer (its unpublished
chunks deleted, its files read again), or rolled forward if it died just after its commit.

Modules: `pointer` (index.json), `chroma` (client and collection helpers), `lock` (the write
lock), `records` (the SQLite record file), `vectors` (Chroma with recorded terms and staged
deletions), `keywords` (BM25 snapshots), `writer` (the writer and its crash recovery), `reader`
(queries), `check` (drift between the three), `overview` (what the index holds, for the app),
`failures` (storage errors in one line). The answer stage uses `IndexReader` only.
"""
