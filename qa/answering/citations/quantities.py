"""Numbers with their scale and unit: "2.9m", "2.9 million" and "2,900,000" are one quantity;
"2.9 billion" is another; "30%" is "30 percent" but not "30 points".

A quantity's `value` is its number times its scale, written without a needless ".0" ("2900000"),
which is what the citation check compares; `unit` is the kind of thing counted when the text says
(percent, percentage points, basis points, a currency), else None: "30" agrees with "30%".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_SCALES = {
    "thousand": 3,
    "k": 3,
    "million": 6,
    "mn": 6,
    "m": 6,
    "mln": 6,
    "billion": 9,
    "bn": 9,
    "b": 9,
    "trillion": 12,
    "tn": 12,
    "trn": 12,
}
_UNITS = {
    "%": "percent",
    "percent": "percent",
    "per cent": "percent",
    "pct": "percent",
    "percentage point": "point",
    "percentage points": "point",
    "point": "point",
    "points": "point",
    "pts": "point",
    "basis point": "basis point",
    "basis points": "basis point",
    "bps": "basis point",
    "$": "dollar",
    "us$": "dollar",
    "dollar": "dollar",
    "dollars": "dollar",
    "€": "euro",
    "euro": "euro",
    "euros": "euro",
    "£": "pound",
    "pound": "pound",
    "pounds": "pound",
    "yuan": "yuan",
    "yen": "yen",
    "¥": "yen",
    "ruble": "ruble",
    "rubles": "ruble",
    "rouble": "ruble",
    "roubles": "ruble",
}
_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split(), start=0)
    if value >= 2  # "one" is as often a pronoun ("one of the banks") as a number
} | {"twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "dozen": "12"}

_CURRENCY = r"(?P<currency>US\$|\$|€|£|¥)"
_NUMBER = r"(?P<number>\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|(?:" + "|".join(_NUMBER_WORDS) + r")\b)"
_TIGHT_SCALE = r"(?P<tight>bn|mn|mln|tn|trn|[kmb])\b"
_SCALE = r"(?P<scale>thousand|million|billion|trillion)\b"
_UNIT = (
    r"(?P<unit>%|percentage points?|per cent|percent|pct\b|basis points?|bps\b|points?\b|pts\b|"
    r"dollars?\b|euros?\b|pounds?\b|yuan\b|yen\b|r[o]?ubles?\b)"
)
QUANTITY = re.compile(
    rf"(?<![\w.,]){_CURRENCY}?\s?{_NUMBER}(?![\d])(?:{_TIGHT_SCALE}|\s{_SCALE})?(?:\s?{_UNIT})?",
    re.I,
)


@dataclass(frozen=True)
class Quantity:
    number: str  # the digits as written, separators dropped ("2.9")
    value: str  # number times scale ("2900000")
    unit: str | None
    text: str  # as written ("$2.9 billion")

    def agrees_with(self, other: Quantity) -> bool:
        return self.value == other.value and (self.unit is None or other.unit is None or self.unit == other.unit)


def _plain(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def quantities(text: str) -> list[Quantity]:
    """Every number in `text` with its scale and unit. Number words count from "two" (as digits)."""
    found = []
    for match in QUANTITY.finditer(text):
        raw = match.group("number").lower()
        digits = _NUMBER_WORDS.get(raw, raw).replace(",", "")
        try:
            number = Decimal(digits)
        except InvalidOperation:
            continue
        scale_word = (match.group("tight") or match.group("scale") or "").lower()
        if match.group("tight") and match.group("tight").lower() in "kmb" and not _tight_scale_ok(match):
            scale_word = ""
        value = number.scaleb(_SCALES.get(scale_word, 0))
        unit_word = (match.group("unit") or match.group("currency") or "").lower()
        unit = _UNITS.get(unit_word.replace("  ", " "))
        written = match.group(0).strip() if scale_word or unit else match.group("number")
        found.append(Quantity(_plain(number), _plain(value), unit, written))
    return found


def _tight_scale_ok(match: re.Match[str]) -> bool:
    """ "$2.9m", "5bn" and "300k" carry a scale; "5 m" (metres) and a bare "2b" without money or
    a decimal are taken as written."""
    return bool(match.group("currency") or "." in match.group("number") or match.group("tight").lower() != "b")


def values_in(text: str) -> set[str]:
    """The values of every quantity in `text`: what a supporting passage must hold."""
    return {quantity.value for quantity in quantities(text)}
