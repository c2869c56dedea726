"""The ingest stage: paths -> discovery (what to read) -> loaders (the reader of each format, in
formats/: text, title, sections such as pages, slides and sheets) -> chunking (tokens, offsets
kept, a section at a time) -> documents (keys, metadata, unchanged files skipped) -> pipeline
(embedding and writing through the store's writer, one commit); watch re-runs it as files
change. Imports the store, never the answer stage."""
