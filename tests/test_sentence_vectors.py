"""Sentence vectors computed once at ingest: every chunk's sentences are stored (one row per
distinct sentence, repeated sentences embedded once), the chunk vector is made from them, a
question embeds nothing but itself, answers are the same as with sentences embedded at question
time, and deleted chunks take their sentence vectors with them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from qa import Engine, IndexReader, ingest, load_settings, read_state
from qa.answering.sentence_vectors import SentenceVectors
from qa.embeddings import SentenceEmbeddings
from qa.store.sentences import pack, sentence_hash, unpack
from qa.text.sentences import sentence_texts as sentences_of

from .conftest import SEEDS, copy_index, run_cli, write_articles
from .doubles import HashEmbeddings

QUESTIONS = [
    "What did China do at the UN Security Council vote?",
    "Which banks limited financing for Russian commodities?",
    "What share of Russian oil and gas goes to China?",
    "Why did China abstain?",
]


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory: pytest.TempPathFactory, real_seed_index: Path) -> Path:
    """seeds/ indexed with the real model: a copy of the session's."""
    return copy_index(real_seed_index, tmp_path_factory.mktemp("sentences"))


def stored_rows(index: Path) -> tuple[dict[bytes, np.ndarray], dict[str, set[bytes]]]:
    state = read_state(index)
    assert state is not None
    with sqlite3.connect(index / state.records) as conn:
        vectors = {bytes(h): unpack(blob) for h, blob in conn.execute("SELECT hash, vector FROM sentence_vectors")}
        links: dict[str, set[bytes]] = {}
        for key, digest in conn.execute("SELECT key, hash FROM chunk_sentences"):
            links.setdefault(key, set()).add(bytes(digest))
    return vectors, links


@pytest.fixture(scope="module")
def sentence_mean_index(tmp_path_factory: pytest.TempPathFactory, real_embeddings: SentenceEmbeddings) -> Path:
    """The seed article indexed with chunk vectors made of its sentences' (QA_CHUNK_EMBEDDING=sentences)."""
    index = tmp_path_factory.mktemp("sentence-means") / "index"
    ingest([SEEDS], load_settings(index_dir=index, chunk_embedding="sentences"), embeddings=real_embeddings)
    return index


def test_every_sentence_is_stored_once_and_the_chunk_vector_is_made_of_them(
    sentence_mean_index: Path, real_embeddings: SentenceEmbeddings
) -> None:
    seed_index = sentence_mean_index
    vectors, links = stored_rows(seed_index)
    reader = IndexReader(load_settings(index_dir=seed_index), real_embeddings)
    try:
        keywords = reader.keyword_index()
        assert keywords is not None
        chunks = reader.fetch(keywords.keys)
    finally:
        reader.close()
    sentences = {sentence for passage, _ in chunks.values() for sentence in sentences_of(passage.text)}
    assert set(vectors) == {sentence_hash(sentence) for sentence in sentences}  # each distinct one, once
    assert len(vectors) < sum(len(sentences_of(passage.text)) for passage, _ in chunks.values())  # overlap shared
    sample = sorted(sentences)[:12]
    standalone = real_embeddings.embed_array(sample)
    for sentence, expected in zip(sample, standalone, strict=True):
        assert float(vectors[sentence_hash(sentence)] @ expected) > 0.995  # int8 storage (and bf16 batches)
    for key, (passage, chunk_vector) in chunks.items():
        hashes = [sentence_hash(sentence) for sentence in sentences_of(passage.text)]
        assert links[key] == set(hashes)
        mean = np.mean([vectors[digest] for digest in hashes], axis=0)
        assert float(chunk_vector @ (mean / np.linalg.norm(mean))) > 0.995


def test_packing_keeps_the_vector_in_half_the_space() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        vector = rng.normal(size=384).astype(np.float32)
        vector /= np.linalg.norm(vector)
        blob = pack(vector)
        assert len(blob) == 2 * 384
        assert float(unpack(blob) @ vector) > 0.999999


def test_a_question_embeds_only_itself(seed_index: Path) -> None:
    counting = SentenceEmbeddings("sentence-transformers/all-MiniLM-L6-v2")  # its own counter
    engine = Engine(load_settings(index_dir=seed_index), embeddings=counting)
    for question in QUESTIONS:
        before = counting.calls
        answer = engine.answer(question)
        assert not answer.not_found and answer.citations
        assert counting.calls - before == 1  # the question; every passage sentence came from the index
    assert engine.sentence_vectors.embedded == 0


def test_answers_match_those_of_sentences_embedded_at_question_time(tmp_path: Path) -> None:
    # float32: in bfloat16 a vector moves with the batch it is computed in (cosine ~0.999), so
    # embedding at question time is not one answer either
    fp32 = SentenceEmbeddings("sentence-transformers/all-MiniLM-L6-v2", dtype="float32")
    settings = load_settings(index_dir=tmp_path / "index")
    ingest([SEEDS], settings, embeddings=fp32)
    stored = Engine(settings, embeddings=fp32)
    live = Engine(settings, embeddings=fp32)
    live.sentence_vectors = SentenceVectors(fp32, None)  # the model, for every sentence
    live.checker.sentences = live.sentence_vectors
    for question in QUESTIONS:
        ours, theirs = stored.answer(question), live.answer(question)
        assert ours.text == theirs.text
        assert [claim.verdict for claim in ours.claims] == [claim.verdict for claim in theirs.claims]
    assert live.sentence_vectors.embedded > 0 and stored.sentence_vectors.embedded == 0


def test_an_index_without_sentence_vectors_still_answers(
    tmp_path: Path, seed_index: Path, real_embeddings: SentenceEmbeddings
) -> None:
    import shutil

    index = tmp_path / "index"
    shutil.copytree(seed_index, index)
    state = read_state(index)
    assert state is not None
    with sqlite3.connect(index / state.records) as conn:  # as an index built before them
        conn.execute("DROP TABLE sentence_vectors")
    engine = Engine(load_settings(index_dir=index), embeddings=real_embeddings)
    answer = engine.answer(QUESTIONS[0])
    assert not answer.not_found and answer.citations and not answer.unsupported
    assert engine.sentence_vectors.embedded > 0  # embedded once, then kept in the process
    embedded = engine.sentence_vectors.embedded
    engine.answer(QUESTIONS[0])
    assert engine.sentence_vectors.embedded == embedded


def test_repeated_sentences_are_embedded_once_and_deleted_with_their_last_chunk(
    tmp_path: Path, hash_embeddings: HashEmbeddings
) -> None:
    docs = tmp_path / "docs"
    write_articles(docs, 3, paragraphs=4)
    caption = "Photo: a harbour crane at dusk, supplied by the port authority. All rights reserved."
    for path in sorted(docs.glob("*.txt")):
        path.write_text(path.read_text(encoding="utf-8") + f"\n{caption}\n", encoding="utf-8")
    settings = load_settings(index_dir=tmp_path / "index")
    first = ingest([docs], settings, embeddings=hash_embeddings)
    vectors, links = stored_rows(settings.index_dir)
    sentences_in_chunks = sum(len(hashes) for hashes in links.values())
    assert first.texts_embedded == len(vectors) < sentences_in_chunks
    assert first.sentences_reused == sentences_in_chunks - len(vectors)
    for sentence in sentences_of(caption):
        assert sum(sentence_hash(sentence) in hashes for hashes in links.values()) == 3  # one row, three chunks
    # A changed file: of its sentences, only the new one is embedded.
    changed = sorted(docs.glob("*.txt"))[0]
    changed.write_text(changed.read_text(encoding="utf-8") + "\nA new closing line was added today.\n")
    second = ingest([docs], settings, embeddings=hash_embeddings)
    assert second.texts_embedded == 1 + second.chunks_added  # the new sentence, and each new chunk whole
    # A removed file takes the sentences only it held; the caption stays for the others.
    gone = sorted(docs.glob("*.txt"))[1]
    own = {sentence_hash(s) for s in sentences_of(gone.read_text(encoding="utf-8"))} - {
        sentence_hash(s) for other in docs.glob("*.txt") if other != gone for s in sentences_of(other.read_text())
    }
    gone.unlink()
    ingest([docs], settings, embeddings=hash_embeddings)
    after, links_after = stored_rows(settings.index_dir)
    assert after.keys() == {digest for hashes in links_after.values() for digest in hashes}
    assert not (own & after.keys()) and own
    assert all(sentence_hash(sentence) in after for sentence in sentences_of(caption))


def test_whole_chunk_vectors_are_the_chunk_embedded_and_sentences_are_stored_too(
    seed_index: Path, real_embeddings: SentenceEmbeddings
) -> None:
    settings = load_settings(index_dir=seed_index)
    vectors, links = stored_rows(seed_index)
    reader = IndexReader(settings, real_embeddings)
    try:
        keywords = reader.keyword_index()
        assert keywords is not None
        chunks = list(reader.fetch(keywords.keys[:5]).values())
    finally:
        reader.close()
    direct = real_embeddings.embed_array([passage.text for passage, _ in chunks])
    for (passage, stored), expected in zip(chunks, direct, strict=True):
        assert float(stored @ expected) > 0.995
        assert sentence_hash(passage.text) in vectors  # kept by text: a repeated chunk is not embedded again
        assert {sentence_hash(s) for s in sentences_of(passage.text)} <= links[passage.chunk_id]
    assert read_state(settings.index_dir).chunk_embedding == "whole"  # type: ignore[union-attr]


def test_an_index_of_sentence_means_ranks_chunks_by_their_best_sentence(
    sentence_mean_index: Path, real_embeddings: SentenceEmbeddings
) -> None:
    settings = load_settings(index_dir=sentence_mean_index, retrieval="dense")
    engine = Engine(settings, embeddings=real_embeddings)
    for question in QUESTIONS:
        retrieval = engine.retriever.search(question, k=4)
        best = [
            max(float(vector @ retrieval.query_vector) for vector in real_embeddings.embed_array(sentences_of(p.text)))
            for p in retrieval.passages
        ]
        assert best == sorted(best, reverse=True) or max(best) - best[0] < 0.01  # bf16 batches move cosines a little


def test_a_run_with_nothing_to_embed_loads_no_model(seed_index: Path, tmp_path: Path) -> None:
    import shutil

    index = tmp_path / "index"
    shutil.copytree(seed_index, index)
    code = (
        "import json, sys\n"
        "from qa import ingest, load_settings\n"
        f"report = ingest([{str(SEEDS)!r}], load_settings(index_dir={str(index)!r}))\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'unchanged': report.files_unchanged}))\n"
    )
    result = run_cli(["-c", code], real_model=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"torch": False, "unchanged": 1}
