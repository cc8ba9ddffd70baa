"""A seeded corpus generator of any size, with the ground truth of the copies it plants.

Documents are real paragraphs recombined (:mod:`corpus_sources`: 20 Newsgroups bodies and
Giveme5W1H texts, or invented text with ``--smoke``): each draws 4-12 paragraphs from one
topic pool (a newsgroup, an event), gets an invented outlet as its source and a publication
date within ``--days`` days. No paragraph may hold more than a quarter of a document's
words, so two documents that share three paragraphs by chance stay far below Jaccard 0.8;
only the generator's copies are copies. At ``scale`` times 1x, each paragraph of the pool
comes in ``scale`` variants (the paragraph itself, and versions with every second word
replaced by words of another paragraph of its pool) and a draw picks one, so a variant
repeats as often as a paragraph does at 1x (``--reuse scaled``, the default). Recombining
the fixed pool verbatim would repeat each paragraph about ``scale`` times as often as at
1x, which no news collection does: every document would share ever more passages with
others as the corpus grows (``--reuse verbatim`` keeps that, as a stress test of shared
passages and quotes). At 1x and below the two give the same bytes. It plants, at
configurable rates:

* **exact copies**: the same text under another outlet and id, published 0-2 days later;
* **near copies**: the text with ``k`` word edits (substitutions, deletions, insertions);
  their true Jaccard similarity over word 5-gram shingles is computed with the ``dedup``
  stage's own functions (:mod:`docstage_plugins.dedup.minhash`) and recorded;
* **shared quotes**: a real sentence put in quotation marks with an invented speaker,
  carried by 2-5 new documents of the pool from different outlets.

Written to the folder given (never inside the repository): ``docs.jsonl`` for
``read.jsonl`` (``days/<date>.jsonl`` with ``--day-split``), or with ``--format files``
``docs/[<date>/]<outlet>/<id>.txt`` for ``read.files``; the ground truth under ``truth/``
(``exact_groups.tsv``, ``near_pairs.tsv``, ``copies_j080.tsv``, ``quotes.jsonl``) and
``manifest.json``. The same options and seed give the same bytes (on one Python version).
Generation streams: memory holds the pools and a shuffle buffer, whatever the size.

    python benchmarks/corpus.py /tmp/corpus                  # 1x 20 Newsgroups (19,997)
    python benchmarks/corpus.py /tmp/big --scale 50          # 999,850 documents
    python benchmarks/corpus.py /tmp/c --documents 100000 --day-split --days 11
    python benchmarks/corpus.py /tmp/smoke --smoke           # invented text, 500 documents
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import itertools
import json
import os
import platform
import re
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from random import Random
from typing import TextIO

from common import ROOT, default_tarball, peak_rss_mib
from corpus_sources import Pool, default_newsclusters, load_pools, sentences

from docstage_plugins.dedup.minhash import TOKEN, jaccard, shingle_batch

#: One "scale" is the size of 20 Newsgroups.
NEWSGROUPS = 19_997
#: Ground truth threshold of ``copies_j080.tsv``: the ``dedup`` stage's default.
THRESHOLD = 0.8
MAX_SHARE = 0.25  # of a document's words in one paragraph
MAX_PARAGRAPHS = 20
_WORDS = re.compile(r"[^\W\d_]{2,}")  # words of letters that vary_words may replace
COPY_DELAY = 2  # days a copy may be published after its original
QUOTE_SPREAD = 3  # days over which the carriers of a quote are published

OUTLETS = (
    "harbor-times", "valley-post", "coastal-wire", "northgate-ledger", "aldermouth-courier",
    "brevik-daily", "riverside-gazette", "eastmarch-herald", "pinecrest-observer",
    "lakeshore-chronicle", "redcliff-tribune", "westfold-examiner", "greywater-bulletin",
    "summit-dispatch", "marlow-sentinel", "oakhurst-record", "stonebridge-star",
    "fenwick-journal", "kestrel-news", "ironvale-times", "saltmarsh-mercury", "highmoor-echo",
    "dunmore-post", "copperfield-reporter",
)  # fmt: skip
FIRST_NAMES = (
    "Ada", "Bram", "Celia", "Dorian", "Elin", "Farid", "Greta", "Hugo", "Ines", "Jonas",
    "Kaia", "Lior", "Mira", "Nils", "Odile", "Pavel", "Quinn", "Rosa", "Soren", "Talia",
)  # fmt: skip
LAST_NAMES = (
    "Achterberg", "Brandvold", "Castellan", "Eskeland", "Fairweather", "Galloway",
    "Holmqvist", "Ilves", "Jarrow", "Kettering", "Marchetti", "Norland", "Pellegrin",
    "Quist", "Thorsby", "Underhill", "Valdane", "Whitcombe",
)  # fmt: skip
ROLES = (
    "a spokesperson for the ministry", "a member of the city council", "a senior analyst",
    "the union's chief negotiator", "the company's chief executive", "a local resident",
    "a professor at the regional university", "the police spokesperson",
)  # fmt: skip
QUOTE_FORMS = (
    "“{quote}” said {speaker}, {role}.",
    "{speaker}, {role}, said: “{quote}”",
    "“{quote}” {speaker} told reporters.",
    "In a statement, {speaker} said: “{quote}”",
)


@dataclass(frozen=True)
class Settings:
    """What to generate: the options of the command line (written to ``manifest.json``)."""

    documents: int
    seed: int = 1
    start: str = "2024-01-01"
    days: int = 30
    format: str = "jsonl"
    day_split: bool = False
    paragraphs: tuple[int, int] = (4, 12)
    exact_rate: float = 0.03
    near_rate: float = 0.03
    copies: tuple[int, int] = (1, 3)
    near_edits: tuple[int, int] = (1, 10)
    quote_rate: float = 0.02
    quote_carriers: tuple[int, int] = (2, 5)
    buffer: int = 4096
    text: str = "shared"
    reuse: str = "scaled"


@dataclass
class Doc:
    """One generated document; ``number`` is its place in generation order."""

    number: int
    source: str
    day: int
    topic: str
    text: str

    @property
    def id(self) -> str:
        return f"d{self.number:08d}"


@dataclass
class Counts:
    documents: int = 0
    originals: int = 0
    exact_copies: int = 0
    near_copies: int = 0
    exact_groups: int = 0
    near_pairs: int = 0
    near_pairs_at_threshold: int = 0
    copy_pairs_at_threshold: int = 0
    quote_groups: int = 0
    quote_carriers: int = 0
    by_day: dict[str, int] = field(default_factory=dict)


# --- writing documents and truth -----------------------------------------------------------


class Sink:
    """Writes documents as JSON Lines or text files, in one place or one per day."""

    def __init__(self, folder: Path, settings: Settings) -> None:
        self.folder = folder
        self.settings = settings
        self.start = dt.date.fromisoformat(settings.start)
        self._open: dict[str, TextIO] = {}
        self._made: set[str] = set()

    def date(self, day: int) -> str:
        return (self.start + dt.timedelta(days=day)).isoformat()

    def doc_id(self, doc: Doc) -> str:
        """The id the reader will give the document (what the ground truth names)."""
        return f"{doc.source}/{doc.id}.txt" if self.settings.format == "files" else doc.id

    def write(self, doc: Doc) -> None:
        date = self.date(doc.day)
        if self.settings.format == "files":
            parts = [date] if self.settings.day_split else []
            path = self.folder.joinpath("docs", *parts, doc.source, f"{doc.id}.txt")
            if path.parent.as_posix() not in self._made:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._made.add(path.parent.as_posix())
            path.write_text(doc.text + "\n", encoding="utf-8")
            return
        record = {"id": doc.id, "source": doc.source, "published": date, "topic": doc.topic}
        record["text"] = doc.text
        name = f"days/{date}.jsonl" if self.settings.day_split else "docs.jsonl"
        self._handle(name).write(json.dumps(record, ensure_ascii=False) + "\n")

    def _handle(self, name: str) -> TextIO:
        handle = self._open.get(name)
        if handle is None:
            if len(self._open) >= 64:  # a long span of days: reopen files as needed
                self._open.pop(next(iter(self._open))).close()
            mode = "a" if name in self._made else "w"
            path = self.folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open(mode, encoding="utf-8", buffering=1 << 20)
            self._open[name] = handle
            self._made.add(name)
        return handle

    def close(self) -> None:
        for handle in self._open.values():
            handle.close()
        self._open.clear()


class Truth:
    """The ground truth files, written as the families are planted."""

    def __init__(self, folder: Path, sink: Sink, counts: Counts) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.sink = sink
        self.counts = counts
        self.exact = (folder / "exact_groups.tsv").open("w", encoding="utf-8")
        self.near = (folder / "near_pairs.tsv").open("w", encoding="utf-8")
        self.copies = (folder / "copies_j080.tsv").open("w", encoding="utf-8")
        self.quotes = (folder / "quotes.jsonl").open("w", encoding="utf-8")
        self.exact.write("group\tsize\tids\n")
        self.near.write("id_a\tid_b\tjaccard\tedits\n")
        self.copies.write("id_a\tid_b\tjaccard\n")

    def family(self, members: list[Doc], edits: list[int]) -> None:
        """An original (first), its exact copies (0 edits) and near copies (``k`` edits)."""
        ids = [self.sink.doc_id(doc) for doc in members]
        exact = [i for i, k in enumerate(edits) if k == 0]
        if len(exact) > 1:
            self.counts.exact_groups += 1
            group = f"x{members[0].number:08d}"
            self.exact.write("\t".join([group, str(len(exact)), *(ids[i] for i in exact)]) + "\n")
        sets = shingle_batch([doc.text for doc in members])
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                near = edits[a] > 0 or edits[b] > 0
                similarity = jaccard(sets[a], sets[b]) if near else 1.0
                score = f"{similarity:.4f}"
                if near:
                    self.counts.near_pairs += 1
                    self.near.write(f"{ids[a]}\t{ids[b]}\t{score}\t{edits[a] + edits[b]}\n")
                if similarity >= THRESHOLD:
                    self.counts.copy_pairs_at_threshold += 1
                    self.counts.near_pairs_at_threshold += near
                    self.copies.write(f"{ids[a]}\t{ids[b]}\t{score}\n")

    def quote(self, number: int, quote: str, speaker: str, carriers: list[Doc]) -> None:
        self.counts.quote_groups += 1
        self.counts.quote_carriers += len(carriers)
        record = {
            "quote_id": f"q{number:08d}",
            "quote": quote,
            "speaker": speaker,
            "topic": carriers[0].topic,
            "ids": [self.sink.doc_id(doc) for doc in carriers],
            "sources": [doc.source for doc in carriers],
        }
        self.quotes.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        for handle in (self.exact, self.near, self.copies, self.quotes):
            handle.close()


# --- planting ------------------------------------------------------------------------------


def vary_words(paragraph: str, other: str) -> str:
    """``paragraph`` with every second word (from the second on) replaced by the next word
    of ``other`` (a paragraph of the same pool: the topic's words; from its start again
    when they run out), capitalised as the word
    it replaces; spacing, punctuation and line breaks kept. Its sentences then stay under
    the passage and quote similarity thresholds (0.7) against the paragraph's other
    variants."""
    words = itertools.cycle(_WORDS.findall(other) or ["news"])
    counter = itertools.count()

    def replace(match: re.Match[str]) -> str:
        if next(counter) % 2 != 1:
            return match.group(0)
        word = next(words)
        return word[:1].upper() + word[1:] if match.group(0)[:1].isupper() else word.lower()

    return _WORDS.sub(replace, paragraph)


def edit_words(text: str, count: int, rng: Random) -> str:
    """``text`` with ``count`` of its words changed: replaced by another word of the text
    (60 %), deleted (20 %) or preceded by an inserted one (20 %)."""
    spans = [m.span() for m in TOKEN.finditer(text)]
    if len(spans) < 2:
        return text
    for at in sorted(rng.sample(range(len(spans)), min(count, len(spans))), reverse=True):
        start, end = spans[at]  # from the end backwards: earlier spans stay valid
        word = text[start:end]
        other = word
        for _ in range(10):
            a, b = spans[rng.randrange(len(spans))]
            other = text[a:b]
            if other.lower() != word.lower():
                break
        if other.lower() == word.lower():
            other = word + "s"
        kind = rng.random()
        if kind < 0.6:
            text = text[:start] + other + text[end:]
        elif kind < 0.8 and at > 0:
            cut = end
            while cut < len(text) and text[cut] == " ":
                cut += 1
            text = text[:start] + text[cut:]
        else:
            text = text[:start] + other + " " + text[start:]
    return text


class Generator:
    """Draws documents from the pools; :meth:`documents` yields them in generation order
    (a family or a quote group at a time, truth written as each is planted)."""

    def __init__(self, pools: list[Pool], settings: Settings, truth: Truth) -> None:
        self.pools = pools
        self.settings = settings
        self.truth = truth
        self.rng = Random(settings.seed)
        self.number = 0
        total = 0
        self.cumulative: list[int] = []
        for pool in pools:  # a pool's share of the documents follows its size
            total += len(pool.paragraphs)
            self.cumulative.append(total)

    def _new(self, pool: Pool, source: str, day: int, text: str) -> Doc:
        self.number += 1
        return Doc(self.number, source, min(day, self.settings.days - 1), pool.name, text)

    def _text(self, pool: Pool) -> list[str]:
        """4-12 paragraphs of the pool, none over a quarter of the words (more are added,
        the largest dropped, until that holds)."""
        rng, low_high = self.rng, self.settings.paragraphs
        size = len(pool.paragraphs)
        chosen = [rng.randrange(size) for _ in range(rng.randint(*low_high))]
        while True:
            words = [pool.words[i] for i in chosen]
            total = sum(words)
            if max(words) <= MAX_SHARE * total:
                return [self._paragraph(pool, i) for i in chosen]
            if len(chosen) >= MAX_PARAGRAPHS:
                chosen.pop(words.index(max(words)))
            chosen.append(rng.randrange(size))

    def _paragraph(self, pool: Pool, number: int) -> str:
        """Paragraph ``number`` of the pool as drawn. With ``reuse = "scaled"`` at ``scale``
        times 1x, the pool holds ``scale`` variants of each paragraph (the first verbatim,
        the others :func:`vary_words` with another paragraph of the pool) and a draw picks
        one: each variant is then drawn about as often as a paragraph is at 1x."""
        paragraph = pool.paragraphs[number]
        variants = round(self.settings.documents / NEWSGROUPS)
        if self.settings.reuse != "scaled" or variants <= 1:
            return paragraph
        variant = self.rng.randrange(variants)
        if variant == 0:
            return paragraph
        size = len(pool.paragraphs)
        return vary_words(paragraph, pool.paragraphs[(number + variant * 7919) % size])

    def _outlets(self, count: int, used: set[str]) -> list[str]:
        free = [name for name in OUTLETS if name not in used]
        picked = self.rng.sample(free, min(count, len(free)))
        used.update(picked)
        return picked

    def _family(self, original: Doc, room: int) -> list[Doc]:
        """The original and the copies planted from it (at most ``room`` documents)."""
        rng, s = self.rng, self.settings
        members, edits = [original], [0]
        used = {original.source}
        pool_name = original.topic
        for kind, rate in (("exact", s.exact_rate), ("near", s.near_rate)):
            if rng.random() >= rate:
                continue
            wanted = min(rng.randint(*s.copies), room - len(members))
            for outlet in self._outlets(wanted, used):
                day = original.day + rng.randint(0, COPY_DELAY)
                k = rng.randint(*s.near_edits) if kind == "near" else 0
                text = edit_words(original.text, k, rng) if k else original.text
                self.number += 1
                copy = Doc(self.number, outlet, min(day, s.days - 1), pool_name, text)
                members.append(copy)
                edits.append(k)
        if len(members) > 1:
            self.truth.counts.exact_copies += edits.count(0) - 1
            self.truth.counts.near_copies += sum(1 for k in edits if k)
            self.truth.family(members, edits)
        return members

    def _quote(self, pool: Pool) -> tuple[str, str, str] | None:
        rng = self.rng
        for _ in range(20):
            found = list(sentences(pool.paragraphs[rng.randrange(len(pool.paragraphs))]))
            if found:
                number = rng.randrange(len(FIRST_NAMES) * len(LAST_NAMES))
                first, last = divmod(number, len(LAST_NAMES))
                speaker = f"{FIRST_NAMES[first]} {LAST_NAMES[last]}"
                return rng.choice(found), speaker, ROLES[number % len(ROLES)]
        return None

    def documents(self) -> Iterator[Doc]:
        s, rng = self.settings, self.rng
        produced = 0
        while produced < s.documents:
            room = s.documents - produced
            at = rng.random() * self.cumulative[-1]
            pool = self.pools[bisect.bisect_right(self.cumulative, at)]
            day = rng.randrange(s.days)
            quote = self._quote(pool) if room >= 2 and rng.random() < s.quote_rate else None
            if quote is None:
                original = self._new(pool, rng.choice(OUTLETS), day, "\n\n".join(self._text(pool)))
                unit = self._family(original, room)
                self.truth.counts.originals += 1
            else:
                unit = self._quote_group(pool, day, room, *quote)
            produced += len(unit)
            yield from unit

    def _quote_group(
        self, pool: Pool, day: int, room: int, quote: str, speaker: str, role: str
    ) -> list[Doc]:
        rng, s = self.rng, self.settings
        carriers = min(rng.randint(*s.quote_carriers), room)
        unit: list[Doc] = []
        carrying: list[Doc] = []
        number = self.number + 1
        for outlet in self._outlets(carriers, set()):
            if len(unit) >= room:
                break
            paragraphs = self._text(pool)
            form = rng.choice(QUOTE_FORMS)
            said = form.format(quote=quote, speaker=speaker, role=role)
            paragraphs.insert(rng.randint(1, len(paragraphs)), said)
            text = "\n\n".join(paragraphs)
            original = self._new(pool, outlet, day + rng.randint(0, QUOTE_SPREAD), text)
            self.truth.counts.originals += 1
            family = self._family(original, room - len(unit))
            unit += family
            carrying += [doc for doc in family if f"“{quote}”" in doc.text]
        if len({doc.source for doc in carrying}) > 1:
            self.truth.quote(number, quote, speaker, carrying)
        return unit


def shuffled(docs: Iterator[Doc], size: int, rng: Random) -> Iterator[Doc]:
    """``docs`` in a seeded random order, holding at most ``size`` of them at a time (copies
    end up near their originals, not next to them)."""
    buffer: list[Doc] = []
    for doc in docs:
        buffer.append(doc)
        if len(buffer) >= size:
            at = rng.randrange(len(buffer))
            buffer[at], buffer[-1] = buffer[-1], buffer[at]
            yield buffer.pop()
    rng.shuffle(buffer)
    yield from buffer


# --- the command ---------------------------------------------------------------------------


def generate(folder: Path, settings: Settings, pools: list[Pool]) -> Counts:
    """Write the corpus, its ground truth and ``manifest.json`` into ``folder``."""
    counts = Counts()
    sink = Sink(folder, settings)
    truth = Truth(folder / "truth", sink, counts)
    generator = Generator(pools, settings, truth)
    order = Random(settings.seed ^ 0x5EED)
    try:
        for doc in shuffled(generator.documents(), settings.buffer, order):
            sink.write(doc)
            counts.documents += 1
            date = sink.date(doc.day)
            counts.by_day[date] = counts.by_day.get(date, 0) + 1
    finally:
        sink.close()
        truth.close()
    counts.by_day = dict(sorted(counts.by_day.items()))
    manifest = {
        "generator": "benchmarks/corpus.py",
        "settings": asdict(settings),
        "counts": asdict(counts),
        "pools": {pool.name: len(pool.paragraphs) for pool in pools},
        "python": ".".join(map(str, sys.version_info[:2])),
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    (folder / "manifest.json").write_text(text, encoding="utf-8")
    return counts


def span(text: str) -> tuple[int, int]:
    """``"3"`` or ``"1-10"`` as a (low, high) pair."""
    low, _, high = text.partition("-")
    pair = (int(low), int(high or low))
    if pair[0] < 0 or pair[0] > pair[1]:
        raise argparse.ArgumentTypeError(f"expected N or LOW-HIGH, got {text!r}")
    return pair


def rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a rate is between 0 and 1, got {text!r}")
    return value


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    add = parser.add_argument
    add("folder", type=Path, help="where to write (outside the repository; created)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--scale", type=float, help="multiples of 20 Newsgroups (19,997 docs)")
    size.add_argument("--documents", type=int, help="exactly this many documents")
    add("--seed", type=int, default=1, help="the same seed gives the same bytes (default 1)")
    add("--days", type=int, default=30, help="publication dates span this many days (30)")
    add("--start", default="2024-01-01", help="the first publication date (2024-01-01)")
    add("--day-split", action="store_true", help="one file (or folder) per publication day")
    add("--format", choices=("jsonl", "files"), default="jsonl", help="read.jsonl or read.files")
    add("--paragraphs", type=span, default=(4, 12), help="paragraphs per document (4-12)")
    add("--exact-rate", type=rate, default=0.03, help="originals given exact copies (0.03)")
    add("--near-rate", type=rate, default=0.03, help="originals given near copies (0.03)")
    add("--copies", type=span, default=(1, 3), help="copies of each kind per original (1-3)")
    add("--near-edits", type=span, default=(1, 10), help="word edits of a near copy (1-10)")
    add("--quote-rate", type=rate, default=0.02, help="draws that plant a shared quote (0.02)")
    add("--quote-carriers", type=span, default=(2, 5), help="documents sharing a quote (2-5)")
    add("--buffer", type=int, default=4096, help="shuffle buffer, in documents (4096)")
    add(
        "--reuse",
        choices=("scaled", "verbatim"),
        default="scaled",
        help="at scale times 1x, draw one of scale variants of a paragraph (itself, or with "
        "every second word replaced), so paragraphs repeat as often as at 1x (scaled, the "
        "default); or always verbatim (each repeats about scale times as often as at 1x)",
    )
    add("--smoke", action="store_true", help="invented text (no ../shared), 500 documents")
    add("--invented", action="store_true", help="invented text at any size")
    add("--tarball", type=Path, default=None, help="20news-19997.tar.gz (default: ../shared)")
    add("--newsclusters", type=Path, default=None, help="giveme5w1h.jsonl (default: ../shared)")
    add("--force", action="store_true", help="replace a corpus this command wrote before")
    add("--figures", type=Path, default=None, help="add this run's time and memory to a JSON file")
    return parser.parse_args(argv), parser


def prepare(folder: Path, force: bool, parser: argparse.ArgumentParser) -> Path:
    folder = folder.resolve()
    if folder == ROOT or ROOT in folder.parents:
        parser.error(f"{folder} is inside the repository; write generated corpora elsewhere")
    if folder.exists() and any(folder.iterdir()):
        if not (force and (folder / "manifest.json").is_file()):
            parser.error(
                f"{folder} is not empty (--force replaces a corpus this command wrote there)"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def disk_bytes(folder: Path) -> tuple[int, int]:
    """Bytes of the documents and of the ground truth under ``folder``."""
    docs = truth = 0
    for path in folder.rglob("*"):
        if path.is_file():
            if path.parts[len(folder.parts)] == "truth":
                truth += path.stat().st_size
            else:
                docs += path.stat().st_size
    return docs, truth


def main(argv: list[str] | None = None) -> int:
    args, parser = parse(argv)
    invented = args.smoke or args.invented
    if args.documents is not None:
        documents = args.documents
    elif args.scale is not None:
        documents = round(args.scale * NEWSGROUPS)
    else:
        documents = 500 if args.smoke else NEWSGROUPS
    if documents < 1 or args.days < 1 or args.buffer < 1:
        parser.error("--documents/--scale, --days and --buffer must be positive")
    try:
        dt.date.fromisoformat(args.start)
    except ValueError:
        parser.error(f"--start: not a date (YYYY-MM-DD): {args.start!r}")
    settings = Settings(
        documents=documents,
        seed=args.seed,
        start=args.start,
        days=args.days,
        format=args.format,
        day_split=args.day_split,
        paragraphs=args.paragraphs,
        exact_rate=args.exact_rate,
        near_rate=args.near_rate,
        copies=args.copies,
        near_edits=args.near_edits,
        quote_rate=args.quote_rate,
        quote_carriers=args.quote_carriers,
        buffer=args.buffer,
        text="invented" if invented else "shared",
        reuse=args.reuse,
    )
    if settings.paragraphs[0] < 4:
        parser.error("--paragraphs: at least 4 (no paragraph may hold over a quarter)")
    if not invented:
        archive = args.tarball or default_tarball()
        news = args.newsclusters or default_newsclusters()
        if not archive.is_file() and not news.is_file():
            parser.error(f"{archive} and {news} not found: give --tarball or --smoke")
    folder = prepare(args.folder, args.force, parser)
    wall, cpu = time.perf_counter(), time.process_time()
    pools = load_pools(invented=invented, archive=args.tarball, newsclusters=args.newsclusters)
    loaded = time.perf_counter() - wall
    counts = generate(folder, settings, pools)
    seconds, cpu = time.perf_counter() - wall, time.process_time() - cpu
    docs, truth = disk_bytes(folder)
    paragraphs = sum(len(p.paragraphs) for p in pools)
    print(f"pools: {len(pools)} ({paragraphs:,} paragraphs), loaded in {loaded:.1f} s")
    print(
        f"{counts.documents:,} documents ({counts.originals:,} originals, "
        f"{counts.exact_copies:,} exact and {counts.near_copies:,} near copies, "
        f"{counts.quote_groups:,} quotes in {counts.quote_carriers:,} documents)"
    )
    print(
        f"truth: {counts.exact_groups:,} exact groups, {counts.near_pairs:,} near pairs "
        f"({counts.near_pairs_at_threshold:,} at Jaccard >= {THRESHOLD}), "
        f"{counts.copy_pairs_at_threshold:,} copy pairs in copies_j080.tsv"
    )
    print(
        f"time: {seconds:.1f} s wall, {cpu:.1f} s CPU; peak RSS {peak_rss_mib():.0f} MiB; "
        f"on disk: documents {docs:,} bytes, truth {truth:,} bytes -> {folder}"
    )
    if args.figures is not None:
        figures = {
            "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} "
            f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end",
            "settings": asdict(settings),
            "counts": {k: v for k, v in asdict(counts).items() if k != "by_day"},
            "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1),
            "load_seconds": round(loaded, 1),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            "bytes_documents": docs,
            "bytes_truth": truth,
        }
        runs = json.loads(args.figures.read_text()) if args.figures.is_file() else []
        runs = [r for r in runs if r["settings"]["documents"] != documents] + [figures]
        runs.sort(key=lambda r: r["settings"]["documents"])
        args.figures.write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
