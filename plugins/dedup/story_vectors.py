"""The vectors and similarities behind story clustering, held in as little memory as we can.

:func:`term_vectors` turns texts into sublinear TF-IDF vectors equal, value for value and
in the same order within each document, to scikit-learn's ``TfidfVectorizer`` (English
stop words, accents stripped), but keeps no vocabulary: terms are numbered in the order
they are first seen, the counts go into flat arrays as the texts stream past, and the
vocabulary is dropped once counted. The vectors are stored once, by term
(:class:`TermVectors`): a document's row is rebuilt from that when its similarities are
needed, so there is no second, transposed copy. A float is 8 bytes and a position 4, so a
document costs 16 bytes per distinct term in it (12 by term, 4 for its row).

:class:`Similarity` combines the parts (text, title, entity names) into the weighted
similarity of a block of documents to all, as :mod:`.stories` describes, and finds each
document's nearest neighbours a block of rows at a time.

Every sum is computed in the order the former in-memory code used (which the story ids
depend on, down to the last bit of a float): the terms of a row in first-seen order, the
rows of a block one by one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence

import attrs
import numpy as np
import scipy.sparse as sp

from docstage.spill import release_memory
from docstage_plugins.dedup import pieces

_SECONDS_PER_DAY = 86_400.0
#: Entries converted or weighted at once, and documents normalised at once: each keeps
#: its temporaries to a few MiB.
_CHUNK = 1 << 16
_DOCUMENTS = 1024
#: Rows of the similarity matrix computed at once: about this many cells (2 MiB of
#: float64; the block's temporaries are a few times that).
_BLOCK_CELLS = 1 << 18
#: A document is a neighbour of at most this many times ``neighbours`` others.
_HUB = 3


@attrs.frozen(eq=False)
class TermVectors:
    """L2-normalised TF-IDF vectors of documents, stored by term.

    Attributes:
        by_term: Terms × documents: row ``t`` holds the weight of term ``t`` in each
            document that has it.
        starts: Document ``d``'s entries are ``positions[starts[d]:starts[d + 1]]``.
        positions: Where each document's entries sit in ``by_term.data``, document by
            document, each document's terms in the order they were first seen.
    """

    by_term: sp.csr_matrix
    starts: np.ndarray
    positions: np.ndarray

    @classmethod
    def empty(cls, count: int) -> TermVectors:
        """``count`` documents and no term."""
        return cls(
            by_term=sp.csr_matrix((0, count)),
            starts=np.zeros(count + 1, dtype=np.int32),
            positions=np.zeros(0, dtype=np.int32),
        )

    @property
    def terms(self) -> int:
        """How many distinct terms there are."""
        return int(self.by_term.shape[0])

    def has_terms(self) -> np.ndarray:
        """Which documents have at least one term."""
        has: np.ndarray = np.diff(self.starts) > 0
        return has

    def rows(self, start: int, stop: int) -> sp.csr_matrix:
        """The vectors of documents ``start:stop`` (documents × terms)."""
        low, high = int(self.starts[start]), int(self.starts[stop])
        where = self.positions[low:high]
        terms = np.searchsorted(self.by_term.indptr, where, side="right") - 1
        return sp.csr_matrix(
            (self.by_term.data[where], terms, self.starts[start : stop + 1] - low),
            shape=(stop - start, self.terms),
        )

    def cosines(self, start: int, stop: int) -> np.ndarray:
        """Cosines of documents ``start:stop`` to every document (a dense block)."""
        product: np.ndarray = (self.rows(start, stop) @ self.by_term).toarray()
        return product


@attrs.frozen(eq=False)
class Background:
    """Document frequencies of a larger collection than the texts clustered (the story
    index's, :mod:`.story_index`): a term is as rare as it is there, so that a run of
    one story's documents does not find that story's words common.

    Attributes:
        documents: The documents of the collection.
        frequencies: How many of them hold each of the given terms (an array).
    """

    documents: int
    frequencies: Callable[[Sequence[str]], np.ndarray]

    def floor(self, df: np.ndarray, count: int, terms: Sequence[str]) -> tuple[np.ndarray, int]:
        """``(df, count)`` of the texts at hand raised to the collection's."""
        known = self.frequencies(terms).astype(df.dtype, copy=False)
        return np.maximum(df, known), max(count, self.documents)


def term_vectors(
    values: Iterable[str],
    count: int,
    *,
    names: bool = False,
    rows: Sequence[int] | None = None,
    background: Background | None = None,
) -> TermVectors:
    """Sublinear TF-IDF vectors of ``count`` texts, as scikit-learn computes them.

    Args:
        values: The texts, streamed once.
        count: How many there are.
        names: Texts are space-separated names (entities): split on spaces, case kept,
            no stop words; otherwise English words, lowercased, accents stripped.
        rows: Document ``i`` of the result is text ``rows[i]``; ``None`` keeps the order.
        background: Document frequencies that the texts' own are raised to.
    """
    vocabulary: list[str] | None = [] if background is not None else None
    counts, terms, starts, size = _counts(values, count, analyzer(names), rows, vocabulary)
    if size == 0:  # no document has a usable term
        return TermVectors.empty(count)
    # The counts go by term as integers, with where each came from; only then are they
    # made floats, so that no float copy is ever held twice.
    where = sp.csr_matrix(
        (np.arange(len(counts), dtype=terms.dtype), terms, starts), shape=(count, size)
    ).T.tocsr()
    del terms
    data = np.empty(len(counts), dtype=np.float64)
    for start in range(0, len(data), _CHUNK):
        data[start : start + _CHUNK] = counts[where.data[start : start + _CHUNK]]
    del counts
    positions = np.empty_like(where.data)
    for start in range(0, len(data), _CHUNK):
        stop = min(len(data), start + _CHUNK)
        positions[where.data[start:stop]] = np.arange(start, stop, dtype=positions.dtype)
    vectors = TermVectors(
        by_term=sp.csr_matrix((data, where.indices, where.indptr), shape=(size, count)),
        starts=starts,
        positions=positions,
    )
    del where
    floor = None
    if background is not None and vocabulary is not None:
        floor = (background, vocabulary)
    _weigh(vectors, floor)
    release_memory()
    return vectors


def exact_search(
    texts: Iterable[str],
    order: Sequence[int],
    *,
    titles: tuple[float, Iterable[str]],
    names: tuple[float, Iterable[str]],
    days: np.ndarray,
    date: tuple[float | None, float, int | None],
    background: Background | None = None,
) -> Similarity:
    """The exact similarity of documents in canonical order (arguments as
    :func:`.story_candidates.candidate_search`'s), its vectors in memory."""
    count = len(order)
    text = term_vectors(texts, count, rows=order, background=background)
    parts = [(1.0, text, np.ones(count, dtype=bool))]
    for (weight, values), names_only in ((titles, False), (names, True)):
        if weight > 0:
            vectors = term_vectors(values, count, names=names_only)
            parts.append((weight, vectors, vectors.has_terms()))
    half_life, floor, window = date
    return Similarity(
        parts=[p for p in parts if p[1].terms > 0],
        days=days,
        half_life=half_life,
        floor=floor,
        window=window,
    )


def analyzer(names: bool) -> Callable[[str], Iterable[str]]:
    """Text to terms as :func:`term_vectors` splits it (``names``: entity names).

    A long text is analysed a piece at a time (:mod:`.pieces`): the same terms in the
    same order, without the analyzer's copies and lists of the whole text.
    """
    # Imported here: scikit-learn costs every `pipeline` command ~0.5 s at start-up.
    from sklearn.feature_extraction.text import TfidfVectorizer

    if names:
        vectorizer = TfidfVectorizer(analyzer=str.split, sublinear_tf=True, lowercase=False)
    else:
        vectorizer = TfidfVectorizer(
            sublinear_tf=True, stop_words="english", strip_accents="unicode"
        )
    analyze: Callable[[str], list[str]] = vectorizer.build_analyzer()

    def terms(value: str) -> Iterable[str]:
        if not pieces.is_long(value):
            return analyze(value)
        return itertools.chain.from_iterable(map(analyze, pieces.pieces(value)))

    return terms


def _counts(
    values: Iterable[str],
    count: int,
    analyze: Callable[[str], Iterable[str]],
    rows: Sequence[int] | None,
    keep: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Term counts as CSR arrays ``(counts, terms, starts, number of terms)``; the terms
    themselves, by number, appended to ``keep`` when given.

    Terms are numbered as first seen, and each document's terms are sorted: the order
    scikit-learn's vectorizer keeps them in (it renumbers them alphabetically after).
    """
    vocabulary: defaultdict[str, int] = defaultdict()
    vocabulary.default_factory = vocabulary.__len__  # a new term gets the next number
    terms = array("i")
    counts = array("i")
    starts = array("q", [0])
    for value in values:
        counter = Counter(map(vocabulary.__getitem__, analyze(value)))  # first-seen order
        terms.extend(counter)
        counts.extend(counter.values())
        starts.append(len(terms))
    size = len(vocabulary)
    if keep is not None:
        keep.extend(vocabulary)
    vocabulary.default_factory = None  # its own method: a cycle that would outlive `del`
    del vocabulary
    index = np.int32 if len(terms) <= np.iinfo(np.int32).max else np.int64
    matrix = sp.csr_matrix(
        (
            np.frombuffer(counts, dtype=np.intc),
            np.frombuffer(terms, dtype=np.intc).astype(index, copy=False),
            np.frombuffer(starts, dtype=np.int64).astype(index),
        ),
        shape=(count, size),
    )
    del terms, counts, starts
    matrix.sort_indices()
    if rows is not None:
        matrix = matrix[np.asarray(rows, dtype=np.intp)]
    return matrix.data, matrix.indices, matrix.indptr, size


def _weigh(vectors: TermVectors, floor: tuple[Background, list[str]] | None = None) -> None:
    """Counts to ``TfidfTransformer(sublinear_tf=True)``'s weights, in place (with the
    document frequencies raised to ``floor``'s background for its terms, if given).

    The same operations on the same values: the idf and the logarithm entry by entry,
    the L2 norm by scikit-learn over each document's entries in its own order.
    """
    from sklearn.preprocessing import normalize

    data, indptr = vectors.by_term.data, vectors.by_term.indptr
    documents = len(vectors.starts) - 1
    df = np.diff(indptr).astype(np.float64)  # documents per term
    counted = documents
    if floor is not None:
        df, counted = floor[0].floor(df, documents, floor[1])
    df += 1.0
    idf = np.full_like(df, fill_value=counted + 1, dtype=np.float64)
    idf /= df
    np.log(idf, out=idf)
    idf += 1.0
    np.log(data, out=data)
    data += 1.0
    for start in range(0, len(data), _CHUNK):
        stop = min(len(data), start + _CHUNK)
        terms = np.searchsorted(indptr, np.arange(start, stop), side="right") - 1
        data[start:stop] *= idf[terms]
    for start in range(0, documents, _DOCUMENTS):
        stop = min(documents, start + _DOCUMENTS)
        rows = normalize(vectors.rows(start, stop), norm="l2", copy=False)
        data[vectors.positions[vectors.starts[start] : vectors.starts[stop]]] = rows.data


# --- the combined similarity -----------------------------------------------------------


@attrs.frozen(kw_only=True, eq=False)
class Similarity:
    """The parts of the similarity and the date factor, documents in canonical order.

    It is never held as a matrix: :meth:`rows` computes a block of rows when asked.

    Attributes:
        parts: ``(weight, vectors, present)``: ``present`` says which documents have the
            part; a part is left out of a pair's mean unless both have it.
        days: Publication days (NaN when unknown).
        half_life: Days apart at which the date factor is halfway down to ``floor``, or
            ``None`` for no decay.
        floor: The date factor of documents very far apart.
        window: Days apart beyond which the similarity is 0, or ``None``.
    """

    parts: list[tuple[float, TermVectors, np.ndarray]]
    days: np.ndarray
    half_life: float | None = None
    floor: float = 1.0
    window: int | None = None

    def neighbour_graph(self, neighbours: int, min_similarity: float) -> sp.csr_matrix:
        """Each document's ``neighbours`` nearest at ``min_similarity`` or more, symmetric.

        No document is kept by more than :data:`_HUB` times ``neighbours`` others.
        """
        count = len(self.days)
        keep = min(neighbours, count - 1)
        if keep < 1:
            return sp.csr_matrix((count, count))
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        values: list[np.ndarray] = []
        step = max(1, _BLOCK_CELLS // count)
        for start in range(0, count, step):
            stop = min(count, start + step)
            block = self.rows(start, stop)
            block[np.arange(stop - start), np.arange(start, stop)] = -1.0  # not your own
            if keep < count - 1:
                best = np.argpartition(-block, keep - 1, axis=1)[:, :keep]
            else:
                best = np.argsort(-block, axis=1)[:, :keep]
            scores = np.take_along_axis(block, best, axis=1)
            good = (scores >= min_similarity) & (scores > 0)
            rows.append((np.nonzero(good)[0] + start).astype(np.int32))
            cols.append(best[good].astype(np.int32))
            values.append(scores[good])
        return graph_of(
            np.concatenate(rows), np.concatenate(cols), np.concatenate(values), count, keep
        )

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Similarities of rows ``start:stop`` to every document (a dense block)."""
        block = self._cosines(start, stop)
        dated = self.half_life is not None or self.window is not None
        if dated and np.count_nonzero(~np.isnan(self.days)) > 1:
            block *= self._date_factor(start, stop)
        return block

    def _date_factor(self, start: int, stop: int) -> np.ndarray:
        """The date factor of rows ``start:stop`` against every document (1 when unknown)."""
        with np.errstate(invalid="ignore"):
            apart = np.abs(self.days[start:stop, None] - self.days[None, :])
        return date_factor(apart, self.half_life, self.floor, self.window)

    def _cosines(self, start: int, stop: int) -> np.ndarray:
        """The weighted mean of the parts' cosines, before the date factor."""
        total = np.zeros((stop - start, self.days.shape[0]))
        weights: float | np.ndarray = 0.0
        for weight, vectors, present in self.parts:
            product = vectors.cosines(start, stop)
            total += product if weight == 1.0 else product * weight
            del product
            if present.all():
                weights = weights + weight
            else:
                weights = weights + weight * np.outer(present[start:stop], present)
        if isinstance(weights, float):
            if weights > 0:  # no part at all when no document has a usable word
                total /= weights
            return total
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(weights > 0, total / weights, 0.0)


def date_factor(
    apart: np.ndarray, half_life: float | None, floor: float, window: int | None
) -> np.ndarray:
    """The date factor of documents ``apart`` days apart (NaN: unknown, factor 1)."""
    known = ~np.isnan(apart)
    factor = np.ones(apart.shape)
    if half_life is not None:
        decay = np.exp2(-apart[known] / half_life)
        factor[known] = floor + (1 - floor) * decay
    if window is not None:
        factor[known & (apart > window + 0.5)] = 0.0
    return factor


def graph_of(
    source: np.ndarray, target: np.ndarray, weight: np.ndarray, count: int, keep: int
) -> sp.csr_matrix:
    """The symmetric neighbour graph of the edges ``source -> target`` (at most ``keep``
    per source), no document kept by more than :data:`_HUB` times ``keep`` others."""
    source, target, weight = _cap_in_degree(source, target, weight, _HUB * keep)
    graph = sp.csr_matrix((weight, (source, target)), shape=(count, count))
    return sp.csr_matrix(graph.maximum(graph.T))


def _cap_in_degree(
    source: np.ndarray, target: np.ndarray, weight: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep each document's ``cap`` strongest incoming edges (ties: lower source).

    A document that is everybody's neighbour (a digest, a page of headlines) would
    otherwise join every pair of documents through itself, and the shared-neighbourhood
    step would grow with the square of its degree.
    """
    by_target = np.lexsort((source, -weight, target))
    target_sorted = target[by_target]
    starts = np.searchsorted(target_sorted, target_sorted, side="left")
    keep = by_target[np.arange(len(by_target)) - starts < cap]
    return source[keep], target[keep], weight[keep]


def names_text(entities: Sequence[str]) -> str:
    """Entity names as one string of tokens: each name casefolded, spaces as ``_``."""
    return " ".join(sorted({"_".join(name.casefold().split()) for name in entities} - {""}))


def day(published: str | None) -> float:
    """Days since the epoch of an ISO 8601 date or date-time; NaN when unknown."""
    if not published:
        return math.nan
    value = published.strip()
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = dt.datetime.fromisoformat(value[:10])
        except ValueError:
            return math.nan
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp() / _SECONDS_PER_DAY
