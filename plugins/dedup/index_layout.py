"""The tables of the dedup index, and the migration of stores of its earlier layouts.

Layouts, in order (a store of any of them opens; the earlier ones are rebuilt into the
current one, in the run's transaction, the first time a run opens them):

1. ``dedup_docs`` only: each document's band keys in a blob of its row, its run id and
   source as text;
2. the band keys moved to ``dedup_bands`` (one row per document and whole band key);
3. the run and the source as numbers into ``dedup_runs`` and ``dedup_sources``,
   when each run indexed, and band-key prefixes in ``dedup_bands``. Documents of a
   migrated store count as indexed when it was migrated: their runs' times were never
   recorded, so retention by age starts counting for them then;
4. (current) the same tables, the shingle sets stored at a width fitted to their size
   (set format 2, :func:`~docstage_plugins.dedup.minhash.encode_fitted`, about half the
   bytes), recorded as ``set_format`` in ``dedup_settings``; band rows of a document no
   longer indexed are left to a sweep. The sets of a store of an earlier layout are
   re-encoded where they are (:func:`fit_sets`).

The rebuilt tables are new ones: the old ones' pages become free pages of the file,
which ``pipeline state --compact`` gives back (re-encoded sets leave free space in their
pages, given back the same way).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import numpy as np

from docstage_plugins.dedup import minhash

#: ``dedup_settings`` key: the format of the stored sets (none recorded: format 1).
SET_FORMAT = "set_format"
_FITTED = "2"
#: Sets re-encoded per statement.
_FIT_CHUNK = 4096

SETTINGS_TABLE = (
    "CREATE TABLE IF NOT EXISTS dedup_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
)
SCHEMA = f"""
{SETTINGS_TABLE};
CREATE TABLE IF NOT EXISTS dedup_runs (
    number INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    indexed INTEGER NOT NULL,
    first_node INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dedup_sources (number INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS dedup_docs (
    node INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    source INTEGER NOT NULL,
    published TEXT,
    length INTEGER NOT NULL,
    run INTEGER NOT NULL,
    original TEXT,
    exact BLOB NOT NULL,
    shingles BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dedup_docs_exact ON dedup_docs (exact);
CREATE TABLE IF NOT EXISTS dedup_bands (
    prefix INTEGER NOT NULL,
    node INTEGER NOT NULL,
    PRIMARY KEY (prefix, node)
) WITHOUT ROWID;
"""


def create(db: sqlite3.Connection) -> None:
    """Create the tables that are missing (one statement at a time: ``executescript()``
    would commit the run's open transaction)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def outdated(db: sqlite3.Connection) -> bool:
    """Whether the dedup tables are of an earlier layout."""
    return "run_id" in _columns(db, "dedup_docs") or "key" in _columns(db, "dedup_bands")


def migrate(db: sqlite3.Connection, now: int) -> Iterator[tuple[int, np.ndarray]]:
    """Rebuild the dedup tables of an earlier layout into the current one, runs counted as
    indexed at ``now``; yield ``(node, band keys)`` of the first layout's blobs, for the
    caller to insert into ``dedup_bands``."""
    docs = _columns(db, "dedup_docs")
    if "key" in _columns(db, "dedup_bands"):
        db.execute("ALTER TABLE dedup_bands RENAME TO dedup_bands_old")
        create(db)
        # (two band keys of a document may share a prefix: one row says both)
        db.execute(
            "INSERT OR IGNORE INTO dedup_bands SELECT (key >> 31) - 2147483648, node "
            "FROM dedup_bands_old ORDER BY 1, 2"
        )
        db.execute("DROP TABLE dedup_bands_old")
    if "run_id" not in docs:
        return
    db.execute("DROP INDEX IF EXISTS dedup_docs_exact")
    db.execute("ALTER TABLE dedup_docs RENAME TO dedup_docs_old")
    create(db)
    # Runs are numbered in the order they first indexed, as the current layout's are.
    db.execute(
        "INSERT INTO dedup_runs (run_id, indexed, first_node) SELECT run_id, ?, MIN(node) "
        "FROM dedup_docs_old GROUP BY run_id ORDER BY MIN(node)",
        (now,),
    )
    db.execute(
        "INSERT INTO dedup_sources (name) SELECT DISTINCT source FROM dedup_docs_old "
        "WHERE source NOT IN (SELECT name FROM dedup_sources) ORDER BY source"
    )
    db.execute(
        "INSERT INTO dedup_docs (node, id, source, published, length, run, original, exact, "
        "shingles) SELECT o.node, o.id, s.number, o.published, o.length, r.number, "
        "o.original, o.exact, o.shingles FROM dedup_docs_old AS o "
        "JOIN dedup_sources AS s ON s.name = o.source "
        "JOIN dedup_runs AS r ON r.run_id = o.run_id ORDER BY o.node"
    )
    if "bands" in docs:
        for node, blob in db.execute("SELECT node, bands FROM dedup_docs_old"):
            yield node, np.frombuffer(blob, dtype="<u8")
    db.execute("DROP TABLE dedup_docs_old")


def fit_sets(db: sqlite3.Connection) -> int:
    """Re-encode the whole-hash sets (format 1) of ``dedup_docs`` at their fitted width,
    once per store; return how many. The sets a later run compares with are then the same
    as if this docstage had indexed them."""
    recorded = db.execute(
        "SELECT value FROM dedup_settings WHERE key = ?", (SET_FORMAT,)
    ).fetchone()
    if recorded is not None and recorded[0] == _FITTED:
        return 0
    count, start = 0, -(1 << 62)
    while True:
        chunk = db.execute(
            "SELECT node, shingles FROM dedup_docs WHERE node > ? ORDER BY node LIMIT ?",
            (start, _FIT_CHUNK),
        ).fetchall()
        if not chunk:
            break
        db.executemany(
            "UPDATE dedup_docs SET shingles = ? WHERE node = ?",
            [(minhash.fit_encoded(bytes(sets)), node) for node, sets in chunk if sets],
        )
        count += sum(1 for _, sets in chunk if sets)
        start = chunk[-1][0]
    db.execute("INSERT OR REPLACE INTO dedup_settings VALUES (?, ?)", (SET_FORMAT, _FITTED))
    return count
