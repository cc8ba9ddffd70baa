"""The story index: stories that live across runs, kept in the state store.

A run's originals are clustered together with *anchors*: documents of earlier runs that
share strong terms with them, their texts kept compressed in the store. The clustering is
the one a single run does (:func:`~docstage_plugins.dedup.stories.cluster_stories`, with
its soft date factor); then each cluster is read against the stories its earlier
documents already have:

- a story continues in the cluster that holds most of its earlier documents, and the
  cluster's new documents take its id;
- a cluster in which several earlier stories continue, together with new documents,
  merges them: the story first seen survives, and each absorbed one is recorded in
  ``story_merges`` (absorbed id, surviving id, run, time, reason) and resolves to the
  survivor from then on;
- a cluster without an earlier story starts a new one, ``story-`` and 12 hex digits of
  the hash of its smallest new member's id (a single run's ids, when the index is empty).

A document's story id, once assigned, is never rewritten: it changes only through a
recorded merge, read with :meth:`StoryIndex.resolve`. A document seen again (a rerun)
keeps its story. Each story keeps when it was first seen and last updated (publication
dates, else run dates), its documents and its sources (``stories``).

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
import hashlib
import json
import math
import sqlite3
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs
import numpy as np

from docstage_plugins.dedup.stories import StoryDoc, StoryOptions, cluster_stories
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
#: Anchors in all, at most this many times the new documents (and at least 1,000).
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
    run_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS story_docs_story ON story_docs (story, node);
CREATE TABLE IF NOT EXISTS story_terms (
    term INTEGER NOT NULL,
    day INTEGER NOT NULL,
    node INTEGER NOT NULL,
    PRIMARY KEY (term, day, node)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stories (
    id TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL,
    last_updated TEXT NOT NULL,
    documents INTEGER NOT NULL,
    sources TEXT NOT NULL,
    absorbed_into TEXT
);
CREATE TABLE IF NOT EXISTS story_merges (
    absorbed TEXT PRIMARY KEY,
    survivor TEXT NOT NULL,
    run_id TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL
);
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
    """The stories of earlier runs in a state store's connection (the run's transaction).

    Args:
        db: The state store's connection.
        run_id: This run's id, recorded with its documents and merges.
        today: This run's date (ISO 8601), for documents without ``published``.
    """

    db: sqlite3.Connection
    run_id: str
    today: str = attrs.field(factory=lambda: dt.date.today().isoformat())
    _resolved: dict[str, str] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        for statement in SCHEMA.split(";"):
            self.db.execute(statement)

    # --- reading -------------------------------------------------------------------

    def known(self, ids: Sequence[str]) -> dict[int, str]:
        """Positions in ``ids`` of documents indexed before, with their (resolved) story."""
        found: dict[int, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            stored = dict(
                self.db.execute(f"SELECT id, story FROM story_docs WHERE id IN ({marks})", chunk)
            )
            for offset, doc_id in enumerate(chunk):
                if stored.get(doc_id):
                    found[start + offset] = self.resolve(stored[doc_id])
        return found

    def resolve(self, story: str) -> str:
        """The story ``story`` is now: itself, or the survivor of the merges it went into."""
        if story in self._resolved:
            return self._resolved[story]
        current, seen = story, {story}
        while True:
            row = self.db.execute(
                "SELECT absorbed_into FROM stories WHERE id = ?", (current,)
            ).fetchone()
            if row is None or row[0] is None or row[0] in seen:
                break
            current = row[0]
            seen.add(current)
        self._resolved[story] = current
        return current

    def stories(self) -> int:
        """Stories recorded and not absorbed."""
        row = self.db.execute("SELECT count(*) FROM stories WHERE absorbed_into IS NULL")
        return int(row.fetchone()[0])

    # --- one run -------------------------------------------------------------------

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
                " run_id) VALUES (?, '', ?, ?, ?, ?, ?, ?)",
                (
                    doc.id,
                    doc.source,
                    doc.title,
                    doc.published,
                    _SEPARATOR.join(doc.entities),
                    zlib.compress(text[:TEXT_CHARS].encode("utf-8", "surrogatepass"), 6),
                    self.run_id,
                ),
            ).lastrowid
            when = self._day(doc.published)
            self.db.executemany(
                "INSERT OR IGNORE INTO story_terms (term, day, node) VALUES (?, ?, ?)",
                [(term, when, node) for term in terms],
            )
        return first, strong

    def anchors(self, strong: Sequence[array[int]], before: int) -> list[Anchor]:
        """Earlier documents (nodes below ``before``) that share strong terms with the new
        ones: up to :data:`ANCHORS` each, best shared first, in node order."""

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
        limit = max(1000, MAX_ANCHORS_FACTOR * len(strong))
        chosen = {node for node, _ in score.most_common(limit)}
        # The stories they belong to come with their latest documents: a story's
        # neighbourhood is what the clustering compares.
        stories = {a.story for a in self._load(sorted(chosen))}
        for story in sorted(stories):
            rows = self.db.execute(
                "SELECT node FROM story_docs WHERE story = ? AND node < ?"
                " ORDER BY node DESC LIMIT ?",
                (story, before, STORY_DOCUMENTS),
            )
            chosen.update(node for (node,) in rows)
        return list(self._load(sorted(chosen)))

    def texts(self, anchors: Sequence[Anchor]) -> Iterator[str]:
        """The anchors' stored texts, in their order."""
        for anchor in anchors:
            (blob,) = self.db.execute(
                "SELECT text FROM story_docs WHERE node = ?", (anchor.node,)
            ).fetchone()
            yield zlib.decompress(blob).decode("utf-8", "surrogatepass")

    def assign(
        self,
        docs: Sequence[StoryDoc],
        known: dict[int, str],
        anchors: Sequence[Anchor],
        clusters: Sequence[str],
    ) -> list[str]:
        """Story ids for ``docs`` from the clusters of ``docs`` then ``anchors``
        (``clusters``: a label per document, in that order); merges recorded."""
        count = len(docs)
        earlier = dict(known)
        earlier.update({count + j: self.resolve(a.story) for j, a in enumerate(anchors)})
        members: dict[str, list[int]] = {}
        for position, label in enumerate(clusters):
            members.setdefault(label, []).append(position)
        # Where each earlier story continues: the cluster holding most of its documents.
        held: dict[str, Counter[str]] = {}
        for position, story in earlier.items():
            held.setdefault(story, Counter())[clusters[position]] += 1
        continues: dict[str, list[str]] = {}
        for story, where in held.items():
            label = min(where, key=lambda lab: (-where[lab], lab))
            continues.setdefault(label, []).append(story)
        out = [""] * count
        for label in sorted(members):
            positions = members[label]
            fresh = [p for p in positions if p < count and p not in known]
            stories = continues.get(label, [])
            present = Counter(earlier[p] for p in positions if p in earlier)
            if not fresh:
                target = ""
            elif stories:
                target = self._merge(stories, positions, earlier)
            elif present:  # earlier documents of stories that continue elsewhere
                target = min(present, key=lambda s: (-present[s], s))
            else:
                target = self._new_id(min(docs[p].id for p in fresh))
            for position in positions:
                if position < count:
                    out[position] = known.get(position, target)
            if fresh:
                self._record(target, [docs[p] for p in fresh])
        return out

    def settle(self, first: int, docs: Sequence[StoryDoc], ids: Sequence[str]) -> None:
        """Write the stories of the documents :meth:`index` stored from node ``first``."""
        self.db.executemany(
            "UPDATE story_docs SET story = ? WHERE id = ? AND node >= ?",
            [(story, doc.id, first) for doc, story in zip(docs, ids, strict=True)],
        )

    # --- helpers -------------------------------------------------------------------

    def _merge(self, stories: list[str], positions: list[int], earlier: dict[int, str]) -> str:
        if len(stories) == 1:
            return stories[0]
        first_seen = dict(
            self.db.execute(
                f"SELECT id, first_seen FROM stories WHERE id IN ({','.join('?' * len(stories))})",
                stories,
            )
        )
        survivor = min(stories, key=lambda s: (first_seen.get(s, self.today), s))
        counts = Counter(earlier[p] for p in positions if p in earlier)
        for absorbed in sorted(set(stories) - {survivor}):
            reason = (
                f"{counts[absorbed]} of its documents clustered with {counts[survivor]} of "
                f"{survivor} and {len(positions) - sum(counts.values())} new ones"
            )
            self._absorb(absorbed, survivor, reason)
        return survivor

    def _absorb(self, absorbed: str, survivor: str, reason: str) -> None:
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.db.execute(
            "INSERT OR REPLACE INTO story_merges (absorbed, survivor, run_id, at, reason)"
            " VALUES (?, ?, ?, ?, ?)",
            (absorbed, survivor, self.run_id, now, reason),
        )
        row = self.db.execute(
            "SELECT first_seen, last_updated, documents, sources FROM stories WHERE id = ?",
            (absorbed,),
        ).fetchone()
        self.db.execute("UPDATE stories SET absorbed_into = ? WHERE id = ?", (survivor, absorbed))
        if row is not None:
            self._update(survivor, row[0], row[1], int(row[2]), json.loads(row[3]))
        self._resolved.clear()

    def _record(self, story: str, docs: Sequence[StoryDoc]) -> None:
        dates = [(doc.published or self.today)[:10] for doc in docs]
        self._update(story, min(dates), max(dates), len(docs), [doc.source for doc in docs])

    def _update(
        self, story: str, first: str, last: str, documents: int, sources: list[str]
    ) -> None:
        row = self.db.execute(
            "SELECT first_seen, last_updated, documents, sources FROM stories WHERE id = ?",
            (story,),
        ).fetchone()
        if row is not None:
            first, last = min(first, row[0]), max(last, row[1])
            documents += int(row[2])
            sources = [*json.loads(row[3]), *sources]
        self.db.execute(
            "INSERT OR REPLACE INTO stories"
            " (id, first_seen, last_updated, documents, sources, absorbed_into)"
            " VALUES (?, ?, ?, ?, ?, NULL)",
            (story, first, last, documents, json.dumps(sorted(set(sources)))),
        )

    def _new_id(self, smallest: str) -> str:
        clash = 0
        while True:
            seed = smallest if clash == 0 else f"{smallest}\x00{clash}"
            story = _story_id(seed)
            exists = self.db.execute("SELECT 1 FROM stories WHERE id = ?", (story,)).fetchone()
            if exists is None:
                return story
            clash += 1

    def _load(self, nodes: list[int]) -> Iterator[Anchor]:
        for start in range(0, len(nodes), 500):
            chunk = nodes[start : start + 500]
            rows = self.db.execute(
                "SELECT node, id, story, source, title, published, entities FROM story_docs"
                f" WHERE node IN ({','.join('?' * len(chunk))}) ORDER BY node",
                chunk,
            )
            for node, doc_id, story, source, title, published, entities in rows:
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
        rows = dict(self.db.execute("SELECT key, value FROM story_settings"))
        if "df" not in rows:
            return np.zeros(_DF_BUCKETS, dtype=np.uint32), 0
        counts = np.frombuffer(zlib.decompress(rows["df"]), dtype=np.uint32).copy()
        return counts, int(rows["documents"])

    def _save_frequencies(self, frequencies: np.ndarray, total: int) -> None:
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
) -> list[str]:
    """:func:`~docstage_plugins.dedup.stories.cluster_stories` of ``docs`` against the
    stories of earlier runs in ``index``; this run's documents are indexed with theirs.

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
    anchors = index.anchors(strong, before=first)
    del strong

    def all_texts() -> Iterator[str]:
        yield from texts()
        yield from index.texts(anchors)

    labels = cluster_stories(
        [*docs, *(a.doc for a in anchors)],
        all_texts,
        options,
        memory=memory,
        # Without earlier documents, a run's own frequencies: the ids of a single run.
        background=index.background() if anchors else None,
    )
    ids = index.assign(docs, known, anchors, labels)
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


def _story_id(seed: str) -> str:
    return "story-" + hashlib.blake2b(seed.encode("utf-8"), digest_size=6).hexdigest()
