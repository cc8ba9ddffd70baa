"""The real text a generated corpus is built from: topic pools of paragraphs.

:mod:`corpus` recombines paragraphs; this module owns where they come from and which are
kept. A *pool* is the paragraphs of one topic, so that a document drawn from one pool stays
on one subject:

* **20 Newsgroups**: one pool per newsgroup; the body of each article is the text after
  the first blank line (latin-1, as ``corpora/20news/SOURCE.md`` defines it), read
  straight from the tarball;
* **Giveme5W1H**: one pool per event (``cluster_id``); the texts have one paragraph per
  line. Events with few paragraphs are merged by ``category`` (then into one last pool),
  since a tiny pool would make its documents share most of their paragraphs;
* **invented** (``--smoke``, no ``../shared`` needed): word-salad paragraphs over the
  vocabulary of the articles in ``examples/news``, four pools.

Paragraphs are split on blank lines and reflowed to one line; kept when they are real prose
of 10-150 words: Usenet quotes (``>``), attributions (``In article ... writes:``),
signatures, uuencoded blocks and ASCII art are left out, and so is every repeat of a
paragraph already kept (compared by their lower-cased words), so that two documents share a
paragraph only when the generator puts it in both.
"""

from __future__ import annotations

import json
import random
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, shared_folder

from docstage_plugins.dedup.minhash import TOKEN

MIN_WORDS, MAX_WORDS = 10, 150
#: An event pool smaller than this is merged with others of its category.
MIN_POOL = 150
_QUOTED = re.compile(r"^\s*(>|\||:|[A-Za-z]{1,3}>)")
_ATTRIBUTION = re.compile(r"(writes|wrote|says):\s*$|^\s*In article\b|^\s*In <", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


@dataclass(frozen=True)
class Pool:
    """The paragraphs of one topic (``name``: ``20news/sci.space``, ``g5w1h/<event>``...)."""

    name: str
    paragraphs: tuple[str, ...]
    #: Each paragraph's number of ``\\w+`` words, in the same order.
    words: tuple[int, ...]


def default_newsclusters() -> Path:
    return shared_folder() / "corpora" / "newsclusters" / "giveme5w1h.jsonl"


def keep_paragraph(raw: str) -> str | None:
    """The paragraph reflowed to one line if it is prose worth reusing, else None."""
    lines = [line for line in raw.split("\n") if line.strip()]
    if not lines or lines[0].lstrip().startswith("--"):
        return None
    if sum(1 for line in lines if _QUOTED.match(line)) * 3 >= len(lines):
        return None
    if any(_ATTRIBUTION.search(line) for line in lines[:2]):
        return None
    text = " ".join(raw.split())
    if _CONTROL.search(text) or "“" in text or "”" in text:  # our quotes use these marks
        return None
    words = TOKEN.findall(text)
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return None
    letters = sum(1 for c in text if c.isalpha() or c == " ")
    if letters < 0.8 * len(text) or max(map(len, words)) > 25:
        return None
    return text


def split_paragraphs(body: str) -> list[str]:
    return re.split(r"\n[ \t]*\n", body.replace("\r", ""))


class _Unique:
    """Remembers the paragraphs already kept, by their lower-cased words."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def new(self, paragraph: str) -> bool:
        key = " ".join(TOKEN.findall(paragraph.lower()))
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


def _pool(name: str, paragraphs: Iterable[str]) -> Pool:
    kept = tuple(paragraphs)
    return Pool(name, kept, tuple(len(TOKEN.findall(p)) for p in kept))


def newsgroup_pools(archive: Path, unique: _Unique) -> list[Pool]:
    """One pool per newsgroup of the 20 Newsgroups tarball, read without unpacking it."""
    groups: dict[str, list[str]] = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            if not member.isfile():
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            body = handle.read().decode("latin-1").partition("\n\n")[2]
            group = groups.setdefault(Path(member.name).parent.name, [])
            for raw in split_paragraphs(body):
                text = keep_paragraph(raw)
                if text is not None and unique.new(text):
                    group.append(text)
    return [_pool(f"20news/{name}", groups[name]) for name in sorted(groups)]


def event_pools(path: Path, unique: _Unique) -> list[Pool]:
    """One pool per Giveme5W1H event; small events merged by category, then together."""
    events: dict[str, list[str]] = {}
    category: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            event = str(record["cluster_id"]).removeprefix("g5w1h:")
            category.setdefault(event, str(record.get("category") or "other"))
            found = events.setdefault(event, [])
            for raw in str(record["text"]).split("\n"):
                text = keep_paragraph(raw)
                if text is not None and unique.new(text):
                    found.append(text)
    pools: list[Pool] = []
    merged: dict[str, list[str]] = {}
    for event in sorted(events):
        if len(events[event]) >= MIN_POOL:
            pools.append(_pool(f"g5w1h/event-{event}", events[event]))
        else:
            merged.setdefault(category[event], []).extend(events[event])
    rest: list[str] = []
    for name in sorted(merged):
        if len(merged[name]) >= MIN_POOL:
            pools.append(_pool(f"g5w1h/{name}", merged[name]))
        else:
            rest.extend(merged[name])
    if rest:
        pools.append(_pool("g5w1h/mixed", rest))
    return pools


def invented_pools(count: int = 4, paragraphs: int = 250) -> list[Pool]:
    """Word-salad paragraphs over the vocabulary of ``examples/news`` (fixed, seedless)."""
    vocabulary = sorted(
        {
            word.lower()
            for path in sorted((ROOT / "examples" / "news").rglob("*.txt"))
            for word in TOKEN.findall(path.read_text(encoding="utf-8"))
            if word.isalpha() and len(word) > 2
        }
    )
    rng = random.Random(1234)
    pools = []
    for number in range(count):
        texts = []
        for _ in range(paragraphs):
            sentences = []
            for _ in range(rng.randint(2, 5)):
                words = [rng.choice(vocabulary) for _ in range(rng.randint(6, 18))]
                sentences.append(" ".join(words).capitalize() + ".")
            texts.append(" ".join(sentences))
        pools.append(_pool(f"invented/topic-{number}", texts))
    return pools


def load_pools(
    *, invented: bool, archive: Path | None = None, newsclusters: Path | None = None
) -> list[Pool]:
    """The pools of the invented text, or of 20 Newsgroups and Giveme5W1H (either may be
    absent, not both).

    Raises:
        FileNotFoundError: Neither corpus is there.
    """
    if invented:
        return invented_pools()
    unique = _Unique()
    pools: list[Pool] = []
    archive = archive or shared_folder() / "corpora" / "20news" / "20news-19997.tar.gz"
    newsclusters = newsclusters or default_newsclusters()
    if archive.is_file():
        pools += newsgroup_pools(archive, unique)
    if newsclusters.is_file():
        pools += event_pools(newsclusters, unique)
    if not pools:
        raise FileNotFoundError(f"neither {archive} nor {newsclusters} exists")
    return [pool for pool in pools if pool.paragraphs]


def sentences(paragraph: str) -> Iterator[str]:
    """The sentences of a paragraph that would make a quote: 8-35 words, ending a sentence."""
    for sentence in _SENTENCE_END.split(paragraph):
        if sentence[-1:] in ".!?" and 8 <= len(TOKEN.findall(sentence)) <= 35:
            yield sentence
