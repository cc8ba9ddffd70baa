"""Quotes matched across sources by the dedup stage (``quotes = true``): each source's
wording and speaker, who carried the quote first, short quotes, and what documents
without quotes look like; invented articles shaped like scraped news."""

from __future__ import annotations

import pytest

from docstage.document import Document
from docstage.records import to_record
from docstage.testing import run_stage
from docstage_plugins.dedup.quote_index import QuoteIndex
from docstage_plugins.dedup.quotes import Quote, find_quotes

TIMES = Document(
    id="harbor-times/talks.txt",
    source="harbor-times",
    metadata={"published": "2024-03-12"},
    text=(
        "Port talks resumed on Tuesday in Harbor City after a week of strikes at the "
        "container terminal.\n\n"
        "“We will go through the contract line by line,” said Ana Ruiz, the union leader. "
        "“Nobody signs anything before that.”\n\n"
        "The port authority called the draft “a framework, not a deal.” Ships waited "
        "outside the harbor for a sixth day."
    ),
)
WIRE = Document(
    id="coastal-wire/framework.txt",
    source="coastal-wire",
    metadata={"published": "2024-03-11"},
    text=(
        "Dock workers and the port authority met again in Harbor City over the strike at "
        "the container terminal.\n\n"
        "Union leader Ana Ruiz said the union would read every page of the draft. “We will "
        "go through the agreement line by line,” she said.\n\n"
        "A spokesman for the port authority described the draft as “a framework, not a "
        "deal.” Ships waited outside the harbor."
    ),
)
LIBRARY = Document(
    id="valley-post/library.txt",
    source="valley-post",
    metadata={"published": "2024-03-10"},
    text=(
        "The Riverside public library reopened on Saturday after two years of repairs to "
        "its roof and reading rooms.\n\n"
        "The head librarian called the new opening hours “a framework, not a deal.” "
        "Children queued for the new picture books."
    ),
)
QUIET = Document(
    id="valley-post/weather.txt",
    source="valley-post",
    text="Heavy rain is expected over the weekend across the northern valleys and hills.",
)


def run(*docs: Document, **options: object) -> dict[str, Document]:
    result = run_stage("dedup", list(docs), index=False, **options)
    assert result.summary.exit_code == 0
    return {d.id: d for d in result.documents}


def quote_with(doc: Document, words: str) -> Quote:
    (quote,) = [q for q in doc.annotations.get("quotes", ()) if words in q.text]
    assert doc.text[quote.start] == "“"
    assert doc.text[quote.end - 1] == "”"
    return quote


def test_a_reworded_quote_is_matched_with_each_wording_speaker_and_who_was_first() -> None:
    docs = run(TIMES, WIRE, LIBRARY)
    times, wire = docs[TIMES.id], docs[WIRE.id]
    ours, theirs = quote_with(times, "line by line"), quote_with(wire, "line by line")
    # the Times' quote is split by its attribution: one quote, from mark to mark
    assert (
        ours.text
        == "We will go through the contract line by line, Nobody signs anything before that."
    )
    assert ours.speaker is not None
    assert ours.speaker.name == "Ana Ruiz"
    assert theirs.speaker is not None
    assert theirs.speaker.name == "Ana Ruiz"  # "she"
    (match,) = ours.matches
    assert (match.id, match.source, match.published) == (WIRE.id, "coastal-wire", "2024-03-11")
    assert match.text == "We will go through the agreement line by line,"
    assert match.speaker == "Ana Ruiz"
    assert 0.7 <= match.score < 1.0
    assert match.first  # the wire carried it a day earlier
    assert not ours.first
    (back,) = theirs.matches
    assert back.id == TIMES.id
    assert theirs.first
    assert not back.first


def test_a_short_quote_is_matched_when_identical_within_its_story_only() -> None:
    docs = run(TIMES, WIRE, LIBRARY)
    times, wire, library = docs[TIMES.id], docs[WIRE.id], docs[LIBRARY.id]
    assert times.annotations["story_id"] == wire.annotations["story_id"]
    assert library.annotations["story_id"] != wire.annotations["story_id"]
    short = quote_with(times, "framework")
    assert [m.id for m in short.matches] == [WIRE.id]  # not the library's turn of phrase
    assert short.matches[0].score == 1.0
    assert quote_with(library, "framework").matches == ()


def test_a_short_quote_is_matched_across_stories_when_none_are_clustered() -> None:
    docs = run(TIMES, LIBRARY, stories=False)
    assert [m.id for m in quote_with(docs[TIMES.id], "framework").matches] == [LIBRARY.id]


def test_documents_without_quotes_carry_no_quotes_annotation() -> None:
    docs = run(TIMES, QUIET)
    assert "quotes" not in docs[QUIET.id].annotations
    assert to_record(docs[QUIET.id]) == to_record(run(TIMES, QUIET, quotes=False)[QUIET.id])


def test_quotes_false_leaves_them_out() -> None:
    docs = run(TIMES, WIRE, quotes=False)
    assert all("quotes" not in d.annotations for d in docs.values())


def test_the_jsonl_record_carries_the_quotes_under_annotations() -> None:
    record = to_record(run(TIMES, WIRE)[WIRE.id])
    assert "quotes" not in record  # the top-level keys are unchanged
    quote = next(q for q in record["annotations"]["quotes"] if "line by line" in q["text"])
    assert set(quote) == {"start", "end", "text", "parts", "speaker", "first", "matches"}
    assert set(quote["speaker"]) == {"name", "text", "start", "end", "mention"}
    assert quote["speaker"]["name"] == "Ana Ruiz"
    assert quote["speaker"]["text"] == "Union leader Ana Ruiz"  # what "she" refers to
    assert WIRE.text[slice(*quote["speaker"]["mention"])] == "she"
    (match,) = quote["matches"]
    assert set(match) == {"id", "source", "text", "speaker", "published", "score", "first"}


def test_the_index_is_asked_in_the_order_documents_were_added() -> None:
    with QuoteIndex() as index:
        for doc in (TIMES, WIRE):
            index.add(doc.id, doc.source, doc.text, find_quotes(doc.text))
        with pytest.raises(RuntimeError, match="out of the order added"):
            index.quotes(WIRE.id)
