"""Same-story clustering: different texts about one event get one story id.

Documents are kept; each gets a ``story_id``. :func:`cluster_stories` works in four steps,
each chosen so that one default configuration serves collections whose similarities sit
on different scales (long articles, short posts, with or without titles):

1. **Similarity.** Text and title become sublinear TF-IDF vectors (English stop words),
   the entities a TF-IDF vector of canonical names. Two documents are as similar as the
   weighted mean of the cosines of the parts both have (text weighs 1), times a date
   factor that decays softly with the days between them (``date_half_life``) down to a
   floor (``date_floor``): events that run for weeks stay reachable, close dates count
   more. An optional hard ``date_window`` cuts pairs further apart.
2. **Neighbours.** Each document keeps its ``neighbours`` most similar documents among
   those at least ``min_similarity`` similar. Up to :data:`EXACT_UP_TO` documents every
   pair is compared, by blocked sparse products (a block of rows at a time, never an n×n
   matrix); larger collections compare each document only with the candidates an index
   of strong terms proposes (:mod:`.story_candidates`), so the cost per document stays
   flat. No document is kept as a neighbour by more than three times ``neighbours``
   others, so a digest that resembles everything cannot tie the collection together.
3. **Shared neighbourhoods.** Two documents are as close as the cosine of their
   neighbourhood profiles (neighbour similarities squared; a document weighs itself as
   much as its best neighbour). Multiplying every similarity by a constant leaves this
   unchanged, so ``threshold`` means "how much of their neighbourhoods two documents
   share" rather than a cosine level peculiar to one collection.
4. **Average link** on that sparse affinity (a pair without one counts as 0): clusters
   merge, closest first, while the mean affinity between them is at least ``threshold``.

Everything runs in a canonical order (by document id), so the clusters and the story ids
do not depend on the input order. A story id is ``story-`` and 12 hex digits of the
BLAKE2b hash of the smallest member id.

**Memory.** No step keeps the texts, and each frees what it built before the next
starts. The exact search holds the vocabulary and 8 bytes per distinct term of each
document while counting, then 16 (:mod:`.story_vectors`), and a block of rows of about 2
MiB; the candidate search keeps its vectors and index in scratch files and 16 bytes a
document in memory. The links that the shared neighbourhoods write and average link
merges hold 24 bytes per affinity pair (about 40 pairs a document on news and Usenet
posts, 54 on generated ones), the merge queue 16 bytes per pair above the threshold and
the candidates merges make. With the candidate search, pairs below a quarter of
``threshold`` (:data:`WEAK_LINKS`) are left out: 18 a document remain on generated
ones, 10 on 20 Newsgroups. Once :func:`cluster_stories` returns, a document keeps only
its story id.

Why not average link on disk, one connected component at a time? A merge needs a pair at
or above ``threshold``, so stories never cross the components of those pairs; but on
80,000 generated documents one component holds 67,081 of them (measured; the strong
pairs percolate), so a component's links are the collection's.
"""

from __future__ import annotations

import hashlib
import heapq
import shutil
import tempfile
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import scipy.sparse as sp

from docstage.options import above, at_least, between, option
from docstage.spill import DEFAULT_MEMORY, release_memory
from docstage.unionfind import UnionFind
from docstage_plugins.dedup.story_candidates import candidate_search
from docstage_plugins.dedup.story_vectors import Background, day, exact_search, names_text

#: Collections up to this many documents get the exact neighbour search (every pair);
#: larger ones the candidates of :mod:`.story_candidates`.
EXACT_UP_TO = 30_000
_SEARCHES = ("auto", "exact", "candidates")
#: Rows of the shared-neighbourhood product computed at once.
_PROFILE_ROWS = 1024
#: With the candidate search, shared-neighbourhood links weaker than this share of
#: ``threshold`` are dropped: a third of the links (and of average link's memory) are
#: kept, and the stories hardly change (``benchmarks/stories.py --agreement``: 99.8 % of
#: 80,000 generated documents keep their story; the ARI to the gold stories of
#: Giveme5W1H and of 20 Newsgroups threads is unchanged; a third of ``threshold`` cost
#: Giveme5W1H 0.02 of it).
WEAK_LINKS = 1 / 4


# --- inputs and options ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StoryDoc:
    """What story clustering needs to know about a document besides its text.

    Attributes:
        id: The document id; story ids derive from it, so it should be unique.
        source: The outlet or feed the document comes from.
        title: The headline, if known.
        published: Publication date or date-time in ISO 8601, if known.
        entities: Canonical names (or entity ids) of the people, organisations, places,
            groups and events it mentions; may be empty.
    """

    id: str
    source: str
    title: str | None
    published: str | None
    entities: tuple[str, ...]


@attrs.frozen(kw_only=True)
class StoryOptions:
    """How documents are grouped into stories; see the module docstring for the method.

    Raises:
        ValueError: An option is out of range or of the wrong type; the message names it.
    """

    threshold: float = option(
        0.3,
        validator=between(0, 1, above_low=True),
        help="Mean shared-neighbourhood affinity (0-1] at or above which two clusters "
        "merge into one story: lower makes bigger stories. It compares neighbourhoods, "
        "not raw cosines, so one value suits long and short texts alike; anything from "
        "0.1 to 0.5 gives similar stories on news.",
    )
    min_similarity: float = option(
        0.1,
        validator=between(0, 1),
        help="Combined similarity (after the date factor) below which two documents are "
        "never neighbours: keeps documents that share only common words apart.",
    )
    neighbours: int = option(
        10,
        validator=at_least(1, whole=True),
        help="Most similar documents each document keeps as neighbours; about the size "
        "of a big story. More costs time and links looser stories.",
    )
    title_weight: float = option(
        0.5,
        validator=at_least(0),
        help="Weight of the title cosine beside the text's (which weighs 1), when both "
        "documents have a title; 0 ignores titles.",
    )
    entity_weight: float = option(
        0.25,
        validator=at_least(0),
        help="Weight of the cosine of the entity names beside the text's, when both "
        "documents have entities; 0 ignores entities.",
    )
    date_half_life: float | None = option(
        30.0,
        validator=attrs.validators.optional(above(0)),
        help="Days apart at which the date factor is halfway between 1 and date_floor; "
        "None ignores dates (but not date_window).",
    )
    date_floor: float = option(
        0.5,
        validator=between(0, 1),
        help="Date factor for documents very far apart: similar enough texts still join "
        "a story that runs for months. 1 ignores dates.",
    )
    date_window: int | None = option(
        None,
        validator=attrs.validators.optional(at_least(0, whole=True)),
        help="Days apart beyond which two documents are never neighbours (unset: no "
        "limit). A hard window splits stories that run for weeks; prefer the soft date factor.",
    )


# --- the method ----------------------------------------------------------------------


def cluster_stories(
    docs: Sequence[StoryDoc],
    texts: Callable[[], Iterable[str]],
    options: StoryOptions,
    *,
    memory: int = DEFAULT_MEMORY,
    search: str = "auto",
    background: Background | None = None,
) -> list[str]:
    """Group documents into stories.

    Args:
        docs: The documents, in any order.
        texts: Returns the documents' texts in the order of ``docs``; called once here,
            and the texts are streamed (only the TF-IDF vectors are kept).
        options: Thresholds and weights.
        memory: Bytes the neighbour search of a large collection may use for a block of
            documents (the run's ``[run] memory``); its vectors go to scratch files.
        search: ``"exact"`` compares every document with every other, ``"candidates"``
            only with the candidates of :mod:`.story_candidates`; ``"auto"`` is exact
            up to :data:`EXACT_UP_TO` documents.
        background: Document frequencies of a larger collection that the texts' own
            are raised to (the story index's: :mod:`.story_index`).

    Returns:
        One story id per document, in the order of ``docs``: ``story-`` and 12 hex
        digits. Documents of one story share it; a document alone gets its own. The same
        documents give the same ids in any order.

    Raises:
        ValueError: ``texts()`` yields more or fewer texts than there are documents, or
            ``search`` is none of the three.
    """
    _check(search)
    if not docs:
        return []
    order, graph = story_neighbours(
        docs, texts, options, memory=memory, search=search, background=background
    )
    release_memory()
    floor = options.threshold * WEAK_LINKS if _approximate(search, len(docs)) else 0.0
    affinity = _shared_neighbourhoods(graph, options.threshold, floor)
    del graph  # each step's result is dropped as soon as the next has used it
    return _stories(docs, order, affinity, options.threshold)


def stories_of(
    docs: Sequence[StoryDoc],
    order: list[int],
    graph: sp.csr_matrix,
    threshold: float,
    *,
    floor: float = 0.0,
) -> list[str]:
    """Steps 3 and 4 of :func:`cluster_stories` on :func:`story_neighbours`' result
    (links below ``floor`` dropped)."""
    return _stories(docs, order, _shared_neighbourhoods(graph, threshold, floor), threshold)


def _stories(
    docs: Sequence[StoryDoc], order: list[int], affinity: _Affinity, threshold: float
) -> list[str]:
    labels = _average_link(affinity, threshold)
    story_ids = _story_ids([docs[i] for i in order], labels)
    out = [""] * len(docs)
    for position, index in enumerate(order):
        out[index] = story_ids[position]
    return out


def story_neighbours(
    docs: Sequence[StoryDoc],
    texts: Callable[[], Iterable[str]],
    options: StoryOptions,
    *,
    memory: int = DEFAULT_MEMORY,
    search: str = "auto",
    background: Background | None = None,
) -> tuple[list[int], sp.csr_matrix]:
    """Step 2 of :func:`cluster_stories` alone (same arguments): the canonical order
    (document ``order[i]`` is row ``i``) and the symmetric neighbour graph of the rows."""
    _check(search)
    count = len(docs)
    order = sorted(range(count), key=lambda i: _sort_key(docs[i]))
    canonical = [docs[i] for i in order]
    parts: dict[str, Any] = {  # the keyword arguments both searches take
        "titles": (options.title_weight, (doc.title or "" for doc in canonical)),
        "names": (options.entity_weight, (names_text(doc.entities) for doc in canonical)),
        "days": np.array([day(doc.published) for doc in canonical], dtype=np.float64),
        "date": (options.date_half_life, options.date_floor, options.date_window),
        "background": background,
    }
    if not _approximate(search, count):
        exact = exact_search(_counted(texts(), count), order, **parts)
        return order, exact.neighbour_graph(options.neighbours, options.min_similarity)
    folder = Path(tempfile.mkdtemp(prefix="docstage-stories-"))
    try:
        candidates = candidate_search(
            _counted(texts(), count), order, folder=folder, memory=memory, **parts
        )
        return order, candidates.neighbour_graph(options.neighbours, options.min_similarity)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _approximate(search: str, count: int) -> bool:
    """Whether ``count`` documents get the candidate search rather than the exact one."""
    return search == "candidates" or (search == "auto" and count > EXACT_UP_TO)


def _check(search: str) -> None:
    if search not in _SEARCHES:
        raise ValueError(f"search must be one of {', '.join(_SEARCHES)}, got {search!r}")


def _sort_key(doc: StoryDoc) -> tuple[str, str, str, str, tuple[str, ...]]:
    return (doc.id, doc.source, doc.title or "", doc.published or "", doc.entities)


class _TextCountError(ValueError):
    """``texts()`` did not yield one text per document."""


def _counted(texts: Iterable[str], count: int) -> Iterator[str]:
    """``texts``, checked to be ``count`` as they stream past."""
    seen = 0
    for text in texts:
        seen += 1
        if seen > count:
            break
        yield text
    if seen != count:
        got = "more" if seen > count else str(seen)
        raise _TextCountError(f"texts() yielded {got} texts for {count} documents")


def _shared_neighbourhoods(graph: sp.csr_matrix, threshold: float, floor: float = 0.0) -> _Affinity:
    """Cosines of the neighbourhood profiles (squared weights, self as the best neighbour),
    those below ``floor`` left out.

    Computed a block of rows at a time, each cosine once (from the row of the smaller
    index) and written straight into both rows' links: the whole product is never held.
    """
    count = graph.shape[0]
    profile = sp.csr_matrix(graph.power(2))
    best = np.asarray(profile.max(axis=1).toarray()).ravel()
    profile = sp.csr_matrix(profile + sp.diags(best))
    norms = np.sqrt(np.asarray(profile.multiply(profile).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    profile = sp.csr_matrix(sp.diags(1.0 / norms) @ profile)
    transposed = sp.csr_matrix(profile.T)
    affinity = _Affinity(
        names=[array("i") for _ in range(count)], totals=[array("d") for _ in range(count)]
    )
    for start in range(0, count, _PROFILE_ROWS):
        stop = min(count, start + _PROFILE_ROWS)
        block = sp.csr_matrix(profile[start:stop] @ transposed)
        block.sort_indices()
        row = np.repeat(np.arange(start, stop, dtype=np.intc), np.diff(block.indptr))
        upper = (block.indices > row) & (block.data != 0) & (block.data >= floor)
        first, second, value = row[upper], block.indices[upper].astype(np.intc), block.data[upper]
        del block, row, upper
        # Lower links first: a row's links from smaller rows precede its own upper ones.
        affinity.append(second, first, value)
        affinity.append(first, second, value)
        strong = value >= threshold
        affinity.strong.append((first[strong], second[strong], value[strong]))
    return affinity


@attrs.define(eq=False)
class _Affinity:
    """The pairs of rows with a shared-neighbourhood affinity, kept row by row.

    Attributes:
        names: For each row (later: cluster), the rows it is linked to, ascending.
        totals: The affinities, in the same order (later: their sums between clusters).
        strong: The pairs ``(first, second, affinity)``, ``first < second``, at or above
            the threshold, as arrays (a list of them, one per block of rows).
    """

    names: list[array[int]]
    totals: list[array[float]]
    strong: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = attrs.Factory(list)

    def append(self, owner: np.ndarray, other: np.ndarray, value: np.ndarray) -> None:
        """Add the links ``owner -> other``; ``other`` ascends within each owner."""
        if len(owner) == 0:
            return
        order = np.argsort(owner, kind="stable")
        owner, other, value = owner[order], other[order], value[order]
        bounds = np.flatnonzero(np.diff(owner)) + 1
        starts = np.concatenate(([0], bounds)).tolist()
        stops = np.concatenate((bounds, [len(owner)])).tolist()
        for start, stop, row in zip(starts, stops, owner[starts].tolist(), strict=True):
            self.names[row].frombytes(other[start:stop].tobytes())
            self.totals[row].frombytes(value[start:stop].tobytes())

    def merge(self, keep: int, gone: int) -> dict[int, float]:
        """Join cluster ``gone``'s links to ``keep``'s (``keep < gone``); return the latter.

        Each sum is ``keep``'s total plus ``gone``'s, on both sides of the link.
        """
        merged = dict(zip(self.names[keep], self.totals[keep], strict=True))
        merged.pop(gone, None)
        for other, total in zip(self.names[gone], self.totals[gone], strict=True):
            if other == keep:
                continue
            merged[other] = merged.get(other, 0.0) + total
            names, totals = self.names[other], self.totals[other]
            at = bisect_left(names, gone)
            moved = totals[at]
            del names[at], totals[at]
            at = bisect_left(names, keep)
            if at < len(names) and names[at] == keep:
                totals[at] = totals[at] + moved
            else:
                names.insert(at, keep)
                totals.insert(at, moved)
        ordered = sorted(merged)
        self.names[keep] = array("i", ordered)
        self.totals[keep] = array("d", [merged[other] for other in ordered])
        self.names[gone], self.totals[gone] = array("i"), array("d")
        return merged


def _average_link(affinity: _Affinity, threshold: float) -> np.ndarray:
    """Average-link clusters of a sparse affinity (missing pairs count 0); a label per row.

    Clusters are named by their smallest member; the closest pair merges first, ties
    going to the pair with the smallest names, so the result depends on the rows' order
    only through those names. A cluster's links are two arrays sorted by the other
    cluster's name (4 + 8 bytes a link), not a dict.
    """
    count = len(affinity.names)
    merges = _Merges(*(np.concatenate(parts) for parts in zip(*affinity.strong, strict=True)))
    affinity.strong.clear()
    size, alive, version = [1] * count, [True] * count, [0] * count
    sets: UnionFind[int] = UnionFind()
    while (entry := merges.pop()) is not None:
        _, a, b, version_a, version_b = entry
        if not (alive[a] and alive[b]) or version[a] != version_a or version[b] != version_b:
            continue
        keep, gone = (a, b) if a < b else (b, a)
        alive[gone] = False
        sets.union(keep, gone)
        merged = affinity.merge(keep, gone)
        size[keep] += size[gone]
        version[keep] += 1
        for other, total in merged.items():
            mean = total / (size[keep] * size[other])
            if mean >= threshold:
                first, second = (keep, other) if keep < other else (other, keep)
                merges.push((-mean, first, second, version[first], version[second]))
    return np.array([sets.find(row) for row in range(count)], dtype=np.int_)


#: A candidate merge: (-mean affinity, first, second, their versions when it was made).
#: A merge bumps the survivor's version, which makes its older candidates stale.
_Merge = tuple[float, int, int, int, int]


class _Merges:
    """Candidate merges, smallest entry (closest pair) first.

    The pairs at or above the threshold at the start wait in arrays sorted once (16
    bytes each); only the candidates made by merges go to a heap of tuples.
    """

    def __init__(self, first: np.ndarray, second: np.ndarray, value: np.ndarray) -> None:
        order = np.lexsort((second, first, -value))
        self._first, self._second, self._value = first[order], second[order], -value[order]
        self._next = 0
        self._heap: list[_Merge] = []

    def push(self, entry: _Merge) -> None:
        heapq.heappush(self._heap, entry)

    def pop(self) -> _Merge | None:
        """The smallest candidate, removed; ``None`` when there is none left."""
        at = self._next
        if at < len(self._value):
            start = (float(self._value[at]), int(self._first[at]), int(self._second[at]), 0, 0)
            if not self._heap or start <= self._heap[0]:
                self._next += 1
                return start
        return heapq.heappop(self._heap) if self._heap else None


def _story_ids(docs: Sequence[StoryDoc], labels: np.ndarray) -> list[str]:
    """``story-`` + 12 hex digits of the hash of each cluster's smallest member id."""
    smallest: dict[int, str] = {}
    for doc, label in zip(docs, labels.tolist(), strict=True):
        if label not in smallest or doc.id < smallest[label]:
            smallest[label] = doc.id
    names: dict[int, str] = {}
    taken: dict[str, int] = {}
    for label in sorted(smallest, key=lambda lab: (smallest[lab], lab)):
        key = smallest[label]
        clash = taken.get(key, 0)  # two clusters led by one id only if ids repeat
        taken[key] = clash + 1
        names[label] = story_id(key if clash == 0 else f"{key}\x00{clash}")
    return [names[label] for label in labels.tolist()]


def story_id(seed: str) -> str:
    """``story-`` and 12 hex digits of the BLAKE2b hash of ``seed`` (a member's id)."""
    return "story-" + hashlib.blake2b(seed.encode("utf-8"), digest_size=6).hexdigest()
