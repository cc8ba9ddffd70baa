"""The dedup index in the state store: a run looks earlier documents up by key (it never
loads the index), the band-key table is partitioned, and a store of the first layout is
migrated on open with the same results."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from contextlib import closing

import attrs
import numpy as np
import pytest

from docstage.errors import OptionError
from docstage_plugins.dedup import minhash
from docstage_plugins.dedup.band_keys import PARTITIONS, partition_of, partition_range, prefix_of
from docstage_plugins.dedup.copies import CopyFinder, DocInfo, Group
from docstage_plugins.dedup.index import CopyIndex, IndexedDoc

SETTINGS = {"shingle_size": 5, "permutations": 128, "threshold": 0.8}
_OLD_SCHEMA = """
CREATE TABLE dedup_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE dedup_docs (
    node INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, source TEXT NOT NULL,
    published TEXT, length INTEGER NOT NULL, run_id TEXT NOT NULL, original TEXT,
    exact BLOB NOT NULL, shingles BLOB NOT NULL, bands BLOB NOT NULL
);
"""


def invented(count: int, seed: int = 3) -> dict[str, str]:
    """``count`` unrelated texts of 80 words each, by id."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(5_000)]
    return {f"old/{i:04d}": " ".join(rng.choice(words) for _ in range(80)) for i in range(count)}


def infos(texts: dict[str, str]) -> list[DocInfo]:
    return [
        DocInfo(row=row, id=id_, source=id_.split("/")[0], published=None, length=len(text))
        for row, (id_, text) in enumerate(texts.items())
    ]


def indexed(texts: dict[str, str], originals: dict[str, str]) -> Iterator[IndexedDoc]:
    """The documents as the stage indexes them (one earlier run, id ``run1``)."""
    finder = CopyFinder()
    finder.add_many(infos(texts), list(texts.values()))
    for info, exact, shingles, bands in finder.documents():
        yield IndexedDoc(
            id=info.id,
            source=info.source,
            published=None,
            length=info.length,
            run_id="run1",
            original=originals.get(info.id),
            exact=exact,
            shingles=shingles,
            bands=bands,
        )


def today(earlier: dict[str, str]) -> dict[str, str]:
    """Three new documents: an exact copy of old/0010, a near copy of old/0020 (an
    earlier copy of old/0030), and one that copies nothing."""
    near = earlier["old/0020"].split()
    near[40] = "changed"
    return {
        "new/exact": earlier["old/0010"],
        "new/near": " ".join(near),
        "new/other": " ".join(f"x{i}" for i in range(80)),
    }


def run_against(index: CopyIndex, texts: dict[str, str]) -> tuple[CopyFinder, list[Group]]:
    finder = CopyFinder(index=index)
    finder.add_many(infos(texts), list(texts.values()))
    return finder, finder.groups("earliest")


def summary(groups: list[Group]) -> list[tuple[str, str | None, list[tuple[str, str, float]]]]:
    return [
        (g.survivor.id, g.survivor.earlier, [(c.doc.id, c.relation, c.score) for c in g.copies])
        for g in groups
    ]


ORIGINALS = {"old/0020": "old/0030"}


def test_a_run_holds_only_the_earlier_documents_that_match_its_keys() -> None:
    earlier = invented(300)
    with closing(sqlite3.connect(":memory:")) as db:
        index = CopyIndex(db, SETTINGS)
        index.add(indexed(earlier, ORIGINALS))
        finder, groups = run_against(index, today(earlier))
    # old/0010 (exact key), old/0020 (band keys) and old/0030, the original old/0020
    # copied: 3 of 300.
    assert finder.earlier_count == 3
    assert summary(groups) == [
        ("old/0010", "run1", [("new/exact", "exact", 1.0)]),
        ("old/0030", "run1", [("new/near", "near", 0.0)]),
    ]


def test_a_store_of_the_first_layout_is_migrated_with_the_same_results(tmp_path) -> None:
    earlier = invented(300)
    docs = list(indexed(earlier, ORIGINALS))
    with closing(sqlite3.connect(":memory:")) as db:
        index = CopyIndex(db, SETTINGS)
        index.add(docs)
        expected = summary(run_against(index, today(earlier))[1])
        expected_bands = db.execute("SELECT count(*) FROM dedup_bands").fetchone()[0]
    with closing(sqlite3.connect(tmp_path / "old.sqlite")) as db:
        for statement in _OLD_SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.executemany(
            "INSERT INTO dedup_settings VALUES (?, ?)", [(k, str(v)) for k, v in SETTINGS.items()]
        )
        db.executemany(
            "INSERT INTO dedup_docs (id, source, published, length, run_id, original, exact, "
            "shingles, bands) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    *(d.id, d.source, d.published, d.length, d.run_id, d.original, d.exact),
                    *(d.shingles, np.asarray(d.bands, dtype="<u8").tobytes()),
                )
                for d in docs
            ],
        )
        migrated = CopyIndex(db, SETTINGS)
        columns = [row[1] for row in db.execute("PRAGMA table_info(dedup_docs)")]
        assert "bands" not in columns
        assert db.execute("SELECT count(*) FROM dedup_bands").fetchone()[0] == expected_bands
        assert summary(run_against(migrated, today(earlier))[1]) == expected
        # opening it again finds the new layout: nothing to migrate
        assert len(CopyIndex(db, SETTINGS)) == 300


def test_the_band_keys_are_partitioned_by_their_top_bits() -> None:
    docs = list(indexed(invented(50), {}))
    with closing(sqlite3.connect(":memory:")) as db:
        index = CopyIndex(db, SETTINGS)
        index.add(docs)
        rows = db.execute("SELECT prefix, node FROM dedup_bands ORDER BY prefix, node").fetchall()
        parts = [list(index.partition(p)) for p in range(PARTITIONS)]
        stored = db.execute("SELECT value FROM dedup_settings WHERE key = 'partitions'")
        assert stored.fetchone() == (str(PARTITIONS),)
        nodes = {d.id: d.node for d in index.by_ids(d.id for d in docs)}
    assert [row for part in parts for row in part] == rows
    expected: list[set[tuple[int, int]]] = [set() for _ in range(PARTITIONS)]
    for doc in docs:
        for key in np.asarray(doc.bands).tolist():
            expected[partition_of(key)].add((prefix_of(key), nodes[doc.id]))
    assert [set(part) for part in parts] == expected
    for p, part in enumerate(parts):
        low, high = partition_range(p)
        assert all(prefix_of(low) <= prefix <= prefix_of(high - 1) for prefix, _ in part)
    assert sum(1 for part in parts if part) > PARTITIONS // 2


def test_the_band_table_keeps_prefixes_and_a_shared_prefix_only_adds_a_candidate() -> None:
    """Two band keys with the same top 32 bits share their rows: the other document comes
    back as a candidate under the asked key, and the Jaccard check turns it down."""
    earlier = invented(3)
    docs = list(indexed(earlier, {}))
    near = earlier["old/0000"].split()
    near[40] = "changed"
    new = {"new/near": " ".join(near)}
    with closing(sqlite3.connect(":memory:")) as db:
        index = CopyIndex(db, SETTINGS)
        index.add(docs)
        nodes = {d.id: d.node for d in index.by_ids(earlier)}
        wanted = int(np.asarray(docs[0].bands)[0])
        assert index.by_bands([wanted]) == [(wanted, nodes["old/0000"])]
        expected = summary(run_against(index, new)[1])
        # old/0001 filed under the prefix of one of old/0000's keys
        db.execute("INSERT INTO dedup_bands VALUES (?, ?)", (prefix_of(wanted), nodes["old/0001"]))
        assert sorted(index.by_bands([wanted])) == [
            (wanted, nodes["old/0000"]),
            (wanted, nodes["old/0001"]),
        ]
        other = wanted ^ 1  # another key with the same prefix
        assert prefix_of(other) == prefix_of(wanted)
        assert len(index.by_bands([other])) == 2
        assert summary(run_against(index, new)[1]) == expected
        # 4 bytes a key, not 8
        assert all(-(2**31) <= p < 2**31 for (p,) in db.execute("SELECT prefix FROM dedup_bands"))
    assert [(survivor, [c[0] for c in copies]) for survivor, _, copies in expected] == [
        ("old/0000", ["new/near"])
    ]


def near(text: str) -> str:
    words = text.split()
    words[40] = "changed"
    return " ".join(words)


def test_a_document_read_again_with_another_text_matches_only_by_its_new_text() -> None:
    """It is indexed anew (a new node, the run that changed it); its old band rows stay
    until a sweep (a row in 21 does not call for one), proposing a candidate the Jaccard
    check turns down."""
    earlier = invented(10)
    replacement = invented(1, seed=9)["old/0000"]
    changed = dict(earlier, **{"old/0000": replacement})
    with closing(sqlite3.connect(":memory:")) as db:
        index = CopyIndex(db, SETTINGS)
        index.add(indexed(earlier, {}))
        (old,) = index.by_ids(["old/0000"])
        before = band_rows(db)
        index.add(attrs.evolve(d, run_id="run2") for d in indexed(changed, {}))
        (new,) = index.by_ids(["old/0000"])
        (kept,) = index.by_ids(["old/0001"])
        assert (new.node, new.run_id) == (11, "run2")
        assert (kept.node, kept.run_id) == (2, "run1")  # the same text keeps its place
        # the old rows are left, naming a node no longer indexed
        assert {r for r in before if r[1] == old.node} <= band_rows(db)
        assert index.orphan_rows() == 21
        assert summary(run_against(index, {"new/a": near(earlier["old/0000"])})[1]) == []
        found = summary(run_against(index, {"new/b": near(replacement)})[1])
        assert [(s, r, [c[0] for c in cs]) for s, r, cs in found] == [
            ("old/0000", "run2", ["new/b"])
        ]
        assert index.sweep() == len({r for r in before if r[1] == old.node})
        assert index.orphan_rows() == 0
        expected = {(prefix_of(k), new.node) for k in changed_bands(changed, "old/0000")}
        expected |= {r for r in before if r[1] != old.node}
        assert band_rows(db) == expected
        # after the sweep, the same results
        assert summary(run_against(index, {"new/a": near(earlier["old/0000"])})[1]) == []
        assert summary(run_against(index, {"new/b": near(replacement)})[1]) == found
        # a node is never given twice, even once the highest one has left
        db.execute("DELETE FROM dedup_docs WHERE node = 11")
        again = CopyIndex(db, SETTINGS)
        again.add(attrs.evolve(d, run_id="run3") for d in indexed({"x/1": replacement}, {}))
        assert [d.node for d in again.by_ids(["x/1"])] == [12]


def band_rows(db: sqlite3.Connection) -> set[tuple[int, int]]:
    return set(db.execute("SELECT prefix, node FROM dedup_bands").fetchall())


def changed_bands(texts: dict[str, str], id_: str) -> list[int]:
    (doc,) = [d for d in indexed(texts, {}) if d.id == id_]
    return list(np.asarray(doc.bands).tolist())


def test_a_store_of_whole_sets_is_fitted_on_open_with_the_same_results() -> None:
    """Sets of format 1 (whole 32-bit hashes, before fitted sets) are re-encoded in place
    the first time a run opens the store; a run then finds what it finds against a new
    store."""
    earlier = invented(300)
    docs = list(indexed(earlier, ORIGINALS))
    with closing(sqlite3.connect(":memory:")) as db:
        index = CopyIndex(db, SETTINGS)
        index.add(docs)
        expected = summary(run_against(index, today(earlier))[1])
        fitted = dict(db.execute("SELECT id, shingles FROM dedup_docs"))
        # the store as the previous docstage left it
        whole = [(minhash.encode_set(minhash.shingles(text)), id) for id, text in earlier.items()]
        db.executemany("UPDATE dedup_docs SET shingles = ? WHERE id = ?", whole)
        db.execute("DELETE FROM dedup_settings WHERE key = 'set_format'")
        assert all(bytes(s)[0] == 1 for (s,) in db.execute("SELECT shingles FROM dedup_docs"))
        reopened = CopyIndex(db, SETTINGS)
        assert dict(db.execute("SELECT id, shingles FROM dedup_docs")) == fitted
        assert summary(run_against(reopened, today(earlier))[1]) == expected
        stored = db.execute("SELECT value FROM dedup_settings WHERE key = 'set_format'")
        assert stored.fetchone() == ("2",)


def test_an_index_with_other_partitions_is_one_clear_error() -> None:
    with closing(sqlite3.connect(":memory:")) as db:
        CopyIndex(db, SETTINGS)
        db.execute("UPDATE dedup_settings SET value = '16' WHERE key = 'partitions'")
        with pytest.raises(OptionError) as error:
            CopyIndex(db, SETTINGS)
    assert str(error.value) == (
        "option 'index': the dedup index in the state store has 16 band-key partitions, "
        f"this docstage reads {PARTITIONS}: point [run] state at a new file"
    )


def test_adding_in_chunks_with_an_id_twice_is_adding_one_at_a_time(monkeypatch) -> None:
    """The index writes a chunk of documents with one statement of each kind; an id twice
    in one chunk (a document read twice in a run, its text changed) still sees the first."""
    earlier = invented(12)
    changed = dict(earlier, **{"old/0003": invented(1, seed=5)["old/0000"]})
    docs = list(indexed(earlier, {}))
    again = [attrs.evolve(d, run_id="run2") for d in indexed(changed, {"old/0004": "old/0002"})]
    # one add: old/0003 again with another text and old/0004 again, a copy now, in the
    # first chunk of 7 with their first reading
    together = [*docs[:5], again[3], again[4], *docs[5:]]

    def stored(db: sqlite3.Connection) -> list[tuple[object, ...]]:
        rows = db.execute("SELECT node, id, run, original, exact, shingles FROM dedup_docs")
        return sorted(rows.fetchall())

    with closing(sqlite3.connect(":memory:")) as one, closing(sqlite3.connect(":memory:")) as many:
        alone = CopyIndex(one, SETTINGS)
        for doc in together:
            alone.add([doc])
        monkeypatch.setattr("docstage_plugins.dedup.index._ADD_CHUNK", 7)
        chunked = CopyIndex(many, SETTINGS)
        assert chunked.add(together) == len(together)
        assert stored(many) == stored(one)
        assert band_rows(many) == band_rows(one)
        assert chunked.orphan_rows() == alone.orphan_rows() == 21
        (moved,) = chunked.by_ids(["old/0003"])
        assert (moved.node, moved.run_id) == (6, "run2")
        (copy,) = chunked.by_ids(["old/0004"])
        assert (copy.node, copy.original) == (5, "old/0002")


def test_band_rows_inserted_through_json_or_row_by_row_are_the_same() -> None:
    """Band rows go to SQLite as one JSON array of packed integers (negative prefixes
    included); without SQLite's JSON functions, a row at a time: the same table."""
    docs = list(indexed(invented(40), {}))
    with (
        closing(sqlite3.connect(":memory:")) as packed,
        closing(sqlite3.connect(":memory:")) as rows,
    ):
        CopyIndex(packed, SETTINGS).add(docs)
        plain = CopyIndex(rows, SETTINGS)
        plain._json = False  # as when json_each is missing
        plain.add(docs)
        found = band_rows(packed)
        assert found == band_rows(rows)
        assert len(found) == 40 * 21
        assert any(p < 0 for p, _ in found)
        assert any(p >= 0 for p, _ in found)
        bands = {d.id: d.bands.tolist() for d in docs}
        nodes = {d.id: d.node for d in plain.by_ids(bands)}
        assert found == {(prefix_of(k), nodes[i]) for i, keys in bands.items() for k in keys}
