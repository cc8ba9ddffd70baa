"""Retention of the dedup index: expired entries no longer match (copies of them pass
again, copies of kept ones are still dropped), a kept copy outlives its expired original,
``pipeline state`` shows when entries were indexed and the retention, ``--compact`` gives
the expired entries' pages back without changing a result, and a store of the previous
layout (run ids and sources as text, no times) is migrated on open."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import ClassVar

import attrs
import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from docstage import ConfigError
from docstage.cli import cli
from docstage.document import Document
from docstage.stages import CorpusStage, Drop
from docstage.state import StateStore
from docstage.state_usage import state_usage
from docstage_plugins.dedup import minhash
from docstage_plugins.dedup.band_keys import band_keys_of, prefix_of
from docstage_plugins.dedup.copies import CopyFinder, DocInfo, Group
from docstage_plugins.dedup.index import CopyIndex, IndexedDoc

SETTINGS = {"shingle_size": 5, "permutations": 128, "threshold": 0.8}
DAY = 86_400
T0 = 1_790_000_000  # when the first run of a test indexes (seconds since the epoch)


def invented(count: int, prefix: str, seed: int) -> dict[str, str]:
    """``count`` unrelated texts of 80 words each, by id (``prefix/0000``...)."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(5_000)]
    return {
        f"{prefix}/{i:04d}": " ".join(rng.choice(words) for _ in range(80)) for i in range(count)
    }


def edited(text: str) -> str:
    """``text`` with its 41st word changed: a near copy (Jaccard about 0.9)."""
    words = text.split()
    words[40] = "changed"
    return " ".join(words)


def fingerprinted(
    texts: dict[str, str], run_id: str, originals: dict[str, str] | None = None
) -> Iterable[IndexedDoc]:
    """The documents as the stage indexes them."""
    for id_, text in texts.items():
        sets = minhash.shingles(text, 5)
        yield IndexedDoc(
            id=id_,
            source=id_.split("/")[0],
            published=None,
            length=len(text),
            run_id=run_id,
            original=(originals or {}).get(id_),
            exact=minhash.exact_key(text),
            shingles=minhash.encode_set(sets),
            bands=band_keys_of([sets], SETTINGS)[0],
        )


def run_against(index: CopyIndex, texts: dict[str, str]) -> list[tuple[str, str | None, list]]:
    """Survivor id, its run and the copies found by a run of ``texts`` against ``index``."""
    finder = CopyFinder(index=index)
    infos = [
        DocInfo(row=row, id=id_, source=id_.split("/")[0], published=None, length=len(text))
        for row, (id_, text) in enumerate(texts.items())
    ]
    finder.add_many(infos, list(texts.values()))
    groups: list[Group] = finder.groups("earliest")
    return [
        (g.survivor.id, g.survivor.earlier, [(c.doc.id, c.relation, c.score) for c in g.copies])
        for g in groups
    ]


def band_rows(db: sqlite3.Connection) -> set[tuple[int, int]]:
    return set(db.execute("SELECT prefix, node FROM dedup_bands").fetchall())


def expected_band_rows(db: sqlite3.Connection, *texts: dict[str, str]) -> set[tuple[int, int]]:
    """The band rows the documents still indexed should have, from their ``texts`` (the
    index keeps sets that no longer give the band keys back)."""
    every = {id_: text for some in texts for id_, text in some.items()}
    found = set()
    for node, id_ in db.execute("SELECT node, id FROM dedup_docs"):
        keys = band_keys_of([minhash.shingles(every[id_], 5)], SETTINGS)[0]
        found |= {(prefix_of(key), node) for key in keys.tolist()}
    return found


# --- the index ------------------------------------------------------------------------


def test_entries_older_than_max_age_days_expire_with_their_band_rows() -> None:
    old, new = invented(50, "old", 1), invented(20, "new", 2)
    with closing(sqlite3.connect(":memory:")) as db:
        CopyIndex(db, SETTINGS, now=T0).add(fingerprinted(old, "run1"))
        later = CopyIndex(db, SETTINGS, now=T0 + 40 * DAY)
        later.add(fingerprinted(new, "run2"))
        assert later.expire(max_age_days=41) == 0
        assert later.expire(max_age_days=30) == 50
        assert sorted(i for (i,) in db.execute("SELECT id FROM dedup_docs")) == sorted(new)
        # 50 documents' rows are more than a quarter of 20's: swept
        assert band_rows(db) == expected_band_rows(db, new)
        assert len(band_rows(db)) == 20 * 21
        # the run with no entry left is forgotten too
        runs = db.execute("SELECT run_id, indexed FROM dedup_runs").fetchall()
        assert runs == [("run2", T0 + 40 * DAY)]
        stored = dict(db.execute("SELECT key, value FROM dedup_settings").fetchall())
        assert (stored["index_max_age_days"], stored["index_max_documents"]) == ("30", "null")
        # an exact copy of an expired entry is no copy any more; one of a kept entry is
        today = {"today/a": old["old/0003"], "today/b": new["new/0004"]}
        assert run_against(later, today) == [("new/0004", "run2", [("today/b", "exact", 1.0)])]


def test_max_documents_keeps_the_most_recently_indexed() -> None:
    first, second = invented(30, "first", 1), invented(30, "second", 2)
    with closing(sqlite3.connect(":memory:")) as db:
        CopyIndex(db, SETTINGS, now=T0).add(fingerprinted(first, "run1"))
        index = CopyIndex(db, SETTINGS, now=T0 + DAY)
        index.add(fingerprinted(second, "run2"))
        assert index.expire(max_documents=100) == 0
        assert index.expire(max_documents=40) == 20
        kept = [i for (i,) in db.execute("SELECT id FROM dedup_docs ORDER BY node")]
        assert kept == sorted(first)[20:] + sorted(second)
        assert band_rows(db) == expected_band_rows(db, first, second)
        # both runs still have entries
        assert [r for (r,) in db.execute("SELECT run_id FROM dedup_runs")] == ["run1", "run2"]
        # a document read again keeps its place: it is not "recently indexed" again
        index.add(fingerprinted({"first/0025": first["first/0025"]}, "run3"))
        assert index.expire(max_documents=30) == 10
        assert [i for (i,) in db.execute("SELECT id FROM dedup_docs ORDER BY node")] == sorted(
            second
        )
        today = {
            "today/near": edited(first["first/0025"]),
            "today/b": edited(second["second/0001"]),
        }
        assert [(s, r) for s, r, _ in run_against(index, today)] == [("second/0001", "run2")]


def test_a_few_expired_documents_leave_band_rows_that_match_nothing_until_a_sweep() -> None:
    """Expiry deletes documents, not their band rows (the sets no longer give the band
    keys back): those wait until they are a quarter of the rows of the documents kept,
    and meanwhile only propose candidates that are no longer there."""
    old, new = invented(10, "old", 1), invented(60, "new", 2)
    with closing(sqlite3.connect(":memory:")) as db:
        CopyIndex(db, SETTINGS, now=T0).add(fingerprinted(old, "run1"))
        index = CopyIndex(db, SETTINGS, now=T0 + 40 * DAY)
        index.add(fingerprinted(new, "run2"))
        with capture_logs() as logs:
            assert index.expire(max_age_days=30) == 10
        assert not [e for e in logs if e["event"] == "dedup index swept"]
        kept = expected_band_rows(db, new)
        assert kept < band_rows(db)
        assert len(band_rows(db) - kept) == 10 * 21
        assert index.orphan_rows() == 10 * 21
        today = {
            "today/a": edited(old["old/0003"]),
            "today/b": old["old/0004"],
            "today/c": edited(new["new/0015"]),
        }
        score = minhash.jaccard(
            *(minhash.shingles(t, 5) for t in (new["new/0015"], today["today/c"]))
        )
        expected = [("new/0015", "run2", [("today/c", "near", round(score, 4))])]
        assert run_against(index, today) == expected
        # 10 more expire: 20 documents' rows are more than a quarter of the 50 kept
        assert index.expire(max_documents=50) == 10
        assert band_rows(db) == expected_band_rows(db, new)
        assert index.orphan_rows() == 0
        assert run_against(index, today) == expected


def test_a_copy_outlives_its_expired_original_and_stands_for_itself() -> None:
    """A copy indexed by a later run than its original is kept when the original expires:
    read back, it names no original (the lookup tolerates the missing one), so a later
    copy of it is dropped as a copy of it, named with the run that indexed it."""
    old = invented(10, "old", 1)
    copy = {"copy/0005": edited(old["old/0005"])}
    with closing(sqlite3.connect(":memory:")) as db:
        CopyIndex(db, SETTINGS, now=T0).add(fingerprinted(old, "run1"))
        index = CopyIndex(db, SETTINGS, now=T0 + 40 * DAY)
        index.add(fingerprinted(copy, "run2", {"copy/0005": "old/0005"}))
        before = {"today/a": copy["copy/0005"]}
        # before expiry, a copy of the copy names the original, as always
        assert [s for s, _, _ in run_against(index, before)] == ["old/0005"]
        assert index.expire(max_age_days=30) == 10
        (held,) = index.by_ids(["copy/0005"])
        assert held.original is None
        assert db.execute("SELECT original FROM dedup_docs").fetchall() == [("old/0005",)]
        assert run_against(index, before) == [("copy/0005", "run2", [("today/a", "exact", 1.0)])]
        # the original read again is indexed anew, and its copy names it again
        index.add(fingerprinted({"old/0005": old["old/0005"]}, "run3"))
        (held,) = index.by_ids(["copy/0005"])
        assert held.original == "old/0005"


def test_a_store_of_the_previous_layout_is_migrated_with_the_same_results(tmp_path) -> None:
    old, copies = invented(200, "old", 1), {"copy/0001": invented(200, "old", 1)["old/0020"]}
    docs = list(fingerprinted(old, "run-a")) + list(
        fingerprinted(copies, "run-b", {"copy/0001": "old/0020"})
    )
    today = {"today/a": old["old/0010"], "today/b": edited(old["old/0020"]), "today/c": "x y z"}
    with closing(sqlite3.connect(":memory:")) as db:
        index = CopyIndex(db, SETTINGS, now=T0)
        index.add(docs[:200])
        index.add(docs[200:])
        expected = run_against(index, today)
        expected_bands = band_rows(db)
    path = tmp_path / "state.sqlite"
    store = StateStore(path, run_id="run-b", pipeline="daily")
    db = store.connection
    for statement in _PREVIOUS_LAYOUT.split(";"):
        db.execute(statement)
    db.executemany(
        "INSERT INTO dedup_settings VALUES (?, ?)", [(k, str(v)) for k, v in SETTINGS.items()]
    )
    for node, d in enumerate(docs, start=1):
        db.execute(
            "INSERT INTO dedup_docs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (node, d.id, d.source, None, d.length, d.run_id, d.original, d.exact, d.shingles),
        )
        db.executemany(
            "INSERT INTO dedup_bands VALUES (?, ?)", [(k, node) for k in d.bands.tolist()]
        )
    store.commit()
    store.close()
    # read-only, ``pipeline state`` shows what it can of a store not migrated yet
    usage = state_usage(path, "daily").dedup
    assert usage is not None
    assert (usage.documents, usage.oldest_run, usage.newest_run) == (201, "run-a", "run-b")
    assert (usage.oldest_indexed, usage.retention) == (None, None)
    with closing(sqlite3.connect(path)) as db:
        migrated = CopyIndex(db, SETTINGS, now=T0 + DAY)
        columns = [row[1] for row in db.execute("PRAGMA table_info(dedup_docs)")]
        assert "run_id" not in columns
        assert "run" in columns
        # runs never recorded when they indexed count as indexed at the migration
        runs = db.execute("SELECT run_id, indexed, first_node FROM dedup_runs").fetchall()
        assert runs == [("run-a", T0 + DAY, 1), ("run-b", T0 + DAY, 201)]
        assert band_rows(db) == expected_bands
        assert run_against(migrated, today) == expected
        assert migrated.expire(max_age_days=0) == 0
        db.commit()
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        assert "dedup_docs_old" not in tables
        assert "dedup_docs_exact" in tables
        assert len(CopyIndex(db, SETTINGS)) == 201  # nothing to migrate the second time


_PREVIOUS_LAYOUT = """
CREATE TABLE dedup_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE dedup_docs (
    node INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, source TEXT NOT NULL,
    published TEXT, length INTEGER NOT NULL, run_id TEXT NOT NULL, original TEXT,
    exact BLOB NOT NULL, shingles BLOB NOT NULL
);
CREATE INDEX dedup_docs_exact ON dedup_docs (exact);
CREATE TABLE dedup_bands (
    key INTEGER NOT NULL, node INTEGER NOT NULL, PRIMARY KEY (key, node)
) WITHOUT ROWID;
"""


# --- the stage and pipeline state -------------------------------------------------------

CONFIG = """\
[pipeline]
name = "daily"

[run]
state = "state.sqlite"

[[stages]]
use = "dedup"
stories = false
passages = false
report = "dedup.jsonl"
{retention}
"""


def news(texts: dict[str, str]) -> list[Document]:
    return [Document(id=i, source=i.split("/")[0], text=t) for i, t in texts.items()]


def age(folder: Path, days: int) -> None:
    """Make every entry of the store in ``folder`` ``days`` days older (as if the runs that
    indexed them ran that much earlier)."""
    with closing(sqlite3.connect(folder / "state.sqlite")) as db, db:
        db.execute("UPDATE dedup_runs SET indexed = indexed - ?", (days * DAY,))


def report(folder: Path) -> list[tuple[str, str, str]]:
    lines = [json.loads(x) for x in (folder / "dedup.jsonl").read_text().splitlines()]
    return [(x["id"], x["original"]["id"], x["original"]["run_id"]) for x in lines]


def state(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["state", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "daily.toml"
    path.write_text(CONFIG.format(retention="index_max_age_days = 30"), encoding="utf-8")
    return path


def test_copies_of_expired_documents_pass_and_copies_of_kept_ones_are_dropped(
    run_pipeline, config: Path
) -> None:
    folder = config.parent
    old, new = invented(3, "old", 1), invented(3, "new", 2)
    run_pipeline(config, documents=news(old))
    age(folder, 40)
    with capture_logs() as logs:
        second = run_pipeline(config, documents=news(new))
    (updated,) = [e for e in logs if e["event"] == "dedup index updated"]
    assert (updated["added"], updated["expired"], updated["documents"]) == (3, 3, 3)
    third = run_pipeline(
        config, documents=news({"today/old": old["old/0001"], "today/new": new["new/0001"]})
    )
    assert [d.id for d in third.documents] == ["today/old"]
    assert report(folder) == [("today/new", "new/0001", second.summary.run_id)]


def test_a_later_copy_of_a_copy_whose_original_expired_names_the_copy(
    run_pipeline, config: Path
) -> None:
    folder = config.parent
    old = invented(2, "old", 1)
    run_pipeline(config, documents=news(old))
    age(folder, 40)
    # the copy is dropped (its original is still indexed), and indexed with its original,
    # which expires at the end of this run
    second = run_pipeline(config, documents=news({"copy/0000": old["old/0000"].upper()}))
    assert second.documents == []
    with closing(sqlite3.connect(folder / "state.sqlite")) as db:
        assert db.execute("SELECT id, original FROM dedup_docs").fetchall() == [
            ("copy/0000", "old/0000")
        ]
    third = run_pipeline(config, documents=news({"today/near": edited(old["old/0000"])}))
    assert third.documents == []
    assert report(folder) == [("today/near", "copy/0000", second.summary.run_id)]


def test_max_documents_through_the_stage(run_pipeline, tmp_path: Path) -> None:
    path = tmp_path / "daily.toml"
    path.write_text(CONFIG.format(retention="index_max_documents = 2"), encoding="utf-8")
    texts = invented(3, "old", 1)
    run_pipeline(path, documents=news(texts))
    with closing(sqlite3.connect(tmp_path / "state.sqlite")) as db:
        assert db.execute("SELECT id FROM dedup_docs ORDER BY node").fetchall() == [
            ("old/0001",),
            ("old/0002",),
        ]
    again = run_pipeline(path, documents=news({"a": texts["old/0000"], "b": texts["old/0002"]}))
    assert [d.id for d in again.documents] == ["a"]


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("index_max_age_days", -1, "must be a whole number of at least 0, got -1"),
        ("index_max_age_days", 1.5, "option 'index_max_age_days' must be an integer"),
        ("index_max_documents", 0, "must be a whole number of at least 1, got 0"),
    ],
)
def test_bad_retention_options_are_config_errors(run_stage, tmp_path, option, value, words):
    with pytest.raises(ConfigError) as error:
        run_stage("dedup", [], folder=tmp_path, **{option: value})
    assert words in str(error.value)
    assert f"'{option}'" in str(error.value)
    assert "[[stages]] #1 (dedup)" in str(error.value)


def test_pipeline_state_shows_when_entries_were_indexed_and_the_retention(
    run_pipeline, config: Path
) -> None:
    run_pipeline(config, documents=news(invented(3, "old", 1)))
    age(config.parent, 10)
    run_pipeline(config, documents=news(invented(2, "new", 2)))
    code, output = state(str(config), "--json")
    assert code == 0, output
    dedup = json.loads(output)["dedup"]
    assert dedup["retention"] == {"max_age_days": 30, "max_documents": None}
    assert 9.9 * DAY < dedup["newest_indexed"] - dedup["oldest_indexed"] < 10.1 * DAY
    assert dedup["oldest_run"] != dedup["newest_run"]
    code, output = state(str(config))
    assert code == 0, output
    assert "dedup index: 5 documents" in output
    assert "  oldest entry: indexed 20" in output
    assert f"by run {dedup['oldest_run']}\n" in output
    assert "  retention: entries expire 30 days after they were indexed" in output
    config.write_text(CONFIG.format(retention=""), encoding="utf-8")
    run_pipeline(config, documents=[])
    assert "  retention: none (entries never expire)" in state(str(config))[1]


def test_compacting_after_expiry_gives_space_back_and_the_same_results(
    run_pipeline, config: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = config.parent
    old, new = invented(400, "old", 1), invented(20, "new", 2)
    run_pipeline(config, documents=news(old))
    age(folder, 40)
    run_pipeline(config, documents=news(new))  # the 400 expire
    twin = tmp_path_factory.mktemp("uncompacted")
    for name in ("daily.toml", "state.sqlite"):
        shutil.copy(folder / name, twin / name)
    code, output = state(str(config), "--compact", "--json")
    assert code == 0, output
    sizes = json.loads(output)
    assert sizes["after"] < sizes["before"] * 0.5
    today = {"today/old": old["old/0007"], "today/new": edited(new["new/0003"])}
    results = [run_pipeline(f / "daily.toml", documents=news(today)) for f in (folder, twin)]
    assert [d.id for d in results[0].documents] == [d.id for d in results[1].documents]
    assert [d.id for d in results[0].documents] == ["today/old"]
    dropped = [json.loads(x) for x in (folder / "dedup.jsonl").read_text().splitlines()]
    assert dropped == [json.loads(x) for x in (twin / "dedup.jsonl").read_text().splitlines()]
    assert [(x["id"], x["original"]["id"]) for x in dropped] == [("today/new", "new/0003")]


def test_compacting_sweeps_the_band_rows_expiry_left_with_the_same_results(
    run_pipeline, config: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = config.parent
    old, new = invented(20, "old", 1), invented(100, "new", 2)
    run_pipeline(config, documents=news(old))
    age(folder, 40)
    run_pipeline(config, documents=news(new))  # the 20 expire, their band rows stay
    twin = tmp_path_factory.mktemp("unswept")
    for name in ("daily.toml", "state.sqlite"):
        shutil.copy(folder / name, twin / name)
    with closing(sqlite3.connect(folder / "state.sqlite")) as db:
        assert len(band_rows(db) - expected_band_rows(db, new)) == 20 * 21
    code, output = state(str(config), "--compact")
    assert code == 0, output
    with closing(sqlite3.connect(folder / "state.sqlite")) as db:
        assert band_rows(db) == expected_band_rows(db, new)
        left = db.execute("SELECT value FROM dedup_settings WHERE key = 'orphan_band_rows'")
        assert left.fetchall() == []
    today = {"today/old": edited(old["old/0007"]), "today/new": edited(new["new/0003"])}
    results = [run_pipeline(f / "daily.toml", documents=news(today)) for f in (folder, twin)]
    assert [d.id for d in results[0].documents] == [d.id for d in results[1].documents]
    assert [d.id for d in results[0].documents] == ["today/old"]
    dropped = [json.loads(x) for x in (folder / "dedup.jsonl").read_text().splitlines()]
    assert dropped == [json.loads(x) for x in (twin / "dedup.jsonl").read_text().splitlines()]


def test_every_index_row_belongs_to_a_document_after_expiry(run_pipeline, config: Path) -> None:
    folder = config.parent
    run_pipeline(config, documents=news(invented(30, "old", 1)))
    age(folder, 40)
    new = invented(5, "new", 2)
    run_pipeline(config, documents=news(new))
    with closing(sqlite3.connect(folder / "state.sqlite")) as db:
        assert band_rows(db) == expected_band_rows(db, new)
        nodes = {n for (n,) in db.execute("SELECT node FROM dedup_docs")}
        assert {n for _, n in band_rows(db)} == nodes
        runs = db.execute("SELECT COUNT(*) FROM dedup_runs").fetchone()[0]
    assert runs == 1
    assert len(nodes) == 5


@attrs.define(kw_only=True)
class Explode(CorpusStage):
    """Fails once it has seen every document (after the stages before it finished)."""

    name: ClassVar[str] = "test.explode"

    def process_stream(self, docs: Iterator[Document]) -> Iterable[Document | Drop]:
        for _ in docs:
            pass
        raise RuntimeError("boom")
        yield  # a generator, like every corpus stage


class ExplodeStage:
    def docstage_register_stages(self, registry: object) -> None:
        registry.add(Explode)  # type: ignore[attr-defined]


def test_a_failed_run_expires_nothing(run_pipeline, config: Path) -> None:
    """Expiry is part of the run's transaction: a run that fails later rolls it back."""
    folder = config.parent
    old = invented(3, "old", 1)
    run_pipeline(config, documents=news(old))
    age(folder, 40)
    failing = config.read_text(encoding="utf-8") + '\n[[stages]]\nuse = "test.explode"\n'
    config.write_text(failing, encoding="utf-8")
    result = run_pipeline(
        config, documents=news(invented(2, "new", 2)), plugins=[("x", ExplodeStage())]
    )
    assert result.summary.exit_code == 3
    with closing(sqlite3.connect(folder / "state.sqlite")) as db:
        assert sorted(i for (i,) in db.execute("SELECT id FROM dedup_docs")) == sorted(old)
