"""Vectors of every chunk's sentences, computed once at ingest and kept beside the chunks, so a
question costs one query embedding: the extractive answer and the citation check score the
retrieved passages' sentences with vectors read here instead of running the model on them.

Vectors are content-addressed: one row per distinct text (the hash of its exact text), holding
the text embedded standalone, the vector the answer step compares. A sentence shared by
neighbouring chunks (their overlap), repeated across files (captions, boilerplate) or kept by an
edit is embedded once. How a chunk's own vector is made (`chunk_embedding`):
- `whole` (default): the chunk embedded as one text, kept under its hash too (a chunk repeated in
  another file is not embedded again). Retrieval and answers as before sentence vectors existed;
  the model runs on each chunk and on each distinct sentence (about 1.9x the model time).
- `sentences`: the normalised mean of its sentences' vectors; no chunk pass, so ingest takes
  about half the model time. Measured on rtqa-dev: MRR@10 0.836 (whole 0.821), but answer
  containment 0.317 (whole 0.348): the passages it ranks first hold the answer less often.

Stored as float16 (half of float32; answers and verdicts match those of vectors computed at
question time, see `pack`). `chunk_sentences` ties each chunk to its texts, so the vectors of
deleted chunks go with them (`prune`).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..embeddings import Embedder
from ..text.sentences import sentence_texts

SCHEMA = """
CREATE TABLE IF NOT EXISTS sentence_vectors (
    hash BLOB PRIMARY KEY,
    vector BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunk_sentences (
    key TEXT NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (key, hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chunk_sentences_hash ON chunk_sentences(hash);
"""

#: Sentences looked up per SQL statement (SQLite's variable limit is 32,766; smaller is faster).
_PAGE = 500


def sentence_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def pack(vector: np.ndarray) -> bytes:
    """A vector as float16 (int8 with a scale, half this size, flips near-ties between sentences
    of an answer: 1 of 8 seed questions answered differently than with the model's vectors)."""
    return np.asarray(vector, dtype=np.float16).tobytes()


def unpack(blob: bytes) -> np.ndarray:
    vector = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
    return vector / (np.linalg.norm(vector) or 1.0)


def read_vectors(conn: sqlite3.Connection, hashes: Sequence[bytes], dimension: int) -> dict[bytes, np.ndarray]:
    """The stored vectors of these sentence hashes (the missing, and any of another size, are left
    out: the answer step embeds those)."""
    found: dict[bytes, np.ndarray] = {}
    unique = list(dict.fromkeys(hashes))
    for start in range(0, len(unique), _PAGE):
        part = unique[start : start + _PAGE]
        marks = ",".join("?" * len(part))
        for digest, blob in conn.execute(f"SELECT hash, vector FROM sentence_vectors WHERE hash IN ({marks})", part):
            if len(blob) == 2 * dimension:
                found[bytes(digest)] = unpack(blob)
    return found


@dataclass
class EmbeddedChunks:
    """Vectors of a batch of chunks, and the sentence rows to store with them."""

    vectors: np.ndarray  # one unit row per chunk
    new_sentences: list[tuple[bytes, bytes]]  # (hash, packed vector) not stored yet
    links: list[list[bytes]]  # each chunk's sentence hashes
    embedded: int  # texts the model ran on
    reused: int  # sentences whose vector was already stored (or repeated in the batch)


def embed_chunks(
    texts: Sequence[str],
    embeddings: Embedder,
    stored: Callable[[Sequence[bytes]], dict[bytes, np.ndarray]],
    whole: bool = False,
) -> EmbeddedChunks:
    """Embed each distinct text needed and not `stored` yet, once: every chunk's sentences, and
    with `whole` the chunk itself (its vector is then kept under its text's hash too, so a chunk
    repeated in another file is not embedded again). Without `whole` a chunk's vector is the
    normalised mean of its sentences'."""
    sentences = [sentence_texts(text) for text in texts]
    links = [[sentence_hash(sentence) for sentence in chunk] for chunk in sentences]
    wanted = {
        digest: sentence
        for chunk, hashes in zip(sentences, links, strict=True)
        for sentence, digest in zip(chunk, hashes, strict=True)
    }
    chunk_hashes = [sentence_hash(text) for text in texts]
    if whole:
        wanted.update(zip(chunk_hashes, texts, strict=True))
        links = [
            [*hashes, digest] if digest not in hashes else hashes
            for hashes, digest in zip(links, chunk_hashes, strict=True)
        ]
    known = stored(list(wanted))
    missing = [digest for digest in wanted if digest not in known]
    vectors = dict(known)
    vectors.update(zip(missing, embeddings.embed_array([wanted[digest] for digest in missing]), strict=True))
    if whole:
        chunk_vectors = np.stack([vectors[digest] for digest in chunk_hashes])
    else:
        means = np.stack([np.mean([vectors[digest] for digest in hashes], axis=0) for hashes in links])
        chunk_vectors = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    return EmbeddedChunks(
        vectors=np.asarray(chunk_vectors, dtype=np.float32),
        new_sentences=[(digest, pack(vectors[digest])) for digest in missing],
        links=links,
        embedded=len(missing),
        reused=sum(len(hashes) for hashes in links) - len(missing),
    )
