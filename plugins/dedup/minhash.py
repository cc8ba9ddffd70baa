"""The arithmetic of exact and near copies: shingles, MinHash, LSH bands, exact keys.

This module owns everything the ``dedup`` stage computes *from a text* to decide that two
texts are copies, and nothing about documents, sources or the state store:

* :func:`exact_key`: a 16-byte digest of the normalised text (exact copies);
* :func:`shingles` / :func:`shingle_batch`: the sorted set of 32-bit hashes of a text's
  word n-grams (tokens are lower-cased ``\\w+`` runs), computed with numpy over whole
  batches of texts, since tokenising and shingling is the cost;
* :class:`MinHasher`, :func:`choose_bands`, :func:`band_keys`, :class:`LshIndex`:
  MinHash signatures and the banded index that proposes candidate pairs;
* :func:`jaccard`: the exact similarity every candidate is verified with, so no false
  positive survives; :func:`encode_set` / :func:`decode_set` keep a shingle set
  compactly and losslessly (within a run); :func:`encode_fitted` keeps it in about half
  the bytes for tomorrow's verification, each hash cut to a width fitted to the set's
  size, and :func:`jaccard_at` compares sets of any widths;
* :func:`near_pairs`: the whole in-memory flow.

Every hash here is pure integer arithmetic on fixed constants (no ``hash()``, no
per-process salt, explicit little-endian byte orders): the values are the same in every
process, run and platform, because they are stored in the state store and compared with
the values a later run computes.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
import unicodedata
from collections.abc import Iterator, Sequence

import attrs
import numpy as np
import numpy.typing as npt

from docstage_plugins.dedup import pieces

U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

#: Tokens are runs of word characters, lower-cased (``TOKEN.findall(text.lower())``).
TOKEN = re.compile(r"\w+")

_MASK64 = (1 << 64) - 1
_EMPTY = 0xFFFFFFFF  # a signature slot of an empty set
# Odd 64-bit constants: the character base of the token hash, the shingle base, the
# murmur3 finaliser's multipliers. Changing any of them changes every stored value.
_CHAR_BASE = np.uint64(0x9E3779B97F4A7C15)
_SHINGLE_BASE = np.uint64(0x2545F4914F6CDD1D)
_FMIX1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_S29, _S32, _S33 = np.uint64(29), np.uint64(32), np.uint64(33)
# Texts are tokenised together in chunks of about this many characters: big enough to
# amortise numpy's per-call cost, small enough for the temporaries to stay in cache.
_CHUNK_CHARS = 1 << 16
# MinHash runs over windows of this many shingles, this many permutations at a time, on
# groups of sets of about this many shingles (a bigger set alone, not copied).
_WINDOW = 1 << 14
_PERM_BLOCK = 8
_GROUP = 1 << 20
# Sets are coded, decoded and compared this many values at a time (a multiple of 8, so
# that each block's bits fill whole bytes): a big set's temporaries stay a few MiB.
_BLOCK = 1 << 16


def _fmix64(x: U64) -> U64:
    """Murmur3's 64-bit finaliser, in place (every output bit depends on every input bit)."""
    x ^= x >> _S33
    x *= _FMIX1
    x ^= x >> _S33
    x *= _FMIX2
    x ^= x >> _S33
    return x


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


# --- exact copies --------------------------------------------------------------------------


def normalise(text: str) -> str:
    """The text exact copies are compared by: NFKC, case-folded, whitespace runs collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def exact_key(text: str) -> bytes:
    """A 16-byte BLAKE2b digest of :func:`normalise` (text): equal for exact copies.

    Two texts that differ only in case, Unicode compatibility forms or whitespace get the
    same key. A long text is normalised and hashed piece by piece
    (:mod:`~docstage_plugins.dedup.pieces`): the same key, without its copies.
    """
    digest = hashlib.blake2b(digest_size=16)
    words = False
    for piece in pieces.pieces(text):
        # A piece starts at whitespace: its first word is never the last one's end.
        normal = normalise(piece)
        if normal:
            digest.update(b" " if words else b"")
            digest.update(normal.encode("utf-8", "surrogatepass"))
            words = True
    return digest.digest()


#: ASCII whitespace (``str.split``'s, ``\x1c``-``\x1f`` included) as a space.
_ASCII_SPACES = bytes.maketrans(b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f", b" " * 9)
#: Whitespace beyond ASCII (``\s`` and ``str.split`` agree on what is whitespace).
_WIDE_SPACE = re.compile(r"[^\S\x00-\x7f]")


def exact_keys(texts: Sequence[str]) -> list[bytes]:
    """:func:`exact_key` of many texts: the same keys, several times faster.

    The texts of a batch are normalised together as UTF-8 bytes once NFKC and case
    folding are done (an ASCII text is its own NFKC form, and folds as ``bytes.lower``):
    ASCII whitespace turned into spaces, runs of spaces cut to one with a few numpy passes
    (no list of words), and each text's part hashed. A long text, or one with whitespace
    beyond ASCII left after NFKC, goes through :func:`exact_key`.
    """
    out: list[bytes] = [b""] * len(texts)
    rows, parts = [], []
    for row, text in enumerate(texts):
        if pieces.is_long(text):
            out[row] = exact_key(text)
            continue
        if text.isascii():
            parts.append(text.encode("ascii"))
        else:
            normal = unicodedata.normalize("NFKC", text).casefold()
            if _WIDE_SPACE.search(normal):
                out[row] = exact_key(text)
                continue
            parts.append(normal.encode("utf-8", "surrogatepass"))
        rows.append(row)
    if not rows:
        return out
    # "\0" between two texts: a run of spaces never spans both.
    data = np.frombuffer(b"\0".join(parts).translate(_ASCII_SPACES).lower(), dtype=np.uint8)
    space = data == 32
    repeat = np.flatnonzero(space[1:] & space[:-1]) + 1  # a space after a space goes
    keep = np.ones(data.size, dtype=bool)
    keep[repeat] = False
    squeezed = data[keep].tobytes()
    ends = np.cumsum([len(part) + 1 for part in parts]) - 1
    starts = ends - [len(part) for part in parts]
    # Where each text is once the repeats before it have gone.
    starts = (starts - np.searchsorted(repeat, starts)).tolist()
    ends = (ends - np.searchsorted(repeat, ends)).tolist()
    for row, start, end in zip(rows, starts, ends, strict=True):
        words = squeezed[start:end].strip(b" ")
        out[row] = hashlib.blake2b(words, digest_size=16).digest()
    return out


# --- shingles ------------------------------------------------------------------------------

#: ``bytes.translate`` table: 1 for the code points 0-255 that are word characters, else 0.
_LATIN_WORDS = bytes(TOKEN.fullmatch(chr(c)) is not None for c in range(256))
#: The inverse of the character base modulo 2**64 (the base is odd).
_CHAR_INVERSE = np.uint64(pow(int(_CHAR_BASE), -1, 1 << 64))


class _Tables:
    """Lazily built lookup tables: which code points are word characters, powers of the
    base and of its inverse."""

    def __init__(self) -> None:
        # 0 or 1 for the code points asked about, 2 for those never seen yet: a code point
        # is asked of the regex once, when a text first has it (building all 1.1 million
        # at once costs 0.2 s, more than most runs' texts need).
        self._wide: npt.NDArray[np.uint8] | None = None
        self.powers: U64 = self._powers(_CHAR_BASE, 64)
        self.inverse: U64 = self._powers(_CHAR_INVERSE, 64)

    def wide_words(self, codes: U32) -> npt.NDArray[np.bool_]:
        """Word-character flags of any code points: exactly ``\\w`` as ``re`` sees it."""
        if self._wide is None:
            self._wide = np.full(0x110000, 2, dtype=np.uint8)
            self._wide[:256] = np.frombuffer(_LATIN_WORDS, dtype=np.uint8)
        known = self._wide
        flags = known[codes]
        new = flags == 2
        if new.any():
            for code in np.unique(codes[new]).tolist():
                known[code] = TOKEN.fullmatch(chr(code)) is not None
            flags = known[codes]
        return flags.view(bool)

    @staticmethod
    def _powers(base: np.uint64, count: int) -> U64:
        powers = np.full(count, base, dtype=np.uint64)
        powers[0] = 1
        return np.cumprod(powers, dtype=np.uint64)

    def power(self, count: int) -> tuple[U64, U64]:
        """Powers of the character base and of its inverse, at least ``count`` of each."""
        if count > self.powers.size:
            size = max(count, 2 * self.powers.size)
            self.powers = self._powers(_CHAR_BASE, size)
            self.inverse = self._powers(_CHAR_INVERSE, size)
        return self.powers, self.inverse


_TABLES = _Tables()


def _code_points(text: str) -> tuple[npt.NDArray[np.uint8] | U32, npt.NDArray[np.bool_]]:
    """The text's code points as an array, and which of them are word characters."""
    try:
        data = text.encode("latin-1")
    except UnicodeEncodeError:
        return _wide_code_points(text)
    return _latin_code_points(data)


def _latin_code_points(data: bytes) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    words = np.frombuffer(data.translate(_LATIN_WORDS), dtype=bool)
    return np.frombuffer(data, dtype=np.uint8), words


def _wide_code_points(text: str) -> tuple[U32, npt.NDArray[np.bool_]]:
    data = text.encode("utf-32-le", "surrogatepass")
    codes = np.frombuffer(data, dtype="<u4").astype(np.uint32, copy=False)
    return codes, _TABLES.wide_words(codes)


def _token_hashes(
    codes: npt.NDArray[np.uint8] | U32, words: npt.NDArray[np.bool_]
) -> tuple[U64, I64]:
    """Hashes of the ``\\w+`` tokens of a text's code points (``words`` flags the word
    characters) and their start offsets.

    A token's hash is the murmur3 finaliser of ``sum(c_k * B**k) mod 2**64`` over its code
    points ``c_k``: a function of the token alone, wherever and however often it occurs.
    It is computed from the running sum ``S_j = sum(c_i * B**i)`` over the text, other
    characters counting 0: a token of characters ``f..l`` is ``(S_l - S_(f-1)) * B**-f``
    (``B`` is odd, so invertible modulo 2**64), a few passes over the text and none per
    token.
    """
    edges = np.diff(words.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    if not starts.size:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    ends = np.flatnonzero(edges == -1)
    powers, inverse = _TABLES.power(codes.size)
    sums = (codes * words).astype(np.uint64)  # (cheaper than codes[words], which copies)
    sums *= powers[: sums.size]
    np.cumsum(sums, out=sums)
    hashes = sums[ends - 1]
    before = sums[starts - 1]
    if starts[0] == 0:  # (the text starts with a token: nothing before it)
        before[0] = 0
    hashes -= before
    hashes *= inverse[starts]
    return _fmix64(hashes), starts


def _shingle_long(text: str, size: int) -> U32:
    """:func:`shingles` of a long text, piece by piece: each piece's tokens, after the
    last ``size - 1`` of the one before, and the set merged as it grows."""
    found = _Union()
    tail = np.empty(0, dtype=np.uint64)
    for piece in pieces.pieces(text):
        # A cut is whitespace: no token runs across it, and lower() is that of the whole.
        hashes = np.concatenate((tail, _token_hashes(*_code_points(piece.lower()))[0]))
        count = hashes.size - size + 1
        if count > 0:
            combined = hashes[:count].copy()
            for k in range(1, size):
                combined *= _SHINGLE_BASE
                combined += hashes[k : k + count]
            found.add((_fmix64(combined) >> _S32).astype(np.uint32))
        tail = hashes[max(0, hashes.size - (size - 1)) :].copy()
    return found.result()


class _Union:
    """A sorted set of ``uint32`` values gathered in parts, merged as it grows (each merge
    at least doubles what waits, so merging costs ``O(n log n)`` in all)."""

    def __init__(self) -> None:
        self._merged: U32 = np.empty(0, dtype=np.uint32)
        self._parts: list[U32] = []
        self._waiting = 0

    def add(self, values: U32) -> None:
        self._parts.append(_sorted_unique(values))
        self._waiting += values.size
        if self._waiting >= max(self._merged.size, _GROUP):
            self._merge()

    def _merge(self) -> None:
        if self._parts:
            self._merged = _sorted_unique(np.concatenate([self._merged, *self._parts]))
            self._parts, self._waiting = [], 0

    def result(self) -> U32:
        self._merge()
        return self._merged


def _sorted_unique(values: U32) -> U32:
    """``values`` (an array of its own, sorted in place) without repeats."""
    values.sort()
    if values.size < 2:
        return values
    keep = np.empty(values.size, dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values if keep.all() else values[keep]


def _shingle_chunk(
    lowered: Sequence[str], size: int, encoded: Sequence[bytes] | None = None
) -> list[U32]:
    """The sets of (lower-cased) texts, tokenised together: of ``encoded``, their Latin-1
    bytes, when every one has them; otherwise of their code points."""
    codes: npt.NDArray[np.uint8] | U32
    if encoded is not None:
        # "\0" is not a word character: no token runs across two texts.
        codes, words = _latin_code_points(b"\0".join(encoded))
    else:
        codes, words = _wide_code_points("\0".join(lowered))
    hashes, offsets = _token_hashes(codes, words)
    empty = np.empty(0, dtype=np.uint32)
    count = hashes.size - size + 1
    if count <= 0:
        return [empty] * len(lowered)
    bounds = np.cumsum([len(t) + 1 for t in lowered], dtype=np.int64)
    owner = np.searchsorted(bounds, offsets, side="right")
    # Horner's rule over each window of ``size`` consecutive token hashes.
    combined = hashes[:count].copy()
    for k in range(1, size):
        combined *= _SHINGLE_BASE
        combined += hashes[k : k + count]
    inside = owner[:count] == owner[size - 1 : size - 1 + count]
    folded = _fmix64(combined[inside]) >> _S32
    # One sort for the whole chunk: owner in the high half, hash in the low half.
    keys = (owner[:count][inside].astype(np.uint64) << _S32) | folded
    keys.sort()
    if keys.size:
        keep = np.empty(keys.size, dtype=bool)
        keep[0] = True
        np.not_equal(keys[1:], keys[:-1], out=keep[1:])
        keys = keys[keep]
    values = keys.astype(np.uint32)  # the low half
    cuts = np.searchsorted(keys >> _S32, np.arange(len(lowered) + 1, dtype=np.uint64)).tolist()
    return [values[cuts[i] : cuts[i + 1]] for i in range(len(lowered))]


@attrs.define
class _Pending:
    """Texts of one kind waiting to be shingled together: their places in the batch, the
    texts (lower-cased) and, for Latin-1 ones, their bytes."""

    latin: bool
    rows: list[int] = attrs.Factory(list)
    lowered: list[str] = attrs.Factory(list)
    encoded: list[bytes] = attrs.Factory(list)
    chars: int = 0

    def add(self, row: int, lowered: str, encoded: bytes | None) -> None:
        self.rows.append(row)
        self.lowered.append(lowered)
        if encoded is not None:
            self.encoded.append(encoded)
        self.chars += len(lowered) + 1

    def flush(self, out: list[U32], size: int) -> None:
        if self.rows:
            found = _shingle_chunk(self.lowered, size, self.encoded if self.latin else None)
            for row, values in zip(self.rows, found, strict=True):
                out[row] = values
        self.rows, self.lowered, self.encoded, self.chars = [], [], [], 0


def shingle_batch(texts: Sequence[str], size: int = 5) -> list[U32]:
    """:func:`shingles` of many texts at once: the same values, several times faster.

    Texts whose code points are all below 256 are tokenised together as bytes, the others
    together as 32-bit code points (a chunk of mixed texts would be all 32-bit).

    Args:
        texts: The texts.
        size: Tokens per shingle (at least 1).

    Returns:
        One sorted array of unique ``uint32`` shingle hashes per text, in order.
    """
    if size < 1:
        raise ValueError(f"shingle size must be at least 1, not {size}")
    out: list[U32] = [np.empty(0, dtype=np.uint32)] * len(texts)
    latin, wide = _Pending(latin=True), _Pending(latin=False)
    for row, text in enumerate(texts):
        if pieces.is_long(text):  # alone, piece by piece
            out[row] = _shingle_long(text, size)
            continue
        lowered = text.lower()
        try:
            encoded: bytes | None = lowered.encode("latin-1")
        except UnicodeEncodeError:
            encoded = None
        pending = latin if encoded is not None else wide
        pending.add(row, lowered, encoded)
        if pending.chars >= _CHUNK_CHARS:
            pending.flush(out, size)
    latin.flush(out, size)
    wide.flush(out, size)
    return out


def shingles(text: str, size: int = 5) -> U32:
    """The set of word ``size``-grams of ``text``, as sorted unique 32-bit hashes.

    Tokens are the ``\\w+`` runs of ``text.lower()``. A shingle's hash depends only on its
    tokens in order; it is stable across processes, runs, platforms and
    ``PYTHONHASHSEED``. Distinct shingles collide with probability about 2**-32 per pair,
    which only ever makes two texts look slightly more alike.

    Args:
        text: The text.
        size: Tokens per shingle (at least 1).

    Returns:
        The hashes (``uint32``, sorted, unique); empty when the text has fewer than
        ``size`` tokens. For many texts, :func:`shingle_batch` is faster.
    """
    return shingle_batch([text], size)[0]


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
        keys = _fmix64(keys)
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
    all their values instead of a dozen calls per set."""
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


# --- the banded index ----------------------------------------------------------------------


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
