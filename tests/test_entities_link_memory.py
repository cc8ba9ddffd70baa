"""entities.link in bounded memory: the names are grouped on disk, and a tiny budget gives
the same entities as a large one."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docstage.document import Document, Entity
from docstage.testing import run_pipeline
from docstage_plugins.entities.link import AliasTable, EntitiesLink, resolve
from docstage_plugins.entities.name_index import NameIndex
from tests.test_entities_link import NAMES, provides

GIVEN = ["Anna", "Boris", "Carla", "Dmitri", "Elena", "Farid", "Greta", "Hugo"]
FAMILY = ["Lindqvist", "Petrov", "Moreau", "Okafor", "Tanaka", "Silva", "Novak", "Berg"]
WORDS = ["Northern", "Atlantic", "Harbour", "Fishing", "Union", "Council", "Trade", "Energy"]


def invented_names(count: int, seed: int) -> dict[tuple[str, str], int]:
    """Mentions per name: full and lone person names, organisations spelled out and as
    acronyms (some ambiguous), places in GPE and LOC, in varied spellings."""
    rng = random.Random(seed)
    counts: dict[tuple[str, str], int] = {}
    for _ in range(count):
        kind = rng.randrange(6)
        if kind == 0:
            name = ("PERSON", f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}")
        elif kind == 1:
            name = ("PERSON", rng.choice([*FAMILY, "Mr. " + rng.choice(FAMILY)]))
        elif kind == 2:
            words = rng.sample(WORDS, rng.randint(2, 4))
            name = ("ORG", " ".join(words))
        elif kind == 3:
            letters = "".join(rng.sample("NAHFUCTE", rng.randint(2, 3)))
            name = ("ORG", rng.choice([letters, ".".join(letters) + "."]))
        elif kind == 4:
            name = (rng.choice(["GPE", "LOC"]), rng.choice(["US", "the United States", "UK"]))
        else:
            name = ("GPE", f"{rng.choice(WORDS)} {rng.choice(FAMILY)}")
        counts[name] = counts.get(name, 0) + rng.randint(1, 3)
    return counts


@pytest.mark.parametrize(("memory", "partitions"), [(1, 4), (1, 256), (1 << 14, 2), (1, 1)])
def test_a_tiny_budget_spills_and_gives_the_same_entities(memory: int, partitions: int) -> None:
    counts = invented_names(3_000, seed=3)
    assert resolve(counts, memory=memory, partitions=partitions) == resolve(counts)


def test_the_build_is_partitioned_under_a_tiny_budget_and_held_under_a_large_one() -> None:
    counts = invented_names(500, seed=5)
    for memory, expected in ((1, 16), (1 << 30, 1)):
        with NameIndex(memory=memory, partitions=16) as index:
            index.add(counts)
            index.links(counts)
            assert index.build_partitions == expected
            assert index.names == len(counts)
            assert index.mentions == sum(counts.values())


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(NAMES, st.integers(1, 5), min_size=1), st.sampled_from([1, 2, 8]))
def test_resolve_does_not_depend_on_the_budget(
    counts: dict[tuple[str, str], int], partitions: int
) -> None:
    assert resolve(counts, memory=1, partitions=partitions) == resolve(counts)


def test_links_across_several_groups_are_followed_to_the_end() -> None:
    """Alias groups asking for two acronyms chain four groups into one entity; it takes
    the link rounds as many steps as the chain is long."""
    table = AliasTable.build({"Zed Zero": ["AB", "CD"], "Yankee": ["COD", "EF"]})
    counts = {
        ("ORG", "Alpha Beta"): 1,
        ("ORG", "AB"): 2,
        ("ORG", "CD"): 1,
        ("ORG", "Charlie of Delta"): 1,
        ("ORG", "COD"): 1,
        ("ORG", "EF"): 1,
        ("ORG", "Echo Foxtrot"): 1,
        ("ORG", "Golf Hotel"): 1,
    }
    for memory in (1, 1 << 30):
        linked = resolve(counts, table, memory=memory, partitions=4)
        chain = {linked[name].entity_id for name in counts if name[1] != "Golf Hotel"}
        assert len(chain) == 1
        assert linked[("ORG", "Golf Hotel")].entity_id not in chain
        assert linked[("ORG", "AB")].canonical == "Zed Zero"  # the table's most mentioned


def test_links_are_asked_for_in_the_order_documents_were_added() -> None:
    with NameIndex() as index:
        index.add({("GPE", "US"): 1})
        assert index.links([("GPE", "US")])[("GPE", "US")].canonical == "United States"
        with pytest.raises(RuntimeError, match="more documents than were added"):
            index.links([("GPE", "US")])
        with pytest.raises(RuntimeError, match="before asking"):
            index.add({("GPE", "UK"): 1})


def news(count: int, seed: int) -> list[Document]:
    """Documents whose mentions are invented names, a few per document."""
    rng = random.Random(seed)
    pool = list(invented_names(count * 2, seed))
    docs = []
    for number in range(count):
        entities, text = [], ""
        for label, name in rng.sample(pool, rng.randint(0, 6)):
            start = len(text)
            text += f"{name}. "
            entities.append(Entity(label=label, text=name, start=start, end=start + len(name)))
        docs.append(
            Document(id=f"d{number}", source=f"s{number % 3}", text=text, entities=entities)
        )
    return docs


def test_the_stage_output_does_not_depend_on_the_run_memory_budget(tmp_path: Any) -> None:
    docs = news(400, seed=8)

    def output(memory: str) -> list[Document]:
        config = {"run": {"memory": memory}, "stages": [{"use": "entities.link"}]}
        result = run_pipeline(
            config, documents=docs, folder=tmp_path, plugins=[provides(EntitiesLink)]
        )
        assert result.exit_code == 0
        return result.documents

    small, large = output("1 MiB"), output("1 GiB")
    assert small == large
    linked = {e.entity_id for d in small for e in d.entities}
    assert None not in linked
    assert len(linked) < len({(e.label, e.text) for d in small for e in d.entities})
