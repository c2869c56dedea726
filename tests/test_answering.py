"""Answers with verified citations, on the seed article: the extractive default, an LLM backend
behind a real OpenAI-compatible HTTP server, the citation check, not-found, follow-ups, fallback."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qa import load_settings
from qa.answering.engine import Engine
from qa.answering.prompting import NOT_FOUND_TEXT
from qa.cli import qa_main
from qa.ingestion.pipeline import ingest
from qa.types import Answer

from .conftest import SEED_FILE, copy_index, run_cli
from .llm_server import LLMServer

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")
OFF_TOPIC = "What is the tallest mountain on Venus?"


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory: pytest.TempPathFactory, real_seed_index: Path) -> Path:
    """seeds/ indexed with the real model (this module's `embeddings`): a copy of the session's."""
    return copy_index(real_seed_index, tmp_path_factory.mktemp("seed"))


@pytest.fixture(scope="module")
def engine(seed_index: Path, embeddings: Any) -> Iterator[Engine]:
    built = Engine(load_settings(index_dir=seed_index), embeddings=embeddings)
    yield built
    built.close()


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer() as running:
        yield running


@pytest.fixture
def llm_engine(seed_index: Path, embeddings: Any, server: LLMServer) -> Iterator[Engine]:
    server.mode = "ok"
    server.finish_reason = "stop"
    server.clear_requests()
    settings = load_settings(
        index_dir=seed_index,
        backend="openai",
        openai_base_url=server.openai_base_url,
        openai_model="test",
        llm_timeout_s=2.0,
    )
    built = Engine(settings, embeddings=embeddings)
    yield built
    built.close()


def assert_well_cited(answer: Answer) -> None:
    """Citations numbered 1..n in order of first use, each used in the text, each quote exactly
    the passage text at start:end and present in the seed file."""
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    used = [int(n) for n in re.findall(r"\[(?:contradicted by source )?(\d+)\]", answer.text)]
    assert list(dict.fromkeys(used)) == [c.n for c in answer.citations]
    for citation in answer.citations:
        assert citation.source == SEED_FILE.name
        assert citation.passage[citation.start : citation.end] == citation.quote
        assert citation.quote and citation.quote in SEED_TEXT


@pytest.mark.parametrize(
    ("question", "facts"),
    [
        ("What share of Russian oil and gas is now sold to China?", ["30 percent"]),
        ("Which two Chinese banks restricted financing?", ["ICBC", "Bank of China"]),
        ("Which countries abstained at the UN Security Council?", ["India", "UAE"]),
    ],
)
def test_extractive_answers_seed_questions_with_citations(engine: Engine, question: str, facts: list[str]) -> None:
    answer = engine.answer(question)
    assert not answer.not_found and not answer.fallback and answer.backend == "extractive"
    for fact in facts:
        assert fact in answer.text
        # the answer first: the short answer names it, verbatim from the first (evidence) sentence
        assert answer.short is not None and fact in answer.short
    assert answer.short in answer.claims[0].text and answer.claims[0].verdict == "supported"
    assert len(answer.claims) <= 3  # the evidence, then at most two more sentences
    assert answer.citations and not answer.unsupported
    assert_well_cited(answer)
    # Extractive: every sentence of the answer is a sentence of a cited passage.
    for sentence in re.split(r"(?<=\])[.!?]?\s+", answer.text):
        plain = re.sub(r"\s*\[\d+\]", "", sentence).strip()
        assert plain.rstrip(".") in SEED_TEXT


@pytest.mark.parametrize("question", [OFF_TOPIC, "How do I make a sourdough starter?", "Who won the 1998 World Cup?"])
def test_off_topic_questions_are_not_found(engine: Engine, question: str) -> None:
    answer = engine.answer(question)
    assert answer.not_found and answer.citations == [] and answer.text == NOT_FOUND_TEXT
    assert answer.short is None


@pytest.mark.parametrize(
    ("question", "passage"),
    [
        ("What is the capital of Burkina Faso?", "Mali and Niger border the region."),
        ("How many hearts does an octopus have?", "Cephalopods have blue blood."),
    ],
)
def test_a_close_passage_that_shares_no_word_of_the_question_is_no_answer(
    tmp_path: Path, embeddings: Any, question: str, passage: str
) -> None:
    """MiniLM puts these passages near their questions (cosine over 0.4, past the 0.36 threshold),
    and the extractive answer would quote them; sharing no word of the question but "have", that
    closeness is no evidence, so the question is declined."""
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "note.txt").write_text(passage + "\n", encoding="utf-8")
    settings = load_settings(index_dir=tmp_path / "index")
    ingest([documents], settings, embeddings=embeddings)
    engine = Engine(settings, embeddings=embeddings)
    lenient = Engine(settings.model_copy(update={"min_overlap": 0.0}), embeddings=embeddings)
    try:
        relevance = engine.relevance(engine.retriever.search(question))
        assert relevance.cosine >= settings.min_relevance and relevance.coverage < settings.min_overlap
        assert engine.answer(question).not_found
        assert passage.rstrip(".") in lenient.answer(question).text  # the overlap floor is what declines it
    finally:
        engine.close()
        lenient.close()


def test_a_question_that_asks_for_no_single_thing_has_no_short_answer(engine: Engine) -> None:
    answer = engine.answer("True or false: Chinese banks restricted financing for Russian commodities?")
    assert not answer.not_found and answer.short is None and answer.citations


GALLERY = """Photos: Banks and the war in Ukraine

Pictured: The Bank of China, one of two Chinese banks that restricted financing for Russian commodities, \
is seen in London (file photo).
Pictured: A branch of a Chinese state bank in Beijing, where banks restricted financing (file photo).
Read more: How Chinese banks restricted financing for Russian trade
"""


def test_a_caption_never_outranks_the_sentence_that_answers(
    tmp_path: Path, real_seed_index: Path, embeddings: Any
) -> None:
    """A photo gallery beside the seed repeats the question's words in captions; the answer still
    comes from the story, and the bold answer names both banks (not the caption's one)."""
    gallery = tmp_path / "docs" / "gallery.txt"
    gallery.parent.mkdir()
    gallery.write_text(GALLERY, encoding="utf-8")
    index = copy_index(real_seed_index, tmp_path / "index")
    settings = load_settings(index_dir=index)
    ingest([gallery.parent], settings, embeddings=embeddings)
    with_gallery = Engine(settings, embeddings=embeddings)
    try:
        retrieved = with_gallery.retriever.search("Which two Chinese banks restricted financing?").passages
        assert any(passage.source.endswith("gallery.txt") for passage in retrieved)  # the captions compete
        answer = with_gallery.answer("Which two Chinese banks restricted financing?")
    finally:
        with_gallery.close()
    assert answer.short == "ICBC and Bank of China"
    assert not answer.claims[0].text.startswith(("Pictured", "Read more"))
    assert "Pictured" not in answer.text


def test_stream_yields_text_then_answer(engine: Engine) -> None:
    events = list(engine.stream("Which two Chinese banks restricted financing?"))
    assert isinstance(events[-1], Answer)
    assert all(isinstance(event, str) for event in events[:-1]) and events[:-1]


def test_follow_up_question_uses_history(engine: Engine) -> None:
    history = [
        {"role": "user", "content": "Which two Chinese banks restricted financing?"},
        {"role": "assistant", "content": "ICBC and Bank of China [1]."},
    ]
    answer = engine.answer("Why did they do that?", history)
    assert "banks" in answer.standalone_question
    assert not answer.not_found
    assert "sanctions" in answer.text.lower()
    without_history = engine.answer("Why did they do that?")
    assert without_history.standalone_question == "Why did they do that?"


def test_source_filter_restricts_passages(engine: Engine) -> None:
    answer = engine.answer("Which two Chinese banks restricted financing?", sources=["no-such-file.txt"])
    assert answer.not_found and not answer.citations


# --- LLM backend through a real OpenAI-compatible server -----------------------------------------


def _passage_numbered(request: dict[str, Any], needle: str) -> int:
    """The number the prompt gave to the passage containing `needle` (so replies cite real ones)."""
    prompt = "\n".join(str(message.get("content")) for message in request["messages"])
    for match in re.finditer(r'<passage n="(\d+)"[^>]*>(.*?)</passage>', prompt, re.S):
        if needle in match.group(2):
            return int(match.group(1))
    raise AssertionError(f"no passage with {needle!r} in the prompt")


def test_llm_answer_streams_and_fabricated_marker_is_dropped(llm_engine: Engine, server: LLMServer) -> None:
    def reply(request: dict[str, Any]) -> str:
        n = _passage_numbered(request, "30 percent of Russian oil and gas")
        return f"About 30 percent of Russian oil and gas is now sold to China [{n}]. China is a big buyer [7]."

    server.reply = reply
    events = list(llm_engine.stream("What share of Russian oil and gas is now sold to China?"))
    answer = events[-1]
    assert isinstance(answer, Answer)
    assert len(events) > 3  # token deltas, not one block
    assert "[7]" not in answer.text and "30 percent" in answer.text
    assert answer.backend == "openai" and not answer.fallback
    assert [c.n for c in answer.citations] == [1]
    assert "30 percent" in answer.citations[0].quote
    assert_well_cited(answer)


def test_llm_unsupported_sentence_is_flagged(llm_engine: Engine, server: LLMServer) -> None:
    def reply(request: dict[str, Any]) -> str:
        n = _passage_numbered(request, "ICBC")
        return f"ICBC and Bank of China restricted financing [{n}]. The banks also banned all trade with Brazil [{n}]."

    server.reply = reply
    answer = llm_engine.answer("Which two Chinese banks restricted financing?")
    assert answer.unsupported == ["The banks also banned all trade with Brazil."]
    assert "ICBC" in answer.text and answer.citations
    assert_well_cited(answer)
    assert answer.short == "ICBC and Bank of China restricted financing"  # the checked first line


@pytest.mark.parametrize(
    ("first_line", "short"),
    [
        ("ICBC and Bank of China", "ICBC and Bank of China"),  # checked: the short answer
        ("HSBC and Barclays", None),  # contradicted by the passages: no short answer
    ],
)
def test_an_llm_first_line_is_the_short_answer_when_checked(
    llm_engine: Engine, server: LLMServer, first_line: str, short: str | None
) -> None:
    def reply(request: dict[str, Any]) -> str:
        n = _passage_numbered(request, "ICBC")
        return f"{first_line} [{n}]. ICBC and Bank of China are restricting the purchase of Russian commodities [{n}]."

    server.reply = reply
    answer = llm_engine.answer("Which two Chinese banks restricted financing?")
    assert answer.short == short and (short is not None) == (answer.claims[0].verdict == "supported")
    system = server.chat_requests[-1]["json"]["messages"][0]["content"]
    assert "one short line" in system  # the prompt asks for the answer first


@pytest.mark.parametrize("finish_reason", ["length", "stop"])
def test_answer_cut_at_the_token_limit_loses_its_unfinished_sentence(
    llm_engine: Engine, server: LLMServer, finish_reason: str
) -> None:
    """A server that stopped at max tokens ("length") leaves a sentence half written: it streamed,
    but the final answer ends at the last whole sentence. Ended normally, nothing is dropped."""

    def reply(request: dict[str, Any]) -> str:
        n = _passage_numbered(request, "ICBC")
        return f"ICBC and Bank of China restricted financing [{n}]. Both banks also stopped lending to the"

    server.reply = reply
    server.finish_reason = finish_reason
    events = list(llm_engine.stream("Which two Chinese banks restricted financing?"))
    answer = events[-1]
    assert isinstance(answer, Answer) and not answer.fallback
    assert "stopped lending to the" in "".join(e for e in events[:-1] if isinstance(e, str))
    if finish_reason == "length":
        assert answer.text == "ICBC and Bank of China restricted financing [1]."
    else:
        assert (
            answer.text.endswith("stopped lending to the [unsupported]") and "restricted financing [1]." in answer.text
        )
    assert_well_cited(answer)


def test_llm_citations_renumbered_in_order_of_first_use(llm_engine: Engine, server: LLMServer) -> None:
    def reply(request: dict[str, Any]) -> str:
        banks = _passage_numbered(request, "ICBC")
        oil = _passage_numbered(request, "30 percent of Russian oil and gas")
        return (
            f"About 30 percent of Russian oil and gas is now sold to China [{oil}]. "
            f"ICBC and Bank of China are restricting the purchase of Russian commodities [{banks}]."
        )

    server.reply = reply
    answer = llm_engine.answer("How is China dealing with Russian oil and the banks?")
    assert [c.n for c in answer.citations] == [1, 2]
    assert answer.text.index("[1]") < answer.text.index("[2]")
    assert "30 percent" in answer.citations[0].quote and "ICBC" in answer.citations[1].quote


def test_llm_not_found_reply_cites_nothing(llm_engine: Engine, server: LLMServer) -> None:
    server.reply = NOT_FOUND_TEXT
    answer = llm_engine.answer("What did the Chinese ambassador eat for breakfast in Moscow?")
    assert answer.not_found and not answer.citations


def test_off_topic_never_calls_the_llm(llm_engine: Engine, server: LLMServer) -> None:
    server.reply = "Maxwell Montes, about 11 km high [1]."
    answer = llm_engine.answer(OFF_TOPIC)
    assert answer.not_found and not answer.citations
    assert server.chat_requests == []


def test_llm_follow_up_is_condensed_by_the_model(llm_engine: Engine, server: LLMServer) -> None:
    def reply(request: dict[str, Any]) -> str:
        text = json.dumps(request["messages"])
        if "standalone" in text.lower():
            return "Why did ICBC and Bank of China restrict financing for Russian commodities?"
        n = _passage_numbered(request, "ICBC")
        return f"They feared sanctions from the United States and its allies [{n}]."

    server.reply = reply
    history = [
        {"role": "user", "content": "Which two Chinese banks restricted financing?"},
        {"role": "assistant", "content": "ICBC and Bank of China [1]."},
    ]
    answer = llm_engine.answer("Why?", history)
    assert answer.standalone_question.startswith("Why did ICBC")
    assert answer.citations and "sanctions" in answer.text
    # The conversation reached the model as chat turns.
    final = server.chat_requests[-1]["json"]["messages"]
    assert any(m["role"] == "assistant" and "ICBC and Bank of China" in m["content"] for m in final)


@pytest.mark.parametrize(
    ("mode", "cause"),
    [("http_500", "500"), ("http_401", "401"), ("http_429", "429"), ("slow", "within"), ("truncated_stream", "ended")],
)
def test_backend_failure_falls_back_to_extractive(llm_engine: Engine, server: LLMServer, mode: str, cause: str) -> None:
    server.mode = mode
    server.delay_s = 30
    answer = llm_engine.answer("Which two Chinese banks restricted financing?")
    assert answer.fallback and answer.backend == "openai"
    assert answer.error and "openai" in answer.error and cause in answer.error
    assert "ICBC" in answer.text and answer.citations
    assert_well_cited(answer)


def test_unreachable_backend_falls_back(seed_index: Path, embeddings: Any) -> None:
    settings = load_settings(index_dir=seed_index, backend="openai", openai_base_url="http://127.0.0.1:9/v1")
    answer = Engine(settings, embeddings=embeddings).answer("Which two Chinese banks restricted financing?")
    assert answer.fallback and "cannot reach" in (answer.error or "")
    assert answer.citations and "ICBC" in answer.text


# --- CLI contract ---------------------------------------------------------------------------------


def test_cli_ask_json_contract(seed_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = run_cli(
        ["-m", "qa", "ask", "Which two Chinese banks restricted financing?", "--index", str(seed_index), "--json"],
        real_model=True,
    )
    assert found.returncode == 0, found.stderr
    data = json.loads(found.stdout)
    assert {"short", "text", "citations", "unsupported", "backend", "not_found", "fallback"} <= set(data)
    assert "Bank of China" in data["short"]
    assert data["citations"] and not data["not_found"] and data["fallback"] is False
    for number, citation in enumerate(data["citations"], 1):
        assert {"n", "source", "title", "page", "chunk_id", "quote", "start", "end", "score"} <= set(citation)
        assert citation["n"] == number and f"[{number}]" in data["text"]
    assert data["claims"] and {"text", "verdict", "citations", "reason", "quote"} <= set(data["claims"][0])
    assert all(claim["verdict"] == "supported" and claim["citations"] for claim in data["claims"])
    # not found, and the human output: the same command in this process (the model is loaded already)
    assert qa_main(["ask", OFF_TOPIC, "--index", str(seed_index), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["not_found"] is True and data["citations"] == [] and data["short"] is None
    # the short answer first
    assert qa_main(["ask", "Which two Chinese banks restricted financing?", "--index", str(seed_index)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Answer: ICBC and Bank of China\n"), printed


def test_cli_ask_without_index_is_one_clear_error(tmp_path: Path) -> None:
    result = run_cli(["-m", "qa", "ask", "anything", "--index", str(tmp_path / "none")])
    assert result.returncode == 1
    assert result.stderr.startswith("error: no index") and "Traceback" not in result.stderr
