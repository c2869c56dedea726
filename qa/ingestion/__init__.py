"""The ingest stage: paths -> discovery (what to read) -> loaders (text, title, pages) ->
chunking (tokens, offsets kept) -> documents (keys, metadata, unchanged files skipped) ->
pipeline (embedding and writing through the store's writer, one commit). Imports the store,
never the answer stage."""
