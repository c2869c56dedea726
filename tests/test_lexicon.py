"""WordNet read from several threads at once: the app's answer workers share one lexicon."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from qa.text.lexicon import Lexicon, wordnet_dir

WORDS = (
    "china russia america japan virginia texas paris london india brazil canada mexico france spain italy "
    "bank river court state country city island park team party market oil gas price war army law school "
    "ford apple amazon shell target crane bush rice king young brown green white black long short early"
).split()


def test_many_threads_read_the_same_wordnet() -> None:
    folder = wordnet_dir()
    assert folder is not None, "WordNet is needed: apt-get install wordnet-base"

    def read_all(lexicon: Lexicon) -> list[tuple[bool, bool, frozenset[str]]]:
        return [(lexicon.is_proper_noun(w), lexicon.is_a(w.title(), "country"), lexicon.related(w)) for w in WORDS]

    expected = read_all(Lexicon(folder))
    for _ in range(3):  # a fresh lexicon each round: nothing cached, every thread reads the files
        shared = Lexicon(folder)
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(read_all, [shared] * 8))
        assert all(result == expected for result in results)
    assert expected[0][0] and expected[0][1]  # China is a name and a country
