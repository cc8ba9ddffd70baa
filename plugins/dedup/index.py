"""The dedup index in the state store: what later runs deduplicate against.

A run never loads the index: it looks up, batch by batch, the earlier documents that
share a key with today's (:class:`CopyIndex` ``by_*`` methods). The tables hold no text:

* ``dedup_docs``: one row per indexed document (copies too, with the id of their
  original), numbered in the order documents were first indexed (``node``), with its
  source and run as small numbers (``dedup_sources``, ``dedup_runs``), its 16-byte exact
  key (indexed, for exact copies) and its shingle set, each hash cut to a width fitted
  to the set's size (:func:`~docstage_plugins.dedup.minhash.encode_fitted`: about 1.7
  bytes a shingle instead of 3.1), for the Jaccard check of a later run's near-copy
  candidate (:func:`~docstage_plugins.dedup.minhash.jaccard_at` bounds what the cut
  costs: a chance agreement of two distinct shingles, which only raises a similarity,
  in about 2 of 1,000 pairs of 300-shingle texts at the 0.8 threshold, fewer for closer
  copies);
* ``dedup_runs``: one row per run that indexed a document: its id, when it indexed
  (``indexed``, seconds since the epoch) and its first ``node``. Runs index in turn, so
  a run's documents are one range of nodes and older runs have lower ones: retention
  (:meth:`CopyIndex.expire`) deletes the documents below a node;
* ``dedup_bands``: one row per document and MinHash band key, ``WITHOUT ROWID`` and keyed
  by ``(prefix, node)``: the key's top 32 bits (:func:`prefix_of`, 4 bytes where the
  whole key takes 8), so the documents sharing a band key are one range of the table. A
  lookup by prefix proposes candidates as a lookup by whole key does, plus, about once
  in 2**32 / (documents x bands) keys asked, a document that only shares the prefix:
  every candidate is checked by its Jaccard similarity anyway, so such a stray one is
  turned down unless it truly is a near copy (which whole keys would have missed). The
  table is partitioned by the top bits of the band key (itself a hash), which are the
  top bits of its prefix: partition ``p`` is one range of prefixes
  (:func:`partition_range`), so a worker given some partitions reads them with range
  scans, and the table stores no partition column. The number of partitions is recorded
  in ``dedup_settings``. A document that leaves the index (expired, or read again with
  another text and indexed anew) leaves its band rows behind: its set no longer gives
  its band keys back, and the table is keyed by prefix, not by document. Such a row
  only proposes a candidate that is no longer there; :meth:`CopyIndex.sweep` deletes
  them in one pass over the table, which expiry runs once they are a quarter of it and
  ``pipeline state --compact`` runs every time.

The settings the index was built with are stored too; a run with other settings would
never match, so it is refused with a clear error. Stores of the earlier layouts are
migrated when they are opened (:mod:`docstage_plugins.dedup.index_layout`).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs
import numpy as np
import structlog

from docstage.errors import OptionError
from docstage.sqlrows import rows_in
from docstage_plugins.dedup import minhash
from docstage_plugins.dedup.band_keys import (
    PARTITIONS,
    partition_range,
    prefix_of,
    prefixes,
    sorted_unique,
)
from docstage_plugins.dedup.index_layout import (
    SETTINGS_TABLE,
    create,
    fit_sets,
    migrate,
    outdated,
)
from docstage_plugins.dedup.index_retention import Retention

log = structlog.get_logger()


def _chunks(items: Iterable[IndexedDoc], size: int) -> Iterator[list[IndexedDoc]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


#: Band rows buffered before they are sorted and inserted (sorted inserts touch each
#: B-tree page once instead of once per row).
_BAND_BUFFER = 1 << 16
#: Band rows per insert statement.
_BAND_STATEMENT = 1 << 16
#: The state store's page cache while the index is open, in KiB (SQLite's default: 2,000).
_CACHE_KIB = 32 * 1024
#: Documents :meth:`CopyIndex.add` writes with one statement of each kind.
_ADD_CHUNK = 4096
#: ``dedup_settings`` key: the highest node given.
_LAST_NODE = "last_node"


#: An indexed document without its set: node, id, exact key and the id of its original
#: (None for a kept document, or a copy whose original is no longer indexed).
Ref = tuple[int, str, bytes, str | None]


@attrs.frozen(kw_only=True)
class IndexedDoc:
    """A document an earlier run saw, as the index remembers it (never its text).

    Attributes:
        id: The document id.
        source: Its source.
        published: ISO 8601 date, or None.
        length: Characters of text.
        run_id: The run that first indexed it.
        original: For a copy, the id of the document it was found to copy; None for a
            document that was kept, and, when read back, for a copy whose original is
            no longer indexed (expired): the copy then stands for itself.
        exact: Its exact-copy key.
        shingles: Its shingle set, encoded: given whole
            (:func:`~docstage_plugins.dedup.minhash.encode_set`) or fitted, stored and read
            back fitted (:func:`~docstage_plugins.dedup.minhash.encode_fitted`); empty when
            it has no band keys.
        bands: Its LSH band keys (given when indexing; empty when read back).
        node: Its place in the index (the order documents were first indexed); None
            before it is indexed.
    """

    id: str
    source: str
    published: str | None
    length: int
    run_id: str
    original: str | None = None
    exact: bytes
    shingles: bytes
    bands: np.ndarray = attrs.field(eq=False, factory=lambda: np.empty(0, dtype=np.uint64))
    node: int | None = None


@attrs.define
class CopyIndex(Retention):
    """The dedup tables of one state store.

    Attributes:
        db: The state store's connection (inside the run's transaction).
        settings: What the index is built with (shingle size, permutations, threshold);
            they must match the stored ones.
        now: When this run indexes (seconds since the epoch): the time recorded for the
            documents it adds, and the time retention counts back from.
    """

    db: sqlite3.Connection
    settings: dict[str, Any]
    now: float = attrs.field(factory=time.time, kw_only=True)
    #: Band rows buffered to be inserted: prefixes and nodes.
    #: Band keys and their documents' nodes waiting to be written, an array a document.
    _band_keys: list[np.ndarray] = attrs.field(init=False, factory=list)
    _band_nodes: list[int] = attrs.field(init=False, factory=list)
    _band_waiting: int = attrs.field(init=False, default=0)
    #: The small tables, by number (and the run numbers by run id).
    _sources: dict[int, str] = attrs.field(init=False, factory=dict)
    _source_numbers: dict[str, int] = attrs.field(init=False, factory=dict)
    _runs: dict[int, str] = attrs.field(init=False, factory=dict)
    _run_numbers: dict[str, int] = attrs.field(init=False, factory=dict)
    _next_node: int | None = attrs.field(init=False, default=None)
    #: Whether SQLite's ``json_each`` may be used to insert band rows.
    _json: bool = attrs.field(init=False, default=True)

    def __attrs_post_init__(self) -> None:
        # Lookups and inserts land on random pages of the band table: SQLite's default
        # cache (2 MiB) misses most of them once the table outgrows it.
        (cache,) = self.db.execute("PRAGMA cache_size").fetchone()
        if -_CACHE_KIB < cache < 0 or 0 <= cache < _CACHE_KIB // 4:
            self.db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        old = outdated(self.db)
        if not old:
            create(self.db)
        else:  # (the settings are checked before a store is rebuilt)
            self.db.execute(SETTINGS_TABLE)
        self._check_settings()
        if old:
            for node, keys in migrate(self.db, int(self.now)):
                self._buffer(node, keys)
            self.flush_bands()
        refitted = fit_sets(self.db)
        if old or refitted:
            log.info("dedup index migrated", documents=len(self), layout=4, sets=refitted)
        self._sources = dict(self.db.execute("SELECT number, name FROM dedup_sources"))
        self._source_numbers = {name: n for n, name in self._sources.items()}
        self.load_runs()

    def load_runs(self) -> None:
        self._runs = dict(self.db.execute("SELECT number, run_id FROM dedup_runs"))
        self._run_numbers = {run: n for n, run in self._runs.items()}

    def _check_settings(self) -> None:
        stored = dict(self.db.execute("SELECT key, value FROM dedup_settings").fetchall())
        wanted = {k: json.dumps(v) for k, v in self.settings.items()}
        if not any(k in stored for k in wanted):
            self.db.executemany("INSERT INTO dedup_settings VALUES (?, ?)", wanted.items())
            stored.update(wanted)
        changed = sorted(k for k in wanted if stored.get(k) != wanted[k])
        if changed:
            was = ", ".join(f"{k}={stored.get(k)}" for k in changed)
            now = ", ".join(f"{k}={wanted[k]}" for k in changed)
            raise OptionError(
                changed[0],
                f"the dedup index in the state store was built with {was}, the stage now "
                f"says {now}: set them back, or point [run] state at a new file",
            )
        partitions = stored.get("partitions")
        if partitions is None:
            self.db.execute(
                "INSERT INTO dedup_settings VALUES ('partitions', ?)", (str(PARTITIONS),)
            )
        elif int(partitions) != PARTITIONS:
            raise OptionError(
                "index",
                f"the dedup index in the state store has {partitions} band-key partitions, "
                f"this docstage reads {PARTITIONS}: point [run] state at a new file",
            )

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM dedup_docs").fetchone()[0])

    # --- lookups ------------------------------------------------------------------------

    def _select(self, where: str, values: Sequence[object]) -> Iterator[IndexedDoc]:
        # An original that expired is no longer named: its copy stands for itself.
        rows = rows_in(
            self.db,
            "SELECT d.node, d.id, d.source, d.published, d.length, d.run, o.id, d.exact, "
            "d.shingles FROM dedup_docs AS d LEFT JOIN dedup_docs AS o ON o.id = d.original "
            f"WHERE d.{where} IN ({{marks}})",
            values,
        )
        for node, id_, source, published, length, run, original, exact, sets in rows:
            yield IndexedDoc(
                id=id_,
                source=self._sources[source],
                published=published,
                length=length,
                run_id=self._runs[run],
                original=original,
                exact=bytes(exact),
                shingles=bytes(sets),
                node=node,
            )

    def by_nodes(self, nodes: Iterable[int]) -> list[IndexedDoc]:
        """The documents at these places of the index."""
        return list(self._select("node", sorted(set(nodes))))

    def by_ids(self, ids: Iterable[str]) -> list[IndexedDoc]:
        """The indexed documents with these ids."""
        return list(self._select("id", sorted(set(ids))))

    def _refs(self, where: str, values: Sequence[object]) -> Iterator[Ref]:
        rows = rows_in(
            self.db,
            "SELECT d.node, d.id, d.exact, o.id FROM dedup_docs AS d "
            f"LEFT JOIN dedup_docs AS o ON o.id = d.original WHERE d.{where} IN ({{marks}})",
            values,
        )
        for node, id_, exact, original in rows:
            yield node, id_, bytes(exact), original

    def refs_by_ids(self, ids: Iterable[str]) -> list[Ref]:
        """What :meth:`by_ids` gives, without the sets (:data:`Ref`)."""
        return list(self._refs("id", sorted(set(ids))))

    def by_exact(self, keys: Iterable[bytes]) -> dict[bytes, Ref]:
        """Per exact key, the first-indexed document with it (keys nobody has are absent),
        without its set (:data:`Ref`)."""
        first: dict[bytes, Ref] = {}
        for ref in self._refs("exact", sorted(set(keys))):
            known = first.get(ref[2])
            if known is None or known[0] > ref[0]:
                first[ref[2]] = ref
        return first

    def by_bands(self, keys: Iterable[int]) -> list[tuple[int, int]]:
        """``(band key, node)`` of every indexed document with one of these band keys' prefix.

        The table keeps prefixes, so a document whose key only shares the prefix with an
        asked one comes back too, under the asked key: one more candidate, which the
        Jaccard check turns down unless it truly is a near copy.
        """
        matched, nodes = self.band_matches(np.fromiter(keys, dtype=np.uint64))
        return list(zip(matched.tolist(), nodes.tolist(), strict=True))

    def band_matches(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`by_bands` as two arrays: the asked band keys and the nodes found."""
        wanted = sorted_unique(keys.astype(np.uint64, copy=False))
        ends = prefixes(wanted)  # sorted, as the keys are
        asked = sorted_unique(ends).tolist()
        query = "SELECT prefix, node FROM dedup_bands WHERE prefix IN ({marks})"
        found: list[tuple[int, int]] = list(rows_in(self.db, query, asked))
        if not found:
            return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
        rows = np.array(found, dtype=np.int64)
        # Each row once per asked key with its prefix (almost always exactly one).
        low = np.searchsorted(ends, rows[:, 0], side="left")
        count = np.searchsorted(ends, rows[:, 0], side="right") - low
        within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        return wanted[np.repeat(low, count) + within], np.repeat(rows[:, 1], count)

    def partition(self, partition: int) -> Iterator[tuple[int, int]]:
        """``(band key prefix, node)`` of one partition, in prefix order (a range scan)."""
        low, high = partition_range(partition)
        yield from self.db.execute(
            "SELECT prefix, node FROM dedup_bands WHERE prefix BETWEEN ? AND ? "
            "ORDER BY prefix, node",
            (prefix_of(low), prefix_of(high - 1)),
        )

    # --- writing ------------------------------------------------------------------------

    def add(self, docs: Iterable[IndexedDoc]) -> int:
        """Index the documents of this run (kept ones and copies).

        A set is stored at a width fitted to its size
        (:func:`~docstage_plugins.dedup.minhash.encode_fitted`). A document indexed before
        (the same id read again) with the same set keeps its place, the run that first
        indexed it and when; the rest is replaced by today's. One whose set changed is
        indexed anew, as a new document would be (a new node, this run, now): its old row
        goes, and its old band rows, which no longer name a document, wait for the sweep
        (:meth:`sweep`; its old set cannot give its old band keys back).
        """
        count = moved = 0
        for chunk in _chunks(docs, _ADD_CHUNK):
            count += len(chunk)
            ids = [doc.id for doc in chunk]
            if len(set(ids)) < len(ids):  # an id twice: each sees the one before
                for doc in chunk:
                    moved += self._add_chunk([doc])
            else:
                moved += self._add_chunk(chunk)
        self.flush_bands()
        self._save_last_node()
        if moved:
            self._orphaned(moved)
        return count

    def _add_chunk(self, docs: Sequence[IndexedDoc]) -> int:
        """:meth:`add` of documents with distinct ids, in a few statements; return how
        many of them replace an indexed document that had a set (band rows left behind)."""
        before: dict[str, tuple[int, bytes, tuple[object, ...]]] = {}
        ids = [doc.id for doc in docs]
        query = (
            "SELECT node, id, shingles, source, published, length, original, exact "
            "FROM dedup_docs WHERE id IN ({marks})"
        )
        for node, id_, sets, *rest in rows_in(self.db, query, ids):
            before[id_] = (node, bytes(sets), (*rest[:4], bytes(rest[4]), bytes(sets)))
        updates, deletes, inserts = [], [], []
        moved = 0
        for doc in docs:
            stored = minhash.fit_encoded(doc.shingles) if doc.shingles else b""
            values = (
                self._source(doc.source),
                doc.published,
                doc.length,
                doc.original,
                doc.exact,
                stored,
            )
            old = before.get(doc.id)
            if old is not None and old[1] == stored:
                # The same set: the same band keys (but for a chance of about 2**-100: a
                # changed set that still agrees at the fitted width would need both a
                # shingle gone and one come to agree with others of the set). A row that
                # would not change is not written (a run reading its input again).
                if old[2] != values:
                    updates.append((*values, old[0]))
                continue
            node, run = self._new_node(doc.run_id)
            if old is not None:
                deletes.append((old[0],))
                moved += bool(old[1])
            inserts.append((*values, node, doc.id, run))
            self._buffer(node, np.asarray(doc.bands))
        # (deletes first: the ids they free are inserted again)
        self.db.executemany("DELETE FROM dedup_docs WHERE node = ?", deletes)
        self.db.executemany(
            "INSERT INTO dedup_docs (source, published, length, original, exact, "
            "shingles, node, id, run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            inserts,
        )
        self.db.executemany(
            "UPDATE dedup_docs SET source = ?, published = ?, length = ?, "
            "original = ?, exact = ?, shingles = ? WHERE node = ?",
            updates,
        )
        return moved

    def _source(self, name: str) -> int:
        number = self._source_numbers.get(name)
        if number is None:
            cursor = self.db.execute("INSERT INTO dedup_sources (name) VALUES (?)", (name,))
            assert cursor.lastrowid is not None
            number = self._source_numbers[name] = cursor.lastrowid
            self._sources[number] = name
        return number

    def _new_node(self, run_id: str) -> tuple[int, int]:
        """The next node, and the number of ``run_id`` (recorded with its first node)."""
        if self._next_node is None:
            self._next_node = self._last_node() + 1
        node = self._next_node
        self._next_node += 1
        run = self._run_numbers.get(run_id)
        if run is None:
            cursor = self.db.execute(
                "INSERT INTO dedup_runs (run_id, indexed, first_node) VALUES (?, ?, ?)",
                (run_id, int(self.now), node),
            )
            assert cursor.lastrowid is not None
            run = self._run_numbers[run_id] = cursor.lastrowid
            self._runs[run] = run_id
        return node, run

    def _last_node(self) -> int:
        """The highest node ever given: never given again, so that a band row left by a
        document no longer indexed never names a later one (a store from before the
        record had no such rows: its highest indexed node will do)."""
        stored = self.db.execute(
            "SELECT value FROM dedup_settings WHERE key = ?", (_LAST_NODE,)
        ).fetchone()
        (last,) = self.db.execute("SELECT MAX(node) FROM dedup_docs").fetchone()
        return max(int(stored[0]) if stored else 0, last or 0)

    def _save_last_node(self) -> None:
        if self._next_node is not None:
            self.db.execute(
                "INSERT OR REPLACE INTO dedup_settings VALUES (?, ?)",
                (_LAST_NODE, str(self._next_node - 1)),
            )

    def _buffer(self, node: int, keys: np.ndarray) -> None:
        self._band_keys.append(keys)
        self._band_nodes.append(node)
        self._band_waiting += keys.size
        if self._band_waiting >= _BAND_BUFFER:
            self.flush_bands()

    def flush_bands(self) -> None:
        """Write the band rows buffered so far."""
        if not self._band_waiting:
            return
        sizes = [keys.size for keys in self._band_keys]
        keys = prefixes(np.concatenate(self._band_keys))
        nodes = np.repeat(np.array(self._band_nodes, dtype=np.int64), sizes)
        self._band_keys.clear()
        self._band_nodes.clear()
        self._band_waiting = 0
        order = np.lexsort((nodes, keys))
        keys, nodes = keys[order], nodes[order]
        for start in range(0, len(keys), _BAND_STATEMENT):
            part = slice(start, start + _BAND_STATEMENT)
            self._insert_bands(keys[part], nodes[part])

    def _insert_bands(self, keys: np.ndarray, nodes: np.ndarray) -> None:
        """Insert band rows (sorted): as one JSON array of ``prefix << 32 | node`` that
        SQLite unpacks itself (a third less CPU than a Python tuple a row), or a row at a
        time where SQLite has no JSON functions or a node does not fit 32 bits."""
        if self._json and int(nodes.max()) < (1 << 32):
            packed = (keys.astype(np.int64) << 32) | nodes
            try:
                self.db.execute(
                    "INSERT OR IGNORE INTO dedup_bands SELECT value >> 32, value & 4294967295 "
                    "FROM json_each(?)",
                    (json.dumps(packed.tolist()),),
                )
                return
            except sqlite3.OperationalError:  # (built without JSON1: no json_each)
                self._json = False
        self.db.executemany(
            "INSERT OR IGNORE INTO dedup_bands VALUES (?, ?)",
            np.stack([keys, nodes], 1).tolist(),
        )

    def bytes_per_document(self) -> float:
        """The state store's size on disk divided by the documents indexed (0 when empty)."""
        count = len(self)
        if not count:
            return 0.0
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        size = self.db.execute("PRAGMA page_size").fetchone()[0]
        return float(pages * size) / count
