"""The dedup index in the state store: what later runs deduplicate against.

One row per document a run kept (copies are not indexed: they point at their
survivor), with what matching needs and no text: the 16-byte exact key, the
compressed shingle set (for the exact Jaccard check of a near-copy candidate), and one
row per MinHash band key. The settings the index was built with are stored too; a run
with other settings would never match, so it is refused with a clear error.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import attrs
import numpy as np

from docstage.errors import OptionError

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
    shingles BLOB NOT NULL,
    bands BLOB NOT NULL
);
"""


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
        shingles: Its shingle set, encoded (:func:`docstage_plugins.dedup.minhash.encode_set`).
        bands: Its LSH band keys.
    """

    id: str
    source: str
    published: str | None
    length: int
    run_id: str
    original: str | None = None
    exact: bytes
    shingles: bytes
    bands: np.ndarray = attrs.field(eq=False)


@attrs.define
class CopyIndex:
    """The dedup tables of one state store.

    Attributes:
        db: The state store's connection (inside the run's transaction).
        settings: What the index is built with (shingle size, permutations, bands); they
            must match the stored ones.
    """

    db: sqlite3.Connection
    settings: dict[str, Any]

    def __attrs_post_init__(self) -> None:
        self._create()
        stored = dict(self.db.execute("SELECT key, value FROM dedup_settings").fetchall())
        wanted = {k: json.dumps(v) for k, v in self.settings.items()}
        if not stored:
            self.db.executemany("INSERT INTO dedup_settings VALUES (?, ?)", wanted.items())
            return
        changed = sorted(k for k in wanted if stored.get(k) != wanted[k])
        if changed:
            was = ", ".join(f"{k}={stored.get(k)}" for k in changed)
            now = ", ".join(f"{k}={wanted[k]}" for k in changed)
            raise OptionError(
                changed[0],
                f"the dedup index in the state store was built with {was}, the stage now "
                f"says {now}: set them back, or point [run] state at a new file",
            )

    def _create(self) -> None:
        # executescript() would commit the run's open transaction: one statement at a time.
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self.db.execute(statement)

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM dedup_docs").fetchone()[0])

    def documents(self) -> Iterator[IndexedDoc]:
        """Every indexed document, in the order they were first indexed."""
        rows = self.db.execute(
            "SELECT id, source, published, length, run_id, original, exact, shingles, bands "
            "FROM dedup_docs ORDER BY node"
        )
        for id_, source, published, length, run_id, original, exact, shingles, bands in rows:
            yield IndexedDoc(
                id=id_,
                source=source,
                published=published,
                length=length,
                run_id=run_id,
                original=original,
                exact=bytes(exact),
                shingles=bytes(shingles),
                bands=np.frombuffer(bands, dtype="<u8").astype(np.uint64),
            )

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
                np.asarray(doc.bands, dtype="<u8").tobytes(),
            )
            updated = self.db.execute(
                "UPDATE dedup_docs SET source = ?, published = ?, length = ?, original = ?, "
                "exact = ?, shingles = ?, bands = ? WHERE id = ?",
                (*values, doc.id),
            )
            if not updated.rowcount:
                self.db.execute(
                    "INSERT INTO dedup_docs (source, published, length, original, exact, "
                    "shingles, bands, id, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, doc.id, doc.run_id),
                )
            count += 1
        return count

    def bytes_per_document(self) -> float:
        """The index's size on disk divided by the documents it holds (0 when empty)."""
        count = len(self)
        if not count:
            return 0.0
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        size = self.db.execute("PRAGMA page_size").fetchone()[0]
        return float(pages * size) / count
