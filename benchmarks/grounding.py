"""How often the citation check catches a wrong sentence, and how often it flags a right one.

    python benchmarks/grounding.py [--corpus corpus_small.jsonl] [--limit 320] [--json OUT]
    python benchmarks/grounding.py --local 20 --labels benchmarks/results/grounding-labels.json

For each rtqa-dev question the corpus answers (the dated index of benchmarks/calibrate.py), the
real extractive answer is made the way the engine makes it; then one sentence is added, cited to
the passage it came from, and the whole answer is checked. The added sentence is made from a
sentence of the answer's passages that the answer does not already quote:
- kinds the check must flag: a negation, an opposite (a hand list of news opposites written for
  this benchmark, independent of the checker's lexicon), a name swapped with another name of the
  same passage, an unrelated sentence (from another question's passages), a changed number, a
  changed unit or scale, a changed date (weekday, month or year), a name from another document,
  and a hedge dropped ("may raise" -> "raised");
- rewordings the check must pass: synonyms (a hand list), a leading phrase moved to the end, a
  trailing clause dropped, active to passive, two neighbouring sentences merged, framing
  ("According to the documents, ..."), numbers written differently ("30 percent" / "30%",
  "2.9 million" / "2.9m").
Reported: recall per kind, false flags per rewording kind and on the real answers' own sentences,
and the check's time per answer with and without the agreement step (`--local`: see below).

`--local N` asks N questions of the local model instead and writes each checked sentence with its
verdict and passages to benchmarks/work/grounding-local.jsonl for labelling by hand; with
`--labels FILE` (sentence sha1 -> "supported" | "contradicted" | "unsupported", labelled by a
person reading the passages) it reports how many verdicts agree with the labels.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import llm_answers  # noqa: E402
from benchmarks.calibrate import EVAL, WORK, dated_index  # noqa: E402
from qa.answering.backends.extractive import compose, pick_sentences  # noqa: E402
from qa.answering.citations import support as support_module  # noqa: E402
from qa.answering.citations.claims import normal  # noqa: E402
from qa.answering.engine import Engine  # noqa: E402
from qa.config import load_settings  # noqa: E402
from qa.evaluate import load_eval, parse_date  # noqa: E402
from qa.text.sentences import sentence_spans  # noqa: E402
from qa.types import Passage  # noqa: E402

# Written for this benchmark (surface forms, both directions); not the checker's word list.
OPPOSITES = """rose fell|rise fall|rising falling|rises falls|increased decreased|increase decrease|increases decreases
higher lower|highest lowest|more fewer|most least|largest smallest|biggest smallest|larger smaller|bigger smaller
won lost|win lose|wins loses|winning losing|before after|approved rejected|approve reject|accepted rejected
gained lost|early late|earlier later|first last|strong weak|stronger weaker|above below|expanded shrank
grew shrank|raised cut|boosted cut|jumped dropped|surged plunged|supported opposed|support oppose|allowed banned
allow ban|legal illegal|new old|public private|opened closed|began ended|started ended|positive negative
success failure|succeeded failed|agreed refused|included excluded|guilty innocent|majority minority|bought sold
buy sell|hired fired|arrived left|confirmed denied|maximum minimum|rich poor|cheap expensive|best worst
better worse|alive dead|profit loss|surplus deficit|victory defeat|peace war|easier harder|longer shorter
younger older|true false|always never|remained left|inside outside|domestic foreign|upheld overturned
ally enemy|acquitted convicted|passed rejected|lifted imposed|strengthened weakened|rich poor|safe dangerous"""
SYNONYMS = """said stated|says states|bought purchased|buy purchase|big large|large big|help assist|helped assisted
start begin|started began|ended finished|showed indicated|shows indicates|about approximately|around approximately
nearly almost|almost nearly|announced declared|very extremely|many numerous|main primary|quickly rapidly
tried attempted|try attempt|needed required|need require|used utilized|use utilize|allowed permitted
agreement deal|deal agreement|talks negotiations|hurt injured|injured hurt|cars vehicles|company firm
firm company|rules regulations|law legislation|country nation|countries nations|chief head|biggest largest
largest biggest|received got|got received|also additionally|fight battle|kids children|children kids
begin start|enough sufficient|often frequently|shut closed|closed shut|quit resigned|resigned quit"""
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = "January February March April May June July August September October November December".split()
_NAME = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]{2,}(?: [A-Z][a-z]{2,})?")
_AUX = re.compile(r"\b(is|are|was|were|has|have|had|will|would|can|could|should|may|might|must|does|did|do)\b ")
_HEDGE = re.compile(
    r"\b(?:may|might|could|would|will|plans? to|planned to|is expected to|are expected to|was expected to|"
    r"aims? to|intends? to|is set to|hopes? to|wants? to|is likely to)\s+"
    r"(?:also |now |soon |likely |forever |[a-z]+ly )?([a-z]+)\b"
)


def pairs(table: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for entry in table.replace("\n", "|").split("|"):
        first, second = entry.split()
        mapping.setdefault(first, second)
        mapping.setdefault(second, first)
    return mapping


OPPOSITE, SYNONYM = pairs(OPPOSITES), pairs(SYNONYMS)


def replace_word(sentence: str, table: dict[str, str], rng: random.Random) -> str | None:
    words = [match for match in re.finditer(r"\b[a-z]+\b", sentence) if match.group(0) in table]
    if not words:
        return None
    match = rng.choice(words)
    return sentence[: match.start()] + table[match.group(0)] + sentence[match.end() :]


def past_tense(verb: str) -> str | None:
    from lemminflect import getInflection

    forms = getInflection(verb, "VBD")
    return forms[0] if forms else None


def negate(sentence: str, rng: random.Random) -> str | None:
    if re.search(r"\b(?:not|no|never|none|nothing|n't)\b|n't\b", sentence, re.I):
        return None  # already negative: another "not" would make nonsense, not a contradiction
    aux = _AUX.search(sentence)
    if aux and not sentence[aux.end() :].startswith(("not", "no ")):
        return sentence[: aux.end()] + "not " + sentence[aux.end() :]
    from lemminflect import getLemma

    for match in re.finditer(r"\b([a-z]{3,}ed)\b", sentence):
        lemma = getLemma(match.group(1), "VERB")
        if lemma and lemma[0] != match.group(1):
            return sentence[: match.start()] + "did not " + lemma[0] + sentence[match.end() :]
    return None


def names(text: str) -> list[str]:
    return list(dict.fromkeys(match.group(0) for match in _NAME.finditer(text)))


def swap_name(sentence: str, passage: str, rng: random.Random) -> str | None:
    own = [name for name in names(sentence) if name not in WEEKDAYS + MONTHS]
    others = [name for name in names(passage) if name not in sentence and name not in WEEKDAYS + MONTHS]
    if not own or not others:
        return None
    return sentence.replace(rng.choice(own), rng.choice(others), 1)


def name_from(sentence: str, elsewhere: Sequence[str], passage: str, rng: random.Random) -> str | None:
    own = [name for name in names(sentence) if name not in WEEKDAYS + MONTHS]
    others = [name for name in elsewhere if name not in passage and name not in WEEKDAYS + MONTHS]
    if not own or not others:
        return None
    return sentence.replace(rng.choice(own), rng.choice(others), 1)


def change_number(sentence: str, rng: random.Random) -> str | None:
    numbers = list(re.finditer(r"(?<![\d.,])\d+(?:\.\d+)?(?![\d.,]\d)", sentence))
    numbers = [match for match in numbers if not (1900 <= float(match.group(0)) <= 2100)]
    if not numbers:
        return None
    match = rng.choice(numbers)
    value = float(match.group(0))
    changed = value + rng.choice([1, 2, 3]) if value < 10 else value * rng.choice([2, 3]) + 1
    text = f"{changed:g}" if "." in match.group(0) else str(int(changed))
    return sentence[: match.start()] + text + sentence[match.end() :]


def first_swap(sentence: str, swaps: Sequence[tuple[str, str]]) -> str | None:
    """The sentence with the first of `swaps` (pattern, replacement) that applies, applied once."""
    for pattern, replacement in swaps:
        if re.search(pattern, sentence):
            return re.sub(pattern, replacement, sentence, count=1)
    return None


def change_unit(sentence: str, rng: random.Random) -> str | None:
    swaps = [
        (r"\bmillion\b", "billion"),
        (r"\bbillion\b", "million"),
        (r"\bthousand\b", "million"),
        (r"(?<=\d)%", " points"),
        (r"(?<=\d) percent\b", " percentage points"),
        (r"(?<=\d) per cent\b", " points"),
        (r"\$(?=\d)", "€"),
        (r"\bdollars\b", "euros"),
    ]
    rng.shuffle(swaps)
    return first_swap(sentence, swaps)


def change_date(sentence: str, rng: random.Random) -> str | None:
    for names_list in (WEEKDAYS, MONTHS):
        present = [name for name in names_list if re.search(rf"\b{name}\b", sentence)]
        if present:
            old = rng.choice(present)
            new = rng.choice([name for name in names_list if name not in sentence])
            return re.sub(rf"\b{old}\b", new, sentence, count=1)
    years = list(re.finditer(r"\b(19[5-9]\d|20[0-4]\d)\b", sentence))
    if years:
        match = rng.choice(years)
        year = next(
            str(int(match.group(0)) + step)
            for step in (-1, 1, 2, -2, 3)
            if str(int(match.group(0)) + step) not in sentence
        )
        return sentence[: match.start()] + year + sentence[match.end() :]
    return None


def drop_hedge(sentence: str, rng: random.Random) -> str | None:
    match = _HEDGE.search(sentence)
    if not match:
        return None
    verb = match.group(1)
    past = {"be": "was", "have": "had"}.get(verb) or past_tense(verb)
    if not past:
        return None
    adverb = sentence[match.start() : match.start(1)].split()[-1] if match.start(1) > match.start() else ""
    adverb = adverb + " " if adverb.endswith("ly") or adverb in ("also", "now", "soon", "forever") else ""
    return sentence[: match.start()] + adverb + past + sentence[match.end() :]


def move_leading(sentence: str, rng: random.Random) -> str | None:
    match = re.match(
        r"^((?:In|On|At|During|After|Before|Last|Earlier|Later|Since|Until|By) [^,]{2,40}), (.+)$", sentence
    )
    if not match or not match.group(2)[:1].isupper():
        return None
    rest, end = match.group(2).rstrip(), ""
    if rest[-1] in ".!?":
        rest, end = rest[:-1], rest[-1]
    return f"{rest} {match.group(1)[0].lower()}{match.group(1)[1:]}{end or '.'}"


def shorten(sentence: str, rng: random.Random) -> str | None:
    cut = sentence.rfind(", ")
    if cut < 0 or len(sentence[:cut].split()) < 6:
        return None
    return sentence[:cut] + "."


def passive(sentence: str, rng: random.Random) -> str | None:
    match = re.match(
        r"^((?:The [a-z]+(?: [a-z]+)?)|(?:[A-Z][a-z]+(?: [A-Z][a-z]+){0,2})) ([a-z]{3,}ed) "
        r"(the|a|an|its|their|his|her) ([a-z]+(?: [a-z]+){0,2}?)"
        r"((?: (?:in|into|on|at|for|after|before|during|last|this|with|to|from|over)\b[^;]*)?)\.$",
        sentence,
    )
    if not match:
        return None
    subject, verb, article, thing, rest = match.groups()
    subject = "the" + subject[3:] if subject.startswith("The ") else subject
    be = "were" if thing.split()[-1].endswith("s") and not thing.split()[-1].endswith("ss") else "was"
    return f"{article.capitalize()} {thing} {be} {verb} by {subject}{rest}."


def merge(sentence: str, following: str | None, rng: random.Random) -> str | None:
    if not following or len(following.split()) < 5:
        return None
    second = (
        following if following[:1].isupper() and following.split()[0] not in ("The", "A", "It", "This") else following
    )
    if second.split()[0] in ("The", "A", "An", "It", "This", "That", "But", "And", "He", "She", "They"):
        second = second[0].lower() + second[1:]
    return sentence.rstrip(" .") + ", and " + second


def frame(sentence: str, passage_names: set[str], rng: random.Random) -> str | None:
    first = sentence.split()[0]
    lead = first if first in passage_names or first.isupper() else first[0].lower() + first[1:]
    return "According to the documents, " + lead + sentence[len(first) :]


def number_format(sentence: str, rng: random.Random) -> str | None:
    swaps = [
        (r"(?<=\d) percent\b", "%"),
        (r"(?<=\d)%", " percent"),
        (r"(?<=\d) million\b", "m"),
        (r"(?<=\d) billion\b", "bn"),
        (r"(?<=\d),(?=\d{3}\b)", ""),
    ]
    return first_swap(sentence, swaps)


FLAG_KINDS = ["negation", "opposite", "swapped_role", "unrelated", "number", "unit", "date", "name_elsewhere", "hedge"]
PASS_KINDS = ["synonym", "reordered", "shortened", "passive", "merged", "framing", "number_format"]


def make_variant(kind: str, sentence: str, following: str | None, passage: Passage, context: dict, rng: random.Random):
    makers: dict[str, Callable[[], str | None]] = {
        "negation": lambda: negate(sentence, rng),
        "opposite": lambda: replace_word(sentence, OPPOSITE, rng),
        "swapped_role": lambda: swap_name(sentence, passage.text, rng),
        "number": lambda: change_number(sentence, rng),
        "unit": lambda: change_unit(sentence, rng),
        "date": lambda: change_date(sentence, rng),
        "name_elsewhere": lambda: name_from(sentence, context["names_elsewhere"], passage.text, rng),
        "hedge": lambda: drop_hedge(sentence, rng),
        "synonym": lambda: replace_word(sentence, SYNONYM, rng),
        "reordered": lambda: move_leading(sentence, rng),
        "shortened": lambda: shorten(sentence, rng),
        "passive": lambda: passive(sentence, rng),
        "merged": lambda: merge(sentence, following, rng),
        "framing": lambda: frame(sentence, context["passage_names"], rng),
        "number_format": lambda: number_format(sentence, rng),
    }
    variant = makers[kind]()
    return variant if variant and variant != sentence else None


def candidate_sentences(passages: Sequence[Passage], answer: str) -> list[tuple[int, str, str | None]]:
    """(passage index, sentence, the sentence after it) of the passages, not already in the answer."""
    found = []
    for index, passage in enumerate(passages):
        spans = sentence_spans(passage.text)
        for position, (start, end) in enumerate(spans):
            sentence = " ".join(passage.text[start:end].split())
            following = None
            if position + 1 < len(spans):
                following = " ".join(passage.text[spans[position + 1][0] : spans[position + 1][1]].split())
            if 8 <= len(sentence.split()) <= 45 and sentence[-1:] in ".!?" and sentence not in answer:
                found.append((index, sentence, following))
    return found


def injected_verdict(checker, answer_text: str, sentence: str, marker: int, passages, question: str):
    text = f"{answer_text} {sentence.rstrip('.')} [{marker}]."
    started = time.perf_counter()
    checked = checker.check(text, passages, question=question)
    elapsed = (time.perf_counter() - started) * 1000
    wanted = normal(sentence)
    for claim in checked.claims:
        if normal(claim.text) == wanted:
            return claim, checked, elapsed
    return None, checked, elapsed


def run_injection(engine: Engine, queries, limit: int, seed: int) -> dict:
    rng = random.Random(seed)
    checker = engine.checker
    cases = []
    for query in queries[:limit]:
        as_of = parse_date(query.get("date"))
        retrieval = engine.retriever.search(query["query"], as_of=as_of)
        if not retrieval.passages or not engine.relevance(retrieval).found(
            engine.settings.min_relevance, engine.settings.min_coverage, engine.settings.min_overlap
        ):
            continue
        picks = pick_sentences(
            query["query"], retrieval.query_vector, retrieval.passages, engine.embeddings, retrieval.idf
        )
        if picks:
            cases.append((query, retrieval.passages, compose(picks, retrieval.passages)))
    all_names = [name for _, passages, _ in cases for passage in passages for name in names(passage.text)]
    counts: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, list] = defaultdict(list)
    own_flags, own_total, times = 0, 0, []
    for number, (query, passages, answer_text) in enumerate(cases):
        checked = checker.check(answer_text, passages, question=query["query"])
        own_total += len(checked.claims)
        own_flags += sum(claim.verdict != "supported" for claim in checked.claims)
        for claim in checked.claims:
            if claim.verdict != "supported" and len(examples["own_sentences"]) < 12:
                examples["own_sentences"].append(
                    {"sentence": claim.text, "verdict": claim.verdict, "reason": claim.reason, "query": query["id"]}
                )
        sentences = candidate_sentences(passages, answer_text)
        rng.shuffle(sentences)
        context = {
            "names_elsewhere": rng.sample(all_names, min(200, len(all_names))),
            "passage_names": set(names(" ".join(passage.text for passage in passages))),
        }
        for kind in FLAG_KINDS + PASS_KINDS:
            if kind == "unrelated":
                other = cases[(number + 1 + rng.randrange(len(cases) - 1)) % len(cases)]
                pool = candidate_sentences(other[1], "")
                variant = rng.choice(pool)[1] if pool else None
                marker = 1
            else:
                variant, marker = None, 1
                for index, sentence, following in sentences[:40]:
                    variant = make_variant(kind, sentence, following, passages[index], context, rng)
                    if variant:
                        marker = index + 1
                        break
            if not variant:
                continue
            claim, _, elapsed = injected_verdict(checker, answer_text, variant, marker, passages, query["query"])
            times.append(elapsed)
            verdict = claim.verdict if claim else "dropped"
            counts[kind][verdict] += 1
            if len(examples[kind]) < 12 and ((kind in FLAG_KINDS) == (verdict == "supported")):
                examples[kind].append(
                    {
                        "sentence": variant,
                        "verdict": verdict,
                        "reason": claim.reason if claim else "",
                        "query": query["id"],
                    }
                )
    report_times = {"check_ms_p50": round(statistics.median(times), 1) if times else 0.0}
    report_times.update(agreement_cost(checker, cases))
    report: dict = {"answers": len(cases), **summarise(counts)}
    report["own_sentences"] = {"n": own_total, "false_flags": own_flags}
    report.update(report_times)
    report["examples_missed_or_false"] = examples
    return report


def summarise(counts: dict[str, Counter]) -> dict:
    """Recall per kind to flag, false flags per rewording kind. "dropped": the added sentence did
    not come back as one claim (the answer already said it, or it split in two); not counted."""
    kinds, flagged_all, total_all = {}, 0, 0
    for kind in FLAG_KINDS + PASS_KINDS:
        verdicts = dict(counts.get(kind, {}))
        judged = sum(number for verdict, number in verdicts.items() if verdict != "dropped")
        flagged = judged - verdicts.get("supported", 0)
        if kind in FLAG_KINDS:
            flagged_all, total_all = flagged_all + flagged, total_all + judged
        rate = round(flagged / judged, 3) if judged else 0.0
        kinds[kind] = {"n": judged, "recall" if kind in FLAG_KINDS else "false_flags": rate, "verdicts": verdicts}
    return {"kinds": kinds, "recall_all": round(flagged_all / total_all, 3) if total_all else 0.0}


def agreement_cost(checker, cases) -> dict:
    """Per answer (each real answer with one reworded sentence added), the time spent in the
    agreement step (`disagreement` and the search for a contradicting sentence) and the whole
    check's time: what the agreement step adds."""
    spent = [0.0]
    original_disagreement = support_module.disagreement
    original_search = support_module.CitationChecker._look_for_contradiction

    def timed(function):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started

        return run

    support_module.disagreement = timed(original_disagreement)
    support_module.CitationChecker._look_for_contradiction = timed(original_search)
    added, whole = [], []
    try:
        for query, passages, answer_text in cases:
            sentences = candidate_sentences(passages, answer_text)
            if not sentences:
                continue
            spent[0] = 0.0
            variant = frame(sentences[0][1], set(), random.Random(0))
            _, _, elapsed = injected_verdict(
                checker, answer_text, variant, sentences[0][0] + 1, passages, query["query"]
            )
            added.append(spent[0] * 1000)
            whole.append(elapsed)
    finally:
        support_module.disagreement = original_disagreement
        support_module.CitationChecker._look_for_contradiction = original_search
    return {
        "agreement_ms_p50": round(statistics.median(added), 1) if added else 0.0,
        "agreement_ms_p90": round(sorted(added)[int(0.9 * (len(added) - 1))], 1) if added else 0.0,
        "check_ms_p50_same_answers": round(statistics.median(whole), 1) if whole else 0.0,
    }


def run_local(engine: Engine, queries, count: int, labels_path: Path | None) -> dict:
    out = WORK / "grounding-local.jsonl"
    labels = json.loads(labels_path.read_text()) if labels_path and labels_path.exists() else {}
    rows, agree, labelled = [], 0, 0
    confusion: Counter = Counter()  # (label, verdict) pairs
    for query in queries:
        if len(rows) >= count * 4:
            break
        answer = engine.answer(query["query"], backend="local", as_of=parse_date(query.get("date")))
        if answer.not_found or answer.fallback:
            continue
        for claim in answer.claims:
            key = hashlib.sha1(claim.text.encode()).hexdigest()
            rows.append(
                {
                    "sha1": key,
                    "question": query["query"],
                    "sentence": claim.text,
                    "verdict": claim.verdict,
                    "reason": claim.reason,
                    "quote": claim.quote,
                    "passages": [citation.passage for citation in answer.citations],
                }
            )
            if key in labels:
                labelled += 1
                agree += labels[key] == claim.verdict
                confusion[f"{labels[key]} -> {claim.verdict}"] += 1
    WORK.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    flagged_right = sum(
        n
        for pair, n in confusion.items()
        if (pair.split(" -> ")[0] == "supported") == (pair.split(" -> ")[1] == "supported")
    )
    return {
        "sentences": len(rows),
        "written": str(out),
        "labelled": labelled,
        "verdicts_agreeing": agree,
        "supported_or_not_agreeing": flagged_right,
        "confusion (label -> verdict)": dict(sorted(confusion.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="corpus_small.jsonl")
    parser.add_argument("--limit", type=int, default=320)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--local", type=int, help="label mode: this many local-model answers")
    parser.add_argument("--labels", type=Path)
    parser.add_argument("--json", type=Path, help="write the report here too")
    args = parser.parse_args()
    index = dated_index(args.corpus)
    _, queries = load_eval(EVAL, args.corpus, None)
    engine = Engine(load_settings(index_dir=index))
    if args.local:
        report = run_local(engine, queries, args.local, args.labels)
    else:
        report = run_injection(engine, queries, args.limit, args.seed)
        # beside the injected kinds: answers a strong model wrote, labelled sentence by sentence
        llm = llm_answers.score(engine.checker, llm_answers.load_set())
        report["llm_written"] = {key: value for key, value in llm.items() if key != "examples"}
    report["machine"] = {"cpu": _cpu(), "python": platform.python_version()}
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.json:  # numbers only: the examples quote rtqa-dev's documents, which stay out of the project
        kept = {key: value for key, value in report.items() if key != "examples_missed_or_false"}
        args.json.write_text(json.dumps(kept, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    main()
