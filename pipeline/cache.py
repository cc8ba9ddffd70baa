"""The run cache: what earlier runs computed, so a run does only the work that changed.

Incremental runs and ``--resume`` rest on two fingerprints:

- a **stage key** per stage: a hash of its type, its resolved options and the source of
  its module, chained with the keys of the stages before it, so a changed option
  invalidates that stage and every stage after it, and nothing before;
- a **document fingerprint**: a hash of the pickled document, which covers its id, text,
  metadata, entities and annotations.

The cache (an SQLite file beside the state store, ``[run] cache``) keeps each distinct
document once (compressed, by fingerprint) and three kinds of entry:

- per segment of transforms: input fingerprint -> output fingerprint or drop reason.
  Entries are committed every second while the run goes on: after a crash or a ``kill -9``
  the next run finds them and does not redo that work.
- per corpus stage: the ordered fingerprints of its whole input -> the ordered outputs.
  Corpus stages may write to the state store (the dedup index), which is committed only
  when the run succeeds, so their entries count only once their run has finished, and
  only for the state store they wrote to, as it was then or later
  (:meth:`docstage.state.StateStore.stamp`): a deleted, replaced or restored-from-backup
  state file makes the stage run again and fill its index.
- per renderer: the input it last wrote and the files it made; a renderer whose input and
  options are unchanged, and whose files are still there untouched, is not run again.

It is only a cache: deleting the file costs recomputation, never data. Entries a
successful run did not use are removed at its end, so the file holds one generation.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import attrs

from docstage.document import Document
from docstage.fingerprints import fingerprint, pickled
from docstage.runlock import RunLock
from docstage.state import open_sqlite

#: Seconds between commits of segment entries during a run.
CHECKPOINT_SECONDS = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (fp BLOB PRIMARY KEY, body BLOB NOT NULL, used TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segment_results (
    key BLOB NOT NULL,
    fp_in BLOB NOT NULL,
    fp_out BLOB,
    stage INTEGER,
    reason TEXT,
    used TEXT NOT NULL,
    PRIMARY KEY (key, fp_in)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS corpus_runs (
    key BLOB NOT NULL,
    digest BLOB NOT NULL,
    run_id TEXT NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0,
    used TEXT NOT NULL,
    state_id TEXT NOT NULL,
    state_generation INTEGER NOT NULL,
    PRIMARY KEY (key, digest)
);
CREATE TABLE IF NOT EXISTS corpus_results (
    key BLOB NOT NULL,
    digest BLOB NOT NULL,
    seq INTEGER NOT NULL,
    fp BLOB NOT NULL,
    reason TEXT,
    PRIMARY KEY (key, digest, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    config TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL
);
CREATE TABLE IF NOT EXISTS renderer_runs (
    key BLOB PRIMARY KEY,
    digest BLOB NOT NULL,
    outputs TEXT NOT NULL,
    used TEXT NOT NULL
);
"""

perf = time.perf_counter


def _prepare(db: sqlite3.Connection) -> None:
    """Drop the corpus entries of a cache older than their state columns (they are
    recomputed), then begin the run's transaction."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(corpus_runs)")}
    if "state_id" not in columns:
        db.executescript("DROP TABLE corpus_runs; DROP TABLE corpus_results;")
        db.executescript(_SCHEMA)
    db.execute("BEGIN")


@attrs.frozen
class Cached:
    """A cached outcome: the document that came out, or where and why it was dropped.

    Attributes:
        fp: The fingerprint of the document out (of the input, for a drop).
        document: The document that came out, or None for a drop.
        stage: For a drop, the dropping stage's position within its segment.
        reason: For a drop, the reason.
    """

    fp: bytes
    document: Document | None
    stage: int | None = None
    reason: str | None = None


@attrs.define
class RunCache:
    """The cache file of ``[run] cache``, used by one run.

    Attributes:
        path: The SQLite file (created with its folder on first use).
        run_id: The run using it; entries it uses or writes are stamped with it.
        pipeline: The pipeline's name (shown to a second run that finds the cache locked).
    """

    path: Path
    run_id: str
    pipeline: str = ""
    _db: sqlite3.Connection | None = attrs.field(default=None, init=False, repr=False)
    _lock: RunLock = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._lock = RunLock([self.path], self.pipeline, self.run_id)

    _last_commit: float = attrs.field(default=0.0, init=False)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        self._lock.acquire()  # RunLocked: another run of this pipeline is using it
        try:
            db = self._open_locked()
        except BaseException:
            self._lock.release()
            raise
        return db

    def _open_locked(self) -> sqlite3.Connection:
        db = open_sqlite(
            self.path,
            where=f"[run] cache: {self.path}",
            what="cache",
            schema=_SCHEMA,
            prepare=_prepare,
            hint="; delete it, it is rebuilt",
        )
        self._last_commit = perf()
        return db

    # --- documents --------------------------------------------------------------------

    def _put(self, doc: Document) -> bytes:
        """Keep ``doc`` (pickled once: the same bytes give its fingerprint); its fingerprint."""
        data = pickled(doc)
        fp = fingerprint(doc, data)
        body = zlib.compress(data, 1)
        self.db.execute(
            "INSERT INTO docs (fp, body, used) VALUES (?, ?, ?) "
            "ON CONFLICT (fp) DO UPDATE SET used = excluded.used",
            (fp, body, self.run_id),
        )
        return fp

    def _get(self, fps: Sequence[bytes]) -> dict[bytes, Document]:
        found: dict[bytes, Document] = {}
        unique = list(dict.fromkeys(fps))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT fp, body FROM docs WHERE fp IN ({marks})", chunk)
            for fp, body in rows:
                found[bytes(fp)] = pickle.loads(zlib.decompress(body))
            self.db.execute(
                f"UPDATE docs SET used = ? WHERE fp IN ({marks})", (self.run_id, *chunk)
            )
        return found

    # --- segments ---------------------------------------------------------------------

    def segment_lookup(self, key: bytes, fps: Sequence[bytes]) -> list[Cached | None]:
        """The cached outcome of a segment for each input fingerprint (None: not cached)."""
        marks = ",".join("?" * len(fps))
        rows = self.db.execute(
            f"SELECT fp_in, fp_out, stage, reason FROM segment_results WHERE key = ? AND "
            f"fp_in IN ({marks})",
            (key, *fps),
        ).fetchall()
        if not rows:
            return [None] * len(fps)
        outcomes = {bytes(fp_in): (fp_out, stage, reason) for fp_in, fp_out, stage, reason in rows}
        self.db.execute(
            f"UPDATE segment_results SET used = ? WHERE key = ? AND fp_in IN ({marks})",
            (self.run_id, key, *fps),
        )
        docs = self._get([bytes(out) for out, _, _ in outcomes.values() if out is not None])
        result: list[Cached | None] = []
        for fp in fps:
            found = outcomes.get(fp)
            if found is None:
                result.append(None)
                continue
            fp_out, stage, reason = found
            if fp_out is None:
                result.append(Cached(fp=fp, document=None, stage=stage, reason=reason))
            elif (doc := docs.get(bytes(fp_out))) is not None:
                result.append(Cached(fp=bytes(fp_out), document=doc))
            else:
                result.append(None)
        return result

    def segment_store(
        self,
        key: bytes,
        entries: Iterable[tuple[bytes, Document | None, int | None, str | None]],
    ) -> list[bytes | None]:
        """Remember outcomes ``(fp_in, document out, dropping stage, drop reason)``; the
        fingerprint of each document out (None for a drop)."""
        made: list[bytes | None] = []
        for fp_in, doc, stage, reason in entries:
            fp_out = None
            if doc is not None:
                fp_out = self._put(doc)
            made.append(fp_out)
            self.db.execute(
                "INSERT OR REPLACE INTO segment_results VALUES (?, ?, ?, ?, ?, ?)",
                (key, fp_in, fp_out, stage, reason, self.run_id),
            )
        self.checkpoint()
        return made

    def checkpoint(self, *, force: bool = False) -> None:
        """Commit what is written so far, at most once a second unless forced."""
        if self._db is None:
            return
        now = perf()
        if force or now - self._last_commit >= CHECKPOINT_SECONDS:
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")
            self._last_commit = now

    # --- corpus stages ----------------------------------------------------------------

    def corpus_lookup(
        self,
        key: bytes,
        digest: bytes,
        state: tuple[str, int],
        finished: Callable[[str], bool] = lambda run_id: False,
    ) -> list[Cached] | None:
        """A corpus stage's outputs for exactly this input, if a finished run made them
        with this state store (``state``: its stamp now) at this generation or before.

        A run counts as finished when it marked its entries so, or when the state store
        says it committed (``finished(run_id)``): a run killed between its state commit
        and the cache's last commit wrote its index, so its entries hold."""
        row = self.db.execute(
            "SELECT complete, state_id, state_generation, run_id FROM corpus_runs "
            "WHERE key = ? AND digest = ?",
            (key, digest),
        ).fetchone()
        if row is None or row[1] != state[0] or row[2] > state[1]:
            return None
        if not row[0] and not finished(row[3]):
            return None
        rows = self.db.execute(
            "SELECT fp, reason FROM corpus_results WHERE key = ? AND digest = ? ORDER BY seq",
            (key, digest),
        ).fetchall()
        docs = self._get([bytes(fp) for fp, reason in rows if reason is None])
        result: list[Cached] = []
        for fp, reason in rows:
            if reason is not None:
                result.append(Cached(fp=bytes(fp), document=None, reason=reason))
            elif (doc := docs.get(bytes(fp))) is not None:
                result.append(Cached(fp=bytes(fp), document=doc))
            else:
                return None
        self.db.execute(
            "UPDATE corpus_runs SET used = ? WHERE key = ? AND digest = ?",
            (self.run_id, key, digest),
        )
        return result

    def corpus_begin(self, key: bytes, digest: bytes, state: tuple[str, int]) -> None:
        """Start recording a corpus stage's outputs (they count once the run finishes),
        made with the state store of stamp ``state`` (as it is before this run commits)."""
        self.db.execute("DELETE FROM corpus_results WHERE key = ? AND digest = ?", (key, digest))
        self.db.execute(
            "INSERT OR REPLACE INTO corpus_runs VALUES (?, ?, ?, 0, ?, ?, ?)",
            (key, digest, self.run_id, self.run_id, state[0], state[1] + 1),
        )

    def corpus_forget(self, key: bytes, digest: bytes) -> None:
        """Never replay this run's outputs of a corpus stage (it failed on a document,
        which the next run must try again)."""
        self.db.execute("DELETE FROM corpus_runs WHERE key = ? AND digest = ?", (key, digest))
        self.db.execute("DELETE FROM corpus_results WHERE key = ? AND digest = ?", (key, digest))

    def corpus_add(
        self, key: bytes, digest: bytes, seq: int, doc: Document, reason: str | None
    ) -> bytes:
        """Record output ``seq``: a document kept, or (with ``reason``) dropped."""
        fp = self._put(doc)
        self.db.execute(
            "INSERT INTO corpus_results VALUES (?, ?, ?, ?, ?)", (key, digest, seq, fp, reason)
        )
        return fp

    # --- renderers --------------------------------------------------------------------

    def renderer_unchanged(self, key: bytes, digest: bytes) -> list[Path] | None:
        """The files a renderer wrote for exactly this input, if they are untouched."""
        row = self.db.execute(
            "SELECT digest, outputs FROM renderer_runs WHERE key = ?", (key,)
        ).fetchone()
        if row is None or bytes(row[0]) != digest:
            return None
        outputs = json.loads(row[1])
        for path, size, mtime in outputs:
            try:
                stat = Path(path).stat()
            except OSError:
                return None
            if (stat.st_size, stat.st_mtime_ns) != (size, mtime):
                return None
        self.db.execute("UPDATE renderer_runs SET used = ? WHERE key = ?", (self.run_id, key))
        return [Path(path) for path, _, _ in outputs]

    def renderer_done(self, key: bytes, digest: bytes, outputs: Sequence[Path]) -> None:
        stats = []
        for path in outputs:
            stat = Path(path).stat()
            stats.append((str(path), stat.st_size, stat.st_mtime_ns))
        self.db.execute(
            "INSERT OR REPLACE INTO renderer_runs VALUES (?, ?, ?, ?)",
            (key, digest, json.dumps(stats), self.run_id),
        )

    # --- runs -----------------------------------------------------------------------

    def begin(self, pipeline: str, config: str) -> None:
        """Record that this run started (committed at once: a killed run stays recorded)."""
        self.db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, NULL)",
            (self.run_id, pipeline, config, time.time()),
        )
        self.checkpoint(force=True)

    def last_run(self, pipeline: str) -> tuple[str, str, float | None] | None:
        """``(run id, config hash, finished)`` of the latest earlier run of ``pipeline``."""
        row = self.db.execute(
            "SELECT run_id, config, finished FROM runs WHERE pipeline = ? AND run_id != ? "
            "ORDER BY started DESC LIMIT 1",
            (pipeline, self.run_id),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    # --- the end of a run -------------------------------------------------------------

    def finish(self) -> None:
        """The run succeeded: its corpus entries count; entries it did not use go."""
        db = self.db
        db.execute("UPDATE runs SET finished = ? WHERE run_id = ?", (time.time(), self.run_id))
        db.execute(
            "DELETE FROM runs WHERE finished IS NOT NULL AND run_id != ? AND pipeline = "
            "(SELECT pipeline FROM runs WHERE run_id = ?)",
            (self.run_id, self.run_id),
        )
        db.execute("UPDATE corpus_runs SET complete = 1 WHERE run_id = ?", (self.run_id,))
        for table in ("segment_results", "renderer_runs"):
            db.execute(f"DELETE FROM {table} WHERE used != ?", (self.run_id,))
        db.execute(
            "DELETE FROM corpus_results WHERE (key, digest) IN "
            "(SELECT key, digest FROM corpus_runs WHERE used != ?)",
            (self.run_id,),
        )
        db.execute("DELETE FROM corpus_runs WHERE used != ?", (self.run_id,))
        db.execute("DELETE FROM docs WHERE used != ?", (self.run_id,))
        self.checkpoint(force=True)

    def close(self) -> None:
        """Commit the segment entries written so far and close the file."""
        if self._db is not None:
            try:
                if self._db.in_transaction:
                    self._db.execute("COMMIT")
            finally:
                self._db.close()
                self._db = None
                self._lock.release()
