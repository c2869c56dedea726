"""English words' base forms ("rose" -> "rise") and opposites ("rise" <-> "fall"), which the
citation check needs to see that an answer says the opposite of its passage.

The lexicon is WordNet 3.0, read by nltk's WordNet reader straight from the files on disk (Debian's
`wordnet-base` at /usr/share/wordnet, or an nltk data folder); nothing is downloaded. Debian lacks
the `lexnames` file the reader opens first, so it is served from the list below, and the mapping
to other WordNet versions (for nltk's multilingual data, unused here) is turned off.

WordNet links opposites sense by sense ("increase" <-> "decrease", "win" <-> "lose") and also
through the senses of an opposite ("rise" <-> "decline"). It lacks most of the opposites news
turns on: the verbs of going up and down beyond rise/fall ("jump" vs "drop", "raise" vs "cut"),
and pairs such as before/after, support/oppose, for/against. `_MORE_OPPOSITES` adds those; it is
checked in tests/test_grounding.py: each of its lines adds a pair WordNet lacks.

Without WordNet on disk the check still runs, with those added opposites and suffix rules only,
and says once in the log which package to install.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

from .terms import terms

log = logging.getLogger(__name__)

INSTALL_HINT = "install WordNet 3.0: apt-get install wordnet-base (or python -m nltk.downloader wordnet)"
#: Where WordNet's dict files are looked for after `QA_WORDNET_DIR` and nltk's data folders.
SYSTEM_DIRS = (Path("/usr/share/wordnet"), Path("/usr/local/share/wordnet"), Path("/opt/homebrew/share/wordnet"))

#: WordNet's 45 lexicographer files (`man 5 lexnames`): number, name, part of speech.
_LEXNAMES = """adj.all 3|adj.pert 3|adv.all 4|noun.Tops 1|noun.act 1|noun.animal 1|noun.artifact 1|noun.attribute 1
noun.body 1|noun.cognition 1|noun.communication 1|noun.event 1|noun.feeling 1|noun.food 1|noun.group 1
noun.location 1|noun.motive 1|noun.object 1|noun.person 1|noun.phenomenon 1|noun.plant 1|noun.possession 1
noun.process 1|noun.quantity 1|noun.relation 1|noun.shape 1|noun.state 1|noun.substance 1|noun.time 1
verb.body 2|verb.change 2|verb.cognition 2|verb.communication 2|verb.competition 2|verb.consumption 2
verb.contact 2|verb.creation 2|verb.emotion 2|verb.motion 2|verb.perception 2|verb.possession 2|verb.social 2
verb.stative 2|verb.weather 2|adj.ppl 3"""

#: Opposites WordNet lacks. Each line: two groups of base forms; any word of one group is the
#: opposite of any word of the other.
_MORE_OPPOSITES = """
rise increase grow gain climb jump surge soar rally boost raise expand spike rebound advance swell double triple
    | fall decrease decline drop cut reduce shrink slump plunge plummet tumble sink slide dip lower slash contract halve
before | after
support back favor favour endorse | oppose
for | against
over | under
confirm | deny
allow permit let | ban forbid prohibit bar block
lift | impose
pass adopt approve | reject
surplus | deficit
profit | loss
live survive | die
tighten | loosen ease
arrive | depart
ally | enemy rival adversary
"""

_PREFIXES = ("re", "un", "over", "under", "out", "mis", "pre", "co")
_SUFFIXES = (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("est", ""), ("er", ""))


@lru_cache(maxsize=1)
def _more_opposites() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for line in re.sub(r"\n\s+\|", " |", _MORE_OPPOSITES).strip().splitlines():
        left, right = (set(side.split()) for side in line.split("|"))
        for word in left:
            table.setdefault(word, set()).update(right)
        for word in right:
            table.setdefault(word, set()).update(left)
    return {word: frozenset(opposites) for word, opposites in table.items()}


def wordnet_dir(configured: Path | None = None) -> Path | None:
    """The folder holding WordNet's data.* and index.* files, or None."""
    candidates: list[Path] = []
    if configured:
        candidates.append(Path(configured))
    for root in os.environ.get("NLTK_DATA", "").split(os.pathsep) + _nltk_paths():
        if root:
            candidates.append(Path(root) / "corpora" / "wordnet")
    candidates.extend(SYSTEM_DIRS)
    for folder in candidates:
        if (folder / "data.noun").is_file() and (folder / "index.noun").is_file():
            return folder
    return None


def _nltk_paths() -> list[str]:
    try:
        import nltk.data
    except ImportError:
        return []
    return [str(path) for path in nltk.data.path]


def _reader(folder: Path) -> Any:
    """nltk's WordNet reader over `folder`, with `lexnames` supplied when the folder lacks it."""
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    from nltk.data import FileSystemPathPointer

    lexnames = "".join(
        f"{number:02d}\t{entry.split()[0]}\t{entry.split()[1]}\n"
        for number, entry in enumerate(_LEXNAMES.replace("\n", "|").split("|"))
    )

    class _Reader(WordNetCorpusReader):  # type: ignore[misc]
        def open(self, fileid: str) -> Any:
            if fileid == "lexnames" and not (folder / "lexnames").is_file():
                return io.StringIO(lexnames)
            return super().open(fileid)

        def map_wn(self, version: str = "wordnet") -> None:
            return None  # only nltk's multilingual data needs the mapping between WordNet versions

    if str(folder) not in nltk.data.path:
        nltk.data.path.append(str(folder))  # nltk reads files only under its data paths
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": not used
        return _Reader(FileSystemPathPointer(str(folder)), None)


class Lexicon:
    """Base forms and opposites of words, from WordNet when it is on disk."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._wordnet: Any = None
        # nltk's reader seeks and reads one shared file handle per part of speech: two threads
        # (the app's answer workers) reading synsets at once read each other's lines.
        self._reading = threading.RLock()
        if folder is not None:
            try:
                self._wordnet = _reader(folder)
            except (OSError, ValueError, LookupError) as exc:
                log.warning("WordNet at %s could not be read (%s): %s", folder, exc, INSTALL_HINT)
        else:
            log.warning("WordNet not found; opposites beyond a short list are not recognised: %s", INSTALL_HINT)

    @property
    def has_wordnet(self) -> bool:
        return self._wordnet is not None

    @lru_cache(maxsize=65536)  # noqa: B019 - one lexicon per process; the cache is what makes the check fast
    def bases(self, word: str) -> frozenset[str]:
        """`word` (lower case) and its base forms in every part of speech: "rose" -> rose, rise."""
        found = {word}
        if self._wordnet is not None:
            for pos in "nvar":
                found.update(self._wordnet._morphy(word, pos))  # every analysis: "older" is a lemma and "old"
            if len(found) == 1:  # "redrew": a prefix before a known word
                for prefix in _PREFIXES:
                    if word.startswith(prefix) and len(word) - len(prefix) >= 3:
                        rest = self.bases(word[len(prefix) :])
                        found.update(prefix + base for base in rest if base != word[len(prefix) :])
        else:
            for suffix, replacement in _SUFFIXES:
                if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                    found.add(word[: -len(suffix)] + replacement)
        return frozenset(found)

    @lru_cache(maxsize=65536)  # noqa: B019
    def opposites(self, word: str) -> frozenset[str]:
        """Base forms of the opposites of any sense of `word`: WordNet's antonyms, the words of an
        antonym's sense (for an adjective, also those of the head its sense is similar to: "huge" ->
        "large" <-> "small"), and the list above. The antonym's own similar senses are left out:
        they reach too far ("big" would oppose "close", as in stingy)."""
        found: set[str] = set()
        more = _more_opposites()
        for base in self.bases(word):
            found.update(more.get(base, ()))
            if self._wordnet is not None:
                found.update(self._wordnet_opposites(base))
        return frozenset(found)

    def _wordnet_opposites(self, base: str) -> list[str]:
        found: list[str] = []
        with self._reading:
            for synset in self._wordnet.synsets(base):
                senses = [synset, *(synset.similar_tos() if synset.pos() in "as" else [])]
                for sense in senses:
                    for lemma in sense.lemmas():
                        for antonym in lemma.antonyms():
                            found.extend(name.name().lower() for name in antonym.synset().lemmas())
        return found

    @lru_cache(maxsize=65536)  # noqa: B019
    def related(self, word: str) -> frozenset[str]:
        """Base forms of words that say what `word` says in some sense: its synonyms ("bought":
        buy, purchase) and the forms derived from it ("abstained": abstention)."""
        found: set[str] = set(self.bases(word))
        if self._wordnet is None:
            return frozenset(found)
        with self._reading:
            for base in self.bases(word):
                for synset in self._wordnet.synsets(base):
                    for lemma in synset.lemmas():
                        found.add(lemma.name().lower())
                        if lemma.name().lower() == base:
                            found.update(form.name().lower() for form in lemma.derivationally_related_forms())
        return frozenset(found)

    @lru_cache(maxsize=65536)  # noqa: B019
    def changes_amount(self, word: str) -> bool:
        """Whether a verb sense of `word` is a way to increase or to decrease ("enhanced",
        "boosted", "cut", "lowering"): such a verb said in other words may be its opposite, so a
        paraphrase of it is never taken on closeness of meaning alone."""
        if self._wordnet is None:
            return False
        with self._reading:
            roots = {
                synset
                for root in ("increase", "decrease", "reduce", "raise", "lower")
                for synset in self._wordnet.synsets(root, "v")
            }
            for base in self.bases(word):
                for synset in self._wordnet.synsets(base, "v")[:3]:
                    if ({synset} | set(synset.closure(lambda found: found.hypernyms()))) & roots:
                        return True
        return False

    @lru_cache(maxsize=65536)  # noqa: B019
    def near(self, word: str) -> frozenset[str]:
        """`related`, and the words one step up or down WordNet's tree of meanings from the
        word's verb senses ("echo": repeat; "build": make): what a model may write for a
        passage's verb. Opposites are not excluded here: `are_opposites` is checked first."""
        found: set[str] = set(self.related(word))
        if self._wordnet is None:
            return frozenset(found)
        with self._reading:
            for base in self.bases(word):
                for synset in self._wordnet.synsets(base, pos="v")[:4]:
                    for neighbour in synset.hypernyms() + synset.hyponyms():
                        found.update(lemma.name().lower() for lemma in neighbour.lemmas())
        return frozenset(found)

    @lru_cache(maxsize=65536)  # noqa: B019
    def is_verb_form(self, word: str) -> bool:
        """Whether `word` is an inflected verb ("vetoed", "rose", "winning"): what an answer
        sentence asserts, so a paraphrase may not leave it unaccounted for."""
        if self._wordnet is None:
            return word.endswith(("ed", "ing"))
        return any(base != word for base in self._wordnet._morphy(word, "v"))

    @lru_cache(maxsize=65536)  # noqa: B019
    def is_plural_noun(self, word: str) -> bool:
        """Whether `word` is a noun's plural ("banks", "countries"), whatever verb it also is."""
        if self._wordnet is None:
            return word.endswith("s")
        return any(base != word for base in self._wordnet._morphy(word, "n"))

    @lru_cache(maxsize=65536)  # noqa: B019
    def parts_of_speech(self, word: str) -> frozenset[str]:
        """The parts of speech WordNet has `word` (lower case, as written) in: n, v, a, r."""
        if self._wordnet is None:
            return frozenset()
        return frozenset(pos for pos in "nvar" if word in self._wordnet._morphy(word, pos))

    @lru_cache(maxsize=65536)  # noqa: B019
    def is_proper_noun(self, word: str) -> bool:
        """Whether WordNet knows `word` (any case) as a name ("China", "Moscow"; not "Late"): a
        capitalised word opening a sentence is then a name, though nothing else writes it so."""
        if self._wordnet is None or not terms(word) or word.lower() in _PRONOUNS:  # "He" is not helium
            return False
        with self._reading:
            return any(
                name[:1].isupper() and not name.isupper() and name.lower() == word.lower()  # "IT" is no name for "it"
                for synset in self._wordnet.synsets(word.lower(), "n")
                for name in (lemma.name() for lemma in synset.lemmas())
            )

    @lru_cache(maxsize=65536)  # noqa: B019
    def is_a(self, name: str, noun: str) -> bool:
        """Whether WordNet files `name` under `noun`: "Philippines" is a country, "Virginia" a
        state, "Yosemite" a park (what "which country ...?" asks for)."""
        if self._wordnet is None or not name or not noun:
            return False
        with self._reading:
            return self._files_under(name.replace(" ", "_"), noun.lower())

    def _files_under(self, name: str, wanted: str) -> bool:
        for synset in self._wordnet.synsets(name, "n"):
            seen = set()
            frontier = [*synset.instance_hypernyms(), *synset.hypernyms()]
            for _ in range(8):
                if not frontier:
                    break
                if any(lemma.lower() == wanted for node in frontier for lemma in node.lemma_names()):
                    return True
                seen.update(frontier)
                frontier = [
                    up for node in frontier for up in (*node.instance_hypernyms(), *node.hypernyms()) if up not in seen
                ]
        return False

    @lru_cache(maxsize=65536)  # noqa: B019
    def names_behind(self, word: str) -> frozenset[str]:
        """The names (lower case) an adjective of `word` pertains to: "Chinese" -> china, taiwan;
        "Russian" -> russia. News writes "Chinese President Xi Jinping" where an answer says "the
        president of China": the two name the same country."""
        if self._wordnet is None or not word.isalpha():
            return frozenset()
        with self._reading:
            return frozenset(
                pertained.name().lower().replace("_", " ")
                for synset in self._wordnet.synsets(word.lower(), "a")
                for lemma in synset.lemmas()
                if lemma.name().lower() == word.lower()
                for pertained in lemma.pertainyms()
                if pertained.name()[:1].isupper()
            )

    def are_opposites(self, first: str, second: str) -> bool:
        """Whether two words (lower case) are opposites in some sense."""
        return bool(self.opposites(first) & self.bases(second)) or bool(self.opposites(second) & self.bases(first))


_PRONOUNS = frozenset("i he she it we they you him her his hers its our their them".split())


@lru_cache(maxsize=4)
def lexicon(configured: Path | None = None) -> Lexicon:
    """The process's lexicon (loading WordNet's indexes takes about two seconds, once)."""
    return Lexicon(wordnet_dir(configured))
