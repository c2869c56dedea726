"""How the agreement check reads a sentence: quantities with scale and unit, what a negation or a
hedge governs, names, clauses. No model: these are the rules the verdicts rest on."""

from __future__ import annotations

import pytest

from qa.answering.citations.quantities import quantities, values_in
from qa.answering.citations.roles import clauses
from qa.answering.citations.wording import Wording


@pytest.mark.parametrize(
    ("first", "second"),
    [("2.9m", "2.9 million"), ("2,900,000", "2.9 million"), ("$2.9bn", "2.9 billion"), ("two", "2"), ("5.00", "5")],
)
def test_one_quantity_written_two_ways(first: str, second: str) -> None:
    assert values_in(first) == values_in(second)


def test_scale_and_unit_are_kept() -> None:
    (million,) = quantities("2.9 million")
    (billion,) = quantities("2.9 billion")
    assert million.number == billion.number and million.value != billion.value
    (percent,) = quantities("30 percent")
    (points,) = quantities("30 points")
    (sign,) = quantities("30%")
    assert percent.unit == sign.unit == "percent" and points.unit == "point"
    (euros,) = quantities("€5")
    assert euros.unit == "euro" and quantities("tension") == []


def governed(sentence: str, kind: str) -> list[str]:
    wording = Wording(sentence)
    return [wording.words[position].text for position in getattr(wording, kind)]


@pytest.mark.parametrize(
    ("sentence", "heads"),
    [
        ("The auction has not yet fully raised $53 million.", ["raised"]),
        ("He didn't win the vote.", ["win"]),
        ("She failed to win the vote.", ["win"]),
        ("He denied taking bribes.", ["taking"]),
        ("Not only did prices rise, wages fell.", []),  # "not only" negates nothing
        ("It was the No. 1 show.", []),
        ("Shares declined 5% on Monday.", []),  # a fall, not a negation
        ("No more than 5 people came.", []),  # a bound
        ("There are not more rings now.", ["more"]),  # not a bound: no "than"
    ],
)
def test_what_a_negation_governs(sentence: str, heads: list[str]) -> None:
    assert governed(sentence, "negated") == heads


@pytest.mark.parametrize(
    ("sentence", "heads"),
    [
        ("The move may only be temporary.", ["temporary"]),
        ("The Fed is expected to raise rates.", ["raise"]),
        ("The couple will soon be traveling.", ["traveling"]),
        ("The law took effect in May.", []),  # a month
        ("They set to work at once.", []),  # "set to" hedges only after "is"
    ],
)
def test_what_a_hedge_governs(sentence: str, heads: list[str]) -> None:
    assert governed(sentence, "hedged") == heads


def test_names_are_capitalised_words_away_from_a_sentence_start() -> None:
    wording = Wording('Late on Friday, China abstained. "Russia vetoed it," said Zhang.')
    assert [word.text for word in wording.words if word.name] == ["friday", "china", "zhang"]


def test_clauses() -> None:
    assert clauses("Russia vetoed the resolution and China abstained.") == [
        "Russia vetoed the resolution",
        "China abstained.",
    ]
    assert clauses("ICBC and Bank of China are restricting purchases.") == [
        "ICBC and Bank of China are restricting purchases."
    ]
