"""Shared passages in bounded memory: the passage index spills to disk and a tiny budget
gives the same answers as a large one."""

from __future__ import annotations

import random

import pytest

from docstage.document import Document
from docstage.testing import run_pipeline
from docstage_plugins.dedup.passages import PassageIndex

QUOTE = "We will vote only on a written text and not on promises made at midnight"
REWORDED = "We will vote only on a written text, not on promises made at midnight"
SMALL = "It is a framework and not a deal for anyone in the port"


def outlets(count: int = 80, seed: int = 4) -> list[tuple[str, str, str]]:
    """``(id, source, text)`` of invented articles from four outlets: filler sentences,
    a quote some carry word for word, a reworded one, and a line every outlet repeats."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(400)]
    found = []
    for i in range(count):
        source = ("wire", "post", "times", "herald")[i % 4]
        sentences = [" ".join(rng.choice(words) for _ in range(12)) + "." for _ in range(6)]
        if i % 5 == 0:
            sentences.insert(2, f'"{QUOTE}," she said.')
        if i % 7 == 0:
            sentences.insert(1, f"{REWORDED}.")
        if i % 3 == 0:
            sentences.append(f"{SMALL}.")
        sentences.append("Subscribe to our newsletter for the latest news every morning.")
        found.append((f"{source}/{i}", source, " ".join(sentences)))
    return found


def answers(docs, **kwargs) -> list:
    with PassageIndex(**kwargs) as index:
        for id, source, text in docs:
            index.add(id, source, text)
        return [index.shared(id, text) for id, _, text in docs]


def test_quotes_are_matched_across_outlets_and_never_within_one() -> None:
    docs = outlets()
    found = dict(zip((id for id, _, _ in docs), answers(docs), strict=True))
    quoted = found["wire/0"]
    match = next(p for p in quoted if p.text.startswith(QUOTE))
    sources = {m.source for m in match.matches}
    assert sources == {"post", "times", "herald"}  # never its own outlet
    # The reworded quote matches the verbatim one, below 1.
    assert any(m.score < 1.0 for m in match.matches)
    # A line every page carries is boilerplate (max_documents), not a shared passage.
    assert not any("newsletter" in p.text for p in quoted)


@pytest.mark.parametrize(("memory", "partitions"), [(1, 4), (1, 256), (1 << 16, 2), (1, 1)])
def test_a_tiny_budget_spills_and_gives_the_same_answers(memory: int, partitions: int) -> None:
    docs = outlets(count=120, seed=9)
    assert answers(docs, memory=memory, partitions=partitions) == answers(docs)


def test_questions_follow_the_order_documents_were_added_in() -> None:
    docs = outlets(count=8)
    with PassageIndex() as index:
        for id, source, text in docs:
            index.add(id, source, text)
        index.shared(docs[0][0], docs[0][2])
        with pytest.raises(RuntimeError, match="out of the order added"):
            index.shared(docs[5][0], docs[5][2])
        with pytest.raises(RuntimeError, match="before asking"):
            index.add("late", "wire", QUOTE)


def test_dedup_output_does_not_depend_on_the_run_memory_budget(tmp_path) -> None:
    docs = [Document(id=id, source=source, text=text) for id, source, text in outlets(80, 2)]

    def output(memory: str) -> list[Document]:
        config = {
            "run": {"memory": memory, "state": str(tmp_path / f"{memory}.sqlite")},
            "stages": [{"use": "dedup"}],
        }
        result = run_pipeline(config, documents=docs, folder=tmp_path)
        return result.documents

    small, large = output("1 MiB"), output("1 GiB")
    assert small == large
    assert any(d.annotations.get("shared_passages") for d in small)
