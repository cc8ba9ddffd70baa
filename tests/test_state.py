"""The state store: opened on first use, one transaction per run, committed only
when the run's outputs are."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import ClassVar

import attrs
import pytest

from docstage.cache import RunCache
from docstage.config import config_from_dict
from docstage.document import Document
from docstage.errors import DataError, DocstageError
from docstage.resolve import make_plan
from docstage.runner import Runner
from docstage.stages import CorpusStage, Drop, StageContext
from docstage.state import Manifest, StateStore, open_sqlite, read_manifest


@attrs.define(kw_only=True)
class Remember(CorpusStage):
    """Counts documents across runs in the state store; fails on a document reading 'boom'."""

    name: ClassVar[str] = "test.remember"
    _context: StageContext | None = attrs.field(default=None, init=False)

    def setup(self, context: StageContext) -> None:
        self._context = context

    def process_stream(self, docs: Iterator[Document]) -> Iterable[Document | Drop]:
        assert self._context is not None
        assert self._context.state is not None
        db = self._context.state.connection
        db.execute("CREATE TABLE IF NOT EXISTS remember (id TEXT PRIMARY KEY)")
        for doc in docs:
            if doc.text == "boom":
                raise RuntimeError("boom")
            seen = db.execute("SELECT 1 FROM remember WHERE id = ?", (doc.id,)).fetchone()
            db.execute("INSERT OR IGNORE INTO remember VALUES (?)", (doc.id,))
            yield Drop("seen in an earlier run") if seen else doc


class Stages:
    def docstage_register_stages(self, registry: object) -> None:
        registry.add(Remember)  # type: ignore[attr-defined]


def run(run_pipeline, folder: Path, *texts: str, stages: tuple[str, ...] = ("test.remember",)):
    documents = [Document(id=f"d{i}", text=t) for i, t in enumerate(texts)]
    return run_pipeline(
        {"run": {"state": "state/db.sqlite"}, "stages": [{"use": s} for s in stages]},
        documents=documents,
        plugins=[("stages", Stages())],
        folder=folder,
    )


def remembered(folder: Path) -> list[str]:
    with closing(sqlite3.connect(folder / "state" / "db.sqlite")) as db, db:
        return [row[0] for row in db.execute("SELECT id FROM remember ORDER BY id")]


def test_a_later_run_sees_what_an_earlier_one_stored(run_pipeline, tmp_path: Path) -> None:
    first = run(run_pipeline, tmp_path, "a", "b")
    assert [d.id for d in first.documents] == ["d0", "d1"]
    second = run(run_pipeline, tmp_path, "a", "b", "c")
    assert [d.id for d in second.documents] == ["d2"]
    assert second.summary.stages[0].dropped == {"seen in an earlier run": 2}
    assert remembered(tmp_path) == ["d0", "d1", "d2"]
    with closing(sqlite3.connect(tmp_path / "state" / "db.sqlite")) as db, db:
        runs = db.execute("SELECT run_id, finished FROM docstage_runs").fetchall()
    assert {r[0] for r in runs} == {first.summary.run_id, second.summary.run_id}
    assert all(r[1] is not None for r in runs)


def test_a_failed_run_leaves_the_store_as_it_was(run_pipeline, tmp_path: Path) -> None:
    run(run_pipeline, tmp_path, "a")
    failed = run(run_pipeline, tmp_path, "x", "y", "boom")
    assert failed.summary.exit_code == 3
    assert remembered(tmp_path) == ["d0"]


def test_a_pipeline_that_needs_no_state_creates_no_file(run_pipeline, tmp_path: Path) -> None:
    result = run_pipeline(
        {
            "run": {"state": "state/db.sqlite"},
            "stages": [{"use": "render.jsonl", "path": "out.jsonl"}],
        },
        documents=[Document(id="a", text="a")],
        folder=tmp_path,
    )
    assert result.summary.exit_code == 0
    assert not (tmp_path / "state").exists()


def test_a_file_that_is_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    path.write_bytes(b"this is not sqlite, just some text that happens to be here" * 20)
    store = StateStore(path, "run-1")
    with pytest.raises(DataError) as error:
        store.connection  # noqa: B018 - opening is the point
    assert str(error.value).startswith(f"[run] state: {path}: not a docstage state store")
    assert "\n" not in str(error.value)


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE docstage_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO docstage_meta VALUES ('schema_version', '99')")
    with pytest.raises(DataError, match="written by a newer docstage"):
        StateStore(path, "run-1").connection  # noqa: B018


def test_close_discards_what_was_not_committed(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = StateStore(path, "run-1")
    store.connection.execute("CREATE TABLE t (x INTEGER)")
    store.commit()
    store.connection.execute("INSERT INTO t VALUES (1)")
    store.close()
    assert not store.opened
    with closing(sqlite3.connect(path)) as db, db:
        assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_a_cache_that_is_not_a_database_says_to_delete_it(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "news.sqlite"
    path.parent.mkdir()
    path.write_bytes(b"this is not sqlite, just some text that happens to be here" * 20)
    cache = RunCache(path, "run-1")
    with pytest.raises(DataError) as error:
        cache.db  # noqa: B018 - opening is the point
    message = str(error.value)
    assert message.startswith(f"[run] cache: {path}: not a docstage cache (")
    assert message.endswith("); delete it, it is rebuilt")
    assert "\n" not in message


def test_a_cache_that_cannot_be_created_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    path = tmp_path / "blocked" / "news.sqlite"
    with pytest.raises(DataError) as error:
        RunCache(path, "run-1").db  # noqa: B018 - opening is the point
    assert str(error.value).startswith(f"[run] cache: {path}: cannot open the cache: ")


# --- the run manifest -------------------------------------------------------------------


def manifest_config(folder: Path, *, incremental: bool) -> dict:
    return {
        "pipeline": {"name": "news"},
        "run": {
            "state": "state/db.sqlite",
            "cache": "state/cache",
            "quarantine": "quarantine.jsonl",
            "incremental": incremental,
        },
        "stages": [{"use": "read.files", "path": "corpus/*.txt"}],
    }


def run_config(folder: Path, *, incremental: bool, retry: bool = False):
    config = config_from_dict(manifest_config(folder, incremental=incremental), folder)
    return Runner(make_plan(config), retry_quarantined=retry).execute()


def test_an_incremental_run_keeps_a_manifest_and_a_run_without_the_cache_removes_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "corpus").mkdir()
    for name, text in (("a.txt", "Harbor report."), ("b.txt", "   "), ("c.txt", "Ferry news.")):
        (tmp_path / "corpus" / name).write_text(text, encoding="utf-8")
    first = run_config(tmp_path, incremental=True)
    assert first.exit_code == 0
    rows = {row["id"]: row for row in read_manifest(tmp_path / "state/db.sqlite", "news")}
    assert {i: r["status"] for i, r in rows.items()} == {"a.txt": "done", "c.txt": "done"}
    assert len(str(rows["a.txt"]["content_hash"])) == 16
    assert {r["run_id"] for r in rows.values()} == {first.run_id}

    # Nothing reads a manifest without the cache: the run writes none, and the last
    # run's goes, so that --retry-quarantined never retries a run that was not the last.
    assert run_config(tmp_path, incremental=False).exit_code == 0
    assert read_manifest(tmp_path / "state/db.sqlite", "news") == []
    with pytest.raises(DocstageError) as error:
        run_config(tmp_path, incremental=True, retry=True)
    assert str(error.value) == (
        "--retry-quarantined: no finished run of pipeline 'news' in "
        f"{tmp_path / 'state/db.sqlite'} (a run with [run] incremental = false keeps no "
        "run manifest)"
    )


def test_a_run_without_the_cache_creates_no_state_file_for_a_manifest(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("Harbor report.", encoding="utf-8")
    assert run_config(tmp_path, incremental=False).exit_code == 0
    assert not (tmp_path / "state" / "db.sqlite").exists()


def test_manifest_rows_settled_before_and_after_they_are_written(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = StateStore(path, "run-1", "news")
    manifest = Manifest(store, "news", "cfg")
    manifest.read("a", "h-a")
    manifest.settle("a", "done", "key-3", None)  # still buffered: one row written
    manifest.read("b", "h-b")
    manifest.read("c", "h-c")
    manifest.flush()
    manifest.settle("b", "dropped", "key-2", "dedup", "a copy of a")  # already written
    manifest.flush()
    store.commit()
    store.close()
    rows = {row["id"]: row for row in read_manifest(path, "news")}
    assert rows["a"] == {
        "id": "a",
        "content_hash": "h-a",
        "config_hash": "key-3",
        "status": "done",
        "stage": None,
        "detail": None,
        "run_id": "run-1",
    }
    assert (rows["b"]["status"], rows["b"]["stage"], rows["b"]["detail"]) == (
        "dropped",
        "dedup",
        "a copy of a",
    )
    assert (rows["c"]["status"], rows["c"]["config_hash"]) == ("held", "cfg")


def test_a_locked_store_says_so_instead_of_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path, "run-1")
    store.connection  # noqa: B018 - creates the store
    store.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DataError) as error:
            open_sqlite(path, where=f"[run] state: {path}", what="state store", schema="")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    message = str(error.value)
    assert message.startswith(f"[run] state: {path}: cannot open the state store: ")
    assert "another process is using it: is another run going on?" in message
    assert "not a docstage" not in message
