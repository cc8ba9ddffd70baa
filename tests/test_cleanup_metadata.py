"""cleanup.metadata: stray dates, bylines and footers into metadata; nothing else lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docstage.cleaning import restore
from docstage.document import REMOVED, Document
from docstage_plugins.cleanup.metadata import CleanupMetadata, parse_date
from tests.conftest import EXAMPLES

STAGE = CleanupMetadata()
BODY = (
    "Harbour Minister Tomas Eriksen said on Monday that the ferry link would reopen.\n\n"
    '"We will not wait another winter," he told reporters in Brevik.\n'
)


def clean(text: str, **options: object) -> Document:
    stage = CleanupMetadata(**options) if options else STAGE  # type: ignore[arg-type]
    doc = Document(id="t", text=text)
    out = stage.process(doc)
    assert restore(out.text, out.get(REMOVED) or ()) == text
    return out


@pytest.mark.parametrize(
    ("header", "published"),
    [
        ("date 2021-06-16 ", "2021-06-16"),
        (" date 2021-06-16 ", "2021-06-16"),
        ("Date: 2021-06-16\n", "2021-06-16"),
        ("Posted on June 16, 2021\n\n", "2021-06-16"),
        ("Published: 16 June 2021\n", "2021-06-16"),
        ("Published June 16, 2021 10:30 AM\n", "2021-06-16T10:30:00"),
        ("Updated: Wednesday, June 16, 2021\n", "2021-06-16"),
        ("Last updated on Jun. 16, 2021\n", "2021-06-16"),
        ("2021-06-16T09:15:00+02:00\n", "2021-06-16T09:15:00+02:00"),
        ("June 16, 2021\n", "2021-06-16"),
    ],
)
def test_date_headers_go_to_published(header: str, published: str) -> None:
    out = clean(header + BODY)
    assert out.metadata["published"] == published
    assert out.text == BODY


def test_a_glued_date_keeps_the_sentence_whole() -> None:
    out = clean(" date 2021-06-16 Russian President Vladimir Putin on Wednesday said that.\n")
    assert out.text == "Russian President Vladimir Putin on Wednesday said that.\n"
    assert out.metadata["published"] == "2021-06-16"
    [removal] = out.get(REMOVED)
    assert (removal.rule, removal.text) == ("cleanup.metadata:date", " date 2021-06-16 ")


def test_a_sentence_that_starts_with_a_date_is_kept() -> None:
    text = "June 16, 2021 will be remembered as the day the ferry link reopened.\n"
    assert clean(text).text == text


@pytest.mark.parametrize(
    ("byline", "authors", "outlet"),
    [
        ("By Jane Doe | Reuters", ["Jane Doe"], "Reuters"),
        ("By Jane Doe and Omar Haddad", ["Jane Doe", "Omar Haddad"], None),
        ("BY JONAS BERG", ["JONAS BERG"], None),
        ("By: Marta Lindqvist, Valley Post", ["Marta Lindqvist", "Valley Post"], None),
    ],
)
def test_bylines_go_to_authors(byline: str, authors: list[str], outlet: str | None) -> None:
    out = clean(f"{byline}\n{BODY}")
    assert out.metadata["authors"] == authors
    assert out.metadata.get("outlet") == outlet
    assert out.text == BODY


def test_by_in_a_sentence_is_not_a_byline() -> None:
    text = "By the time the ferry arrived, the harbour was closed.\n" + BODY
    assert clean(text).text == text


def test_footers_go_to_categories_and_tags() -> None:
    text = (
        BODY
        + "\nShare this:\nCategorized in: Business, Labour\nTags: ports; strikes | Brevik\n"
        + "Copyright 2024 Harbor Times. All rights reserved.\nFollow us on Mastodon\n"
    )
    out = clean(text)
    assert out.text == BODY
    assert out.metadata["categories"] == ["Business", "Labour"]
    assert out.metadata["tags"] == ["ports", "strikes", "Brevik"]
    rules = [r.rule.split(":")[1] for r in out.get(REMOVED)]
    assert {"furniture", "categories", "tags"} <= set(rules)


def test_an_empty_category_footer_is_removed() -> None:
    out = clean(BODY + "\nCategorized in:")
    assert out.text == BODY
    assert out.metadata["categories"] == []


def test_related_articles_with_their_headlines() -> None:
    text = BODY + "\nRelated articles\nFerry prices rise again\nPort strike enters third week\n"
    assert clean(text).text == BODY


def test_short_last_lines_without_a_marker_are_kept() -> None:
    text = BODY + "\nReporting by Jonas Berg\n"
    assert clean(text).text == text


def test_reader_metadata_is_kept() -> None:
    doc = Document(
        id="t",
        text="Tags: harbour\n" + BODY + "Tags: ferries\n",
        metadata={"published": "2020-01-01", "tags": ["wire"]},
    )
    out = STAGE.process(doc)
    assert out.metadata["published"] == "2020-01-01"
    assert out.metadata["tags"] == ["wire", "ferries"]


def test_switches() -> None:
    text = "Posted on June 16, 2021\n" + BODY + "Tags: ferries\n"
    assert clean(text, dates=False, footers=False).text == text


def test_unchanged_documents_are_returned_as_they_are() -> None:
    doc = Document(id="t", text=BODY)
    assert STAGE.process(doc) is doc


def test_parse_date_rejects_non_dates() -> None:
    assert parse_date("yesterday") is None
    assert parse_date("12 dead in crash") is None
    assert parse_date("2021-13-45") is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", "B", "1", ":", " ", "\n", "-", ",", "|", "By ", "Tags:", "date "])
        | st.text(max_size=3)
    ).map("".join)
)
def test_arbitrary_text_never_crashes_and_nothing_is_lost(text: str) -> None:
    clean(text)


def test_invented_examples() -> None:
    docs = {p.name: p.read_text(encoding="utf-8") for p in EXAMPLES.rglob("*.txt")}
    framework = clean(docs["port-strike-framework.txt"])
    assert framework.metadata["published"] == "2024-03-12"
    assert framework.metadata["categories"] == ["Business", "Labour"]
    assert framework.text.startswith("BREVIK — Negotiators")
    assert framework.text.endswith("return to the table on Thursday.\n")
    talks = clean(docs["2024-03-12-port-strike-talks.txt"])
    assert talks.text.startswith("Dockworkers' union leader Marta Lindqvist on Tuesday said")
    assert talks.metadata["published"] == "2024-03-12"
    assert "Categorized in" not in talks.text
    library = clean(docs["library-reopens.txt"])
    assert library.metadata["authors"] == ["Jonas Berg"]
    assert library.metadata["tags"] == ["libraries", "Valdal", "culture"]
    assert "Copyright" not in library.text


def test_seed_articles(shared: Path) -> None:
    seeds = {p.name[:3]: p.read_text(encoding="utf-8") for p in (shared / "seeds").glob("*.txt")}
    first = clean(seeds["000"])
    assert first.metadata["published"] == "2021-06-16"
    assert first.text.startswith(
        "Russian President Vladimir Putin on Wednesday said that the Kremlin and Washington"
    )
    # Nothing but the date prefix is gone.
    assert first.text == seeds["000"].removeprefix(" date 2021-06-16 ")
    second = clean(seeds["004"])
    assert seeds["004"].rstrip().endswith("Categorized in:")
    assert "Categorized in" not in second.text
    body = seeds["004"].rstrip().removesuffix("Categorized in:").rstrip() + "\n"
    assert second.text == body
