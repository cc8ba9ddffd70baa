"""A run that reads documents an earlier run indexed (the same ids) again: the copies are
the same under any memory budget, each copy of the first run is a copy again of the same
survivor, and the finder holds only the earlier documents of the groups, not every
document read again."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from contextlib import closing

import attrs

from docstage_plugins.dedup.copies import CopyFinder, DocInfo, Group
from docstage_plugins.dedup.index import CopyIndex, IndexedDoc

SETTINGS = {"shingle_size": 5, "permutations": 128, "threshold": 0.8}


def corpus(seed: int = 7) -> dict[str, str]:
    """300 unrelated texts of 80 words, 15 exact copies, 15 near copies (one word
    changed) and 5 chains of near copies (a copy of a near copy), in shuffled order."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(5_000)]
    texts = {f"doc/{i:04d}": " ".join(rng.choice(words) for _ in range(80)) for i in range(300)}
    originals = list(texts.values())
    for i in range(15):
        texts[f"exact/{i:02d}"] = originals[i]
    for i in range(20):
        near = originals[20 + i].split()
        near[10 + i] = "changed"
        texts[f"near/{i:02d}"] = " ".join(near)
        if i < 5:  # one more word changed: a near copy of the near copy
            near[60] = "again"
            texts[f"chain/{i:02d}"] = " ".join(near)
    items = list(texts.items())
    rng.shuffle(items)
    return dict(items)


def infos(texts: dict[str, str]) -> list[DocInfo]:
    return [
        DocInfo(row=row, id=id_, source=id_.split("/")[0], published=None, length=len(text))
        for row, (id_, text) in enumerate(texts.items())
    ]


def find(index: CopyIndex, texts: dict[str, str], tiny: bool = False) -> CopyFinder:
    """A finder over ``texts`` against ``index``; ``tiny``: a budget of one byte (every
    buffer the smallest, every spill read a partition at a time)."""
    finder = CopyFinder(index=index, memory=1, partitions=4) if tiny else CopyFinder(index=index)
    docs, values = infos(texts), list(texts.values())
    for start in range(0, len(docs), 64):  # batches, as the stage gives them
        finder.add_many(docs[start : start + 64], values[start : start + 64])
    return finder


def to_index(finder: CopyFinder, groups: list[Group], run_id: str) -> Iterator[IndexedDoc]:
    """The run's documents as the stage indexes them: copies name their survivor."""
    original = {c.doc.id: g.survivor.id for g in groups for c in g.copies}
    for info, exact, shingles, bands in finder.documents():
        yield IndexedDoc(
            id=info.id,
            source=info.source,
            published=None,
            length=info.length,
            run_id=run_id,
            original=original.get(info.id),
            exact=exact,
            shingles=shingles,
            bands=bands,
        )


def summary(groups: list[Group]) -> list[tuple[object, ...]]:
    return [
        (g.survivor.id, g.survivor.earlier, [(c.doc.id, c.relation, c.score) for c in g.copies])
        for g in groups
    ]


def test_a_run_read_again_finds_the_same_copies_under_a_tiny_budget() -> None:
    texts = corpus()
    again = dict(reversed(list(texts.items())))  # read again, in another order
    again["new/0000"] = texts["doc/0003"]  # a new exact copy of an earlier document
    with closing(sqlite3.connect(":memory:")) as db:
        index = CopyIndex(db, SETTINGS)
        first = find(index, texts)
        first_groups = first.groups("earliest")
        index.add(to_index(first, first_groups, "run1"))
        first.close()
        results = []
        for tiny in (False, True):
            finder = find(index, again, tiny)
            results.append((summary(finder.groups("earliest")), finder.earlier_count))
            finder.close()
    (large, held), (tiny, held_tiny) = results
    assert tiny == large
    assert held_tiny == held
    # Every copy of the first run is a copy again, of the same survivor, which the first
    # run published (the scores may differ: the index keeps fitted sets).
    expected = {(g.survivor.id, c.doc.id, c.relation) for g in first_groups for c in g.copies}
    found = {
        (survivor, copy, relation) for survivor, _, copies in large for copy, relation, _ in copies
    }
    assert found == expected | {("doc/0003", "new/0000", "exact")}
    assert {earlier for _, earlier, _ in large} == {"run1"}
    assert len(first_groups) == 35  # (each chain joins its near copy's group)
    # Only the earlier documents of the groups are held, not the 340 read again.
    assert held == sum(1 + len(g.copies) for g in first_groups)


def test_a_document_read_again_with_a_copy_among_todays_keeps_its_earlier_self() -> None:
    """A document read again that today's new document copies: its earlier self, already
    published, is the survivor (shown as today's reading of it), even though it was held
    only because the group needed it."""
    texts = corpus()
    with closing(sqlite3.connect(":memory:")) as db:
        index = CopyIndex(db, SETTINGS)
        first = find(index, texts)
        index.add(to_index(first, first.groups("earliest"), "run1"))
        first.close()
        today = {"doc/0100": texts["doc/0100"], "new/copy": texts["doc/0100"]}
        today.update({f"doc/{i:04d}": texts[f"doc/{i:04d}"] for i in range(200, 260)})
        for tiny in (False, True):
            finder = find(index, today, tiny)
            (group,) = finder.groups("longest")
            assert (group.survivor.id, group.survivor.row, group.survivor.earlier) == (
                "doc/0100",
                0,
                "run1",
            )
            assert [(c.doc.id, c.relation) for c in group.copies] == [("new/copy", "exact")]
            assert finder.earlier_count == 1
            finder.close()


def test_indexing_the_same_documents_again_writes_nothing() -> None:
    """Rows that would not change are not rewritten (a run reading its input again); a
    changed field still is."""
    texts = corpus()
    with closing(sqlite3.connect(":memory:")) as db:
        index = CopyIndex(db, SETTINGS)
        first = find(index, texts)
        docs = list(to_index(first, first.groups("earliest"), "run1"))
        first.close()
        index.add(docs)
        rows = db.execute("SELECT * FROM dedup_docs ORDER BY node").fetchall()
        before = db.total_changes
        index.add(docs)
        assert db.total_changes - before <= 1  # (at most the last node, in dedup_settings)
        before = db.total_changes
        changed = attrs.evolve(docs[5], published="2024-02-03")
        index.add([changed])
        assert db.total_changes - before <= 2
        after = db.execute("SELECT * FROM dedup_docs ORDER BY node").fetchall()
    assert [row for row in after if row not in rows] == [
        tuple("2024-02-03" if i == 3 else v for i, v in enumerate(rows[5]))
    ]
