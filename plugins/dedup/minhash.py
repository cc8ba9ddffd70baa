"""The arithmetic of near copies: MinHash, LSH bands, exact similarity, stored sets.

This module owns what the ``dedup`` stage computes from shingle sets to decide that two
texts are copies, and nothing about documents, sources or the state store (the sets and
the exact keys themselves come from :mod:`~docstage_plugins.dedup.shingling`, whose
functions this module also offers under their names):

* :class:`MinHasher`, :func:`choose_bands`, :func:`band_keys`: MinHash signatures and the
  keys of their bands, which propose candidate pairs (:mod:`~docstage_plugins.dedup.lsh`:
  an in-memory index of them and the whole in-memory flow, ``near_pairs``);
* :func:`jaccard`: the exact similarity every candidate is verified with, so no false
  positive survives; :func:`encode_set` / :func:`decode_set` keep a shingle set
  compactly and losslessly (within a run); :func:`encode_fitted` keeps it in about half
  the bytes for tomorrow's verification, each hash cut to a width fitted to the set's
  size, and :func:`jaccard_at` compares sets of any widths.

Every hash here is pure integer arithmetic on fixed constants (no ``hash()``, no
per-process salt, explicit little-endian byte orders): the values are the same in every
process, run and platform, because they are stored in the state store and compared with
the values a later run computes.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence

import attrs
import numpy as np
import numpy.typing as npt

from docstage_plugins.dedup.shingling import (
    TOKEN,
    U32,
    U64,
    exact_key,
    exact_keys,
    fmix64,
    normalise,
    shingle_batch,
    shingles,
)

#: This module's names, and those of :mod:`~docstage_plugins.dedup.shingling` that it
#: offers too (the stage and the benchmarks ask one module for all of them).
__all__ = [
    "FIT_BITS",
    "TOKEN",
    "MinHasher",
    "band_keys",
    "candidate_probability",
    "choose_bands",
    "decode_set",
    "decode_stored",
    "encode_fitted",
    "encode_fitted_many",
    "encode_set",
    "exact_key",
    "exact_keys",
    "fit_encoded",
    "fitted_width",
    "jaccard",
    "jaccard_at",
    "normalise",
    "shingle_batch",
    "shingles",
]

_MASK64 = (1 << 64) - 1
_EMPTY = 0xFFFFFFFF  # a signature slot of an empty set
_S32 = np.uint64(32)
# MinHash runs over windows of this many shingles, this many permutations at a time, on
# groups of sets of about this many shingles (a bigger set alone, not copied).
_WINDOW = 1 << 14
_PERM_BLOCK = 8
_GROUP = 1 << 20
# Sets are coded, decoded and compared this many values at a time (a multiple of 8, so
# that each block's bits fill whole bytes): a big set's temporaries stay a few MiB.
_BLOCK = 1 << 16


def _splitmix64(state: int) -> tuple[int, int]:
    """One step of SplitMix64 on Python ints: (next state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


def _constants(seed: int, count: int) -> list[int]:
    """``count`` pseudo-random 64-bit integers, fixed forever for a given seed."""
    state, out = seed & _MASK64, []
    for _ in range(count):
        state, value = _splitmix64(state)
        out.append(value)
    return out


# --- MinHash -------------------------------------------------------------------------------


@attrs.frozen
class MinHasher:
    """MinHash signatures of shingle sets, vectorised over batches.

    Permutation ``i`` is the multiply-add-shift hash ``h_i(x) = ((a_i * x + b_i) mod 2**64)
    >> 32`` with odd 64-bit ``a_i`` and 64-bit ``b_i`` drawn from a SplitMix64 stream
    seeded by ``seed``: a strongly universal family for 32-bit keys (Dietzfelbinger
    1996), the power-of-two counterpart of ``(a x + b) mod p`` with a Mersenne prime, and
    several times faster in numpy. The keys are already well-mixed shingle hashes. The
    same ``(permutations, seed)`` gives the same signatures forever.

    Attributes:
        permutations: Hash functions, i.e. values per signature.
        seed: Selects the hash functions.
    """

    permutations: int = 128
    seed: int = 1
    _a: U64 = attrs.field(init=False, repr=False, eq=False)
    _b: U64 = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.permutations < 1:
            raise ValueError(f"permutations must be at least 1, not {self.permutations}")
        values = _constants(self.seed, 2 * self.permutations)
        a = np.array([v | 1 for v in values[::2]], dtype=np.uint64)
        b = np.array(values[1::2], dtype=np.uint64)
        object.__setattr__(self, "_a", a[:, None])
        object.__setattr__(self, "_b", b[:, None])

    def signatures(self, sets: Sequence[npt.NDArray[np.uint32]]) -> U32:
        """The signatures of a batch of shingle sets.

        Args:
            sets: ``uint32`` arrays (as from :func:`shingles`; duplicates do no harm).

        Returns:
            A ``(len(sets), permutations)`` ``uint32`` array; an empty set's row is all
            ``0xFFFFFFFF``.
        """
        out = np.full((len(sets), self.permutations), _EMPTY, dtype=np.uint32)
        sizes = np.fromiter((s.size for s in sets), dtype=np.int64, count=len(sets))
        group: list[int] = []
        held = 0
        # Groups of sets, each group's values concatenated (a big set alone, uncopied):
        # a minimum is the same whatever the windows it is taken over.
        for row in np.flatnonzero(sizes).tolist():
            if group and held + sizes[row] > _GROUP:
                self._fill(out, sets, group)
                group, held = [], 0
            group.append(row)
            held += int(sizes[row])
        if group:
            self._fill(out, sets, group)
        return out

    def _fill(self, out: U32, sets: Sequence[npt.NDArray[np.uint32]], group: list[int]) -> None:
        """Lower ``out``'s rows ``group`` to the minimum hashes of their (non-empty) sets."""
        rows = np.array(group, dtype=np.int64)
        parts = [sets[i] for i in group]
        values = parts[0] if len(parts) == 1 else np.concatenate(parts)
        sizes = np.array([part.size for part in parts], dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        # Windows of the concatenated values; a set may span several windows.
        for low in range(0, values.size, _WINDOW):
            high = min(low + _WINDOW, values.size)
            first = max(int(np.searchsorted(starts, low, side="right")) - 1, 0)
            last = int(np.searchsorted(starts, high, side="left"))
            cuts = np.maximum(starts[first:last], low) - low
            chunk = values[low:high].astype(np.uint64)
            where = rows[first:last]
            block = np.empty((_PERM_BLOCK, chunk.size), dtype=np.uint64)
            for p in range(0, self.permutations, _PERM_BLOCK):
                q = min(p + _PERM_BLOCK, self.permutations)
                buf = block[: q - p]
                np.multiply(self._a[p:q], chunk, out=buf)
                buf += self._b[p:q]
                mins = (np.minimum.reduceat(buf, cuts, axis=1) >> _S32).astype(np.uint32)
                out[where, p:q] = np.minimum(out[where, p:q], mins.T)

    def signature(self, one: npt.NDArray[np.uint32]) -> U32:
        """The signature of one shingle set: a ``(permutations,)`` ``uint32`` array."""
        row: U32 = self.signatures([one])[0]
        return row


# --- banding -------------------------------------------------------------------------------


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """The probability that two sets of Jaccard ``similarity`` share at least one band."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def choose_bands(threshold: float, permutations: int, recall: float = 0.995) -> tuple[int, int]:
    """Bands and rows per band for an LSH index at ``threshold``.

    Two sets of Jaccard similarity ``s`` agree on one signature value with probability
    ``s``, on a band of ``r`` values with ``s**r``, and share at least one of ``b`` bands
    with ``P(s) = 1 - (1 - s**r)**b``. Longer bands shrink ``P`` below the threshold
    (fewer candidates to verify) and also at the threshold (missed pairs); verification
    removes every false candidate, so only the misses cost quality. The choice: the
    largest ``r`` with ``b = permutations // r`` whose ``P(threshold) >= recall``. Pairs
    above the threshold are caught with higher probability still.

    At 0.8 with 128 permutations this gives 21 bands of 6 rows (126 values used):
    ``P(0.8) = 0.9983``, ``P(0.9) = 1 - 5e-12``, while a pair at 0.5 becomes a candidate
    with probability 0.28 and one at 0.3 with 0.015. Seven rows would miss 1.4% of the
    pairs at 0.8.

    Args:
        threshold: The Jaccard similarity at or above which two sets are near copies.
        permutations: Values per signature.
        recall: The least acceptable probability of catching a pair at the threshold.

    Returns:
        ``(bands, rows)`` with ``bands * rows <= permutations``.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, not {permutations}")
    best = (permutations, 1)
    for rows in range(1, permutations + 1):
        bands = permutations // rows
        if candidate_probability(threshold, bands, rows) >= recall:
            best = (bands, rows)
    return best


@functools.lru_cache(maxsize=8)
def _band_seeds(bands: int) -> U64:
    return np.array(_constants(0x5EED_BA4D, bands), dtype=np.uint64)


def band_keys(signatures: npt.NDArray[np.uint32], bands: int, rows: int) -> U64:
    """One 63-bit key per band of each signature (equal bands give equal keys).

    The band's number is part of its key, so keys of different bands never meet by
    accident and one table can hold them all.

    Args:
        signatures: ``(n, permutations)`` ``uint32``, from :class:`MinHasher`.
        bands: Bands per signature.
        rows: Values per band; ``bands * rows`` may not exceed the permutations.

    Returns:
        ``(n, bands)`` ``uint64`` keys, each below ``2**63`` (they fit SQLite's INTEGER).
    """
    signatures = np.asarray(signatures, dtype=np.uint32)
    if signatures.ndim != 2 or bands * rows > signatures.shape[1]:
        raise ValueError(
            f"{bands} bands of {rows} rows need signatures of at least {bands * rows} "
            f"values, got shape {signatures.shape}"
        )
    grouped = signatures[:, : bands * rows].reshape(len(signatures), bands, rows)
    keys = np.broadcast_to(_band_seeds(bands), (len(signatures), bands)).copy()
    for k in range(rows):
        keys ^= grouped[:, :, k].astype(np.uint64)
        keys = fmix64(keys)
    below: U64 = keys >> np.uint64(1)
    return below


# --- exact similarity and storage ----------------------------------------------------------


def jaccard(a: U32 | U64, b: U32 | U64) -> float:
    """The exact Jaccard similarity of two sorted arrays of unique values (0.0 if both empty)."""
    if a.size > b.size:
        a, b = b, a
    if not a.size:
        return 0.0
    shared = 0
    for low in range(0, a.size, _BLOCK):
        part = a[low : low + _BLOCK]
        where = np.searchsorted(b, part)
        where[where == b.size] = 0
        shared += int(np.count_nonzero(b[where] == part))
    return shared / (a.size + b.size - shared)


#: Format 1: a set of whole 32-bit values (what a run keeps of its own documents).
_HEADER = struct.Struct("<BIB")  # format, count, low bits
_FORMAT = 1
#: Format 2: the top ``width`` bits of each value, duplicates kept (what the index keeps).
_FITTED = 2
_FITTED_HEADER = struct.Struct("<BB")  # format, width; then the count as a varint
#: Bits of a fitted set's values beyond ``ceil(log2(n))`` (:func:`fitted_width`).
FIT_BITS = 11
_S32_64 = np.uint64(32)


def _pack_low(values: U32, width: int) -> bytes:
    """The low ``width`` bits of each value, one after the other, least significant first."""
    shifts = np.arange(width, dtype=np.uint32)
    out = []
    for low in range(0, values.size, _BLOCK):  # whole bytes a block: they just follow
        bits = (values[low : low + _BLOCK, None] >> shifts) & np.uint32(1)
        out.append(np.packbits(bits.astype(np.uint8).ravel(), bitorder="little").tobytes())
    return b"".join(out)


def _unpack_low(data: npt.NDArray[np.uint8], n: int, width: int) -> U32:
    """The inverse of :func:`_pack_low`."""
    out: U32 = np.empty(n, dtype=np.uint32)
    weights = np.uint32(1) << np.arange(width, dtype=np.uint32)
    for low in range(0, n, _BLOCK):
        count = min(_BLOCK, n - low)
        at = low * width // 8
        part = data[at : at + (count * width + 7) // 8]
        bits = np.unpackbits(part, count=count * width, bitorder="little")
        out[low : low + count] = bits.reshape(count, width).astype(np.uint32) @ weights
    return out


def _elias_fano(values: U32, low_bits: int) -> bytes:
    """Elias-Fano coding of sorted values (repeats allowed): low bits, then high parts."""
    n = values.size
    upper = np.zeros(int(values[-1] >> np.uint32(low_bits)) + n, dtype=np.uint8)
    for low in range(0, n, _BLOCK):
        high = (values[low : low + _BLOCK] >> np.uint32(low_bits)).astype(np.int64)
        upper[high + np.arange(low, low + high.size)] = 1
    packed = np.packbits(upper, bitorder="little").tobytes()
    del upper
    return (_pack_low(values, low_bits) if low_bits else b"") + packed


def _elias_fano_values(data: npt.NDArray[np.uint8], n: int, low_bits: int) -> U32:
    """The inverse of :func:`_elias_fano`."""
    low_bytes = (n * low_bits + 7) // 8
    values: U32 = np.empty(n, dtype=np.uint32)
    done = 0
    upper = data[low_bytes:]
    # The high parts' unary codes, a block of bytes at a time: the k-th set bit, at
    # position p, stands for the value k with high part p - k.
    for start in range(0, upper.size, _BLOCK):
        if done == n:
            break
        bits = np.unpackbits(upper[start : start + _BLOCK], bitorder="little")
        ones = np.flatnonzero(bits)[: n - done] + 8 * start
        values[done : done + ones.size] = (ones - np.arange(done, done + ones.size)).astype(
            np.uint32
        ) << np.uint32(low_bits)
        done += ones.size
    if low_bits:
        values |= _unpack_low(data[:low_bytes], n, low_bits)
    return values


def _low_bits(n: int, width: int) -> int:
    """Elias-Fano's low bits for ``n`` values below ``2**width``: ``floor(log2(2**width /
    n))``, within ``[0, min(width, 32) - 1]`` (a shift by 32 is undefined for uint32)."""
    return max(0, min(width - 1, 31, ((1 << width) // n).bit_length() - 1))


def encode_set(a: npt.NDArray[np.uint32]) -> bytes:
    """Compact bytes for a sorted set of unique ``uint32`` values (Elias-Fano coding).

    Each value costs ``L + 2`` bits or a little less, ``L = floor(log2(2**32 / n))``: about
    3.2 bytes a value for a typical 20 Newsgroups message instead of 4, decoded with a few
    numpy calls. Lossless (:func:`decode_set` gives the set back); deterministic: equal
    sets give equal bytes.
    """
    values = np.asarray(a, dtype=np.uint32)
    n = int(values.size)
    if not n:
        return _HEADER.pack(_FORMAT, 0, 0)
    low_bits = _low_bits(n, 32)
    return _HEADER.pack(_FORMAT, n, low_bits) + _elias_fano(values, low_bits)


def decode_set(b: bytes) -> U32:
    """The set :func:`encode_set` encoded, as a sorted ``uint32`` array."""
    form, n, low_bits = _HEADER.unpack_from(b)
    if form == _FITTED:
        raise ValueError("a fitted shingle set (format 2): decode_stored reads it")
    if form != _FORMAT:
        raise ValueError(f"unknown shingle set format {form}")
    if not n:
        return np.empty(0, dtype=np.uint32)
    return _elias_fano_values(np.frombuffer(b, dtype=np.uint8, offset=_HEADER.size), n, low_bits)


def fitted_width(n: int) -> int:
    """The bits a fitted set of ``n`` values keeps of each: ``ceil(log2(n)) + FIT_BITS``,
    at most 32."""
    return min(32, max(n - 1, 0).bit_length() + FIT_BITS)


def encode_fitted(a: npt.NDArray[np.uint32]) -> bytes:
    """Compact, lossy bytes for a sorted set of unique ``uint32`` hashes, for the index.

    Each value keeps its top ``w = fitted_width(n)`` bits, repeats included (two values
    that agree on them are both kept), Elias-Fano coded: about ``FIT_BITS + 2.5`` bits a
    value instead of ``32 - log2(n) + 2`` (1.7 bytes instead of 3.1 for a typical 20
    Newsgroups message of 280 shingles). :func:`jaccard_at` compares such sets;
    :func:`decode_stored` reads both formats. Deterministic: equal sets give equal bytes.
    """
    values = np.asarray(a, dtype=np.uint32)
    n = int(values.size)
    width = fitted_width(n)
    parts = [_FITTED_HEADER.pack(_FITTED, width), _varint(n)]
    if n:
        kept = values >> np.uint32(32 - width) if width < 32 else values
        parts.append(_elias_fano(kept, _low_bits(n, width)))
    return b"".join(parts)


def encode_fitted_many(sets: Sequence[npt.NDArray[np.uint32]]) -> list[bytes]:
    """:func:`encode_fitted` of many sets: the same bytes, with a few numpy passes over
    all their values instead of a dozen calls per set. A set of more than ``_BLOCK``
    values goes alone through :func:`encode_fitted`, whose temporaries stay a few MiB
    whatever its size (these passes hold a byte per bit of the whole batch)."""
    big = [i for i, s in enumerate(sets) if s.size > _BLOCK]
    if big:
        out = [b""] * len(sets)
        for i in big:
            out[i] = encode_fitted(sets[i])
        small = [i for i, s in enumerate(sets) if s.size <= _BLOCK]
        for i, encoded in zip(small, encode_fitted_many([sets[i] for i in small]), strict=True):
            out[i] = encoded
        return out
    counts = [int(s.size) for s in sets]
    widths = [fitted_width(n) for n in counts]
    lows = [_low_bits(n, w) if n else 0 for n, w in zip(counts, widths, strict=True)]
    low_parts = _pack_low_many(sets, counts, widths, lows)
    upper_parts = _upper_many(sets, counts, widths, lows)
    return [
        _FITTED_HEADER.pack(_FITTED, w) + _varint(n) + lo + up
        for n, w, lo, up in zip(counts, widths, low_parts, upper_parts, strict=True)
    ]


def _pack_low_many(
    sets: Sequence[U32], counts: list[int], widths: list[int], lows: list[int]
) -> list[bytes]:
    """:func:`_pack_low` of each set cut to its width, sets of one low width together
    (each set padded to 8 values, so that its bits start a byte)."""
    out = [b""] * len(sets)
    by_low: dict[int, list[int]] = {}
    for i, low in enumerate(lows):
        if low:
            by_low.setdefault(low, []).append(i)
    for low, members in by_low.items():
        padded = [(counts[i] + 7) // 8 * 8 for i in members]
        values = np.zeros(sum(padded), dtype=np.uint32)
        at = 0
        for i, size in zip(members, padded, strict=True):
            values[at : at + counts[i]] = sets[i] >> np.uint32(32 - widths[i])
            at += size
        shifts = np.arange(low, dtype=np.uint32)
        bits = ((values[:, None] >> shifts) & np.uint32(1)).astype(np.uint8)
        packed = np.packbits(bits.ravel(), bitorder="little").tobytes()
        at = 0
        for i, size in zip(members, padded, strict=True):
            out[i] = packed[at : at + (counts[i] * low + 7) // 8]
            at += size * low // 8
    return out


def _upper_many(
    sets: Sequence[U32], counts: list[int], widths: list[int], lows: list[int]
) -> list[bytes]:
    """The Elias-Fano upper bitmaps of the sets cut to their widths, set together."""
    if not sum(counts):
        return [b""] * len(sets)
    sizes = np.array(counts, dtype=np.int64)
    set_of = np.repeat(np.arange(len(sets)), sizes)
    cut = np.repeat(np.array([32 - w for w in widths], dtype=np.uint32), sizes)
    low = np.repeat(np.array(lows, dtype=np.uint32), sizes)
    high = ((np.concatenate(sets) >> cut) >> low).astype(np.int64)
    ends = np.cumsum(sizes)
    tops = np.zeros(len(sets), dtype=np.int64)
    tops[sizes > 0] = high[ends[sizes > 0] - 1]
    lengths = np.where(sizes > 0, (tops + sizes + 7) // 8, 0)
    stops = np.cumsum(lengths)
    starts = stops - lengths
    bits = np.zeros(int(stops[-1]) * 8, dtype=np.uint8)
    index = np.arange(high.size) - np.repeat(ends - sizes, sizes)
    bits[8 * starts[set_of] + high + index] = 1
    packed = np.packbits(bits, bitorder="little").tobytes()
    return [packed[a:b] for a, b in zip(starts.tolist(), stops.tolist(), strict=True)]


def fit_encoded(b: bytes) -> bytes:
    """A set of either format as :func:`encode_fitted` stores it (a fitted one as it is)."""
    if b[:1] == bytes([_FITTED]):
        return b
    return encode_fitted(decode_set(b))


def decode_stored(b: bytes) -> tuple[U32, int]:
    """A set of either format: its sorted values (repeats possible) and their width in
    bits (32 for :func:`encode_set`'s format, whose values are the whole hashes)."""
    if b[:1] != bytes([_FITTED]):
        return decode_set(b), 32
    _, width = _FITTED_HEADER.unpack_from(b)
    n, offset = _read_varint(b, _FITTED_HEADER.size)
    if not n:
        return np.empty(0, dtype=np.uint32), width
    data = np.frombuffer(b, dtype=np.uint8, offset=offset)
    return _elias_fano_values(data, n, _low_bits(n, width)), width


def _varint(n: int) -> bytes:
    """``n`` in LEB128: 7 bits a byte, low first (two bytes below 16,384)."""
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _read_varint(b: bytes, offset: int) -> tuple[int, int]:
    """The inverse of :func:`_varint`: the number and the offset after it."""
    n, shift = 0, 0
    while True:
        byte = b[offset]
        offset += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return n, offset


def _counted(values: U32) -> U64:
    """Sorted values (repeats allowed) as unique ``value << 32 | occurrence`` keys: the
    multiset as a set, so that :func:`jaccard` counts ``min`` of the repeats as shared."""
    n = values.size
    keys: U64 = values.astype(np.uint64) << _S32_64
    if n < 2:
        return keys
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(values[1:], values[:-1], out=first[1:])
    if first.all():
        return keys
    position = np.arange(n)
    start = np.maximum.accumulate(np.where(first, position, 0))
    keys |= (position - start).astype(np.uint64)
    return keys


def jaccard_at(
    a: npt.NDArray[np.uint32], a_width: int, b: npt.NDArray[np.uint32], b_width: int
) -> float:
    """The Jaccard similarity of two shingle sets kept at ``a_width`` and ``b_width`` bits
    (32: whole hashes, as from :func:`shingles`; less: as :func:`decode_stored` reads a
    fitted set), at the coarser of the two widths.

    Both are cut to that width ``w`` and compared as multisets (a value ``k`` times in one
    and ``m`` times in the other is ``min(k, m)`` shared). A shingle in both stays shared,
    and two shingles of one set that agree on the kept bits still count twice, so the only
    error left is a chance agreement of a shingle only in ``A`` with one only in ``B``
    (probability ``2**-w`` a pair): ``c`` of them add ``c`` to the intersection and take
    ``c`` from the union. So the result is never below the exact similarity and exceeds
    it by at most ``2c / (|A u B| - c)``, with ``E[c] <= |A - B| |B - A| / 2**w``; the
    coarser set has ``n`` shingles and ``2**w >= n 2**FIT_BITS``, so for a pair near the
    0.8 threshold (``|A - B|`` and ``|B - A|`` about ``0.11 n``) ``E[c]`` is about
    ``0.012 n / 2**FIT_BITS``: 0.002 for 300 shingles. Two 32-bit sets give exactly
    :func:`jaccard`.
    """
    width = min(a_width, b_width)
    if width == 32:
        return jaccard(a, b)
    x = a >> np.uint32(a_width - width) if a_width > width else a
    y = b >> np.uint32(b_width - width) if b_width > width else b
    return jaccard(_counted(x), _counted(y))
