"""A huge document through ``dedup``: the same decisions as a text handled whole.

``dedup`` handles a text longer than :data:`docstage_plugins.dedup.pieces.PIECE`
characters a piece at a time, so that its memory stays a small multiple of the text (the
peak is measured by ``benchmarks/huge_document.py``, not here). What a user relies on is
that nothing else changes: an exact copy of a huge document is still dropped as exact, a
near copy as near with the same score, and every key, shingle, passage and story term
equals the whole text's, wherever the cuts fall.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from docstage.document import Document
from docstage.records import to_record
from docstage_plugins.dedup import minhash, pieces
from docstage_plugins.dedup.passages import _Lowered
from docstage_plugins.dedup.story_vectors import analyzer

WHOLE = 1 << 62  # a piece size no text reaches: every text handled whole


@contextmanager
def patched(module: ModuleType, name: str, value: object) -> Iterator[None]:
    """``module.name`` set to ``value`` for the block (hypothesis allows no fixture)."""
    before = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, before)


# Characters where a careless cut would show: word characters of every width, case
# mappings that look at neighbours (a final sigma) or change the length (dotted I),
# combining marks, compatibility forms (ligature, fullwidth, no-break space), every kind
# of whitespace, sentence ends, quotes, and a lone surrogate.
TRICKY = st.text(
    st.sampled_from(
        "aZé1_ΣσΑİıßǅ가\u1161\u11a8中ﬁＡ"  # word characters, case, compatibility forms
        " \n\t\r\x0b\x0c\x1c\x85\u00a0\u3000"  # whitespace, ASCII or not
        ".!?…'’“”-\u0301\u0308\ud800"  # sentence ends, quotes, marks, a lone surrogate
    ),
    max_size=120,
)
TEXTS = st.one_of(TRICKY, st.text(max_size=120))


def analysed(text: str) -> list[list[str]]:
    return [list(analyzer(names)(text)) for names in (False, True)]


def passage_words(text: str) -> list[list[str]]:
    lowered = _Lowered(text)
    # Every sentence-like span in order, overlapping ones included.
    spans = [(i, min(len(text), i + 7)) for i in range(0, len(text), 3)]
    return [lowered.words(start, end) for start, end in spans]


def everything(text: str) -> tuple[Any, ...]:
    sets = tuple(minhash.shingles(text, size).tobytes() for size in (1, 3, 5))
    return minhash.exact_key(text), sets, passage_words(text), analysed(text)


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.integers(1, 24))
def test_pieces_give_what_the_whole_text_gives(text: str, size: int) -> None:
    with patched(pieces, "PIECE", WHOLE):
        whole = everything(text)
    with patched(pieces, "PIECE", size):
        assert everything(text) == whole


@settings(max_examples=200, deadline=None)
@given(TEXTS, st.integers(1, 24))
def test_pieces_are_cut_before_ascii_whitespace_and_cover_the_text(text: str, size: int) -> None:
    cuts = list(pieces.cuts(text, size))
    assert cuts[0][0] == 0
    assert cuts[-1][1] == len(text)
    for (_, end), (start, _) in itertools.pairwise(cuts):
        assert end == start
        assert text[start] in " \t\n\r\x0b\x0c"
    assert all(end - start >= size for start, end in cuts[:-1])
    assert "".join(pieces.pieces(text, size)) == text


@settings(max_examples=100, deadline=None)
@given(st.lists(TEXTS, max_size=6), st.integers(1, 24))
def test_a_long_text_in_a_batch_changes_no_other_text(texts: list[str], size: int) -> None:
    alone = [minhash.shingles(text) for text in texts]
    with patched(pieces, "PIECE", size):
        batch = minhash.shingle_batch(texts)
    assert [s.tobytes() for s in batch] == [s.tobytes() for s in alone]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2**32 - 1), max_size=300), min_size=1, max_size=5))
def test_set_coding_and_minhash_in_blocks_equal_the_whole_set(values: list[list[int]]) -> None:
    sets = [np.unique(np.array(v, dtype=np.uint32)) for v in values]

    def computed() -> tuple[Any, ...]:
        encoded = [minhash.encode_set(s) for s in sets]
        fitted = [minhash.encode_fitted(s) for s in sets]
        return (
            encoded,
            fitted,
            [minhash.decode_set(e).tobytes() for e in encoded],
            [minhash.decode_stored(f)[0].tobytes() for f in fitted],
            [minhash.jaccard(a, b) for a in sets for b in sets],
            minhash.MinHasher(permutations=16).signatures(sets).tobytes(),
        )

    whole = computed()
    with patched(minhash, "_BLOCK", 8), patched(minhash, "_GROUP", 5):
        assert computed() == whole
    assert [minhash.decode_set(e).tobytes() for e in whole[0]] == [s.tobytes() for s in sets]


# --- the stage, end to end -----------------------------------------------------------

VOCABULARY = (
    "harbour council strike minister river ferry library budget vote union quay winter "
    "season offer table crossing Σίσυφος naïve İzmir “framework” pay shift talks storm "
    "bridge school"
)
WORDS = VOCABULARY.split()
QUOTE = "The harbour council voted to keep the winter ferry crossing open."


def invented(seed: int, sentences: int) -> str:
    """Sentences of invented news words, in paragraphs (about 80 characters each)."""
    rng = random.Random(seed)
    out = []
    for i in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
        words.append(f"n{rng.randrange(10**6)}")  # keeps most shingles distinct
        out.append(" ".join(words).capitalize() + rng.choice([".", ".", "!", "?"]))
        out.append("\n\n" if i % 6 == 5 else " ")
    return "".join(out)


def near_copy(text: str) -> str:
    """``text`` with one sentence in sixty dropped: Jaccard over 5-grams about 0.97."""
    sentences = text.split(". ")
    return ". ".join(s for i, s in enumerate(sentences) if i % 60 != 7)


def corpus(sentences: int) -> list[Document]:
    huge = invented(1, sentences)
    at = huge.index(". ", len(huge) // 2) + 2
    huge = huge[:at] + QUOTE + " " + huge[at:]
    return [
        Document(id="wire/huge", source="wire", text=huge),
        Document(id="post/copy", source="post", text="  " + huge.upper().replace(" ", "\n")),
        Document(id="times/near", source="times", text=near_copy(huge)),
        Document(id="blog/other", source="blog", text=invented(2, sentences)),
        Document(id="blog/quote", source="blog", text=f"Reported today. {QUOTE} Nothing more."),
    ]


def run_dedup(run_stage: Any, docs: list[Document], tmp_path: Any, **options: Any) -> Any:
    return run_stage("dedup", docs, folder=tmp_path, keep="first", index=False, **options)


def test_copies_of_a_huge_document_are_still_found(run_stage, tmp_path) -> None:
    docs = corpus(sentences=16_000)  # 1.3 M characters: five pieces and more
    assert all(pieces.is_long(d.text) for d in docs[:4])
    result = run_dedup(run_stage, docs, tmp_path, stories=False, passages=False)
    assert result.ids == ["wire/huge", "blog/other", "blog/quote"]
    survivor = result.documents[0]
    exact, near = survivor.annotations["duplicates"]
    assert (exact.id, exact.relation, exact.score) == ("post/copy", "exact", 1.0)
    assert (near.id, near.relation) == ("times/near", "near")
    assert 0.9 < near.score < 1.0
    assert result.stage("dedup").dropped == {"duplicate (exact)": 1, "duplicate (near)": 1}


def test_a_huge_document_gets_what_it_would_get_whole(run_stage, tmp_path) -> None:
    docs = corpus(sentences=600)  # 50,000 characters, in pieces of 2,000
    with patched(pieces, "PIECE", 2_000):
        assert all(pieces.is_long(d.text) for d in docs[:4])
        cut = run_dedup(run_stage, docs, tmp_path / "cut")
    with patched(pieces, "PIECE", WHOLE):
        whole = run_dedup(run_stage, docs, tmp_path / "whole")
    assert [to_record(d) for d in cut.documents] == [to_record(d) for d in whole.documents]
    kept = {d.id: d for d in cut.documents}
    assert sorted(kept) == ["blog/other", "blog/quote", "wire/huge"]
    assert [c.relation for c in kept["wire/huge"].annotations["duplicates"]] == ["exact", "near"]
    (shared,) = kept["blog/quote"].annotations["shared_passages"]
    assert [m.id for m in shared.matches] == ["wire/huge"]
    assert all(d.annotations["story_id"].startswith("story-") for d in cut.documents)


def test_a_stretch_without_ascii_whitespace_stays_in_one_piece() -> None:
    text = "中文" * 50 + " " + "字" * 10
    assert list(pieces.cuts(text, 10)) == [(0, 100), (100, 111)]
    assert list(pieces.cuts(text, 200)) == [(0, 111)]
