"""The state store: one embedded SQLite file that outlives a run.

Stages that remember across runs (the dedup index, so that tomorrow's run deduplicates
against today's) keep their tables here, each under its own name prefix. The file is
``[run] state`` (``.docstage/state.sqlite`` next to the config by default); it is opened
only when a stage first asks for it, so a pipeline that needs no state never creates it.

The store also keeps the **run manifest** (:class:`Manifest`): per document of the last
successful incremental run of each pipeline, its id, the hash of its text as read, the hash of the
stage configuration that processed it, and its status.

Everything a run writes is one transaction, committed by the runner only after the run's
outputs are committed: a failed or interrupted run leaves the store as it was, so the next
run never skips documents whose output was never written.

What a store holds, and compacting it (``pipeline state``), is :mod:`docstage.state_usage`.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from docstage.document import Document
from docstage.errors import DataError
from docstage.runlock import RunLock

#: Bumped when the store's own tables change shape; stages version their tables themselves.
SCHEMA_VERSION = 1

#: Manifest rows (or settlements) buffered before they are written.
_BUFFERED = 2000


def open_sqlite(
    path: Path,
    *,
    where: str,
    what: str,
    schema: str,
    prepare: Callable[[sqlite3.Connection], object] | None = None,
    hint: str = "",
) -> sqlite3.Connection:
    """Open (or create) one of docstage's SQLite files: autocommit, WAL, ``schema``
    applied, then ``prepare`` (e.g. a schema check and ``BEGIN``).

    Raises:
        DataError: ``{where}: cannot open the {what}: ...`` when the file cannot be
            created or opened; ``{where}: not a docstage {what} (...){hint}`` when it is
            not an SQLite database of ours. The connection is closed on any error.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise DataError(f"{where}: cannot open the {what}: {exc}") from None
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.executescript(schema)
        if prepare is not None:
            prepare(connection)
    except sqlite3.OperationalError as exc:
        # Locked, full, unreadable: the file may be fine; deleting it is not the answer.
        connection.close()
        raise DataError(f"{where}: cannot open the {what}: {_sqlite_problem(exc)}") from None
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise DataError(f"{where}: not a docstage {what} ({exc}){hint}") from None
    except BaseException:
        connection.close()
        raise
    return connection


def _sqlite_problem(exc: sqlite3.Error) -> str:
    """What an SQLite error means for the user, in words."""
    message = str(exc)
    if "locked" in message or "busy" in message:
        return f"{message} (another process is using it: is another run going on?)"
    if "full" in message:
        return f"{message} (no space left on its disk)"
    return message


_SCHEMA = """
CREATE TABLE IF NOT EXISTS docstage_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docstage_runs (
    run_id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL
);
CREATE TABLE IF NOT EXISTS docstage_manifest (
    pipeline TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT,
    detail TEXT,
    run_id TEXT NOT NULL,
    PRIMARY KEY (pipeline, doc_id)
) WITHOUT ROWID;
"""


@attrs.define
class StateStore:
    """The SQLite file of ``[run] state``, opened on first use.

    Attributes:
        path: The database file; its folder is created when the store is first opened.
        run_id: The run writing to the store (recorded in ``docstage_runs``).
        pipeline: The pipeline's name.
    """

    path: Path
    run_id: str
    pipeline: str = ""
    _connection: sqlite3.Connection | None = attrs.field(default=None, init=False, repr=False)
    _lock: RunLock = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._lock = RunLock([self.path], self.pipeline, self.run_id)

    @property
    def opened(self) -> bool:
        """True once a stage has used the store in this run."""
        return self._connection is not None

    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection, inside this run's transaction (opens the file if needed).

        Raises:
            DataError: The file cannot be created or is not a docstage state store.
        """
        if self._connection is None:
            self._connection = self._open()
        return self._connection

    def _open(self) -> sqlite3.Connection:
        self._lock.acquire()  # RunLocked: another run is using the store
        try:
            return open_sqlite(
                self.path,
                where=f"[run] state: {self.path}",
                what="state store",
                schema=_SCHEMA,
                prepare=self._begin,
            )
        except BaseException:
            self._lock.release()
            raise

    def _begin(self, connection: sqlite3.Connection) -> None:
        found = connection.execute(
            "SELECT value FROM docstage_meta WHERE key = 'schema_version'"
        ).fetchone()
        if found is None:
            connection.execute(
                "INSERT INTO docstage_meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(found[0]) > SCHEMA_VERSION:
            raise DataError(
                f"[run] state: {self.path}: written by a newer docstage (state schema "
                f"{found[0]}, this version reads up to {SCHEMA_VERSION}); upgrade docstage or "
                "use another state file"
            )
        connection.execute("BEGIN")
        connection.execute(
            "INSERT OR REPLACE INTO docstage_runs (run_id, pipeline, started) VALUES (?, ?, ?)",
            (self.run_id, self.pipeline, time.time()),
        )

    def stamp(self) -> tuple[str, int]:
        """Which store this is and how many runs have committed to it: ``(identity,
        generation)``. The identity is made with the store (a new file, even at the same
        path, is another store); the generation grows by one with every commit, so an
        older copy of the file put back has a smaller one. What a run cache recorded
        about a store's contents holds only for the same store at the same or a later
        generation."""
        db = self.connection
        found = db.execute("SELECT value FROM docstage_meta WHERE key = 'store_id'").fetchone()
        if found is None:
            identity = secrets.token_hex(8)
            db.execute("INSERT INTO docstage_meta VALUES ('store_id', ?)", (identity,))
        else:
            identity = found[0]
        generation = db.execute(
            "SELECT value FROM docstage_meta WHERE key = 'generation'"
        ).fetchone()
        return identity, int(generation[0]) if generation is not None else 0

    def finished(self, run_id: str) -> bool:
        """Whether run ``run_id`` committed to this store."""
        row = self.connection.execute(
            "SELECT finished FROM docstage_runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        return row is not None and row[0] is not None

    def commit(self) -> None:
        """Make everything this run wrote permanent (called by the runner on success)."""
        if self._connection is None:
            return
        self._connection.execute(
            "UPDATE docstage_runs SET finished = ? WHERE run_id = ?", (time.time(), self.run_id)
        )
        self._connection.execute(
            "INSERT INTO docstage_meta VALUES ('generation', '1') ON CONFLICT (key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )
        self._connection.execute("COMMIT")
        self._connection.execute("BEGIN")

    def rollback(self) -> None:
        """Forget everything this run wrote (a failed or interrupted run)."""
        if self._connection is not None and self._connection.in_transaction:
            self._connection.execute("ROLLBACK")
            self._connection.execute("BEGIN")

    def close(self) -> None:
        """Close the file, discarding anything not committed."""
        if self._connection is not None:
            try:
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
                self._connection.close()
            finally:
                self._connection = None
                self._lock.release()


@attrs.define
class Manifest:
    """The run manifest of one pipeline, rewritten by every successful incremental run.

    A document read gets a row with status ``held``; its status changes when it leaves the
    pipeline: ``done`` (it came out of the last stage), ``dropped`` (a stage dropped it on
    purpose: ``detail`` says why), ``quarantined`` or ``skipped`` (a stage failed on it,
    per ``[run] on_error``: ``detail`` has the error). A row still ``held`` at the end was
    absorbed by a corpus stage without being dropped. Rows are buffered and written in
    the run's transaction, so the manifest always describes the last run that finished; a
    document that settles while its row is still buffered costs one insert, not two
    statements.

    Attributes:
        store: The state store.
        pipeline: The pipeline's name.
        config: The hash of the whole stage configuration (read documents get it).
    """

    store: StateStore
    pipeline: str
    config: str
    #: Rows not written yet, by document id: (pipeline, doc_id, content_hash,
    #: config_hash, status, stage, detail, run_id).
    _rows: dict[str, list[str | None]] = attrs.Factory(dict)
    #: Settlements of rows already written: (status, config_hash, stage, detail, pipeline,
    #: doc_id).
    _updates: list[tuple[str, str, str | None, str | None, str, str]] = attrs.Factory(list)
    _begun: bool = False

    def read(self, doc_id: str, content_hash: str) -> None:
        """A document was read: its row, ``held`` until it settles."""
        self._rows[doc_id] = [
            self.pipeline,
            doc_id,
            content_hash,
            self.config,
            "held",
            None,
            None,
            self.store.run_id,
        ]
        if len(self._rows) >= _BUFFERED:
            self.flush()

    def settle(
        self, doc_id: str, status: str, config: str, stage: str | None, detail: str | None = None
    ) -> None:
        """A document left the pipeline: ``status`` at ``stage`` (of stage key ``config``)."""
        row = self._rows.get(doc_id)
        if row is not None:
            row[3:7] = [config, status, stage, detail]
            return
        self._updates.append((status, config, stage, detail, self.pipeline, doc_id))
        if len(self._updates) >= _BUFFERED:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows (the first flush of a run removes the last run's)."""
        db = self.store.connection
        if not self._begun:
            db.execute("DELETE FROM docstage_manifest WHERE pipeline = ?", (self.pipeline,))
            self._begun = True
        if self._rows:
            db.executemany(
                "INSERT OR REPLACE INTO docstage_manifest (pipeline, doc_id, content_hash, "
                "config_hash, status, stage, detail, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                self._rows.values(),
            )
            self._rows.clear()
        if self._updates:
            db.executemany(
                "UPDATE docstage_manifest SET status = ?, config_hash = ?, stage = ?, "
                "detail = ? WHERE pipeline = ? AND doc_id = ?",
                self._updates,
            )
            self._updates.clear()


def content_hash(doc: Document) -> str:
    """The manifest's content hash: 16 hex digits of the text as read."""
    return hashlib.blake2b(doc.text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def forget_manifest(store: StateStore) -> None:
    """Remove the manifest of the store's pipeline, in the run's transaction, for a run that
    keeps none: it would describe a run that is no longer the last. A store that does not
    exist yet is not created for this."""
    if not store.opened and not store.path.exists():
        return
    store.connection.execute("DELETE FROM docstage_manifest WHERE pipeline = ?", (store.pipeline,))


def read_manifest(path: Path, pipeline: str) -> list[dict[str, str | None]]:
    """The manifest rows of ``pipeline`` in the state store at ``path`` (none if absent)."""
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(path)) as db:
        try:
            rows = db.execute(
                "SELECT doc_id, content_hash, config_hash, status, stage, detail, run_id "
                "FROM docstage_manifest WHERE pipeline = ? ORDER BY doc_id",
                (pipeline,),
            ).fetchall()
        except sqlite3.OperationalError:
            return []
    names = ("id", "content_hash", "config_hash", "status", "stage", "detail", "run_id")
    return [dict(zip(names, row, strict=True)) for row in rows]
