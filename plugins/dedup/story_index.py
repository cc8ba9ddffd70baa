"""The story index: stories that live across runs, kept in the state store.

A run's originals are clustered together with *anchors*: documents of earlier runs that
share strong terms with them, their texts kept compressed in the store. The clustering is
the one a single run does (:func:`~docstage_plugins.dedup.stories.cluster_stories`, with
its soft date factor); then each cluster is read against the stories its earlier
documents already have (:class:`~docstage_plugins.dedup.story_ledger.StoryLedger`: a
story continues, merges with others, recorded, or a new one starts). A document's story
id, once given, changes only through a recorded merge; a document seen again (a rerun)
keeps its story. The texts of the earlier documents (their first
:data:`TEXT_CHARS` characters) and their strong terms are kept in ``story_docs`` and
``story_terms``; the document frequencies of the terms in ``story_settings``.

**Time.** A term looks up its most recent documents first (:data:`POSTINGS` of them), so
an old story is found only through terms that newer ones do not crowd out, and the date
factor of the clustering makes a story that has been quiet for long need closer texts.
There is no hard window: a story that runs for months keeps its id.

**Memory.** Held per new document: its 32 strong terms (hashed) and its hits while it is
looked up; per anchor, what clustering holds per document. Anchors are at most
:data:`ANCHORS` per new document and :data:`MAX_ANCHORS_FACTOR` times the new documents
in all. Document frequencies live in a fixed table of hashed terms (4 MiB).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import sqlite3
import time
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs
import numpy as np

from docstage.sqlrows import rows_in
from docstage_plugins.dedup.stories import StoryDoc, StoryOptions, cluster_stories
from docstage_plugins.dedup.story_ledger import StoryLedger
from docstage_plugins.dedup.story_vectors import Background, analyzer, day

#: Strong terms kept per document (indexed, and looked up for a new one).
TERMS = 32
#: Documents a term looks up, most recent first.
POSTINGS = 128
#: Earlier documents one new document brings in at most, and the strong terms they
#: must share with it.
ANCHORS = 10
MIN_SHARED_TERMS = 2
#: Latest documents of each story an anchor belongs to, brought in with it.
STORY_DOCUMENTS = 10
#: Anchors in all (story mates included), at most this many times the new documents
#: (and at least 1,000).
MAX_ANCHORS_FACTOR = 2
#: Characters of a text kept for later runs (a news article is far shorter).
TEXT_CHARS = 20_000
_DF_BUCKETS = 1 << 20
_SEPARATOR = "\x1f"

SCHEMA = """
CREATE TABLE IF NOT EXISTS story_docs (
    node INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    story TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT,
    published TEXT,
    entities TEXT NOT NULL,
    text BLOB NOT NULL,
    run_id TEXT NOT NULL,
    indexed REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS story_docs_story ON story_docs (story, node);
CREATE TABLE IF NOT EXISTS story_terms (
    term INTEGER NOT NULL,
    day INTEGER NOT NULL,
    node INTEGER NOT NULL,
    PRIMARY KEY (term, day, node)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS story_settings (key TEXT PRIMARY KEY, value BLOB NOT NULL)
"""


@attrs.frozen
class Anchor:
    """An earlier run's document brought into this run's clustering.

    Attributes:
        node: Its row in ``story_docs``.
        doc: What clustering needs of it.
        story: Its story (as assigned; resolve it through merges).
    """

    node: int
    doc: StoryDoc
    story: str


@attrs.define(eq=False)
class StoryIndex:
    """The documents of earlier runs in a state store's connection (the run's
    transaction), and their stories (:attr:`ledger`).

    Args:
        db: The state store's connection.
        run_id: This run's id, recorded with its documents and merges.
        today: This run's date (ISO 8601), for documents without ``published``.
    """

    db: sqlite3.Connection
    run_id: str
    today: str = attrs.field(factory=lambda: dt.date.today().isoformat())
    ledger: StoryLedger = attrs.field(init=False)
    _counted: tuple[np.ndarray, int] | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        for statement in SCHEMA.split(";"):
            self.db.execute(statement)
        self.ledger = StoryLedger(self.db, self.run_id, self.today)

    # --- reading -------------------------------------------------------------------

    def known(self, ids: Sequence[str]) -> dict[int, str]:
        """Positions in ``ids`` of documents indexed before, with their (resolved) story."""
        query = "SELECT id, story FROM story_docs WHERE id IN ({marks})"
        stored = dict(rows_in(self.db, query, sorted(set(ids))))
        return {
            position: self.ledger.resolve(stored[doc_id])
            for position, doc_id in enumerate(ids)
            if stored.get(doc_id)
        }

    def count_terms(self, texts: Iterable[str]) -> None:
        """Add the document frequencies of the terms of new documents' ``texts``."""
        analyze = analyzer(False)
        frequencies, total = self._frequencies()
        for text in texts:
            buckets = np.fromiter(
                {_hash(term) & (_DF_BUCKETS - 1) for term in analyze(text)}, dtype=np.int64
            )
            frequencies[buckets] += 1
            total += 1
        self._save_frequencies(frequencies, total)

    def index(self, docs: Sequence[StoryDoc], texts: Iterable[str]) -> tuple[int, list[array[int]]]:
        """Store new ``docs`` (no story yet) with their ``texts`` and strong terms.

        Returns:
            The first node of this run (earlier documents have smaller ones) and each
            document's strong terms.
        """
        analyze = analyzer(False)
        frequencies, total = self._frequencies()
        row = self.db.execute("SELECT coalesce(max(node), 0) + 1 FROM story_docs").fetchone()
        first = int(row[0])
        now = time.time()
        strong: list[array[int]] = []
        stored: set[str] = set()
        for doc, text in zip(docs, texts, strict=True):
            terms = _strong_terms(analyze(text), frequencies, total)
            strong.append(terms)
            if doc.id in stored:  # an id given twice in one run: its first text stands
                continue
            stored.add(doc.id)
            node = self.db.execute(
                "INSERT INTO story_docs (id, story, source, title, published, entities, text,"
                " run_id, indexed) VALUES (?, '', ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc.id,
                    doc.source,
                    doc.title,
                    doc.published,
                    _SEPARATOR.join(doc.entities),
                    zlib.compress(text[:TEXT_CHARS].encode("utf-8", "surrogatepass"), 6),
                    self.run_id,
                    now,
                ),
            ).lastrowid
            when = self._day(doc.published)
            self.db.executemany(
                "INSERT OR IGNORE INTO story_terms (term, day, node) VALUES (?, ?, ?)",
                [(term, when, node) for term in terms],
            )
        return first, strong

    def anchors(
        self, strong: Sequence[array[int]], before: int, factor: float = MAX_ANCHORS_FACTOR
    ) -> list[Anchor]:
        """Earlier documents (nodes below ``before``) that share strong terms with the new
        ones (up to :data:`ANCHORS` each) and the latest documents of their stories (up to
        :data:`STORY_DOCUMENTS` a story): at most ``factor`` times the new documents (and
        at least 1,000) in all, in node order."""

        @functools.lru_cache(maxsize=8192)
        def postings(term: int) -> array[int]:
            rows = self.db.execute(
                "SELECT node FROM story_terms WHERE term = ? AND node < ?"
                " ORDER BY day DESC, node DESC LIMIT ?",
                (term, before, POSTINGS),
            )
            return array("q", (node for (node,) in rows))

        if before <= 1:
            return []
        score: Counter[int] = Counter()
        for terms in strong:
            hits: Counter[int] = Counter()
            for term in terms:
                hits.update(postings(term))
            best = [(n, h) for n, h in hits.most_common(ANCHORS) if h >= MIN_SHARED_TERMS]
            for node, shared in best:
                score[node] = max(score[node], shared)
        # The best found first, each with the latest documents of its story (a story's
        # neighbourhood is what the clustering compares), up to the limit in all.
        limit = max(1000, int(factor * len(strong)))
        ranked = [node for node, _ in score.most_common(limit)]
        story_of = {a.node: a.story for a in self._load(sorted(ranked))}
        chosen: set[int] = set()
        stories: set[str] = set()
        for node in ranked:
            if len(chosen) >= limit:
                break
            chosen.add(node)
            if story_of[node] in stories:
                continue
            stories.add(story_of[node])
            rows = self.db.execute(
                "SELECT node FROM story_docs WHERE story = ? AND node < ?"
                " ORDER BY node DESC LIMIT ?",
                (story_of[node], before, STORY_DOCUMENTS),
            )
            mates = [mate for (mate,) in rows if mate not in chosen]
            chosen.update(mates[: max(0, limit - len(chosen))])
        return list(self._load(sorted(chosen)))

    def texts(self, anchors: Sequence[Anchor]) -> Iterator[str]:
        """The anchors' stored texts, in their order."""
        for anchor in anchors:
            (blob,) = self.db.execute(
                "SELECT text FROM story_docs WHERE node = ?", (anchor.node,)
            ).fetchone()
            yield zlib.decompress(blob).decode("utf-8", "surrogatepass")

    def settle(self, first: int, docs: Sequence[StoryDoc], ids: Sequence[str]) -> None:
        """Write the stories of the documents :meth:`index` stored from node ``first``."""
        self.db.executemany(
            "UPDATE story_docs SET story = ? WHERE id = ? AND node >= ?",
            [(story, doc.id, first) for doc, story in zip(docs, ids, strict=True)],
        )

    def expire(
        self, *, max_age_days: int | None, max_documents: int | None, now: float | None = None
    ) -> int:
        """Forget the documents indexed more than ``max_age_days`` days ago, and all but the
        ``max_documents`` most recent: their texts and terms (their stories stay, and so
        do the ids given). Returns how many were forgotten."""
        now = time.time() if now is None else now
        clauses, values = [], []
        if max_age_days is not None:
            clauses.append("indexed < ?")
            values.append(now - max_age_days * 86_400)
        if max_documents is not None:
            clauses.append(
                "node <= (SELECT node FROM story_docs ORDER BY node DESC LIMIT 1 OFFSET ?)"
            )
            values.append(max_documents)
        if not clauses:
            return 0
        where = " OR ".join(clauses)
        self.db.execute(
            f"DELETE FROM story_terms WHERE node IN (SELECT node FROM story_docs WHERE {where})",
            values,
        )
        return self.db.execute(f"DELETE FROM story_docs WHERE {where}", values).rowcount

    # --- helpers -------------------------------------------------------------------

    def _load(self, nodes: list[int]) -> Iterator[Anchor]:
        query = (
            "SELECT node, id, story, source, title, published, entities FROM story_docs"
            " WHERE node IN ({marks}) ORDER BY node"
        )
        for node, doc_id, story, source, title, published, entities in rows_in(
            self.db, query, nodes
        ):
            names = tuple(entities.split(_SEPARATOR)) if entities else ()
            doc = StoryDoc(
                id=doc_id, source=source, title=title, published=published, entities=names
            )
            yield Anchor(node=node, doc=doc, story=story)

    def _day(self, published: str | None) -> int:
        value = day(published)
        return math.floor(value if not math.isnan(value) else day(self.today))

    def background(self) -> Background:
        """The index's document frequencies (this run's new documents counted), for the
        clustering's weights."""
        frequencies, total = self._frequencies()

        def of(terms: Sequence[str]) -> np.ndarray:
            buckets = np.fromiter(
                (_hash(term) & (_DF_BUCKETS - 1) for term in terms),
                dtype=np.int64,
                count=len(terms),
            )
            return frequencies[buckets].astype(np.float64)

        return Background(documents=total, frequencies=of)

    def _frequencies(self) -> tuple[np.ndarray, int]:
        """The document frequencies: read from the store once, then as this run left them."""
        if self._counted is not None:
            return self._counted
        rows = dict(self.db.execute("SELECT key, value FROM story_settings"))
        if "df" not in rows:
            return np.zeros(_DF_BUCKETS, dtype=np.uint32), 0
        counts = np.frombuffer(zlib.decompress(rows["df"]), dtype=np.uint32).copy()
        return counts, int(rows["documents"])

    def _save_frequencies(self, frequencies: np.ndarray, total: int) -> None:
        self._counted = (frequencies, total)
        self.db.executemany(
            "INSERT OR REPLACE INTO story_settings (key, value) VALUES (?, ?)",
            [("df", zlib.compress(frequencies.tobytes(), 1)), ("documents", str(total))],
        )


def cluster_with_index(
    index: StoryIndex,
    docs: Sequence[StoryDoc],
    texts: Callable[[], Iterable[str]],
    options: StoryOptions,
    *,
    memory: int,
    anchors_factor: float = MAX_ANCHORS_FACTOR,
    search: str = "auto",
) -> list[str]:
    """:func:`~docstage_plugins.dedup.stories.cluster_stories` of ``docs`` against the
    stories of earlier runs in ``index``; this run's documents are indexed with theirs.
    At most ``anchors_factor`` times as many earlier documents as ``docs`` (at least
    1,000) are brought in; ``search`` is :func:`cluster_stories`'s.

    ``texts()`` is called three times (terms, indexing, clustering) and must stream the
    texts of ``docs`` in their order each time.
    """
    known = index.known([doc.id for doc in docs])
    fresh = [i for i in range(len(docs)) if i not in known]
    wanted = set(fresh)

    def fresh_texts() -> Iterator[str]:
        return (text for i, text in enumerate(texts()) if i in wanted)

    index.count_terms(fresh_texts())
    first, strong = index.index([docs[i] for i in fresh], fresh_texts())
    anchors = index.anchors(strong, before=first, factor=anchors_factor)
    del strong

    def all_texts() -> Iterator[str]:
        yield from texts()
        yield from index.texts(anchors)

    labels = cluster_stories(
        [*docs, *(a.doc for a in anchors)],
        all_texts,
        options,
        memory=memory,
        search=search,
        # Without earlier documents, a run's own frequencies: the ids of a single run.
        background=index.background() if anchors else None,
    )
    ids = index.ledger.assign(docs, known, [a.story for a in anchors], labels)
    index.settle(first, [docs[i] for i in fresh], [ids[i] for i in fresh])
    return ids


def _strong_terms(terms: Iterable[str], frequencies: np.ndarray, total: int) -> array[int]:
    """The :data:`TERMS` terms of a text with the highest TF-IDF, hashed, ascending."""
    counts = Counter(_hash(term) for term in terms)
    if not counts:
        return array("q")
    hashes = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
    df = frequencies[hashes & (_DF_BUCKETS - 1)].astype(np.float64)
    weight = tf * (np.log((1.0 + total) / (1.0 + df)) + 1.0)
    top = np.lexsort((hashes, -weight))[:TERMS]
    return array("q", sorted(hashes[top].tolist()))


def _hash(term: str) -> int:
    return zlib.crc32(term.encode("utf-8", "surrogatepass"))
