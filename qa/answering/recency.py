"""Time-aware ranking: "Which company ... this week?" asks about the newest documents.

When a question speaks of the present ("this week", "recently", "latest", ...), passages of
documents dated within `recency_days` before the moment of asking rank higher, and documents
dated after it (possible when asking "as of" a past date) rank lower. A document's date is its
file's modification time, kept in each chunk's metadata. Questions without such words are ranked
on content alone. Measured on rtqa-dev (news quiz questions): benchmarks/README.md.
"""

from __future__ import annotations

import re
from datetime import date

_PRESENT = re.compile(
    r"\b(this|last|past) (week|weekend|month|year)\b"
    r"|\b(recent|recently|latest|newest|new|now|currently|current|today|yesterday|tonight|soon|upcoming|next)\b",
    re.IGNORECASE,
)


def asks_about_present(question: str) -> bool:
    return _PRESENT.search(question) is not None


def recency_factor(document_date: str | None, as_of: date, window_days: int, boost: float) -> float:
    """Multiplier for a passage's fused score: 1 + boost inside the window, 1 / (1 + boost) after
    `as_of`, 1 otherwise or when the document has no date."""
    if not document_date or window_days <= 0:
        return 1.0
    try:
        age = (as_of - date.fromisoformat(document_date[:10])).days
    except ValueError:
        return 1.0
    if age < 0:
        return 1.0 / (1.0 + boost)
    if age <= window_days:
        return 1.0 + boost
    return 1.0
