"""The corpus generator's paragraph variants: above 1x a paragraph repeats as often as at
1x, and its variants do not match each other as shared passages."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from docstage_plugins.dedup.passages import similarity, split_passages

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def corpus() -> Any:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import corpus as module
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def _generator(corpus: Any, documents: int, reuse: str = "scaled") -> Any:
    from corpus_sources import invented_pools

    settings = corpus.Settings(documents=documents, reuse=reuse)
    return corpus.Generator(invented_pools(count=1), settings, truth=None)


def test_vary_words_replaces_every_second_word_and_keeps_the_layout(corpus: Any) -> None:
    varied = corpus.vary_words("The Kremlin said on Monday,\nthat talks would go on.", "a b cc")
    assert varied == "The Cc said cc Monday,\ncc talks cc go cc."
    varied = corpus.vary_words(
        "Officials met in Geneva on Tuesday and agreed to meet again in spring.",
        "harbour lights shine over the quiet water tonight",
    )
    assert varied == "Officials harbour in Lights on Shine and over to the again quiet spring."


def test_variants_fall_under_the_passage_threshold(corpus: Any) -> None:
    generator = _generator(corpus, 4 * corpus.NEWSGROUPS)
    pool = generator.pools[0]
    for number in range(40):
        original = pool.paragraphs[number]
        other = pool.paragraphs[(number + 7919) % len(pool.paragraphs)]
        varied = corpus.vary_words(original, other)
        for (a, b), (c, d) in zip(split_passages(original), split_passages(varied), strict=True):
            words, changed = original[a:b].lower().split(), varied[c:d].lower().split()
            if len(words) >= 5:
                assert similarity(words, changed) < 0.7


def test_at_4x_a_paragraph_comes_in_four_variants_drawn_alike(corpus: Any) -> None:
    generator = _generator(corpus, 4 * corpus.NEWSGROUPS)
    pool = generator.pools[0]
    drawn = Counter(generator._paragraph(pool, 3) for _ in range(4000))
    assert len(drawn) == 4
    assert pool.paragraphs[3] in drawn
    assert all(800 < count < 1200 for count in drawn.values())


def test_at_1x_and_verbatim_the_paragraph_is_drawn_as_is(corpus: Any) -> None:
    for generator in (
        _generator(corpus, corpus.NEWSGROUPS),
        _generator(corpus, 4 * corpus.NEWSGROUPS, reuse="verbatim"),
    ):
        state = generator.rng.getstate()
        pool = generator.pools[0]
        assert {generator._paragraph(pool, 3) for _ in range(50)} == {pool.paragraphs[3]}
        assert generator.rng.getstate() == state  # no draw: 1x corpora keep their bytes
