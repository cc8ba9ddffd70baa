"""Story neighbours of a large collection: candidates from an index of strong terms, on disk.

The exact search of :class:`.story_vectors.Similarity` compares every document with every
other, which is quadratic. Above :data:`.stories.EXACT_UP_TO` documents,
:func:`.stories.cluster_stories` uses this module instead:

1. **Vectors on disk** (:func:`.story_files.disk_vectors`). The texts stream past once; each
   document's term counts go to files in a scratch folder (4 bytes a term id, 4 a count),
   the document frequencies to an array, and the vocabulary is dropped once counted. A
   second pass turns the counts into L2-normalised sublinear TF-IDF weights in place
   (float32: the same weights as scikit-learn's to about 7 digits). Memory holds two
   offsets per document (16 bytes) and the document frequencies; the files are mapped
   a block at a time and unmapped after, so the pages a block touched leave the resident
   memory with it.
2. **An index of strong terms** (:class:`CandidateIndex`). Each document's
   :data:`_STRONG` heaviest terms of each part (text, title, entities), weighted by the
   square root of their part's weight, go to an inverted index; a term keeps its
   :data:`_POSTINGS` heaviest documents. It is built through a
   :class:`docstage.spill.Partitions` spill by term (a quarter of ``memory`` buffered)
   and lives in files too: 8 bytes an entry.
3. **Candidates, then exact similarities.** A block of :data:`_BLOCK` documents'
   :data:`_QUERY` heaviest terms of each part are multiplied with the index (a sparse
   product: a document costs at most :data:`_QUERY` × :data:`_POSTINGS` steps a part,
   whatever the collection's size); each document keeps its :data:`_CANDIDATES`
   best-scoring other documents, and for those alone the combined similarity of
   :mod:`.stories` (the weighted mean of the parts' cosines, from the full vectors,
   times the date factor) is computed. The ``neighbours`` best at ``min_similarity`` or
   more are kept, ties going to the lower document.

A true neighbour is missed when it shares none of the strong terms looked up (or sits
below a common term's cut, or outside the best-scoring candidates).
``benchmarks/stories.py --agreement`` measures the recall against the exact search and
the agreement of the stories (20 Newsgroups: 0.981 of the exact neighbour pairs found,
ARI 0.986 between the two labelings; Giveme5W1H: the same stories); ``--scale``
measures the time and memory. The numbers above were chosen there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import attrs
import numpy as np
import scipy.sparse as sp

from docstage.spill import DEFAULT_MEMORY, Partitions, release_memory
from docstage_plugins.dedup.story_files import DiskVectors, disk_vectors, scratch_file
from docstage_plugins.dedup.story_vectors import Background, analyzer, date_factor, graph_of

#: Strong terms a document puts in the index, per part (text, title, entities).
_STRONG = 128
#: Strong terms a document looks up in the index, per part.
_QUERY = 64
#: Documents a term of the index keeps (its heaviest).
_POSTINGS = 256
#: Candidates scored exactly per document: a few times the default ``neighbours``.
_CANDIDATES = 96
#: Documents whose neighbours are found at once.
_BLOCK = 256
#: Documents whose strong terms go to the index's spill at once (their temporaries take
#: about 15 KB a document).
_INDEX_BLOCK = 1 << 12

_TERMS = np.dtype([("term", "<u8"), ("doc", "<i4"), ("weight", "<f4")])


@attrs.frozen(eq=False)
class CandidateIndex:
    """Strong terms → their heaviest documents, in files (terms of all parts numbered
    one after the other: the text's, then the title's, then the entities').

    Attributes:
        indptr: Term ``t``'s documents are entries ``indptr[t]:indptr[t + 1]``.
        docs_path: The documents (int32), by term.
        weights_path: The weights (float32), as :func:`strong_terms` scales them.
        count: How many documents there are.
    """

    indptr: np.ndarray
    docs_path: Path
    weights_path: Path
    count: int

    def scores(self, query: sp.csr_matrix) -> sp.csr_matrix:
        """The candidate scores of the documents of ``query`` (from :func:`strong_terms`)
        against every document (sparse: only documents sharing a strong term)."""
        entries = int(self.indptr[-1])
        if not entries:
            return sp.csr_matrix((query.shape[0], self.count), dtype=np.float32)
        docs = np.memmap(self.docs_path, dtype=np.int32, mode="r")
        weights = np.memmap(self.weights_path, dtype=np.float32, mode="r")
        index = sp.csr_matrix(
            (weights, docs, self.indptr), shape=(len(self.indptr) - 1, self.count), copy=False
        )
        product = sp.csr_matrix(query @ index)
        del index, docs, weights  # unmapped: the pages read leave the resident memory
        return product


#: ``(weight, vectors, present)``: ``present`` says which documents have the part (a part
#: counts in a pair's mean when both have it).
Part = tuple[float, DiskVectors, np.ndarray]


def strong_terms(parts: Sequence[Part], which: np.ndarray, strong: int) -> sp.csr_matrix:
    """Documents ``which``'s strong terms (each part's heaviest :data:`_STRONG`, times the
    square root of the part's weight), all parts' terms side by side."""
    blocks = []
    for weight, vectors, _ in parts:
        rows = vectors.rows(which).tocoo()
        order = np.lexsort((-rows.data, rows.row))
        row, col, data = rows.row[order], rows.col[order], rows.data[order]
        first = np.searchsorted(row, row, side="left")
        keep = np.arange(len(row)) - first < strong
        pruned = sp.csr_matrix(
            (data[keep] * np.float32(np.sqrt(weight)), (row[keep], col[keep])), shape=rows.shape
        )
        blocks.append(pruned)
    query = sp.csr_matrix(sp.hstack(blocks, format="csr", dtype=np.float32))
    # The index's positions are int32: a query of int64 ones would copy the whole index.
    query.indices, query.indptr = query.indices.astype(np.int32), query.indptr.astype(np.int32)
    return query


def candidate_index(parts: Sequence[Part], count: int, folder: Path, memory: int) -> CandidateIndex:
    """Every document's strong terms, inverted; a term keeps its :data:`_POSTINGS`
    heaviest documents (ties: the lower document).

    The entries are spilled by a hash of the term (common terms are numbered first, so
    ranges of terms would be lopsided); each partition is then sorted and written to
    its terms' places in the files, known from the counts of the first pass.
    """
    terms = sum(max(vectors.terms, 1) for _, vectors, _ in parts)
    found = np.zeros(terms, dtype=np.int64)
    spill_folder = Path(tempfile.mkdtemp(prefix="index-", dir=folder))
    with Partitions(_TERMS, "term", budget=memory // 4, folder=spill_folder) as spill:
        for which in _blocks(count if parts else 0, _INDEX_BLOCK):
            strong = strong_terms(parts, which, _STRONG).tocoo()
            records = np.empty(strong.nnz, dtype=_TERMS)
            records["term"], records["doc"] = strong.col, which[strong.row]
            records["weight"] = strong.data
            found += np.bincount(strong.col, minlength=terms)
            spill.append(records)
        indptr = np.zeros(terms + 1, dtype=np.int32)
        np.cumsum(np.minimum(found, _POSTINGS), out=indptr[1:])
        docs_path = scratch_file(folder, ".docs", int(indptr[-1]) * 4)
        weights_path = scratch_file(folder, ".index", int(indptr[-1]) * 4)
        with open(docs_path, "r+b") as docs_file, open(weights_path, "r+b") as weights_file:
            for records in spill:
                _write_postings(records, indptr, docs_file.fileno(), weights_file.fileno())
    shutil.rmtree(spill_folder, ignore_errors=True)
    return CandidateIndex(
        indptr=indptr, docs_path=docs_path, weights_path=weights_path, count=count
    )


def _write_postings(records: np.ndarray, indptr: np.ndarray, docs: int, weights: int) -> None:
    """Write one partition's entries, each term's heaviest :data:`_POSTINGS`, to their
    places in the files (descriptors ``docs`` and ``weights``).

    A term's entries are one run of the files, written with one ``pwrite`` each: written
    through a map instead, the pages a partition touches (its terms are spread over the
    whole files) would count in the resident memory, about the files' size at once.
    """
    order = np.lexsort((records["doc"], -records["weight"], records["term"]))
    records = records[order]
    term = records["term"].astype(np.int64)
    rank = np.arange(len(term)) - np.searchsorted(term, term, side="left")
    kept = rank < _POSTINGS
    term = term[kept]
    if not len(term):
        return
    starts = np.flatnonzero(np.concatenate(([True], term[1:] != term[:-1])))
    stops = np.append(starts[1:], len(term))
    doc_bytes = memoryview(records["doc"][kept].astype("<i4").tobytes())
    weight_bytes = memoryview(records["weight"][kept].astype("<f4").tobytes())
    places = (4 * indptr[term[starts]]).tolist()
    for start, stop, place in zip((4 * starts).tolist(), (4 * stops).tolist(), places, strict=True):
        os.pwrite(docs, doc_bytes[start:stop], place)
        os.pwrite(weights, weight_bytes[start:stop], place)


@attrs.frozen(kw_only=True, eq=False)
class CandidateSearch:
    """The parts of the similarity on disk, the dates, and the index of strong terms.

    Attributes:
        parts: ``(weight, vectors, present)``.
        days: Publication days (NaN when unknown).
        half_life: See :class:`.story_vectors.Similarity`.
        floor: See :class:`.story_vectors.Similarity`.
        window: See :class:`.story_vectors.Similarity`.
        index: Built from ``parts`` by :func:`candidate_index`.
        memory: Bytes the temporaries of a block of documents may take.
    """

    parts: list[Part]
    days: np.ndarray
    half_life: float | None
    floor: float
    window: int | None
    index: CandidateIndex
    memory: int = DEFAULT_MEMORY

    def neighbour_graph(self, neighbours: int, min_similarity: float) -> sp.csr_matrix:
        """As :meth:`.story_vectors.Similarity.neighbour_graph`, among the candidates."""
        count = len(self.days)
        keep = min(neighbours, count - 1)
        if keep < 1 or not self.parts:  # no document has a usable term
            return sp.csr_matrix((count, count))
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for which in _blocks(count, _BLOCK):
            first, second = self._candidates(which)
            score = self.similarities(which, first, second)
            first = which[first]
            good = (score >= min_similarity) & (score > 0)
            first, second, score = first[good], second[good], score[good]
            order = np.lexsort((second, -score, first))
            first, second, score = first[order], second[order], score[order]
            rank = np.arange(len(first)) - np.searchsorted(first, first, side="left")
            best = rank < keep
            found.append((first[best], second[best], score[best]))
            release_memory()
        source, target, weight = (np.concatenate(column) for column in zip(*found, strict=True))
        return graph_of(source, target, weight, count, keep)

    def _candidates(self, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs ``(position in which, candidate)``: each document's best-scoring others."""
        scores = self.index.scores(strong_terms(self.parts, which, _QUERY))
        row = np.repeat(np.arange(len(which)), np.diff(scores.indptr))
        other = which[row] != scores.indices
        row, second, value = row[other], scores.indices[other], scores.data[other]
        del scores
        # Each row's _CANDIDATES-th best score, by a partition of the rows side by side.
        starts = np.searchsorted(row, np.arange(len(which) + 1))
        widest = int(np.diff(starts).max(initial=0))
        if widest > _CANDIDATES:
            table = np.full((len(which), widest), -np.inf, dtype=np.float32)
            table[row, np.arange(len(row)) - starts[row]] = value
            least = np.partition(table, widest - _CANDIDATES, axis=1)[:, widest - _CANDIDATES]
            del table
            good = value >= least[row]
            row, second, value = row[good], second[good], value[good]
        # Ties at the cut: the lower candidates first.
        order = np.lexsort((second, -value, row))
        row, second = row[order], second[order]
        rank = np.arange(len(row)) - np.searchsorted(row, row, side="left")
        best = rank < _CANDIDATES
        return row[best], second[best].astype(np.int64)

    def similarities(self, which: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """The combined similarity of each pair ``(which[first[i]], second[i])``."""
        total = np.zeros(len(first))
        weights = np.zeros(len(first))
        for weight, vectors, present in self.parts:
            total += weight * _pair_cosines(vectors, which, first, second)
            weights += weight * (present[which][first] & present[second])
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(weights > 0, total / weights, 0.0)
        dated = self.half_life is not None or self.window is not None
        if dated and np.count_nonzero(~np.isnan(self.days)) > 1:
            with np.errstate(invalid="ignore"):
                apart = np.abs(self.days[which][first] - self.days[second])
            score *= date_factor(apart, self.half_life, self.floor, self.window)
        return score


def candidate_search(
    texts: Iterable[str],
    order: Sequence[int],
    *,
    titles: tuple[float, Iterable[str]],
    names: tuple[float, Iterable[str]],
    days: np.ndarray,
    date: tuple[float | None, float, int | None],
    folder: Path,
    memory: int,
    background: Background | None = None,
) -> CandidateSearch:
    """The search of documents in canonical order, their vectors in files in ``folder``.

    Args:
        texts: The texts in input order; text ``order[i]`` is document ``i``'s.
        order: See ``texts``.
        titles: The titles' weight and the titles (canonical order); weight 0 skips them.
        names: The same for the entity names (:func:`.story_vectors.names_text`).
        days: Publication days (NaN when unknown).
        date: ``(half_life, floor, window)`` of the date factor.
        folder: Where the files go; the caller deletes it.
        memory: Bytes a block's temporaries may take.
        background: Document frequencies the texts' own are raised to.
    """
    count = len(order)
    raise_df = background.floor if background is not None else None
    text = disk_vectors(texts, count, analyzer(False), folder, rows=order, floor=raise_df)
    parts: list[Part] = [(1.0, text, np.ones(count, dtype=bool))]
    for (weight, values), names_only in ((titles, False), (names, True)):
        if weight > 0:
            vectors = disk_vectors(values, count, analyzer(names_only), folder)
            parts.append((weight, vectors, vectors.has_terms()))
    parts = [part for part in parts if part[1].terms > 0]
    half_life, floor, window = date
    return CandidateSearch(
        parts=parts,
        days=days,
        half_life=half_life,
        floor=floor,
        window=window,
        index=candidate_index(parts, count, folder, memory),
        memory=memory,
    )


def _pair_cosines(
    vectors: DiskVectors, which: np.ndarray, first: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """The cosine of each pair ``(which[first[i]], second[i])``, from the full vectors.

    The block's vectors are spread into a dense table over the terms they have, so each
    candidate's entries are looked up, never merged.
    """
    block = vectors.rows(which)
    terms, column = np.unique(block.indices, return_inverse=True)
    width = len(terms) + 1  # the last column: terms no document of the block has
    table = np.zeros(len(which) * width, dtype=np.float32)
    table[np.repeat(np.arange(len(which)) * width, np.diff(block.indptr)) + column] = block.data
    del block, column
    lookup = np.full(max(vectors.terms, 1), len(terms), dtype=np.int64)
    lookup[terms] = np.arange(len(terms))
    other = vectors.rows(second)
    lengths = np.diff(other.indptr)
    at = lookup[other.indices]
    at += np.repeat(first * width, lengths)
    products = table[at] * other.data
    pair = np.repeat(np.arange(len(second)), lengths)
    return np.bincount(pair, weights=products, minlength=len(second))


def _blocks(count: int, step: int) -> Iterator[np.ndarray]:
    for start in range(0, count, step):
        yield np.arange(start, min(count, start + step), dtype=np.int64)
