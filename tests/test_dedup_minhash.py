"""``docstage_plugins.dedup.minhash``: the promises the ``dedup`` stage and its state store rely on.

Shingles, keys and signatures are stored and compared with the values a later run (another
process, another ``PYTHONHASHSEED``) computes, so they must be the same everywhere; MinHash
must estimate Jaccard similarity; the bands must catch pairs at the threshold; verification
must never let a pair below the threshold through; stored shingle sets must come back
intact, and fitted ones (the index's) must compare as the whole ones do but for the
documented chance agreement of two distinct shingles.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docstage_plugins.dedup import pieces
from docstage_plugins.dedup.lsh import LshIndex, near_pairs
from docstage_plugins.dedup.minhash import (
    FIT_BITS,
    MinHasher,
    band_keys,
    candidate_probability,
    choose_bands,
    decode_set,
    decode_stored,
    encode_fitted,
    encode_fitted_many,
    encode_set,
    exact_key,
    exact_keys,
    fit_encoded,
    fitted_width,
    jaccard,
    jaccard_at,
    shingle_batch,
    shingles,
)

minhash_token = re.compile(r"\w+")
ROOT = Path(__file__).resolve().parents[1]
MINHASH_FILE = ROOT / "plugins" / "dedup" / "minhash.py"
FOX = "The quick brown fox jumps over the lazy dog"
UNICODE = "Ünïcödé ΑΒΓ δέλτα Ωmega 東京 straße İstanbul naïve café"
# The canonical near-copy (the seed articles): the same quote in two wordings.
ENCOUNTER = "We encounter this every year"
COME_ACROSS = "We come across this every year"
VOCABULARY = [f"w{i}" for i in range(400)]


def as_set(values: list[int]) -> np.ndarray:
    return np.array(sorted(set(values)), dtype=np.uint32)


def words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(VOCABULARY) for _ in range(n)]


def edited(rng: random.Random, tokens: list[str], edits: int) -> list[str]:
    """``tokens`` with ``edits`` random positions replaced by random words."""
    out = list(tokens)
    for _ in range(edits):
        out[rng.randrange(len(out))] = rng.choice(VOCABULARY)
    return out


def brute_force(sets: list[np.ndarray], threshold: float) -> set[tuple[int, int]]:
    return {
        (i, j)
        for i in range(len(sets))
        for j in range(i + 1, len(sets))
        if sets[i].size and sets[j].size and jaccard(sets[i], sets[j]) >= threshold
    }


# --- shingles ----------------------------------------------------------------------------


def test_shingles_are_sorted_unique_uint32_and_the_same_on_every_call() -> None:
    first = shingles(FOX)
    assert first.dtype == np.uint32
    assert first.size == 5  # 9 tokens, 5 five-grams, all distinct
    assert np.all(np.diff(first.astype(np.int64)) > 0)
    assert np.array_equal(first, shingles(FOX))
    assert np.array_equal(first, shingles(FOX + " " + FOX[:0]))


def test_shingle_values_are_pinned() -> None:
    """Stored shingle sets are compared with a later run's: changing a hash constant breaks
    every state store, so the values themselves are part of the contract."""
    assert shingles(FOX).tolist() == [741352963, 1448050824, 2616601020, 3183480880, 3727304742]
    assert exact_key("Hello, World").hex() == "30e1e8aebab5b386e37fd06fc6e0088a"
    assert MinHasher(permutations=8, seed=1).signature(shingles(FOX)).tolist() == [
        952192031,
        1647045012,
        329954590,
        171136223,
        124519956,
        446900664,
        919973823,
        142243444,
    ]
    stored = "01050000001d0326300c11f0c9f2a6d86f1808e06e82a2e2014a05"
    assert encode_set(shingles(FOX)).hex() == stored
    # the index's sets: 5 hashes cut to their top 14 bits
    assert encode_fitted(shingles(FOX)).hex() == "020e050c9b6cbfe1ae784a05"


def test_shingles_keys_and_signatures_are_the_same_in_another_process() -> None:
    # The child loads the module file by its path: the package would import the whole
    # dedup stage (scikit-learn among it), a second of start-up this test does not need.
    program = (
        "import importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('minhash', sys.argv[2])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "MinHasher, exact_key, shingles = module.MinHasher, module.exact_key, module.shingles\n"
        "texts = json.loads(sys.argv[1])\n"
        "print(json.dumps({\n"
        "    'hash': hash('docstage'),\n"
        "    'shingles': [shingles(t).tolist() for t in texts],\n"
        "    'keys': [exact_key(t).hex() for t in texts],\n"
        "    'signature': MinHasher(32, 7).signature(shingles(texts[0])).tolist(),\n"
        "}))\n"
    )
    texts = [FOX, UNICODE, "x" * 100 + " y z w v u"]
    seed = "54321" if os.environ.get("PYTHONHASHSEED") == "12345" else "12345"
    done = subprocess.run(
        [sys.executable, "-c", program, json.dumps(texts), str(MINHASH_FILE)],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    child = json.loads(done.stdout)
    assert child["hash"] != hash("docstage")  # the salt really differs
    assert child["shingles"] == [shingles(t).tolist() for t in texts]
    assert child["keys"] == [exact_key(t).hex() for t in texts]
    assert child["signature"] == MinHasher(32, 7).signature(shingles(FOX)).tolist()


def test_shingles_ignore_case_punctuation_and_spacing() -> None:
    plain = shingles("the quick brown fox jumps over the lazy dog")
    assert np.array_equal(shingles("THE Quick, brown fox -- jumps over... the lazy dog!"), plain)
    assert np.array_equal(shingles("the\nquick\t brown (fox) jumps over the 'lazy' dog"), plain)
    assert np.array_equal(shingles(UNICODE), shingles(UNICODE.lower()))
    # (Not UNICODE.upper(): "straße" becomes "STRASSE", another word.)
    greek = "Ünïcödé ΑΒΓ δέλτα Ωmega 東京 naïve café"
    assert np.array_equal(shingles(greek.upper()), shingles(greek))


def test_shingles_depend_on_words_and_their_order() -> None:
    plain = shingles("the quick brown fox jumps over the lazy dog")
    assert not np.array_equal(shingles("the quick brown fox leaps over the lazy dog"), plain)
    assert shingles("a b c d e").tolist() != shingles("e d c b a").tolist()
    assert shingles("one two three four five").size == 1
    # Tokens longer than the precomputed powers (64 characters), differing only at the end.
    long_a = "x" * 99 + "a"
    long_b = "x" * 99 + "b"
    assert shingles(f"{long_a} q r s t").tolist() != shingles(f"{long_b} q r s t").tolist()
    assert shingles(f"{'x' * 100} q r s t").tolist() != shingles(f"{'x' * 101} q r s t").tolist()


def test_texts_shorter_than_a_shingle_have_none() -> None:
    assert shingles("").size == 0
    assert shingles("   ... !!! --  ").size == 0
    assert shingles("one two three four").size == 0  # documented: fewer than size tokens
    assert shingles("one two three four five").size == 1
    assert shingles("one two", size=2).size == 1
    assert shingles("").dtype == np.uint32


def test_shingle_size_is_the_number_of_words() -> None:
    text = "a b c a b c"
    assert shingles(text, size=1).size == 3
    assert shingles(text, size=2).size == 3  # ab bc ca
    assert shingles(text, size=6).size == 1
    with pytest.raises(ValueError, match="shingle size must be at least 1, not 0"):
        shingles(text, size=0)


def test_a_batch_gives_each_text_its_own_shingles() -> None:
    rng = random.Random(3)
    texts = [" ".join(words(rng, rng.randrange(0, 300))) for _ in range(400)]
    texts += ["a b", "c d e f g", "", UNICODE, "x" * 70_000 + " y z w v"]
    assert sum(map(len, texts)) > 3 * 65_536  # several chunks
    batch = shingle_batch(texts)
    assert len(batch) == len(texts)
    for text, got in zip(texts, batch, strict=True):
        assert np.array_equal(got, shingles(text)), text[:40]
    # No shingle runs from one text into the next.
    assert [s.size for s in shingle_batch(["a b", "c d e"])] == [0, 0]
    assert [s.size for s in shingle_batch(["a b c", "d e f g"], size=4)] == [0, 1]


_M64 = (1 << 64) - 1


def _fmix(x: int) -> int:
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & _M64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & _M64
    return x ^ (x >> 33)


def reference_shingles(text: str, size: int = 5) -> list[int]:
    """The documented shingle hashes, in plain Python: each ``\\w+`` token of the
    lower-cased text is ``fmix(sum(c_k * B**k))``, a shingle the top half of ``fmix`` of
    its tokens by Horner's rule."""
    char_base, shingle_base = 0x9E3779B97F4A7C15, 0x2545F4914F6CDD1D
    tokens = []
    for token in minhash_token.findall(text.lower()):
        total = sum(ord(c) * pow(char_base, k, 1 << 64) for k, c in enumerate(token))
        tokens.append(_fmix(total & _M64))
    found = set()
    for start in range(len(tokens) - size + 1):
        combined = 0
        for value in tokens[start : start + size]:
            combined = (combined * shingle_base + value) & _M64
        found.add(_fmix(combined) >> 32)
    return sorted(found)


def test_a_batch_of_latin_1_and_wider_texts_gives_the_documented_values() -> None:
    """Latin-1 texts and wider ones are tokenised in separate chunks: each text still
    gets its own set, in order, as the plain definition computes it."""
    rng = random.Random(8)
    wide = ["δέλτα", "東京", "İstanbul", "Ωmega", "naïve", "straße", "\U0001d400x", "a\u0301b"]
    texts = []
    for n in range(120):
        chosen = words(rng, rng.randrange(0, 40))
        if n % 3 == 0:
            chosen += [rng.choice(wide) for _ in range(rng.randrange(1, 4))]
            rng.shuffle(chosen)
        texts.append(" ".join(chosen) + rng.choice(["", "!", " ", "\x00", "ÿ"]))
    texts += ["", "ÿÿÿ é é é é", "\ud800 a b c d e", "x" * 200 + " y z w v"]
    batch = shingle_batch(texts)
    assert [s.tolist() for s in batch] == [reference_shingles(t) for t in texts]


def test_token_hashes_of_a_text_in_spans_are_the_documented_values(monkeypatch) -> None:
    """A text longer than a span is hashed span by span, cut between tokens: a text with
    punctuation and no whitespace (one piece), and a token longer than a span."""
    monkeypatch.setattr("docstage_plugins.dedup.shingling._SPAN", 16)
    monkeypatch.setattr("docstage_plugins.dedup.shingling._CHUNK_CHARS", 8)
    rng = random.Random(6)
    texts = [",".join(words(rng, 120)), "-".join(words(rng, 30)) + "," + "x" * 50 + ",a,b,c,d"]
    texts.append("é,".join(words(rng, 40)) + "δ")
    assert [s.tolist() for s in shingle_batch(texts)] == [reference_shingles(t) for t in texts]


def test_shingles_of_a_long_text_in_pieces_are_the_documented_values(monkeypatch) -> None:
    monkeypatch.setattr(pieces, "PIECE", 64)
    rng = random.Random(4)
    text = " ".join(words(rng, 200)) + " Σίσυφος " + " ".join(words(rng, 50))
    assert pieces.is_long(text)
    batch = shingle_batch(["a b c d e f", text, "φ χ ψ ω α β"])
    assert [s.tolist() for s in batch] == [
        reference_shingles(t) for t in ["a b c d e f", text, "φ χ ψ ω α β"]
    ]


# --- exact keys ----------------------------------------------------------------------------


def test_exact_key_ignores_whitespace_case_and_compatibility_forms() -> None:
    key = exact_key("Hello World, file 12")
    assert len(key) == 16
    assert exact_key("  hello\n\tWORLD,   file 12\n") == key
    assert exact_key("Ｈｅｌｌｏ World, \ufb01le １２") == key  # fullwidth, the fi ligature
    assert exact_key("Hello\u00a0World, file 12") == key  # no-break space
    assert exact_key("HELLO WORLD, FILE 12") == key


def test_exact_key_tells_different_words_apart() -> None:
    assert exact_key("Hello World") != exact_key("Hello Word")
    assert exact_key("Hello World") != exact_key("World Hello")
    assert exact_key("Hello World") != exact_key("HelloWorld")
    assert exact_key("") != exact_key("a")


@pytest.mark.parametrize("seed", range(4))
def test_exact_keys_of_a_batch_are_those_of_each_text(seed: int, monkeypatch) -> None:
    """ASCII and other texts are normalised together: every kind of whitespace
    ``str.split`` knows (beyond ASCII too), NUL, case folding and compatibility forms."""
    rng = random.Random(seed)
    spaces = [" ", "  ", "\t", "\n\n", "\x0b", "\x0c", "\r", "\x1c", "\x1f", "\xa0", "\x85"]
    others = ["\x00", "a", "B", "word", "\u2028", "\u3000", "é", "ß", "Ｈｉ", "\ufb01", "x y"]
    parts = spaces + others
    texts = ["".join(rng.choices(parts, k=rng.randrange(0, 14))) for _ in range(300)]
    texts += ["", " ", "Hello World", "  hello\n\tWORLD  "]
    assert exact_keys(texts) == [exact_key(t) for t in texts]
    assert exact_keys(texts[-2:]) == [exact_key("hello world")] * 2
    monkeypatch.setattr("docstage_plugins.dedup.shingling._EXACT_BYTES", 20)
    assert exact_keys(texts) == [exact_key(t) for t in texts]  # a few texts at a time
    monkeypatch.setattr(pieces, "PIECE", 8)  # long texts go one by one, in pieces
    assert exact_keys(texts) == [exact_key(t) for t in texts]


# --- signatures ----------------------------------------------------------------------------


def test_signatures_of_equal_sets_are_equal_and_an_empty_set_is_all_ones() -> None:
    a = shingles(FOX)
    sigs = MinHasher().signatures([a, a.copy(), np.empty(0, dtype=np.uint32), a[:3]])
    assert sigs.shape == (4, 128)
    assert sigs.dtype == np.uint32
    assert np.array_equal(sigs[0], sigs[1])
    assert np.all(sigs[2] == 0xFFFFFFFF)
    assert not np.array_equal(sigs[0], sigs[3])
    # A subset's minimum can only be larger.
    assert np.all(sigs[3] >= sigs[0])
    assert MinHasher().signatures([]).shape == (0, 128)


def test_signatures_depend_on_the_seed_only_through_the_seed() -> None:
    a = shingles(FOX)
    assert np.array_equal(MinHasher(64, 5).signature(a), MinHasher(64, 5).signature(a))
    assert not np.array_equal(MinHasher(64, 5).signature(a), MinHasher(64, 6).signature(a))
    with pytest.raises(ValueError, match="permutations must be at least 1"):
        MinHasher(permutations=0)


def test_a_batch_gives_each_set_its_own_signature() -> None:
    """Large sets span several internal windows; a batch must not mix them."""
    rng = np.random.default_rng(11)
    sets = [
        np.unique(rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32))
        for n in (3, 40_000, 0, 70_000, 1, 500)
    ]
    hasher = MinHasher(permutations=20, seed=3)
    batch = hasher.signatures(sets)
    for row, one in zip(batch, sets, strict=True):
        assert np.array_equal(row, hasher.signature(one))


@pytest.mark.parametrize("similarity", [0.1, 0.3, 0.5, 0.8, 0.95])
def test_signatures_estimate_jaccard_similarity(similarity: float) -> None:
    rng = np.random.default_rng(int(similarity * 100))
    values = np.unique(rng.integers(0, 2**32, size=3000, dtype=np.uint64).astype(np.uint32))
    rng.shuffle(values)
    # |A ∩ B| = k, |A ∪ B| = n: A = first n - d values, B = last n - d values.
    n = 1000
    shared = round(similarity * n)
    only = (n - shared) // 2
    a = np.sort(values[: shared + only])
    b = np.sort(values[only : only + shared + only])
    truth = jaccard(a, b)
    assert truth == pytest.approx(similarity, abs=0.01)
    for seed in (1, 2, 3):
        sig = MinHasher(permutations=128, seed=seed).signatures([a, b])
        estimate = float(np.mean(sig[0] == sig[1]))
        assert abs(estimate - truth) <= 0.1, (seed, estimate, truth)


# --- bands -----------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
@pytest.mark.parametrize("permutations", [64, 128, 256])
def test_bands_catch_pairs_at_the_threshold(threshold: float, permutations: int) -> None:
    bands, rows = choose_bands(threshold, permutations)
    assert bands * rows <= permutations
    assert candidate_probability(threshold, bands, rows) >= 0.995
    # Above the threshold it only gets better.
    assert candidate_probability(min(1.0, threshold + 0.05), bands, rows) >= 0.995


def test_bands_at_the_documented_point() -> None:
    assert choose_bands(0.8, 128) == (21, 6)
    assert candidate_probability(0.8, 21, 6) == pytest.approx(0.9983, abs=1e-4)
    assert candidate_probability(0.3, 21, 6) < 0.02
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\], not 0"):
        choose_bands(0.0, 128)
    with pytest.raises(ValueError, match="permutations must be at least 1, not 0"):
        choose_bands(0.8, 0)


def test_band_keys_are_63_bit_and_equal_only_for_equal_bands() -> None:
    rng = np.random.default_rng(5)
    sigs = rng.integers(0, 2**32, size=(50, 128), dtype=np.uint64).astype(np.uint32)
    sigs[1, :6] = sigs[0, :6]  # rows 0 and 1 share band 0 only
    keys = band_keys(sigs, 21, 6)
    assert keys.shape == (50, 21)
    assert keys.dtype == np.uint64
    assert int(keys.max()) < 2**63
    assert keys[0, 0] == keys[1, 0]
    assert np.all(keys[0, 1:] != keys[1, 1:])
    # Every value of a band counts: changing one changes that band's key and no other.
    for position in range(12):
        changed = sigs[:1].copy()
        changed[0, position] ^= 1
        differs = band_keys(changed, 21, 6)[0] != keys[0]
        assert np.flatnonzero(differs).tolist() == [position // 6]
    # Equal values in different bands do not give equal keys.
    same = np.tile(sigs[0, :6], 21)[None, :]
    assert len(set(band_keys(same, 21, 6)[0].tolist())) == 21
    with pytest.raises(ValueError, match="22 bands of 6 rows need signatures of at least 132"):
        band_keys(sigs, 22, 6)


# --- exact similarity and storage ------------------------------------------------------------


def test_jaccard_is_exact() -> None:
    assert jaccard(as_set([1, 2, 3]), as_set([2, 3, 4])) == 0.5
    assert jaccard(as_set([1, 2, 3]), as_set([1, 2, 3])) == 1.0
    assert jaccard(as_set([1, 2]), as_set([3, 4])) == 0.0
    assert jaccard(as_set([]), as_set([])) == 0.0
    assert jaccard(as_set([]), as_set([1])) == 0.0
    assert jaccard(as_set([5]), as_set([1, 2, 3, 4, 5])) == 0.2
    assert jaccard(as_set([0, 2**32 - 1]), as_set([2**32 - 1])) == 0.5


@settings(max_examples=60, deadline=None)
@given(
    st.sets(st.integers(0, 60), max_size=40),
    st.sets(st.integers(0, 60), max_size=40),
)
def test_jaccard_matches_python_sets(a: set[int], b: set[int]) -> None:
    expected = len(a & b) / len(a | b) if a | b else 0.0
    assert jaccard(as_set(list(a)), as_set(list(b))) == pytest.approx(expected)


UINT32 = st.integers(0, 2**32 - 1)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.sets(UINT32, max_size=300),
        st.sets(st.integers(2**32 - 2000, 2**32 - 1), max_size=300),  # large values
        st.sets(st.integers(0, 600), max_size=500),  # dense: low bits 23 and fewer
        st.just({0, 2**32 - 1}),
        st.just({2**32 - 1}),
        st.just(set()),
    )
)
def test_encoded_sets_come_back_intact(values: set[int]) -> None:
    a = as_set(list(values))
    data = encode_set(a)
    back = decode_set(data)
    assert back.dtype == np.uint32
    assert np.array_equal(back, a)
    assert encode_set(a.copy()) == data  # deterministic


def test_a_dense_range_comes_back_intact() -> None:
    a = np.arange(0, 200_000, 3, dtype=np.uint32)
    assert np.array_equal(decode_set(encode_set(a)), a)


@pytest.mark.parametrize("n", [50, 300, 1_000, 10_000])
def test_encoded_sets_are_smaller_than_four_bytes_a_value(n: int) -> None:
    rng = np.random.default_rng(n)
    a = np.unique(rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32))
    assert len(encode_set(a)) < 4 * a.size
    text = " ".join(words(random.Random(n), n + 4))
    real = shingles(text)
    assert len(encode_set(real)) < 4 * real.size


def test_an_unknown_format_is_refused() -> None:
    data = bytearray(encode_set(as_set([1, 2, 3])))
    data[0] = 9
    with pytest.raises(ValueError, match="unknown shingle set format 9"):
        decode_set(bytes(data))


# --- fitted sets (the index's) ----------------------------------------------------------------


def cut(a: np.ndarray, width: int) -> np.ndarray:
    return a >> np.uint32(32 - width) if width < 32 else a


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.sets(UINT32, max_size=2_000),
        st.sets(st.integers(2**32 - 2000, 2**32 - 1), max_size=300),
        st.sets(st.integers(0, 600), max_size=500),
        st.just({0, 2**32 - 1}),
        st.just({2**32 - 1}),
        st.just(set()),
    )
)
def test_fitted_sets_keep_the_top_bits_of_every_value(values: set[int]) -> None:
    a = as_set(list(values))
    data = encode_fitted(a)
    back, width = decode_stored(data)
    assert width == fitted_width(a.size) == min(32, max(a.size - 1, 0).bit_length() + FIT_BITS)
    assert back.dtype == np.uint32
    assert np.array_equal(back, cut(a, width))  # repeats kept: one value each
    assert encode_fitted(a.copy()) == data
    assert fit_encoded(encode_set(a)) == data
    assert fit_encoded(data) == data  # a fitted set stays as it is


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sets(UINT32, max_size=600),
            st.sets(st.integers(0, 300), max_size=200),
            st.just({0, 2**32 - 1}),
            st.just(set()),
        ),
        max_size=8,
    )
)
def test_fitted_sets_of_a_batch_are_those_of_each_set(values: list[set[int]]) -> None:
    sets = [as_set(list(v)) for v in values]
    assert encode_fitted_many(sets) == [encode_fitted(s) for s in sets]


def test_a_big_set_in_a_batch_is_fitted_alone_with_the_same_bytes(monkeypatch) -> None:
    rng = np.random.default_rng(2)
    sets = [
        np.unique(rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32))
        for n in (5, 90, 0, 40)
    ]
    whole = [encode_fitted(s) for s in sets]
    monkeypatch.setattr("docstage_plugins.dedup.minhash._BLOCK", 32)  # 90 and 40 are big
    assert encode_fitted_many(sets) == whole


def test_signatures_with_fewer_permutations_are_the_first_values() -> None:
    """The stage computes only the values its bands use."""
    sets = [shingles(FOX), shingles(UNICODE), np.empty(0, dtype=np.uint32)]
    assert np.array_equal(MinHasher(126).signatures(sets), MinHasher(128).signatures(sets)[:, :126])


def test_whole_sets_read_as_32_bit_sets() -> None:
    a = shingles(FOX)
    back, width = decode_stored(encode_set(a))
    assert width == 32
    assert np.array_equal(back, a)
    with pytest.raises(ValueError, match=r"fitted shingle set \(format 2\): decode_stored"):
        decode_set(encode_fitted(a))


@pytest.mark.parametrize("n", [30, 300, 3_000])
def test_fitted_sets_take_about_fit_bits_and_3_bits_a_value(n: int) -> None:
    real = shingles(" ".join(words(random.Random(n), n * 3)))[:n]
    assert real.size == n
    whole, fitted = len(encode_set(real)), len(encode_fitted(real))
    assert fitted <= 4 + n * (FIT_BITS + 3) / 8
    assert fitted < 0.7 * whole


def test_two_shingles_of_one_set_that_agree_on_the_kept_bits_still_count_twice() -> None:
    """A and B share one shingle and A has a second one with the same top bits: the exact
    similarity is 1/2, and so is the fitted one (a set of unique cut values would say 1)."""
    width = fitted_width(2)
    x = np.uint32(0xDEADBEEF)
    twin = x ^ np.uint32(1)  # the same top bits, another shingle
    a, b = as_set([int(x), int(twin)]), as_set([int(x)])
    assert cut(a, width)[0] == cut(a, width)[1]
    assert jaccard(a, b) == 0.5
    assert jaccard_at(*decode_stored(encode_fitted(a)), b, 32) == 0.5
    assert jaccard_at(a, 32, *decode_stored(encode_fitted(b))) == 0.5


def test_a_chance_agreement_of_two_distinct_shingles_only_raises_the_similarity() -> None:
    a, b = as_set([0x12345678, 7]), as_set([0x12345679, 7])
    assert jaccard(a, b) == pytest.approx(1 / 3)
    assert jaccard_at(a, 32, *decode_stored(encode_fitted(b))) == 1.0


def test_fitted_similarities_match_the_exact_ones_but_for_rare_chance_agreements() -> None:
    """Near copies of texts of 50 to 1,000 words: fitted against whole, and fitted against
    fitted (at the coarser width), never below the exact similarity, and off by more than
    1e-4 only as often as chance agreements allow (``|A - B| |B - A| / 2**w`` a pair)."""
    rng = random.Random(11)
    off, allowed = 0, 0.0
    for trial in range(400):
        tokens = words(rng, rng.choice([50, 200, 1_000]))
        a = shingles(" ".join(tokens))
        b = shingles(" ".join(edited(rng, tokens, 1 + trial % 8)))
        exact = jaccard(a, b)
        stored_a, stored_b = decode_stored(encode_fitted(a)), decode_stored(encode_fitted(b))
        for score in (jaccard_at(a, 32, *stored_b), jaccard_at(*stored_a, *stored_b)):
            assert score >= exact
            off += score - exact > 1e-4
        width = min(stored_a[1], stored_b[1])
        only = np.setdiff1d(a, b).size * np.setdiff1d(b, a).size
        allowed += 2 * only / 2**width
    assert jaccard_at(a, 32, b, 32) == jaccard(a, b)
    assert off <= max(3, 5 * allowed)


# --- the banded index ------------------------------------------------------------------------


def corpus(seed: int, n: int, length: int = 120) -> list[list[str]]:
    rng = random.Random(seed)
    return [words(rng, length) for _ in range(n)]


def test_the_index_finds_an_added_near_copy() -> None:
    rng = random.Random(1)
    docs = corpus(2, 300)  # 300 x 21 keys: the index merges its recent keys on the way
    hasher = MinHasher()
    bands, rows = choose_bands(0.8, 128)
    keys = band_keys(hasher.signatures(shingle_batch([" ".join(d) for d in docs])), bands, rows)
    index = LshIndex()
    for row in range(len(docs)):
        index.add(row, keys[row])
    assert len(index) == 300 * bands
    copy = shingles(" ".join(edited(rng, docs[123], 1)))
    assert jaccard(copy, shingles(" ".join(docs[123]))) >= 0.9
    found = index.candidates(band_keys(hasher.signatures([copy]), bands, rows)[0])
    assert 123 in found
    assert len(found) <= 3  # random texts of a 400-word vocabulary are not candidates
    unrelated = shingles(" ".join(words(rng, 120)))
    assert index.candidates(band_keys(hasher.signatures([unrelated]), bands, rows)[0]) == set()


def test_adding_one_by_one_or_all_at_once_gives_the_same_pairs() -> None:
    docs = corpus(4, 40, length=30)
    rng = random.Random(5)
    docs += [edited(rng, d, 1) for d in docs[:10]]
    keys = band_keys(MinHasher().signatures(shingle_batch([" ".join(d) for d in docs])), 21, 6)
    one, many = LshIndex(), LshIndex()
    for row in range(len(docs)):
        one.add(row, keys[row])
    many.add_many(range(len(docs)), keys)
    pairs = list(many.pairs())
    assert list(one.pairs()) == pairs
    assert pairs == sorted(set(pairs))
    assert all(i < j for i, j in pairs)
    assert {(i, i + 40) for i in range(10)} <= set(pairs)


# --- the whole flow --------------------------------------------------------------------------


def test_near_pairs_finds_edited_copies_and_nothing_below_the_threshold() -> None:
    rng = random.Random(7)
    originals = corpus(8, 60, length=150)
    texts = [" ".join(d) for d in originals]
    for d in originals[:30]:
        texts.append(" ".join(edited(rng, d, rng.choice([1, 2, 3, 8, 20]))))
    for d in originals[30:45]:  # longer or shorter copies: sets of different sizes
        texts.append(" ".join(d + words(rng, rng.choice([5, 12, 40]))))
        texts.append(" ".join(d[rng.choice([3, 10, 30]) :]))
    sets = shingle_batch(texts)
    for threshold in (0.5, 0.8, 0.9):
        found = near_pairs(sets, threshold)
        assert [(i, j) for i, j, _ in found] == sorted({(i, j) for i, j, _ in found})
        for i, j, score in found:
            assert i < j
            assert score == jaccard(sets[i], sets[j]) >= threshold
        truth = brute_force(sets, threshold)
        reported = {(i, j) for i, j, _ in found}
        assert reported <= truth
        assert brute_force(sets, min(1.0, threshold + 0.1)) <= reported
        assert truth  # the edits make pairs on both sides of every threshold
        assert len(truth) < 70


def test_near_pairs_skips_empty_sets_and_finds_exact_copies() -> None:
    sets = shingle_batch(["", FOX, "too short", FOX.upper(), ""])
    assert near_pairs(sets, 0.8) == [(1, 3, 1.0)]
    assert near_pairs(sets[:2], 0.8) == []
    assert near_pairs([], 0.8) == []


@settings(max_examples=40, deadline=None)
@given(
    base=st.lists(st.sampled_from(VOCABULARY[:30]), min_size=0, max_size=60),
    edits=st.lists(st.tuples(st.integers(0, 59), st.sampled_from(VOCABULARY)), max_size=6),
    threshold=st.sampled_from([0.5, 0.7, 0.8, 0.9]),
)
def test_near_pairs_never_reports_a_pair_below_the_threshold(
    base: list[str], edits: list[tuple[int, str]], threshold: float
) -> None:
    copy = list(base)
    for position, word in edits:
        if copy:
            copy[position % len(copy)] = word
    sets = shingle_batch([" ".join(base), " ".join(copy), " ".join(reversed(base))])
    found = near_pairs(sets, threshold)
    for i, j, score in found:
        assert score == jaccard(sets[i], sets[j]) >= threshold
    reported = {(i, j) for i, j, _ in found}
    assert reported <= brute_force(sets, threshold)
    assert brute_force(sets, min(1.0, threshold + 0.1)) <= reported


def test_a_reworded_quote_is_not_a_near_copy() -> None:
    """The seed articles' quote in two wordings shares no word 5-gram: MinHash near copies do not
    cover it (shared passages do, in ``docstage_plugins.dedup.passages``)."""
    a, b = shingles(ENCOUNTER), shingles(COME_ACROSS)
    assert (a.size, b.size) == (1, 2)
    assert jaccard(a, b) == 0.0
    assert near_pairs([a, b], 0.5) == []
    assert exact_key(ENCOUNTER) != exact_key(COME_ACROSS)
    # On single words they share we, this, every, year of seven.
    assert jaccard(shingles(ENCOUNTER, 1), shingles(COME_ACROSS, 1)) == pytest.approx(4 / 7)
    # As sentences of a longer article, the rest of which is the same, they are near copies.
    story = " ".join(words(random.Random(9), 200))
    one, two = shingle_batch([f"{story} {ENCOUNTER}", f"{story} {COME_ACROSS}"])
    assert near_pairs([one, two], 0.9) == [(0, 1, jaccard(one, two))]
