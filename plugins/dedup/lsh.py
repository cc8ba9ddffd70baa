"""The banded index in memory, and the whole near-copy flow over sets held in memory.

:class:`LshIndex` keeps band keys (:func:`~docstage_plugins.dedup.minhash.band_keys`) and
proposes the rows that share one; :func:`near_pairs` goes from shingle sets to verified
near pairs with it. The ``dedup`` stage does not use them (it streams, with its own
spills and the state store's index); benchmarks and tests do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import attrs
import numpy as np
import numpy.typing as npt

from docstage_plugins.dedup.minhash import MinHasher, band_keys, choose_bands, jaccard
from docstage_plugins.dedup.shingling import I64, U64


@attrs.define
class LshIndex:
    """An in-memory banded index: which rows share a band key.

    Keys live in two sorted numpy arrays (16 bytes per document and band) and a small
    dictionary of recent additions merged into them from time to time, so memory grows
    with documents × bands only, and a lookup costs a binary search per band.
    """

    _keys: U64 = attrs.field(init=False, factory=lambda: np.empty(0, dtype=np.uint64))
    _rows: I64 = attrs.field(init=False, factory=lambda: np.empty(0, dtype=np.int64))
    _recent: dict[int, list[int]] = attrs.field(init=False, factory=dict)
    _recent_count: int = attrs.field(init=False, default=0)

    def add(self, row: int, keys: npt.NDArray[np.uint64]) -> None:
        """Index ``row`` under its band keys."""
        for key in np.asarray(keys, dtype=np.uint64).tolist():
            self._recent.setdefault(key, []).append(row)
        self._recent_count += len(keys)
        if self._recent_count >= max(4096, self._keys.size // 4):
            self._merge()

    def add_many(self, rows: Sequence[int] | I64, keys: npt.NDArray[np.uint64]) -> None:
        """Index many rows at once: ``keys[i]`` holds the band keys of ``rows[i]``."""
        keys = np.asarray(keys, dtype=np.uint64)
        rows = np.repeat(np.asarray(rows, dtype=np.int64), keys.shape[1] if keys.ndim == 2 else 0)
        self._merge(keys.ravel(), rows)

    def _merge(self, keys: U64 | None = None, rows: I64 | None = None) -> None:
        recent_keys = np.fromiter(
            (k for k, rs in self._recent.items() for _ in rs), dtype=np.uint64
        )
        recent_rows = np.fromiter((r for rs in self._recent.values() for r in rs), dtype=np.int64)
        all_keys = [self._keys, recent_keys] + ([keys] if keys is not None else [])
        all_rows = [self._rows, recent_rows] + ([rows] if rows is not None else [])
        merged_keys = np.concatenate(all_keys)
        merged_rows = np.concatenate(all_rows)
        order = np.lexsort((merged_rows, merged_keys))
        self._keys, self._rows = merged_keys[order], merged_rows[order]
        self._recent.clear()
        self._recent_count = 0

    def candidates(self, keys: npt.NDArray[np.uint64]) -> set[int]:
        """Rows that share at least one band key with ``keys``."""
        keys = np.asarray(keys, dtype=np.uint64)
        found: set[int] = set()
        if self._keys.size:
            low = np.searchsorted(self._keys, keys, side="left")
            high = np.searchsorted(self._keys, keys, side="right")
            for i in np.flatnonzero(high > low).tolist():
                found.update(self._rows[low[i] : high[i]].tolist())
        if self._recent:
            for key in keys.tolist():
                found.update(self._recent.get(key, ()))
        return found

    def pairs(self) -> Iterator[tuple[int, int]]:
        """Every pair of rows sharing a band key, once each, ``i < j``, in sorted order."""
        if self._recent:
            self._merge()
        keys, rows = self._keys, self._rows
        if keys.size < 2:
            return
        # Runs of equal keys; each pairs every member with every later member.
        new_run = np.empty(keys.size, dtype=bool)
        new_run[0] = True
        np.not_equal(keys[1:], keys[:-1], out=new_run[1:])
        run_start = np.flatnonzero(new_run)
        run_length = np.diff(run_start, append=keys.size)
        position = np.arange(keys.size)
        later = run_start.repeat(run_length) + run_length.repeat(run_length) - 1 - position
        first = position.repeat(later)
        if not first.size:
            return
        offset = np.arange(first.size) - np.repeat(np.cumsum(later) - later, later)
        second = first + 1 + offset
        a, b = rows[first], rows[second]
        i, j = np.minimum(a, b), np.maximum(a, b)
        distinct = i != j
        i, j = i[distinct], j[distinct]
        order = np.lexsort((j, i))
        i, j = i[order], j[order]
        keep = np.ones(i.size, dtype=bool)
        keep[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
        yield from zip(i[keep].tolist(), j[keep].tolist(), strict=True)

    def __len__(self) -> int:
        """Band keys held."""
        return int(self._keys.size) + self._recent_count


# --- the whole flow ------------------------------------------------------------------------


def near_pairs(
    sets: Sequence[npt.NDArray[np.uint32]],
    threshold: float,
    *,
    permutations: int = 128,
    seed: int = 1,
) -> list[tuple[int, int, float]]:
    """Every pair of sets whose exact Jaccard similarity is at least ``threshold``.

    Signatures, band keys (:func:`choose_bands`), candidate pairs, each verified by its
    exact Jaccard similarity: no reported pair is below the threshold; a pair at or above
    it is missed with the small probability :func:`choose_bands` allows. Empty sets take
    no part.

    Args:
        sets: Sorted unique ``uint32`` shingle sets (from :func:`shingles`).
        threshold: Least Jaccard similarity of a reported pair.
        permutations: MinHash permutations.
        seed: MinHash seed.

    Returns:
        ``(i, j, similarity)`` with ``i < j`` indexes into ``sets``, sorted.
    """
    bands, rows = choose_bands(threshold, permutations)
    keep = [i for i, s in enumerate(sets) if s.size]
    if len(keep) < 2:
        return []
    signatures = MinHasher(permutations=permutations, seed=seed).signatures([sets[i] for i in keep])
    index = LshIndex()
    index.add_many(keep, band_keys(signatures, bands, rows))
    found = []
    for i, j in index.pairs():
        a, b = sets[i], sets[j]
        # |A ∩ B| / |A ∪ B| <= min / max: a cheap, exact bound that skips most candidates.
        if min(a.size, b.size) < threshold * max(a.size, b.size):
            continue
        score = jaccard(a, b)
        if score >= threshold:
            found.append((i, j, score))
    return found
