"""Direct quotations and their speakers (docstage_plugins.dedup.quotes and .speakers), on
invented articles shaped like scraped news."""

from __future__ import annotations

import random

import pytest

from docstage.document import Entity
from docstage_plugins.dedup.quotes import Quote, find_quotes


def quotes(text: str, entities: tuple[Entity, ...] = ()) -> list[Quote]:
    found = find_quotes(text, entities)
    for quote in found:  # every span runs from an opening mark to a closing mark
        assert text[quote.start] in "\"“„«»‘‚'", text[quote.start :]
        assert quote.start == quote.parts[0][0]
        assert quote.end == quote.parts[-1][1]
    return found


def speaker(quote: Quote) -> str | None:
    return quote.speaker.name if quote.speaker is not None else None


def test_a_quote_runs_from_its_opening_to_its_closing_mark() -> None:
    text = 'The port reopened. "We are back to work," said Ana Ruiz, the union leader.'
    (quote,) = quotes(text)
    assert text[quote.start : quote.end] == '"We are back to work,"'
    assert quote.text == "We are back to work,"
    assert speaker(quote) == "Ana Ruiz"
    assert quote.speaker is not None
    assert text[quote.speaker.start : quote.speaker.end] == "Ana Ruiz"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("“We will sign it line by line,” Mayor Tom Ellis said on Tuesday.", "Tom Ellis"),
        ("“We will sign it line by line,” said the union leader.", "the union leader"),
        ("Ellis told reporters: “We will sign it line by line.”", "Ellis"),
        ("“We will sign it line by line,” according to the port authority.", "the port authority"),
        ("Ellis said the talks would go on, adding that “nothing is agreed yet.”", "Ellis"),
        ("„Wir unterschreiben Zeile für Zeile“, sagte Bürgermeisterin Anna Weber.", "Anna Weber"),
        ("« Nous signerons ligne par ligne », a déclaré Jean Martin.", "Jean Martin"),
        ("«Firmaremos línea por línea», dijo el alcalde.", "el alcalde"),
        ("“It is a framework, not a deal.” ― Maria Lopez", "Maria Lopez"),
        ("Union leader Ana Ruiz on Tuesday said the talks gave “a framework.”", "Ana Ruiz"),
        ("Ana Ruiz yesterday said the talks gave “a framework, not a deal.”", "Ana Ruiz"),
    ],
)
def test_the_speaker_named_by_the_attribution(text: str, name: str) -> None:
    (quote,) = quotes(text)
    assert speaker(quote) == name


def test_a_quote_split_by_its_attribution_is_one_quote() -> None:
    text = (
        "Talks resumed.\n\n“We agreed on the wages,” said Ana Ruiz, “but the pensions are "
        "still open.” The ships waited."
    )
    (quote,) = quotes(text)
    assert quote.text == "We agreed on the wages, but the pensions are still open."
    assert len(quote.parts) == 2
    assert text[quote.start] == "“"
    assert text[quote.end - 1] == "”"
    assert speaker(quote) == "Ana Ruiz"


def test_a_quote_across_paragraphs_continues_where_the_next_opens_with_a_mark() -> None:
    text = (
        "The mayor spoke for an hour.\n\n"
        "“The port is the heart of this town. We cannot let it stop.\n\n"
        "“So we will sit down again on Monday,” Ellis said.\n\n"
        "Nobody answered."
    )
    (quote,) = quotes(text)
    assert quote.text.startswith("The port is the heart")
    assert quote.text.endswith("Monday,")
    assert len(quote.parts) == 2
    assert text[quote.end - 1] == "”"
    assert speaker(quote) == "Ellis"


def test_a_pronoun_is_resolved_to_the_nearest_person_before_it() -> None:
    text = (
        "Dock workers marched in Harbor City. Union leader Ana Ruiz addressed them at noon.\n\n"
        "“We will not go back without a contract,” she said."
    )
    (quote,) = quotes(text)
    assert quote.speaker is not None
    assert quote.speaker.name == "Ana Ruiz"
    assert text[slice(*quote.speaker.mention)] == "she"  # the attribution's own word


def test_a_pronoun_follows_the_entities_when_there_are_some() -> None:
    text = "Tom Ellis met the union. Later Anna Weber arrived.\n\n“It is over,” she said."
    entities = (
        Entity(label="PERSON", text="Tom Ellis", start=0, end=9, canonical="Tom Ellis"),
        Entity(label="PERSON", text="Anna Weber", start=31, end=41, canonical="Dr. Anna Weber"),
    )
    (quote,) = quotes(text, entities)
    assert speaker(quote) == "Dr. Anna Weber"  # the canonical form of the entity


def test_a_quote_without_attribution_has_no_speaker() -> None:
    text = "Shops along the harbor stayed “closed until further notice” for a week."
    (quote,) = quotes(text)
    assert quote.speaker is None


def test_apostrophes_and_unclosed_marks_are_not_quotes() -> None:
    text = (
        "The workers' union didn't sign. Ellis' office said it's 5'10\" tall.\n\n"
        "An unclosed “mark in this paragraph,\n\nand no mark opens the next one.\n\n"
        "“This one is closed,” Ellis said."
    )
    found = quotes(text)
    assert [q.text for q in found] == ["This one is closed,"]


def test_single_marks_and_nested_quotes() -> None:
    text = "‘We called it “the deal of the decade”,’ said Ruiz. He laughed."
    (quote,) = quotes(text)
    assert quote.text == "We called it “the deal of the decade”,"
    assert speaker(quote) == "Ruiz"


def test_a_transcript_names_its_speaker_inside_the_quote() -> None:
    (quote,) = quotes('"ELLIS: We will sign it when it is ready."')
    assert speaker(quote) == "ELLIS"


def test_no_text_of_marks_and_words_breaks_the_scan() -> None:
    """Every mark in every position: a document's quotes never fail the dedup stage."""
    rng = random.Random(7)
    pieces = [*"\"“”„«»「」『』‘’‚'\n ", "word", "said", "Ana", ",", "."]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        for quote in find_quotes(text):
            assert 0 <= quote.start < quote.end <= len(text)
    assert [q.text for q in find_quotes("He said ’twas fine, “all of it, really”.")] == [
        "all of it, really"
    ]
