"""The citation check every answer goes through, whatever wrote it.

1. Markers [n] that point at no passage are removed.
2. Each answer sentence is checked against the passages: it is supported by a passage when one of
   its sentences says the same (embedding similarity) or holds most of its terms (lexical recall),
   the passage holds every number and name the answer sentence states (a paraphrase keeps
   them; "Toyota recalled 2.9 million cars" is not supported by a sentence about Ford recalling
   2.9 million, however similar the two sound), and that sentence *agrees* with it
   (`agreement`, `roles`): same polarity, no opposite word, no hedge dropped, the same scale and
   unit, the names and numbers tied to the verb the same way, every asserted word accounted for.
   A passage whose sentence most like the claim says otherwise contradicts it, and outweighs a
   less similar supporting sentence. A sentence joining two passages ("The two banks that
   limited financing were ICBC and Bank of China": what they did in one passage, their names in
   another) is supported by the pair when the first passage's sentence says the same, holds its
   numbers and names no one it does not, and a sentence of the second, sharing a term with it,
   holds the names the first lacks; it cites both. Citations of passages that do not support
   the sentence are dropped; a sentence that cites nothing, or only passages that do not
   support it, gets the marker of the passage that supports it best (post-hoc citation: how
   answers from a small model, which rarely cites right, get theirs). A sentence repeating an
   earlier one, or a last fragment that restarts one (a model stopped while looping), is
   dropped, and so is the unfinished last sentence of an answer cut at the writer's length
   limit. Sentences that claim nothing are not checked: a bare list number, a short lead-in, a
   question or a line ending in ":" that states no number or name beyond the question's.
3. Each checked sentence gets a verdict (`supported`, `contradicted`, `unsupported`) with a reason
   and the passage sentence it rests on. A sentence not supported carries no [n]: it is marked
   where it stands ("[unsupported]", "[contradicted by source n]") and listed in `unsupported`.
4. Citations are the passages the final text cites (a contradicting one included), renumbered
   1..n in order of first use, each with the passage sentence that supports it (`quote`, at
   passage.text[start:end]).

Modules: `claims` (the answer cut into claims), `facts` (numbers and names), `quantities`
(numbers with scale and unit), `wording` (negations and hedges and what they govern),
`agreement` and `roles` (does the evidence agree), `support` (the checker).
"""

from .support import CheckedAnswer, CitationChecker

__all__ = ["CheckedAnswer", "CitationChecker"]
