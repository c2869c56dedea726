"""LangChain integration: QARetriever passes LangChain's own standard retriever tests against a
real index of seeds/, and qa.chain answers with citations from a question or a conversation."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import Runnable
from langchain_tests.integration_tests import RetrieversIntegrationTests

import qa
from qa.answering.prompting import NOT_FOUND_TEXT
from qa.embeddings import SentenceEmbeddings
from qa.langchain import QARetriever

from .conftest import SEED_FILE, copy_index

QUESTION = "Which two Chinese banks restricted financing?"
_index: dict[str, Path] = {}


@pytest.fixture(scope="module", autouse=True)
def seed_index(tmp_path_factory: pytest.TempPathFactory, embeddings: SentenceEmbeddings, real_seed_index: Path) -> Path:
    """An index of seeds/ with the session's model: a copy of the session's."""
    index = copy_index(real_seed_index, tmp_path_factory.mktemp("langchain"))
    reader = qa.IndexReader(qa.load_settings(index_dir=index), embeddings)
    try:
        assert reader.count() >= 4  # the standard tests ask for 3 documents
    finally:
        reader.close()
    _index["dir"] = index
    return index


class TestQARetrieverStandard(RetrieversIntegrationTests):
    """LangChain's standard suite, unmodified (no overrides, no xfails)."""

    @property
    def retriever_constructor(self) -> type[QARetriever]:
        return QARetriever

    @property
    def retriever_constructor_params(self) -> dict[str, object]:
        return {"k": 2, "index_dir": _index["dir"]}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


def test_documents_carry_passage_metadata(seed_index: Path) -> None:
    docs = QARetriever(k=2, index_dir=seed_index).invoke(QUESTION)
    assert len(docs) == 2 and all(isinstance(doc, Document) for doc in docs)
    for doc in docs:
        meta = doc.metadata
        assert {"source", "title", "page", "chunk_id", "score", "date"} <= set(meta)
        assert meta["source"].endswith(SEED_FILE.name) and meta["title"].startswith("China says")
        assert doc.id == meta["chunk_id"] and isinstance(meta["score"], float) and meta["page"] is None
    assert "state-backed banks to limit finance" in docs[0].page_content  # the answering passage first
    assert all(-1.0 <= doc.metadata["score"] <= 1.0 for doc in docs)  # cosine similarity to the query


def test_k_and_sources_per_call(seed_index: Path) -> None:
    retriever = QARetriever(k=2, index_dir=seed_index)
    assert len(retriever.invoke(QUESTION, k=4)) == 4
    assert retriever.invoke(QUESTION, sources=["no-such-file.txt"]) == []
    assert len(retriever.invoke(QUESTION, sources=[retriever.invoke(QUESTION)[0].metadata["source"]])) == 2


def test_settings_and_engine_shared(seed_index: Path) -> None:
    settings = qa.load_settings(index_dir=seed_index, top_k=3)
    first, second = QARetriever(settings=settings), QARetriever(settings=settings, k=1)
    assert len(first.invoke(QUESTION)) == 3 and len(second.invoke(QUESTION)) == 1
    assert first.engine is second.engine  # one engine (and one model) per settings
    moved = QARetriever(settings=settings, index_dir=seed_index.parent / "elsewhere")
    assert moved.resolved_settings().index_dir == seed_index.parent / "elsewhere"
    with pytest.raises(qa.IndexMissing):
        moved.invoke(QUESTION)


def test_chain_answers_with_citations(seed_index: Path) -> None:
    chain = qa.chain(qa.load_settings(index_dir=seed_index))
    assert isinstance(chain, Runnable)
    answer = chain.invoke(QUESTION)
    assert isinstance(answer, qa.Answer) and not answer.not_found
    assert "ICBC" in answer.text and "[1]" in answer.text
    for citation in answer.citations:
        assert citation.passage[citation.start : citation.end] == citation.quote
    assert chain.invoke("What is the tallest mountain on Venus?").text == NOT_FOUND_TEXT


def test_chain_follow_up_uses_history(seed_index: Path) -> None:
    chain = qa.chain(qa.load_settings(index_dir=seed_index))
    history = [HumanMessage(QUESTION), AIMessage("ICBC and Bank of China [1].")]
    answer = chain.invoke({"question": "Why did they do that?", "history": history})
    assert answer.standalone_question != "Why did they do that?" and "banks" in answer.standalone_question
    assert "sanctions" in answer.text and answer.citations
    as_dicts = chain.invoke({"question": "Why did they do that?", "history": [{"role": "user", "content": QUESTION}]})
    assert as_dicts.standalone_question == answer.standalone_question
    with pytest.raises(TypeError):
        chain.invoke({"history": history})


async def test_chain_async(seed_index: Path) -> None:
    answer = await qa.chain(qa.load_settings(index_dir=seed_index)).ainvoke(QUESTION)
    assert answer.citations and "ICBC" in answer.text
