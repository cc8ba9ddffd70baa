"""The dedup index in the state store: what later runs deduplicate against.

A run never loads the index: it looks up, batch by batch, the earlier documents that
share a key with today's (:class:`CopyIndex` ``by_*`` methods). Two tables, no text:

* ``dedup_docs``: one row per indexed document (copies too, with the id of their
  original), numbered in the order documents were first indexed (``node``), with its
  16-byte exact key (indexed, for exact copies) and its compressed shingle set (for the
  exact Jaccard check of a near-copy candidate);
* ``dedup_bands``: one row per document and MinHash band key, ``WITHOUT ROWID`` and keyed
  by ``(key, node)``, so the documents sharing a band key are one range of the key.
  The table is partitioned by the top bits of the band key (itself a hash): partition
  ``p`` is the key range :func:`partition_range` (p), so a worker given some partitions
  reads them with range scans, and the table stores no partition column. The number of
  partitions is recorded in ``dedup_settings``.

The settings the index was built with are stored too; a run with other settings would
never match, so it is refused with a clear error. A store of the first layout (band keys
in a blob per document) is migrated when it is opened.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs
import numpy as np
import structlog

from docstage.errors import OptionError
from docstage_plugins.dedup import minhash

log = structlog.get_logger()

#: Band keys are below 2**63; partition ``p`` holds the keys whose top bits are ``p``.
PARTITION_BITS = 6
PARTITIONS = 1 << PARTITION_BITS
_SHIFT = 63 - PARTITION_BITS
#: Keys and ids per lookup statement (SQLite's bound-parameter limit is far above).
_CHUNK = 900
#: Band rows buffered before they are sorted and inserted (sorted inserts touch each
#: B-tree page once instead of once per row).
_BAND_BUFFER = 1 << 16

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dedup_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dedup_docs (
    node INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    published TEXT,
    length INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    original TEXT,
    exact BLOB NOT NULL,
    shingles BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dedup_docs_exact ON dedup_docs (exact);
CREATE TABLE IF NOT EXISTS dedup_bands (
    key INTEGER NOT NULL,
    node INTEGER NOT NULL,
    PRIMARY KEY (key, node)
) WITHOUT ROWID;
"""
_COLUMNS = "node, id, source, published, length, run_id, original, exact, shingles"


def partition_of(key: int) -> int:
    """The partition of a band key."""
    return key >> _SHIFT


def partition_range(partition: int) -> tuple[int, int]:
    """The band keys of ``partition``: ``low <= key < high``."""
    return partition << _SHIFT, (partition + 1) << _SHIFT


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
            document that was kept.
        exact: Its exact-copy key.
        shingles: Its shingle set, encoded (:func:`docstage_plugins.dedup.minhash.encode_set`);
            empty when it has no band keys.
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
class CopyIndex:
    """The dedup tables of one state store.

    Attributes:
        db: The state store's connection (inside the run's transaction).
        settings: What the index is built with (shingle size, permutations, threshold);
            they must match the stored ones.
    """

    db: sqlite3.Connection
    settings: dict[str, Any]
    _band_keys: list[int] = attrs.field(init=False, factory=list)
    _band_nodes: list[int] = attrs.field(init=False, factory=list)

    def __attrs_post_init__(self) -> None:
        old = self._columns("dedup_docs")
        self._create()
        stored = dict(self.db.execute("SELECT key, value FROM dedup_settings").fetchall())
        wanted = {k: json.dumps(v) for k, v in self.settings.items()}
        if not stored:
            self.db.executemany("INSERT INTO dedup_settings VALUES (?, ?)", wanted.items())
            stored = dict(wanted)
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
        if "bands" in old:
            self._migrate()

    def _columns(self, table: str) -> list[str]:
        return [row[1] for row in self.db.execute(f"PRAGMA table_info({table})")]

    def _create(self) -> None:
        # executescript() would commit the run's open transaction: one statement at a time.
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self.db.execute(statement)

    def _migrate(self) -> None:
        """Move the first layout's band blobs into ``dedup_bands`` and drop the column."""
        rows = self.db.execute("SELECT node, bands FROM dedup_docs")
        for node, blob in rows:
            self._buffer(node, np.frombuffer(blob, dtype="<u8"))
        self._flush_bands()
        self.db.execute("ALTER TABLE dedup_docs DROP COLUMN bands")
        log.info("dedup index migrated", documents=len(self), layout="band-key table")

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM dedup_docs").fetchone()[0])

    # --- lookups ------------------------------------------------------------------------

    def _select(self, where: str, values: Sequence[object]) -> Iterator[IndexedDoc]:
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM dedup_docs WHERE {where} IN ({marks})", chunk
            )
            for node, id_, source, published, length, run_id, original, exact, sets in rows:
                yield IndexedDoc(
                    id=id_,
                    source=source,
                    published=published,
                    length=length,
                    run_id=run_id,
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

    def by_exact(self, keys: Iterable[bytes]) -> dict[bytes, IndexedDoc]:
        """Per exact key, the first-indexed document with it (keys nobody has are absent)."""
        first: dict[bytes, IndexedDoc] = {}
        for doc in self._select("exact", sorted(set(keys))):
            known = first.get(doc.exact)
            if known is None or (known.node or 0) > (doc.node or 0):
                first[doc.exact] = doc
        return first

    def by_bands(self, keys: Iterable[int]) -> list[tuple[int, int]]:
        """``(band key, node)`` of every indexed document under one of these band keys."""
        wanted = sorted(set(keys))
        found: list[tuple[int, int]] = []
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found += self.db.execute(
                f"SELECT key, node FROM dedup_bands WHERE key IN ({marks})", chunk
            ).fetchall()
        return found

    def partition(self, partition: int) -> Iterator[tuple[int, int]]:
        """``(band key, node)`` of one partition, in key order (a range scan)."""
        low, high = partition_range(partition)
        yield from self.db.execute(
            # (the last partition's bound, 2**63, is no SQLite integer: an inclusive one is)
            "SELECT key, node FROM dedup_bands WHERE key BETWEEN ? AND ? ORDER BY key, node",
            (low, high - 1),
        )

    # --- writing ------------------------------------------------------------------------

    def add(self, docs: Iterable[IndexedDoc]) -> int:
        """Index the documents of this run (kept ones and copies).

        A document indexed before (the same id read again) keeps its place and the run that
        first indexed it; the rest is replaced by today's.
        """
        count = 0
        for doc in docs:
            values = (
                doc.source,
                doc.published,
                doc.length,
                doc.original,
                doc.exact,
                doc.shingles,
            )
            before = self.db.execute(
                "SELECT node, shingles FROM dedup_docs WHERE id = ?", (doc.id,)
            ).fetchone()
            if before is None:
                node = self.db.execute(
                    "INSERT INTO dedup_docs (source, published, length, original, exact, "
                    "shingles, id, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, doc.id, doc.run_id),
                ).lastrowid
                assert node is not None
            else:
                node, shingles = before
                self.db.execute(
                    "UPDATE dedup_docs SET source = ?, published = ?, length = ?, "
                    "original = ?, exact = ?, shingles = ? WHERE node = ?",
                    (*values, node),
                )
                if bytes(shingles) == doc.shingles:
                    count += 1
                    continue  # the same shingles: the same band keys
                self._forget_bands(node, bytes(shingles))
            self._buffer(node, np.asarray(doc.bands))
            count += 1
        self._flush_bands()
        return count

    def _forget_bands(self, node: int, shingles: bytes) -> None:
        """Delete a re-indexed document's old band rows (recomputed from its old set)."""
        self._flush_bands()
        if not shingles:
            return
        keys = band_keys_of(minhash.decode_set(shingles), self.settings)
        self.db.executemany(
            "DELETE FROM dedup_bands WHERE key = ? AND node = ?",
            ((key, node) for key in keys.tolist()),
        )

    def _buffer(self, node: int, keys: np.ndarray) -> None:
        self._band_keys += keys.tolist()
        self._band_nodes += [node] * keys.size
        if len(self._band_keys) >= _BAND_BUFFER:
            self._flush_bands()

    def _flush_bands(self) -> None:
        if not self._band_keys:
            return
        keys = np.array(self._band_keys, dtype=np.int64)
        nodes = np.array(self._band_nodes, dtype=np.int64)
        self._band_keys.clear()
        self._band_nodes.clear()
        order = np.lexsort((nodes, keys))
        rows = np.stack([keys[order], nodes[order]], 1)
        for start in range(0, len(rows), 1 << 14):
            self.db.executemany(
                "INSERT OR IGNORE INTO dedup_bands VALUES (?, ?)",
                rows[start : start + (1 << 14)].tolist(),
            )

    def bytes_per_document(self) -> float:
        """The state store's size on disk divided by the documents indexed (0 when empty)."""
        count = len(self)
        if not count:
            return 0.0
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        size = self.db.execute("PRAGMA page_size").fetchone()[0]
        return float(pages * size) / count


def band_keys_of(shingles: np.ndarray, settings: dict[str, Any]) -> np.ndarray:
    """The band keys of one shingle set under the index's settings."""
    hasher = minhash.MinHasher(permutations=int(settings["permutations"]))
    bands = minhash.choose_bands(float(settings["threshold"]), int(settings["permutations"]))
    keys: np.ndarray = minhash.band_keys(hasher.signatures([shingles]), *bands)[0]
    return keys
