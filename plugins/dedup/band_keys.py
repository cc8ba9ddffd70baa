"""How the dedup index files band keys: partitions by their top bits, the 32-bit prefix
the band table keeps, and the keys of whole shingle sets under the index's settings (the
index's own sets are cut to a fitted width and no longer give them back: a document that
leaves the index leaves its band rows to a sweep)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from docstage_plugins.dedup import minhash

#: Band keys are below 2**63; partition ``p`` holds the keys whose top bits are ``p``.
PARTITION_BITS = 6
PARTITIONS = 1 << PARTITION_BITS
_SHIFT = 63 - PARTITION_BITS
#: A band key's prefix is its top 32 bits, moved to a signed 32-bit number (SQLite stores
#: those in 4 bytes, and values from 2**31 in 6).
_PREFIX_SHIFT = 31
_PREFIX_OFFSET = 1 << 31


def partition_of(key: int) -> int:
    """The partition of a band key."""
    return key >> _SHIFT


def partition_range(partition: int) -> tuple[int, int]:
    """The band keys of ``partition``: ``low <= key < high``."""
    return partition << _SHIFT, (partition + 1) << _SHIFT


def prefix_of(key: int) -> int:
    """The prefix of a band key the band table keeps (``prefix_of`` keeps key order)."""
    return (key >> _PREFIX_SHIFT) - _PREFIX_OFFSET


def prefixes(keys: np.ndarray) -> np.ndarray:
    """:func:`prefix_of` of an array of band keys, as ``int64``."""
    shifted = np.asarray(keys, dtype=np.uint64) >> np.uint64(_PREFIX_SHIFT)
    found: np.ndarray = shifted.astype(np.int64) - _PREFIX_OFFSET
    return found


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values of a 1-d array, sorted: ``np.unique`` by a sort and a mask
    (numpy 2.4's ``np.unique`` takes 25 times as long on 100,000 band keys)."""
    found = np.sort(values)
    if found.size > 1:
        found = found[np.concatenate(([True], found[1:] != found[:-1]))]
    return found


def band_keys_of(sets: Sequence[np.ndarray], settings: dict[str, Any]) -> np.ndarray:
    """The band keys of shingle sets under the index's settings: ``(len(sets), bands)``."""
    bands = minhash.choose_bands(float(settings["threshold"]), int(settings["permutations"]))
    # Only the values the bands use (the first ones: the same whatever the count).
    hasher = minhash.MinHasher(permutations=bands[0] * bands[1])
    keys: np.ndarray = minhash.band_keys(hasher.signatures(list(sets)), *bands)
    return keys
