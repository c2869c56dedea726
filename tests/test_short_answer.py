"""The short answer: the span of the asked kind, verbatim, that the question does not already say."""

from __future__ import annotations

import pytest

from qa.answering.short_answer import (
    answer_spans,
    answering_sentence,
    asked_count,
    asked_kind,
    confident_answer,
    short_answer,
)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Which two Chinese banks restricted financing?", "name"),
        ("Kim Kardashian damaged a dress. Who was the designer of the garment?", "name"),
        ("How much have gas prices increased in the US over the past year?", "number"),
        ("What percentage of UK adults are behind on a bill?", "number"),
        ("When did the launch happen?", "date"),
        ("In what year was Lemonade released?", "date"),
        ("Which automaker recalled 2.9 million vehicles this week?", "name"),  # "2.9" ends no sentence
        ("A law could raise the minimum wage. To which hourly amount?", "number"),
        ("Which of these people is joining the ownership group?", "name"),
        ("A wildfire grew this week. What national park does it threaten?", "name"),
        ("Her next album comes out in July. What is it titled?", "name"),
        ("True or false: the FTC fined a Utah company?", None),
        ("She appeared in all these films except:", None),
        ("Academics criticised the film for allegedly doing what?", None),
        # "v." ends no sentence: the question is all of it
        ("A survey asked about it. What percentage of adults disapprove of Roe v. Wade?", "number"),
        ("When could vaccines be ready? How soon could they be available?", "date"),
        # statements to complete
        ("The Fed raised its rate. This was the highest hike since:", "date"),
        ("She testified this week. She was a former special assistant to:", "name"),
        ("Biden made a firm declaration about the pandemic. What did he say?", "quote"),
    ],
)
def test_what_a_question_asks_for(question: str, kind: str | None) -> None:
    assert asked_kind(question) == kind


@pytest.mark.parametrize(
    ("question", "sentence", "short"),
    [
        (
            "Which two Chinese banks restricted financing?",
            "At least two of China's largest state-owned banks - ICBC and Bank of China - are restricting it.",
            "ICBC and Bank of China",
        ),
        (
            "Which countries abstained at the UN Security Council?",
            "Last night, China, India and the UAE abstained from voting on a UN Security Council resolution.",
            "China, India and the UAE",
        ),
        ("How many tonnes of apples do growers expect?", "Growers expect 12,000 tonnes this year.", "12,000 tonnes"),
        ("How much did the repairs cost?", "The repairs cost 4 million euros in all.", "4 million euros"),
        ("How much have gas prices risen?", "Prices are up 60% from a year ago.", "60%"),
        ("When did the probe launch?", "It lifted off on June 27, 2022 from Arnhem.", "June 27, 2022"),
        (
            "Which national park flooded?",
            "Visitors left Yellowstone National Park on Monday.",
            "Yellowstone National Park",
        ),
        # a capital that only opens the sentence names nothing: a plural, a function word, a weekday
        ("Which state flooded?", "Crews searched the hills of Virginia.", "Virginia"),
        ("Which state flooded?", "Under the bridge, rivers in Virginia rose.", "Virginia"),
        ("Which team won?", "On Tuesday the Seattle Storm won.", "the Seattle Storm"),
        ("Which city opened a camp?", "New York City opened a tent camp.", "New York City"),
        ("Which airline left JFK?", "United Airlines said it would leave JFK.", "United Airlines"),
        ("How many were arrested?", "Police arrested 60, 70 or more.", "60"),
        # a caption's or a dateline's label is no answer
        ("Who did Putin meet?", "Pictured: Chinese President Xi Jinping meets Putin.", "Chinese President Xi Jinping"),
        ("Whose seat is she filling?", "WASHINGTON (AP) — She takes the seat of Stephen Breyer.", "Stephen Breyer"),
        ("Which company cut prices?", "Apple cut its prices on Monday.", "Apple"),
        # several asked for: the list, not a single country named after it
        (
            "Which countries abstained?",
            "China, India and the UAE abstained, condemning Russia's war.",
            "China, India and the UAE",
        ),
        # WordNet files the answer under the asked noun
        (
            "Which country was shaken by an earthquake?",
            "Luzon, the main island of the Philippines, shook.",
            "the Philippines",
        ),
        (
            "Which country will Liz Truss lead?",
            "The British elected Truss to lead the United Kingdom.",
            "the United Kingdom",
        ),
    ],
)
def test_the_short_answer_is_the_sentences_own_span(question: str, sentence: str, short: str) -> None:
    span = short_answer(question, sentence)
    assert span is not None and span.text == short
    assert sentence[span.start : span.end] == short


@pytest.mark.parametrize(
    ("question", "sentence", "short"),
    [
        (
            "Which wildly popular show was green lit for a new season?",
            "Netflix announced that the South Korean show “Squid Game” is coming back.",
            "“Squid Game”",
        ),
        (
            "How much do experts expect the jersey will fetch?",
            "The jersey he wore in 1998 is expected to fetch $5 million at auction.",
            "$5 million",
        ),
        ("How long is she facing in prison?", "Maxwell, 60, is serving 20 years in prison.", "20 years"),
        ("This was the highest hike since:", "The Fed on Wednesday made its biggest hike since 1994.", "1994"),
        ("It sets a starting pay of how much?", "The law sets a starting pay of $22 an hour.", "$22 an hour"),
        # the asked noun, not its modifier, makes a name the answer: "football" names no team
        (
            "Which football team did the Walton family buy?",
            "The Walton family bought the Denver Broncos on Tuesday, the National Football League said.",
            "the Denver Broncos",
        ),
    ],
)
def test_the_answer_of_the_asked_sort_wins_over_the_first(question: str, sentence: str, short: str) -> None:
    found = short_answer(question, sentence)
    assert found is not None and found.text == short and sentence[found.start : found.end] == short


def test_what_was_said_is_a_quotation() -> None:
    said = 'Biden told "60 Minutes" on Sunday: "The pandemic is over."'
    assert [span.text for span in answer_spans("What did he say?", said)] == ['"60 Minutes"', '"The pandemic is over."']


def test_what_the_question_already_says_is_no_answer() -> None:
    question = "Did Boris Johnson meet Vladimir Putin?"
    assert answer_spans("Who did Boris Johnson meet?", "Boris Johnson met Vladimir Putin.")[0].text == "Vladimir Putin"
    assert short_answer("Who met Boris Johnson in 2022?", "Boris Johnson was in Paris in 2022.") is not None
    assert answer_spans(question, "Boris Johnson met Vladimir Putin.", "name") == []
    assert short_answer("How many moons does Neptune have?", "Neptune is far away.") is None


def test_the_answer_comes_from_the_sentence_that_names_what_was_asked() -> None:
    sentences = [
        "The bank was one of two Chinese state-backed banks to limit finance for raw materials from Russia.",
        "At least two of China's largest state-owned banks - ICBC and Bank of China - are restricting it.",
    ]
    found = answering_sentence("Which two Chinese banks restricted financing?", sentences)
    assert found is not None and found[0] == 1 and found[1].text == "ICBC and Bank of China"
    assert answering_sentence("True or false: banks restricted financing?", sentences) is None


def test_an_answer_sentence_with_the_asked_thing_leads() -> None:
    sentences = [
        "The Japan Meteorological Agency (JMA) raised its alert on Sunday.",
        "Evacuations began in Japan after the eruption.",
    ]
    found = answering_sentence("Which country raised a volcano alert to its highest level?", sentences)
    assert found is not None and found == (1, found[1]) and found[1].text == "Japan"


BANKS = "Which two Chinese banks restricted financing?"
BANK_SENTENCES = [
    "At least two of China's largest state-owned banks - ICBC and Bank of China - are restricting financing.",
    "Pictured: The Bank of China is seen in London (file photo).",
]


def test_a_short_answer_is_shown_only_when_sure() -> None:
    # the asked number of names, from a sentence about the question's subject
    found = confident_answer(BANKS, BANK_SENTENCES, [0.8, 0.9], [False, True])
    assert found is not None and found[0] == 0 and found[1].text == "ICBC and Bank of China"
    # the same sentence hardly about the subject: no short answer, whatever it holds
    assert confident_answer(BANKS, BANK_SENTENCES, [0.3, 0.9], [False, True]) is None
    # one name where two were asked for is not the answer, even from the caption's sentence
    assert confident_answer(BANKS, BANK_SENTENCES[1:], [1.0], [False]) is None


def test_a_caption_is_never_the_source_of_the_short_answer() -> None:
    question = "Which country raised a volcano alert to its highest level?"
    sentences = ["Pictured: Japan raised the volcano alert to its highest level (file photo)."]
    assert confident_answer(question, sentences, [1.0], [True]) is None
    assert confident_answer(question, sentences, [1.0], [False]) is not None


def test_sentences_that_disagree_leave_no_short_answer() -> None:
    question = "Which country raised a volcano alert to its highest level?"
    sentences = [
        "Japan raised the volcano alert to its highest level.",
        "Chile raised the volcano alert to its highest level.",
    ]
    assert confident_answer(question, sentences, [1.0, 1.0], [False, False]) is None
    # a rival sentence far less about the subject does not count against it
    assert confident_answer(question, sentences, [1.0, 0.4], [False, False]) is not None


def test_how_many_is_answered_by_a_count_of_the_asked_thing() -> None:
    assert asked_count(BANKS) == 2 and asked_count("Which banks restricted financing?") is None
    sentences = ["The council has met every year since 1994."]
    assert confident_answer("How many members does the council have?", sentences, [1.0], [False]) is None
