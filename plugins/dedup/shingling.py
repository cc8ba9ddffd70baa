"""Hashes of a text: its exact-copy key and its set of shingles.

What the ``dedup`` stage computes *from a text* before anything else (the MinHash, band
and set arithmetic of :mod:`~docstage_plugins.dedup.minhash` works on what this gives):

* :func:`exact_key` / :func:`exact_keys`: a 16-byte digest of the normalised text (exact
  copies), one text or a batch;
* :func:`shingles` / :func:`shingle_batch`: the sorted set of 32-bit hashes of a text's
  word n-grams (tokens are lower-cased ``\\w+`` runs), computed with numpy over whole
  batches of texts, since tokenising and shingling is the cost.

Every hash here is pure integer arithmetic on fixed constants (no ``hash()``, no
per-process salt): the values are the same in every process, run and platform, because
they are stored in the state store and compared with the values a later run computes.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

import attrs
import numpy as np
import numpy.typing as npt

from docstage_plugins.dedup import pieces

U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

#: Tokens are runs of word characters, lower-cased (``TOKEN.findall(text.lower())``).
TOKEN = re.compile(r"\w+")

# Odd 64-bit constants: the character base of the token hash, the shingle base, the
# murmur3 finaliser's multipliers. Changing any of them changes every stored value.
_CHAR_BASE = np.uint64(0x9E3779B97F4A7C15)
_SHINGLE_BASE = np.uint64(0x2545F4914F6CDD1D)
_FMIX1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_S32, _S33 = np.uint64(32), np.uint64(33)
# Texts are tokenised together in chunks of about this many characters: big enough to
# amortise numpy's per-call cost, small enough for the temporaries to stay in cache.
_CHUNK_CHARS = 1 << 16
# A long text's set is merged as it grows once this many values wait.
_GROUP = 1 << 20
# Bytes of texts whose exact keys are normalised together at most.
_EXACT_BYTES = 1 << 22
# Characters whose token hashes are computed in one go at most (a text's piece, as
# ``pieces`` cuts it, is about as long): the powers of the base kept are as many.
_SPAN = 1 << 18


def fmix64(x: U64) -> U64:
    """Murmur3's 64-bit finaliser, in place (every output bit depends on every input bit)."""
    x ^= x >> _S33
    x *= _FMIX1
    x ^= x >> _S33
    x *= _FMIX2
    x ^= x >> _S33
    return x


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
    rows: list[int] = []
    parts: list[bytes] = []
    held = 0
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
        held += len(parts[-1])
        if held >= _EXACT_BYTES:  # (a batch of long texts: a few MiB at a time)
            _hash_normalised(rows, parts, out)
            rows, parts, held = [], [], 0
    if rows:
        _hash_normalised(rows, parts, out)
    return out


def _hash_normalised(rows: list[int], parts: list[bytes], out: list[bytes]) -> None:
    """Set ``out[rows[i]]`` to the key of ``parts[i]`` (NFKC and case-folded UTF-8)."""
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
    token. The powers of ``B`` it needs are as many as the characters: a longer text is
    taken in spans of about :data:`_SPAN` characters, each cut where no token runs across.
    """
    if codes.size > _SPAN:
        return _token_hashes_in_spans(codes, words)
    return _span_token_hashes(codes, words)


def _span_token_hashes(
    codes: npt.NDArray[np.uint8] | U32, words: npt.NDArray[np.bool_]
) -> tuple[U64, I64]:
    """:func:`_token_hashes` of one span, whatever its length."""
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
    return fmix64(hashes), starts


def _token_hashes_in_spans(
    codes: npt.NDArray[np.uint8] | U32, words: npt.NDArray[np.bool_]
) -> tuple[U64, I64]:
    """:func:`_token_hashes` of a long text, span by span (a token longer than a span is
    one span), so that the powers it keeps stay about :data:`_SPAN` of each."""
    hashes, starts = [], []
    low = 0
    while low < codes.size:
        high = _next_gap(words, low + _SPAN)
        found, where = _span_token_hashes(codes[low:high], words[low:high])
        hashes.append(found)
        starts.append(where + low)
        low = high
    return np.concatenate(hashes), np.concatenate(starts)


def _next_gap(words: npt.NDArray[np.bool_], at: int) -> int:
    """The first character from ``at`` that is not a word character (or the end)."""
    while at < words.size:
        block = words[at : at + _CHUNK_CHARS]
        first = int(np.argmin(block))
        if not block[first]:
            return at + first
        at += block.size
    return int(words.size)


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
            found.add((fmix64(combined) >> _S32).astype(np.uint32))
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
    folded = fmix64(combined[inside]) >> _S32
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
