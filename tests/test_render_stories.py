"""The story view the renderers share: headlines, key entities, shared quotes with their
speaker and carriers, and what each outlet added."""

from __future__ import annotations

from docstage.document import Document, Entity, PassageMatch, SharedPassage
from docstage_plugins.render_additions import Additions
from docstage_plugins.render_stories import (
    Brief,
    group_stories,
    headline,
    make_story,
)


def doc(id: str, source: str, text: str, **kwargs) -> Document:
    annotations = {"story_id": "s", **kwargs.pop("annotations", {})}
    return Document(id=id, source=source, text=text, annotations=annotations, **kwargs)


def story_of(*docs: Document, **limits: int):
    briefs = [Brief.of(d, n) for n, d in enumerate(docs)]
    (group,) = group_stories(briefs)
    story = make_story(group, max_entities=limits.get("entities", 8), max_quotes=5)
    additions = Additions([story], limits.get("additions", 5))
    for d in docs:
        additions.add(d)
    return additions.story(story)


def test_the_headline_is_the_title_else_the_lead_sentence_without_its_dateline() -> None:
    assert headline(doc("a", "s", "x", metadata={"title": " Port\n strike "})) == "Port strike"
    text = "BREVIK — Talks resumed on Tuesday after a week. More later."
    assert headline(doc("a", "s", text)) == "Talks resumed on Tuesday after a week."
    long = "word " * 40
    assert headline(doc("a", "s", long)).endswith(" …")
    assert len(headline(doc("a", "s", long))) <= 90
    assert headline(doc("id-only", "s", "")) == "id-only"


def test_a_story_takes_the_earliest_informative_title() -> None:
    first = doc("a", "s1", "x", metadata={"title": "Re: Help!!", "published": "2024-01-01"})
    second = doc("b", "s2", "y", metadata={"title": "Re: Port strike talks resume"})
    assert story_of(first, second).title == "Port strike talks resume"
    assert story_of(first, doc("b", "s2", "Lead sentence here.")).title == "Help!!"
    untitled = story_of(doc("a", "s1", "The lead. Then."), doc("b", "s2", "Another lead."))
    assert untitled.title == "The lead."


def test_key_entities_are_people_places_organisations_by_articles_never_dates() -> None:
    def ents(*pairs: tuple[str, str]) -> tuple[Entity, ...]:
        return tuple(Entity(label=label, text=name, start=0, end=1) for name, label in pairs)

    a = doc("a", "s1", "x", entities=ents(("Monday", "DATE"), ("Brevik", "GPE"), ("Ana", "PERSON")))
    b = doc("b", "s2", "y", entities=ents(("Monday", "DATE"), ("Brevik", "GPE"), ("Port", "ORG")))
    story = story_of(a, b)
    assert story.entities == (("Brevik", "GPE", 2), ("Ana", "PERSON", 1), ("Port", "ORG", 1))


def test_additions_are_the_sentences_no_other_source_of_the_story_carries() -> None:
    shared = "Nobody signs anything before the members vote on it."
    text_a = f"Talks went on in Brevik today. {shared} Only alpha saw the minister leave."
    text_b = f"{shared} Bravo counted forty ships waiting offshore. Short one."
    at_a, at_b = text_a.index(shared), 0

    def passage(start: int, other: str, source: str) -> SharedPassage:
        match = PassageMatch(id=other, source=source, score=0.9)
        return SharedPassage(start=start, end=start + len(shared), text=shared, matches=(match,))

    a = doc("a", "alpha", text_a, annotations={"shared_passages": (passage(at_a, "b", "bravo"),)})
    b = doc("b", "bravo", text_b, annotations={"shared_passages": (passage(at_b, "a", "alpha"),)})
    story = story_of(a, b)
    added = {x.source: x for x in story.added}
    assert added["alpha"].passages == (
        "Talks went on in Brevik today.",
        "Only alpha saw the minister leave.",
    )
    # "Short one." has fewer than four words: a caption, not an addition
    assert added["bravo"].passages == ("Bravo counted forty ships waiting offshore.",)
    # a match with a document outside the story does not make a sentence found
    outside = doc("c", "alpha", text_a, annotations={"story_id": "other"})
    lone = doc("a", "alpha", text_a, annotations={"shared_passages": (passage(at_a, "z", "zulu"),)})
    story = story_of(
        lone, doc("b", "bravo", "Bravo counted forty ships waiting offshore."), outside
    )
    assert shared in {x.source: x for x in story.added}["alpha"].passages
    # at most `limit` passages kept, all counted
    many = " ".join(f"Sentence number {n} of many here." for n in range(9))
    story = story_of(
        doc("a", "alpha", many), doc("b", "bravo", "Other words entirely here."), additions=2
    )
    (alpha, _) = story.added
    assert (len(alpha.passages), alpha.total) == (2, 9)


def test_a_story_of_one_source_has_no_additions() -> None:
    story = story_of(
        doc("a", "s1", "One sentence of four."), doc("b", "s1", "Two sentences of four.")
    )
    assert story.added == ()


def test_a_hard_wrapped_sentence_is_one_addition_not_one_per_line() -> None:
    text = "Is there a resource comparing the makes\nand models of cars for safety?\nThanks."
    story = story_of(doc("a", "s1", text), doc("b", "s2", "Something else entirely here."))
    (added, _) = story.added
    assert added.passages == (
        "Is there a resource comparing the makes and models of cars for safety?",
    )
