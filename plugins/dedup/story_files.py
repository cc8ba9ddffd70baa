"""TF-IDF vectors of a large collection in scratch files, for :mod:`.story_candidates`.

:func:`disk_vectors` streams the texts once: each document's term ids (ascending) and
counts go to two files (4 bytes each an entry), the document frequencies to an array,
and the vocabulary is dropped once counted. A second pass turns the counts into
L2-normalised sublinear TF-IDF weights in place, as scikit-learn computes them but in
float32 (equal to about 7 digits; the exact search of :mod:`.story_vectors` keeps
float64). Memory holds two offsets per document (16 bytes) and the document
frequencies; the files are mapped a chunk at a time and unmapped after, so the pages
read or written leave the resident memory with the map.
"""

from __future__ import annotations

import os
import tempfile
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import attrs
import numpy as np
import scipy.sparse as sp

#: Entries counted before they are written out (and weighed at once).
_FLUSH = 1 << 20


@attrs.frozen(eq=False)
class DiskVectors:
    """L2-normalised TF-IDF vectors in two flat files, each document's entries together.

    Attributes:
        terms_path: Term ids (int32), ascending within a document.
        weights_path: Their weights (float32).
        terms: How many distinct terms there are.
        lows: Where each document's entries start, documents in canonical order.
        highs: Where they end.
    """

    terms_path: Path
    weights_path: Path
    terms: int
    lows: np.ndarray
    highs: np.ndarray

    def has_terms(self) -> np.ndarray:
        """Which documents have at least one term."""
        has: np.ndarray = self.highs > self.lows
        return has

    def rows(self, which: np.ndarray) -> sp.csr_matrix:
        """The vectors of documents ``which`` (documents × terms), read from the files."""
        lows, lengths = self.lows[which], self.highs[which] - self.lows[which]
        indptr = np.zeros(len(which) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        at = np.repeat(lows - indptr[:-1], lengths) + np.arange(indptr[-1], dtype=np.int64)
        terms, weights = self._maps()
        matrix = sp.csr_matrix(
            (weights[at], terms[at], indptr), shape=(len(which), max(self.terms, 1))
        )
        del terms, weights  # unmapped: the pages read leave the resident memory
        matrix.has_sorted_indices = True
        return matrix

    def _maps(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.lows.size or not int(self.highs.max(initial=0)):
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        return (
            np.memmap(self.terms_path, dtype=np.int32, mode="r"),
            np.memmap(self.weights_path, dtype=np.float32, mode="r"),
        )


def disk_vectors(
    values: Iterable[str],
    count: int,
    analyze: Callable[[str], Iterable[str]],
    folder: Path,
    *,
    rows: Sequence[int] | None = None,
    floor: Callable[[np.ndarray, int, list[str]], tuple[np.ndarray, int]] | None = None,
) -> DiskVectors:
    """Sublinear TF-IDF vectors of ``count`` texts, as scikit-learn weighs them, on disk.

    Args:
        values: The texts, streamed once.
        count: How many there are.
        analyze: Text to terms (scikit-learn's analyzer).
        folder: Where the two files go (named after nothing else in it).
        rows: Document ``i`` of the result is text ``rows[i]``; ``None`` keeps the order.
        floor: Raises the texts' document frequencies and count, given the terms
            (:meth:`.story_vectors.Background.floor`).
    """
    folder.mkdir(parents=True, exist_ok=True)
    terms_path = scratch_file(folder, ".terms", 0)
    weights_path = scratch_file(folder, ".weights", 0)
    vocabulary: list[str] | None = [] if floor is not None else None
    starts, df = _count(values, count, analyze, terms_path, weights_path, vocabulary)
    documents = count
    if floor is not None and vocabulary is not None:
        df, documents = floor(df, count, vocabulary)
        del vocabulary
    idf = np.log((documents + 1) / (df + 1.0)) + 1.0
    del df
    total = int(starts[-1])
    step = max(1, count * _FLUSH // max(total, 1))
    for start in range(0, count if total else 0, step):
        stop = min(count, start + step)
        low, high = int(starts[start]), int(starts[stop])
        if low == high:
            continue
        # Mapped a chunk at a time: written pages leave the resident memory with the map.
        terms = np.memmap(terms_path, dtype=np.int32, mode="r", offset=4 * low, shape=high - low)
        weights = np.memmap(
            weights_path, dtype=np.float32, mode="r+", offset=4 * low, shape=high - low
        )
        owner = np.repeat(np.arange(stop - start), np.diff(starts[start : stop + 1]))
        value = (1.0 + np.log(weights.astype(np.float64))) * idf[terms]
        norms = np.sqrt(np.bincount(owner, weights=value * value, minlength=stop - start))
        weights[:] = value / norms[owner]
        weights.flush()
        del terms, weights
    order = np.arange(count) if rows is None else np.asarray(rows, dtype=np.intp)
    return DiskVectors(
        terms_path=terms_path,
        weights_path=weights_path,
        terms=len(idf),
        lows=starts[:-1][order],
        highs=starts[1:][order],
    )


def _count(
    values: Iterable[str],
    count: int,
    analyze: Callable[[str], Iterable[str]],
    terms_path: Path,
    counts_path: Path,
    keep: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Write each text's term ids (ascending) and counts; return the starts and the dfs
    (and append the terms, by number, to ``keep`` when given)."""
    vocabulary: defaultdict[str, int] = defaultdict()
    vocabulary.default_factory = vocabulary.__len__  # a new term gets the next number
    starts = np.zeros(count + 1, dtype=np.int64)
    df = np.zeros(0, dtype=np.int64)
    terms, counts = array("i"), array("f")
    with open(terms_path, "wb") as terms_file, open(counts_path, "wb") as counts_file:
        for number, value in enumerate(values):
            counter = Counter(map(vocabulary.__getitem__, analyze(value)))
            ordered = sorted(counter)
            terms.extend(ordered)
            counts.extend(map(counter.__getitem__, ordered))
            starts[number + 1] = starts[number] + len(ordered)
            if len(terms) >= _FLUSH or number + 1 == count:
                found = np.bincount(np.frombuffer(terms, dtype=np.int32), minlength=len(vocabulary))
                found[: len(df)] += df
                df = found
                terms.tofile(terms_file)
                counts.tofile(counts_file)
                del terms[:], counts[:]
    if keep is not None:
        keep.extend(vocabulary)
    vocabulary.default_factory = None  # its own method: a cycle that would outlive `del`
    del vocabulary
    return starts, df


def scratch_file(folder: Path, suffix: str, size: int) -> Path:
    """A new file of ``size`` zero bytes in ``folder``."""
    descriptor, name = tempfile.mkstemp(suffix=suffix, dir=folder)
    os.ftruncate(descriptor, size)
    os.close(descriptor)
    return Path(name)
