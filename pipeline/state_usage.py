"""What a state store holds, read without writing to it, and giving its free pages back:
the values behind ``pipeline state``. The dedup index's entries and retention are read
from its tables (``dedup_docs``, ``dedup_runs``, ``dedup_settings``), of every layout; the
story index's from ``stories``, ``story_docs`` and ``story_merges``."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import attrs

from docstage.errors import DataError, display


@attrs.frozen(kw_only=True)
class Runs:
    """Runs recorded in ``docstage_runs``: how many, and when (seconds since the epoch).

    Attributes:
        count: Runs recorded (a failed run records none: its transaction is rolled back).
        first_started: Start of the earliest.
        last_started: Start of the latest.
        last_finished: End of the latest that finished.
    """

    count: int
    first_started: float | None
    last_started: float | None
    last_finished: float | None


@attrs.frozen(kw_only=True)
class TableUsage:
    """One table of the store: its rows and, with ``dbstat``, its bytes with its indexes."""

    name: str
    rows: int
    bytes: int | None


@attrs.frozen(kw_only=True)
class Retention:
    """The retention the last run of the ``dedup`` stage applied to its index (None: kept).

    Attributes:
        max_age_days: Entries first indexed more than this many days before a run expire.
        max_documents: Only this many most recently indexed entries are kept.
    """

    max_age_days: int | None
    max_documents: int | None


@attrs.frozen(kw_only=True)
class DedupUsage:
    """The dedup index (``dedup_…`` tables): documents, their cost, the runs that indexed them.

    Attributes:
        documents: Rows of ``dedup_docs``.
        bytes_per_document: Bytes of all ``dedup_…`` tables per document (None without
            ``dbstat`` or documents).
        oldest_run: The run that indexed the oldest entry still indexed.
        newest_run: The run that indexed the newest one.
        oldest_indexed: When the oldest entry was indexed (seconds since the epoch);
            None when empty, or for a store no run of this docstage has opened yet.
        newest_indexed: When the newest one was.
        retention: The retention the last run applied; None when no run recorded one.
    """

    documents: int
    bytes_per_document: float | None
    oldest_run: str | None
    newest_run: str | None
    oldest_indexed: float | None = None
    newest_indexed: float | None = None
    retention: Retention | None = None


@attrs.frozen(kw_only=True)
class StoryUsage:
    """The story index (``story_…`` tables and ``stories``).

    Attributes:
        stories: Stories that are not absorbed into another.
        merges: Stories absorbed into another (recorded merges).
        documents: Documents with their story and text kept for later runs.
        bytes_per_document: Bytes of the story tables per document (None without
            ``dbstat`` or documents).
        first_seen: The earliest date of a live story.
        last_updated: The latest date of one.
    """

    stories: int
    merges: int
    documents: int
    bytes_per_document: float | None
    first_seen: str | None
    last_updated: str | None


@attrs.frozen(kw_only=True)
class StateUsage:
    """What a state store holds, as :func:`state_usage` read it.

    Attributes:
        path: The file.
        size: Bytes on disk: the file and its write-ahead log.
        free: Bytes of free pages (what ``VACUUM`` would give back, about).
        schema_version: The store's schema version (``docstage_meta``).
        pipeline: The pipeline the ``runs`` and ``manifest_rows`` are about.
        runs: Runs of ``pipeline``.
        all_runs: Runs of every pipeline that shares the file.
        tables: Every table, by name (bytes include the table's indexes).
        dbstat: False when SQLite lacks the ``dbstat`` table: no bytes per table.
        dedup: The dedup index, if the file has one.
        stories: The story index, if the file has one.
        manifest_rows: Run manifest rows of ``pipeline``.
    """

    path: Path
    size: int
    free: int
    schema_version: int | None
    pipeline: str
    runs: Runs
    all_runs: Runs
    tables: tuple[TableUsage, ...]
    dbstat: bool
    dedup: DedupUsage | None
    manifest_rows: int
    stories: StoryUsage | None = None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict (the path as a string)."""
        found = attrs.asdict(self, recurse=True)
        found["path"] = str(self.path)
        return found


def disk_size(path: Path) -> int:
    """Bytes of an SQLite file and its write-ahead log, as far as they exist."""
    wal = path.with_name(path.name + "-wal")
    return sum(p.stat().st_size for p in (path, wal) if p.exists())


def _runs(db: sqlite3.Connection, where: str, *args: str) -> Runs:
    count, first, last, finished = db.execute(
        f"SELECT COUNT(*), MIN(started), MAX(started), MAX(finished) FROM docstage_runs {where}",
        args,
    ).fetchone()
    return Runs(count=count, first_started=first, last_started=last, last_finished=finished)


def _table_bytes(db: sqlite3.Connection) -> dict[str, int] | None:
    """Bytes per table with its indexes, from ``dbstat``; None when SQLite lacks it."""
    try:
        pages = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.OperationalError:
        return None
    owner = dict(db.execute("SELECT name, tbl_name FROM sqlite_master"))
    found: dict[str, int] = {}
    for name, size in pages:
        table = owner.get(name, name)
        found[table] = found.get(table, 0) + size
    return found


def _dedup_usage(db: sqlite3.Connection, index_bytes: int | None) -> DedupUsage:
    """The dedup index's entries, their oldest and newest, and the retention recorded."""
    (documents,) = db.execute("SELECT COUNT(*) FROM dedup_docs").fetchone()
    columns = {row[1] for row in db.execute("PRAGMA table_info(dedup_docs)")}
    ends: list[tuple[str | None, float | None]] = [(None, None), (None, None)]
    if "run_id" in columns:  # a layout no run of this docstage has migrated yet: no times
        oldest, newest = db.execute("SELECT MIN(run_id), MAX(run_id) FROM dedup_docs").fetchone()
        ends = [(oldest, None), (newest, None)]
    else:
        for end, order in enumerate(("ASC", "DESC")):
            found = db.execute(
                "SELECT r.run_id, r.indexed FROM dedup_docs AS d JOIN dedup_runs AS r "
                f"ON r.number = d.run ORDER BY d.node {order} LIMIT 1"
            ).fetchone()
            if found is not None:
                ends[end] = (found[0], float(found[1]))
    stored = dict(
        db.execute(
            "SELECT key, value FROM dedup_settings WHERE key IN "
            "('index_max_age_days', 'index_max_documents')"
        ).fetchall()
    )
    retention = None
    if stored:
        retention = Retention(
            max_age_days=json.loads(stored.get("index_max_age_days", "null")),
            max_documents=json.loads(stored.get("index_max_documents", "null")),
        )
    return DedupUsage(
        documents=documents,
        bytes_per_document=index_bytes / documents if index_bytes and documents else None,
        oldest_run=ends[0][0],
        newest_run=ends[1][0],
        oldest_indexed=ends[0][1],
        newest_indexed=ends[1][1],
        retention=retention,
    )


def _story_usage(db: sqlite3.Connection, index_bytes: int | None) -> StoryUsage:
    """The story index's live stories, merges and documents."""
    stories, first, last = db.execute(
        "SELECT COUNT(*), MIN(first_seen), MAX(last_updated) FROM stories "
        "WHERE absorbed_into IS NULL"
    ).fetchone()
    (merges,) = db.execute("SELECT COUNT(*) FROM story_merges").fetchone()
    (documents,) = db.execute("SELECT COUNT(*) FROM story_docs").fetchone()
    return StoryUsage(
        stories=stories,
        merges=merges,
        documents=documents,
        bytes_per_document=index_bytes / documents if index_bytes and documents else None,
        first_seen=first,
        last_updated=last,
    )


def state_usage(path: Path, pipeline: str) -> StateUsage:
    """Read what the state store at ``path`` holds, opening it read-only (never creating it).

    Raises:
        FileNotFoundError: There is no file at ``path``.
        DataError: The file is not a docstage state store.
    """
    if not path.exists():
        raise FileNotFoundError(path)
    where = f"[run] state: {display(path)}"
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise DataError(f"{where}: cannot open the state store: {exc}") from None
    with contextlib.closing(db):
        try:
            version = db.execute(
                "SELECT value FROM docstage_meta WHERE key = 'schema_version'"
            ).fetchone()
            names = [
                name
                for (name,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
            sizes = _table_bytes(db)
            tables = tuple(
                TableUsage(
                    name=name,
                    rows=db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0],
                    bytes=None if sizes is None else sizes.get(name, 0),
                )
                for name in names
            )
            dedup = None
            if "dedup_docs" in names:
                index = (
                    None
                    if sizes is None
                    else sum(t.bytes or 0 for t in tables if t.name.startswith("dedup_"))
                )
                dedup = _dedup_usage(db, index)
            stories = None
            if {"stories", "story_docs", "story_merges"} <= set(names):
                story_bytes = (
                    None
                    if sizes is None
                    else sum(t.bytes or 0 for t in tables if t.name.startswith("stor"))
                )
                stories = _story_usage(db, story_bytes)
            (manifest,) = db.execute(
                "SELECT COUNT(*) FROM docstage_manifest WHERE pipeline = ?", (pipeline,)
            ).fetchone()
            page_size, free_pages = (
                db.execute(f"PRAGMA {pragma}").fetchone()[0]
                for pragma in ("page_size", "freelist_count")
            )
            return StateUsage(
                path=path,
                size=disk_size(path),
                free=page_size * free_pages,
                schema_version=None if version is None else int(version[0]),
                pipeline=pipeline,
                runs=_runs(db, "WHERE pipeline = ?", pipeline),
                all_runs=_runs(db, ""),
                tables=tables,
                dbstat=sizes is not None,
                dedup=dedup,
                manifest_rows=manifest,
                stories=stories,
            )
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{where}: not a docstage state store ({exc})") from None


def _sweep_dedup_bands(db: sqlite3.Connection) -> None:
    """Delete the dedup index's band rows whose document is no longer indexed (expired,
    or indexed anew with another text): its runs leave them to a sweep, this is one
    (``docstage_plugins.dedup.index_retention.SWEEP``, the same statement)."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    if not {"dedup_docs", "dedup_bands", "dedup_settings"} <= tables:
        return
    db.execute("BEGIN IMMEDIATE")
    db.execute("DELETE FROM dedup_bands WHERE node NOT IN (SELECT node FROM dedup_docs)")
    db.execute("DELETE FROM dedup_settings WHERE key = 'orphan_band_rows'")
    db.execute("COMMIT")


def compact(path: Path, *, timeout: float = 0.5) -> tuple[int, int]:
    """``VACUUM`` the state store at ``path``, after sweeping the dedup index's band rows
    of documents no longer indexed: its bytes on disk before and after.

    Raises:
        FileNotFoundError: There is no file at ``path`` (none is created).
        DataError: Another process holds the file (a run: it keeps it for the whole run)
            for longer than ``timeout`` seconds, or it is not an SQLite database.
    """
    if not path.exists():
        raise FileNotFoundError(path)
    where = f"[run] state: {display(path)}"
    before = disk_size(path)
    try:
        db = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=timeout, isolation_level=None
        )
    except sqlite3.Error as exc:
        raise DataError(f"{where}: cannot open the state store: {exc}") from None
    with contextlib.closing(db):
        try:
            _sweep_dedup_bands(db)
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise DataError(
                    f"{where}: in use by another process (a run?); compact it when that finishes"
                ) from None
            raise DataError(f"{where}: cannot compact the state store: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{where}: not a docstage state store ({exc})") from None
    return before, disk_size(path)
