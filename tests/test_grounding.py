"""The citation check on the seed article: every kind of wrong sentence is caught (negation,
opposite, swapped role, changed unit, date, weekday, dropped hedge, a sentence from nowhere) and
every harmless rewording passes (synonyms, reordered and shortened clauses, passive voice, two
sentences merged, framing, numbers written differently). The real embedding model and WordNet:
the verdicts depend on both."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.answering.engine import Engine
from qa.config import load_settings
from qa.embeddings import SentenceEmbeddings
from qa.text.lexicon import lexicon

from .conftest import copy_index


@pytest.fixture(scope="module")
def engine(
    tmp_path_factory: pytest.TempPathFactory, real_embeddings: SentenceEmbeddings, real_seed_index: Path
) -> Engine:
    index = copy_index(real_seed_index, tmp_path_factory.mktemp("grounding"))
    return Engine(load_settings(index_dir=index), embeddings=real_embeddings)


def verdict_of(engine: Engine, question: str, sentence: str) -> tuple[str, str]:
    """The check's verdict on `sentence`, cited to the first passage retrieved for `question`
    (six passages: which one is fourth can hang on a tie that the number format decides)."""
    passages = engine.retriever.search(question, k=6).passages
    checked = engine.checker.check(f"{sentence.rstrip('.')} [1].", passages, question=question)
    assert len(checked.claims) == 1, checked
    return checked.claims[0].verdict, checked.claims[0].reason


def test_wordnet_is_installed_and_read() -> None:
    """CI installs Debian's wordnet-base; without it the check would lose most opposites."""
    words = lexicon()
    assert words.has_wordnet, "WordNet not found: apt-get install wordnet-base"
    assert words.are_opposites("rose", "fell") and words.are_opposites("won", "lost")
    assert words.are_opposites("largest", "smallest") and words.are_opposites("approved", "rejected")
    assert words.is_proper_noun("China") and words.is_proper_noun("moscow")
    assert words.names_behind("Chinese") == {"china"} and words.names_behind("large") == frozenset()
    assert not any(words.is_proper_noun(word) for word in ("Late", "It", "He", "Officials", "The"))
    assert not words.are_opposites("bought", "purchased") and "purchase" in words.related("bought")


CAUGHT = [
    (  # negation
        "Which countries abstained at the UN Security Council?",
        "China, India and the UAE did not abstain from voting on a UN Security Council resolution.",
        "contradicted",
    ),
    (  # opposite (a superlative flipped)
        "Which is the world's largest bank by assets?",
        "ICBC is the world's smallest bank by assets.",
        "contradicted",
    ),
    (  # swapped role: a name of the same passage in another's place
        "Did China veto the UN resolution?",
        "China vetoed the UN Security Council resolution.",
        "contradicted",
    ),
    (  # two names trade places around the verb
        "Which countries abstained at the UN Security Council?",
        "Russia abstained from voting on a UN Security Council resolution condemning China's invasion of Ukraine.",
        "contradicted",
    ),
    (  # the unit changed: percent is not points
        "What share of Russian oil and gas is sold to China?",
        "About 30 points of oil and gas produced in Russia now sold to China.",
        "contradicted",
    ),
    (  # the date changed
        "When did China abstain at the UN?",
        "On February 27, China, India and the UAE abstained from voting on a UN Security Council resolution.",
        "contradicted",
    ),
    (  # the weekday changed
        "When did China's foreign minister speak with his Ukrainian counterpart?",
        "China's foreign minister spoke with his Ukrainian counterpart on Monday.",
        "contradicted",
    ),
    (  # a hedge dropped: "may only be temporary" is not "is temporary"
        "Is the banks' move temporary?",
        "Bloomberg said the move is only temporary.",
        "contradicted",
    ),
    (  # polarity the other way: the passage negates, the answer affirms
        "Does China want to oppose Russia?",
        "China wants to directly oppose its ally Russia.",
        "contradicted",
    ),
    (  # from nowhere
        "What happened in Paris?",
        "The Eiffel Tower was completed in Paris in 1889.",
        "unsupported",
    ),
    (  # a name from elsewhere
        "Which banks restricted financing?",
        "Deutsche Bank is restricting the purchase of Russian commodities.",
        "unsupported",
    ),
]


@pytest.mark.parametrize(("question", "sentence", "expected"), CAUGHT)
def test_a_wrong_sentence_is_caught(engine: Engine, question: str, sentence: str, expected: str) -> None:
    verdict, reason = verdict_of(engine, question, sentence)
    assert verdict == expected, reason
    assert reason


PASSED = [
    (  # synonyms
        "Which is the world's largest bank by assets?",
        "ICBC is the world's biggest bank by assets.",
    ),
    (  # reordered: the leading phrase moved to the end
        "When did China abstain at the UN?",
        "China, India and the UAE abstained from voting on a UN Security Council resolution on February 26.",
    ),
    (  # shortened
        "When did China abstain at the UN?",
        "China abstained from voting on a draft UN Security Council resolution.",
    ),
    (  # passive voice
        "Which banks restricted financing?",
        "The purchase of Russian commodities is being restricted by ICBC and Bank of China.",
    ),
    (  # two sentences of one passage merged
        "Is the banks' move temporary?",
        "Bloomberg said the move may only be temporary, and ICBC is the world's largest bank by assets.",
    ),
    (  # framing
        "What did Putin sign in Beijing?",
        "According to the documents, Putin signed important agreements with Xi Jinping while visiting Beijing.",
    ),
    (  # a number written differently
        "What share of Russian oil and gas is sold to China?",
        "About 30% of oil and gas produced in Russia is now sold to China.",
    ),
    (  # negation kept, reworded
        "Does China want to oppose Russia?",
        "China doesn't want to directly oppose its ally Russia.",
    ),
]


@pytest.mark.parametrize(("question", "sentence"), PASSED)
def test_a_rewording_passes(engine: Engine, question: str, sentence: str) -> None:
    verdict, reason = verdict_of(engine, question, sentence)
    assert verdict == "supported", reason


def test_flagged_sentences_carry_no_marker_and_are_marked_where_they_stand(engine: Engine) -> None:
    question = "Which is the world's largest bank by assets?"
    passages = engine.retriever.search(question).passages
    good = "ICBC is the world's largest bank by assets"
    text = f"{good} [1]. ICBC is the world's smallest bank by assets [1]. The Eiffel Tower was completed in 1889 [1]."
    checked = engine.checker.check(text, passages, question=question)
    verdicts = [claim.verdict for claim in checked.claims]
    assert verdicts == ["supported", "contradicted", "unsupported"], checked.claims
    assert checked.text.startswith(good + " [1].")
    assert "smallest bank by assets [contradicted by source 1]." in checked.text
    assert "completed in 1889 [unsupported]." in checked.text
    contradicted = checked.claims[1]
    assert contradicted.citations == [1] and "largest" in contradicted.reason and "largest" in contradicted.quote
    assert checked.unsupported == [claim.text for claim in checked.claims[1:]]
    assert checked.claims[2].citations == []


def test_extractive_answers_pass_untouched(engine: Engine) -> None:
    for question in [
        "Which two Chinese banks restricted financing?",
        "What share of Russian oil and gas is sold to China?",
        "Which countries abstained at the UN Security Council?",
    ]:
        answer = engine.answer(question)
        assert answer.claims and all(claim.verdict == "supported" for claim in answer.claims), answer.claims
        assert "[unsupported]" not in answer.text and "contradicted" not in answer.text
        assert answer.to_json()["claims"][0].keys() == {"text", "verdict", "citations", "reason", "quote"}


def test_without_wordnet_the_check_still_runs(engine: Engine, tmp_path: Path) -> None:
    """A machine without WordNet keeps the added opposites and the other checks."""
    from qa.answering.citations import CitationChecker
    from qa.text.lexicon import Lexicon

    bare = CitationChecker(engine.embeddings, Lexicon(None))
    question = "Which is the world's largest bank by assets?"
    passages = engine.retriever.search(question).passages
    checked = bare.check("Bloomberg said the move is only temporary [1].", passages, question="Is the move temporary?")
    assert checked.claims[0].verdict == "contradicted"
    assert not bare.lexicon.has_wordnet and bare.lexicon.are_opposites("rises", "falls")


def test_each_added_opposite_is_one_wordnet_lacks() -> None:
    """The project's own list of opposites only fills WordNet's gaps."""
    from qa.text import lexicon as module

    words = lexicon()
    for line in module._MORE_OPPOSITES.strip().replace("\n    |", " |").splitlines():
        left, right = (side.split() for side in line.split("|"))
        in_wordnet = {
            (first, second)
            for first in left
            for second in right
            if set(words._wordnet_opposites(first)) & words.bases(second)
            or set(words._wordnet_opposites(second)) & words.bases(first)
        }
        assert len(in_wordnet) < len(left) * len(right), f"WordNet has every pair of: {line}"


def test_a_name_opening_the_sentence_is_checked_like_any_other(engine: Engine) -> None:
    """ "China vetoed ..." over "Moscow also vetoed ..." in a passage that writes "China" only in its
    title: a capitalised first word WordNet knows as a name is a name, so the swap is seen."""
    question = "Did China veto the UN resolution?"
    found = engine.retriever.search("Moscow also vetoed a UN Security Council resolution", k=8).passages
    passages = [passage for passage in found if "Moscow also vetoed" in passage.text][:1]
    assert passages and "China" not in passages[0].text
    checked = engine.checker.check("China vetoed the UN Security Council resolution [1].", passages, question=question)
    assert [claim.verdict for claim in checked.claims] == ["contradicted"]
    assert "Moscow also vetoed" in checked.claims[0].reason


PRESIDENT = "Who is the president of China?"


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The President of China is Xi Jinping.", "supported"),  # names only: the bare answer's rule
        ("Xi Jinping is the president of China.", "supported"),
        ("The Chinese president is Xi Jinping.", "supported"),
        ("Vladimir Putin is the president of Russia.", "supported"),
        ("Vladimir Putin is the president of China.", "contradicted"),  # "Russian President Vladimir Putin"
        ("China's president is Vladimir Putin.", "contradicted"),
        ("The President of China is Vladimir Putin.", "unsupported"),  # Putin's clause is not China's
    ],
)
def test_a_title_ties_its_holder_to_its_country(engine: Engine, sentence: str, expected: str) -> None:
    """The seed says "Chinese President Xi Jinping, right, and Russian President Vladimir Putin":
    "Chinese" names China, and the president of China is the one the clause gives, however the
    answer words it ("the President of China", "China's president")."""
    passages = [
        passage
        for passage in engine.retriever.search(PRESIDENT, k=8).passages
        if "Russian President Vladimir Putin" in passage.text
    ]
    assert passages
    checked = engine.checker.check(sentence, passages, question=PRESIDENT)
    assert [claim.verdict for claim in checked.claims] == [expected], checked.claims


BANKS = "Which two Chinese banks restricted financing?"
#: Sentences as a model writes them: facts of the passage joined, in other words ("limiting" for
#: "restricting", "fearing" for "for fear that"), with "according to". Each was flagged before the
#: check read a claim fact by fact.
JOINED_FACTS = [
    "According to Bloomberg, ICBC and Bank of China are restricting the purchase of Russian commodities; "
    "ICBC is the world's largest bank by assets.",
    "ICBC and Bank of China are restricting the purchase of Russian commodities, and Bloomberg said the move "
    "may only be temporary.",
]
#: The same joins with one fact wrong: each is still caught.
JOINED_WITH_ONE_WRONG = [
    (
        BANKS,
        "ICBC and Bank of China are restricting the purchase of Russian commodities; ICBC is the world's "
        "smallest bank by assets.",
    ),
    (
        BANKS,
        "ICBC and Bank of China are restricting the purchase of Russian commodities, and Bloomberg said the "
        "decision was taken for fear of sanctions from Japan.",
    ),
    (
        "What share of Russian oil and gas is now sold to China?",
        "China buys roughly 50% of the oil and gas Russia produces, and it has increased its purchases of "
        "Russian commodities to power its growth.",
    ),
]


@pytest.mark.parametrize("sentence", JOINED_FACTS)
def test_facts_joined_in_other_words_are_supported(engine: Engine, sentence: str) -> None:
    verdict, reason = verdict_of(engine, BANKS, sentence)
    assert verdict == "supported", reason


@pytest.mark.parametrize(("question", "sentence"), JOINED_WITH_ONE_WRONG)
def test_a_joined_sentence_with_one_wrong_fact_is_caught(engine: Engine, question: str, sentence: str) -> None:
    verdict, _ = verdict_of(engine, question, sentence)
    assert verdict != "supported"


def test_facts_of_a_claim_and_rounded_numbers() -> None:
    from qa.answering.citations.decomposed import numbers_held, split_facts

    assert split_facts("X has denied all allegations; and a jury found X liable for the damage.") == [
        "X has denied all allegations",
        "a jury found X liable for the damage",
    ]
    # a piece too short to state a fact ("The banks") stays with the next
    assert split_facts("The banks, which limit financing, said nothing.") == [
        "The banks, limit financing, said nothing"
    ]
    assert numbers_held("about 30% of it", "29.6% of it") and numbers_held("$1.2 billion", "$1,203 million")
    assert numbers_held("more than 18,000 deaths", "18,172 deaths")
    assert not numbers_held("about 40% of it", "29.6% of it") and not numbers_held("31.5%", "29.6%")
    assert not numbers_held("$1.2 billion", "1,203 million euros")


def test_names_as_models_write_them() -> None:
    from qa.answering.citations.decomposed import acronyms, fact_names

    words = lexicon()
    assert acronyms("The World Health Organization and the Environmental Protection Agency met.") == {"who", "epa"}
    # a capitalised opener that names nobody is no name; a name of two words keeps both
    assert fact_names("Officials have told owners to park outside", words) == frozenset()
    assert fact_names("Mack Rutherford landed in Sofia", words) == {"mack", "rutherford", "sofia"}
    assert fact_names("China vetoed the resolution", words) == {"china"}


def test_a_verb_of_more_or_less_is_never_taken_on_closeness_alone() -> None:
    """ "enhanced" and "reduced" are as close in meaning as words get: said in other words, such a
    verb must be the passage's own or a WordNet neighbour of it."""
    words = lexicon()
    assert words.changes_amount("enhanced") and words.changes_amount("cut") and words.changes_amount("lowering")
    assert not words.changes_amount("logged") and not words.changes_amount("echoed")
