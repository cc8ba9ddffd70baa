"""entities.link: one entity index across documents and sources, in any document order."""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docstage import ConfigError, Document, Entity, hookimpl
from docstage.testing import RunResult
from docstage_plugins.entities.link import (
    AliasTable,
    EntitiesLink,
    EntityIndex,
    display_name,
    entity_id_for,
    is_acronym,
    normalise,
    resolve,
)

RunStage = Callable[..., RunResult]
RunPipeline = Callable[..., RunResult]


def mention(
    text: str, phrase: str, label: str, canonical: str | None = None, nth: int = 0
) -> Entity:
    """The ``nth`` occurrence of ``phrase`` in ``text`` as an entity."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(phrase, start + 1)
    return Entity(
        label=label, text=phrase, start=start, end=start + len(phrase), canonical=canonical
    )


def article(doc_id: str, source: str, text: str, mentions: Iterable[tuple[Any, ...]]) -> Document:
    return Document(
        id=doc_id,
        source=source,
        text=text,
        entities=[mention(text, *m) for m in mentions],
        stages=("read.files", "entities"),
    )


HARBOR_1 = "Vladimir Putin met envoys of the United States in Geneva. Putin's aides spoke."
HARBOR_2 = "Michael Jordan visited Jordan; the US embassy in Amman hosted Jordan."
VALLEY_1 = "Putin told U.S. officials that United States sanctions hurt. The US disagreed."
VALLEY_2 = "Talks in Geneva: the European Union and the EU summit, said Mr. Steele."
VALLEY_3 = "Michael Steele, an analyst, expects NATO to respond."

DOCS = [
    article(
        "harbor-times/1.txt",
        "harbor-times",
        HARBOR_1,
        [
            ("Vladimir Putin", "PERSON", "Vladimir Putin"),
            ("the United States", "GPE"),
            ("Geneva", "GPE"),
            ("Putin's", "PERSON", "Vladimir Putin"),
        ],
    ),
    article(
        "harbor-times/2.txt",
        "harbor-times",
        HARBOR_2,
        [
            ("Michael Jordan", "PERSON", "Michael Jordan"),
            ("Jordan", "GPE", None, 1),
            ("US", "GPE"),
            ("Amman", "GPE"),
            ("Jordan", "PERSON", "Michael Jordan", 2),
        ],
    ),
    article(
        "valley-post/1.txt",
        "valley-post",
        VALLEY_1,
        [
            ("Putin", "PERSON"),  # no full name in this article: linked across documents
            ("U.S.", "GPE"),
            ("United States", "GPE"),
            ("US", "GPE"),
        ],
    ),
    article(
        "valley-post/2.txt",
        "valley-post",
        VALLEY_2,
        [
            ("Geneva", "GPE"),
            ("European Union", "ORG"),
            ("EU", "ORG"),
            ("Mr. Steele", "PERSON"),
        ],
    ),
    article(
        "valley-post/3.txt",
        "valley-post",
        VALLEY_3,
        [("Michael Steele", "PERSON"), ("NATO", "ORG")],
    ),
]


def link(docs: Iterable[Document], **options: Any) -> tuple[list[Document], EntityIndex]:
    """Run the stage's stream directly (no runner): fast enough for hypothesis. Returns
    the documents and the entity index of them (what render.csv writes)."""
    stage = EntitiesLink(**options)
    out = [d for d in stage.process_stream(iter(docs)) if isinstance(d, Document)]
    index = EntityIndex()
    for doc in out:
        index.add(doc)
    return out, index


def ids_by_text(docs: Iterable[Document]) -> dict[tuple[str, str], set[str | None]]:
    found: dict[tuple[str, str], set[str | None]] = collections.defaultdict(set)
    for doc in docs:
        for entity in doc.entities:
            found[(entity.label, entity.text)].add(entity.entity_id)
    return found


def provides(*classes: type[Any]) -> tuple[str, object]:
    """A plugin registering ``classes`` unless an installed plugin already does."""

    class Plugin:
        @hookimpl
        def docstage_register_stages(self, registry: Any) -> None:
            for cls in classes:
                if registry.get(cls.name) is None:
                    registry.add(cls)

    return ("test-provides-entities-link", Plugin())


# --- linking ------------------------------------------------------------------------------


def test_us_variants_are_one_entity_across_both_sources(run_stage: RunStage) -> None:
    result = run_stage(EntitiesLink, DOCS)

    assert result.exit_code == 0
    assert result.ids == [d.id for d in DOCS]
    us = [
        (doc.source, e)
        for doc in result.documents
        for e in doc.entities
        if e.text in ("US", "U.S.", "United States", "the United States")
    ]
    assert {e.text for _, e in us} == {"US", "U.S.", "United States", "the United States"}
    assert {source for source, _ in us} == {"harbor-times", "valley-post"}
    assert {e.entity_id for _, e in us} == {entity_id_for("GPE", "United States")}
    assert {e.canonical for _, e in us} == {"United States"}
    assert {e.label for _, e in us} == {"GPE"}  # labels are left as found


def test_putin_is_linked_to_vladimir_putin_across_documents(run_stage: RunStage) -> None:
    result = run_stage(EntitiesLink, DOCS)

    putin = [
        (doc.id, e.text, e.canonical, e.entity_id)
        for doc in result.documents
        for e in doc.entities
        if "Putin" in e.text
    ]
    expected_id = entity_id_for("PERSON", "Vladimir Putin")
    assert putin == [
        ("harbor-times/1.txt", "Vladimir Putin", "Vladimir Putin", expected_id),
        ("harbor-times/1.txt", "Putin's", "Vladimir Putin", expected_id),
        ("valley-post/1.txt", "Putin", "Vladimir Putin", expected_id),
    ]


def test_person_jordan_and_the_country_jordan_stay_apart() -> None:
    out, _ = link(DOCS)
    [doc] = [d for d in out if d.id == "harbor-times/2.txt"]
    jordan = {(e.label, e.start): e for e in doc.entities if "Jordan" in e.text}

    person = {e.entity_id for (label, _), e in jordan.items() if label == "PERSON"}
    place = {e.entity_id for (label, _), e in jordan.items() if label == "GPE"}
    assert person == {entity_id_for("PERSON", "Michael Jordan")}
    assert place == {entity_id_for("GPE", "Jordan")}
    assert {e.canonical for (label, _), e in jordan.items() if label == "GPE"} == {"Jordan"}


def test_a_courtesy_title_and_an_acronym_link_to_the_full_name() -> None:
    out, _ = link(DOCS)
    entities = {e.text: e for doc in out for e in doc.entities}
    assert entities["Mr. Steele"].entity_id == entities["Michael Steele"].entity_id
    assert entities["Mr. Steele"].canonical == "Michael Steele"
    assert entities["EU"].entity_id == entities["European Union"].entity_id
    assert entities["EU"].canonical == "European Union"
    assert entities["NATO"].canonical == "NATO"


def test_every_mention_gets_an_id_of_the_documented_shape() -> None:
    out, _ = link(DOCS)
    for doc in out:
        for entity in doc.entities:
            assert entity.entity_id is not None
            assert re.fullmatch(r"[a-z_]+-[0-9a-f]{12}", entity.entity_id), entity.entity_id


def test_documents_keep_their_text_and_spans() -> None:
    out, _ = link(DOCS)
    for before, after in zip(DOCS, out, strict=True):
        assert after.text == before.text
        assert [(e.label, e.text, e.start, e.end) for e in after.entities] == [
            (e.label, e.text, e.start, e.end) for e in before.entities
        ]


def test_the_stage_joins_the_provenance_trail(run_stage: RunStage) -> None:
    plain = Document(id="plain", text="No names here.", stages=("read.files",))
    result = run_stage(EntitiesLink, [*DOCS, plain])
    trails = {doc.id: doc.stages for doc in result.documents}
    assert trails["valley-post/1.txt"] == ("read.files", "entities", "entities.link")
    # Documents come back from the spool as copies, so the runner cannot tell an
    # unchanged one from a changed one: the stage is in every trail.
    assert trails["plain"] in (("read.files",), ("read.files", "entities.link"))
    [out] = [doc for doc in result.documents if doc.id == "plain"]
    assert attrs.evolve(out, stages=plain.stages) == plain


def test_an_empty_corpus_is_fine(run_stage: RunStage) -> None:
    result = run_stage(EntitiesLink, [])
    assert result.exit_code == 0
    assert result.documents == []


def test_running_it_twice_changes_nothing() -> None:
    once, _ = link(DOCS)
    twice, _ = link(once)
    assert twice == once


# --- determinism --------------------------------------------------------------------------


BASELINE = {doc.id: doc.entities for doc in link(DOCS)[0]}
BASELINE_INDEX = [
    (e.entity_id, e.canonical, e.label, e.documents, sorted(e.aliases.items()))
    for e in link(DOCS)[1].sorted()
]


@settings(max_examples=60, deadline=None)
@given(st.permutations(DOCS))
def test_the_result_does_not_depend_on_document_order(docs: list[Document]) -> None:
    out, index = link(docs)
    assert [d.id for d in out] == [d.id for d in docs]  # order kept
    assert {doc.id: doc.entities for doc in out} == BASELINE
    assert [
        (e.entity_id, e.canonical, e.label, e.documents, sorted(e.aliases.items()))
        for e in index.sorted()
    ] == BASELINE_INDEX


NAMES = st.sampled_from(
    [
        ("GPE", "US"),
        ("GPE", "U.S."),
        ("LOC", "America"),
        ("GPE", "United States"),
        ("GPE", "the United States"),
        ("PERSON", "Biden"),
        ("PERSON", "Joe Biden"),
        ("PERSON", "Hunter Biden"),
        ("PERSON", "Jordan"),
        ("GPE", "Jordan"),
        ("ORG", "Jordan"),
        ("ORG", "IMF"),
        ("ORG", "International Monetary Fund"),
        ("ORG", "Islamic Medical Foundation"),
        ("LOC", "Geneva"),
        ("GPE", "GENEVA"),
    ]
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(NAMES, st.integers(1, 5), min_size=1), st.randoms())
def test_resolve_depends_only_on_the_counts(counts: dict[tuple[str, str], int], rnd: Any) -> None:
    items = list(counts.items())
    rnd.shuffle(items)
    assert resolve(dict(items)) == resolve(counts)


# --- the rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("U.S.", "us"),
        ("the United States", "united states"),
        ("The United States", "united states"),
        ("UNITED STATES", "united states"),
        ("United States'", "united states"),
        ("Putin's", "putin"),
        ("Putin\u2019s", "putin"),
        ("São Paulo", "sao paulo"),
        ("Saint-Denis", "saint denis"),
        ("  European   Union ", "european union"),
        ("O'Brien", "obrien"),
    ],
)
def test_normalise(name: str, expected: str) -> None:
    assert normalise(name) == expected


def test_normalise_strips_courtesy_titles_of_people_only() -> None:
    assert normalise("Mr. Steele", person=True) == "steele"
    assert normalise("Dr Jane Doe", person=True) == "jane doe"
    assert normalise("Mr.", person=True) == "mr"
    assert normalise("Dr Pepper") == "dr pepper"


def test_display_name_keeps_an_article_that_belongs_to_the_name() -> None:
    assert display_name("the United States") == "United States"
    assert display_name("The Hague") == "The Hague"
    assert display_name("Putin's") == "Putin"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("US", True), ("U.S.", True), ("NATO", True), ("U.S.A.", True), ("Us", False), ("A", False)],
)
def test_is_acronym(name: str, expected: bool) -> None:
    assert is_acronym(name) is expected


def test_labels_that_cannot_name_one_thing_are_never_linked() -> None:
    linked = resolve(
        {
            ("PERSON", "Ford"): 1,
            ("ORG", "Ford"): 1,
            ("GPE", "Georgia"): 2,
            ("LOC", "Georgia"): 1,
            ("NORP", "American"): 1,
            ("GPE", "America"): 1,
        }
    )
    assert linked[("PERSON", "Ford")].entity_id != linked[("ORG", "Ford")].entity_id
    assert linked[("GPE", "Georgia")] == linked[("LOC", "Georgia")]
    assert linked[("GPE", "Georgia")].label == "GPE"  # the more frequent label
    assert linked[("NORP", "American")].canonical == "American"
    assert linked[("GPE", "America")].canonical == "United States"


def test_an_ambiguous_surname_stays_on_its_own() -> None:
    linked = resolve(
        {("PERSON", "Biden"): 3, ("PERSON", "Joe Biden"): 1, ("PERSON", "Hunter Biden"): 1}
    )
    assert linked[("PERSON", "Biden")].canonical == "Biden"
    assert len({v.entity_id for v in linked.values()}) == 3


def test_a_surname_links_only_to_a_person() -> None:
    linked = resolve(
        {("PERSON", "Jordan"): 1, ("PERSON", "Michael Jordan"): 1, ("GPE", "Jordan"): 1}
    )
    assert linked[("PERSON", "Jordan")] == linked[("PERSON", "Michael Jordan")]
    assert linked[("GPE", "Jordan")].canonical == "Jordan"
    assert linked[("GPE", "Jordan")].label == "GPE"


def test_acronyms_link_to_a_unique_spelled_out_name() -> None:
    linked = resolve(
        {
            ("ORG", "IMF"): 2,
            ("ORG", "International Monetary Fund"): 1,
            ("ORG", "WHO"): 1,
            ("ORG", "World Health Organization"): 1,
            ("ORG", "World Heritage Office"): 1,
            ("GPE", "UAE"): 1,
        }
    )
    assert linked[("ORG", "IMF")].canonical == "International Monetary Fund"
    assert linked[("ORG", "WHO")].canonical == "WHO"  # two names spell WHO: left alone
    assert linked[("GPE", "UAE")].canonical == "United Arab Emirates"  # built-in table


def test_switching_the_rules_off() -> None:
    counts = {("ORG", "IMF"): 1, ("ORG", "International Monetary Fund"): 1}
    assert resolve(counts, acronyms=False)[("ORG", "IMF")].canonical == "IMF"
    people = {("PERSON", "Putin"): 1, ("PERSON", "Vladimir Putin"): 1}
    assert resolve(people, surnames=False)[("PERSON", "Putin")].canonical == "Putin"
    plain = AliasTable.build(builtin=False)
    assert resolve({("GPE", "America"): 1}, plain)[("GPE", "America")].canonical == "America"


def test_the_canonical_name_prefers_the_full_form_then_the_frequent_one() -> None:
    linked = resolve(
        {
            ("GPE", "LONDON"): 5,  # a headline's capitals
            ("GPE", "London"): 1,
            ("GPE", "the Netherlands"): 1,
            ("GPE", "Netherlands"): 1,
            ("PERSON", "Joe Biden"): 1,
            ("PERSON", "Biden"): 7,
            ("GPE", "Ukraine"): 3,
            ("GPE", "UKRAINE"): 1,
            ("GPE", "ukraine"): 2,
        }
    )
    assert linked[("GPE", "LONDON")].canonical == "London"
    assert linked[("GPE", "the Netherlands")].canonical == "Netherlands"
    assert linked[("PERSON", "Biden")].canonical == "Joe Biden"
    assert linked[("GPE", "ukraine")].canonical == "Ukraine"


def test_entity_ids_depend_on_label_and_name_only() -> None:
    assert entity_id_for("GPE", "United States") == entity_id_for("GPE", "the United States")
    assert entity_id_for("GPE", "Jordan") != entity_id_for("PERSON", "Jordan")
    assert entity_id_for("GPE", "United States").startswith("gpe-")


# --- the index and options ----------------------------------------------------------------


def test_the_index_counts_aliases_mentions_documents_and_sources() -> None:
    _, index = link(DOCS)
    us = index[entity_id_for("GPE", "United States")]
    assert (us.canonical, us.label) == ("United States", "GPE")
    assert us.alias_counts() == [
        ("US", 2),
        ("U.S.", 1),
        ("United States", 1),
        ("the United States", 1),
    ]
    assert (us.mentions, us.documents, us.sources) == (5, 3, {"harbor-times", "valley-post"})
    putin = index[entity_id_for("PERSON", "Vladimir Putin")]
    assert putin.alias_counts() == [("Putin", 1), ("Putin's", 1), ("Vladimir Putin", 1)]
    assert (putin.mentions, putin.documents, len(putin.sources)) == (3, 2, 2)
    geneva = index[entity_id_for("GPE", "Geneva")]
    assert (geneva.documents, len(geneva.sources)) == (2, 2)
    first = index.sorted()[0]
    assert first.canonical == "United States"  # most documents first


def test_the_index_of_documents_without_link_groups_by_label_and_canonical() -> None:
    index = EntityIndex()
    for doc in DOCS:
        index.add(doc)
    putin = index[entity_id_for("PERSON", "Vladimir Putin")]
    assert putin.mentions == 2  # the valley-post "Putin" has no canonical form yet


def test_aliases_option_adds_groups(run_stage: RunStage) -> None:
    text = "NYC and New York City and the Big Apple."
    doc = article(
        "a", "wire", text, [("NYC", "GPE"), ("New York City", "GPE"), ("Big Apple", "GPE")]
    )
    result = run_stage(EntitiesLink, [doc], aliases={"New York City": ["NYC", "Big Apple"]})
    [out] = result.documents
    assert {e.canonical for e in out.entities} == {"New York City"}
    assert len({e.entity_id for e in out.entities}) == 1


def test_an_empty_alias_is_a_config_error(run_stage: RunStage) -> None:
    with pytest.raises(ConfigError) as caught:
        run_stage(EntitiesLink, DOCS, aliases={"New York City": ["NYC", " "]})
    assert (
        "(entities.link): option 'aliases': canonical names and aliases must not be empty"
        in str(caught.value)
    )


def test_a_wrong_option_type_is_a_config_error(run_stage: RunStage) -> None:
    with pytest.raises(ConfigError, match="option 'acronyms' must be true or false"):
        run_stage(EntitiesLink, DOCS, acronyms="yes")


def test_linked_ids_reach_the_jsonl_record(run_pipeline: RunPipeline, tmp_path: Any) -> None:
    import json

    result = run_pipeline(
        {
            "stages": [
                {"use": "entities.link"},
                {"use": "render.jsonl", "path": "out/docs.jsonl"},
            ]
        },
        documents=DOCS,
        plugins=[provides(EntitiesLink)],
    )
    assert result.exit_code == 0
    records = [
        json.loads(line) for line in (tmp_path / "out" / "docs.jsonl").read_text().splitlines()
    ]
    [valley] = [r for r in records if r["id"] == "valley-post/1.txt"]
    assert valley["entities"][0] == {
        "label": "PERSON",
        "text": "Putin",
        "start": 0,
        "end": 5,
        "canonical": "Vladimir Putin",
        "entity_id": entity_id_for("PERSON", "Vladimir Putin"),
    }
