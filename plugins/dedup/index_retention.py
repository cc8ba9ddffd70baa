"""Retention of the dedup index: expiry by age or count, and the sweep of band rows left
behind by documents no longer indexed.

A mixin of :class:`~docstage_plugins.dedup.index.CopyIndex` (its state store connection,
its settings and its clock), kept apart so that the index module holds lookups and writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

import structlog

from docstage_plugins.dedup import minhash

log = structlog.get_logger()

_DAY = 86_400
#: ``dedup_settings`` key: the band rows left by documents no longer indexed since the last
#: sweep (an estimate: bands per document).
ORPHAN_ROWS = "orphan_band_rows"
#: Expiry sweeps the band rows of documents no longer indexed once they are this share
#: of the rows of the documents indexed: with 30 days kept, every 8th day or so.
SWEEP_SHARE = 0.25
#: The sweep (``pipeline state --compact`` runs the same statement).
SWEEP = "DELETE FROM dedup_bands WHERE node NOT IN (SELECT node FROM dedup_docs)"
#: Where the retention a run applied is recorded (``dedup_settings`` keys).
RETENTION_KEYS = ("index_max_age_days", "index_max_documents")


class Retention:
    """Expiry and sweeping, for :class:`~docstage_plugins.dedup.index.CopyIndex`."""

    db: sqlite3.Connection
    settings: dict[str, Any]
    now: float
    #: (CopyIndex's: read the runs back after some were deleted; write the buffered band
    #: rows before a sweep)
    load_runs: Callable[[], None]
    flush_bands: Callable[[], None]

    def _indexed(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM dedup_docs").fetchone()[0])

    # --- retention ----------------------------------------------------------------------

    def expire(self, *, max_age_days: int | None = None, max_documents: int | None = None) -> int:
        """Forget the documents retention no longer keeps; return how many.

        Documents first indexed more than ``max_age_days`` before :attr:`now` expire, and
        all but the ``max_documents`` most recently indexed; None keeps them. Expired
        documents lose their row and their band rows, and runs with no document left
        their row. The retention is recorded in ``dedup_settings`` (``pipeline state``
        shows it).
        """
        self.db.executemany(
            "INSERT OR REPLACE INTO dedup_settings VALUES (?, ?)",
            zip(RETENTION_KEYS, (json.dumps(max_age_days), json.dumps(max_documents)), strict=True),
        )
        cut = self._first_kept(max_age_days, max_documents)
        expired, with_sets = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(length(shingles) > 0), 0) FROM dedup_docs "
            "WHERE node < ?",
            (cut,),
        ).fetchone()
        if expired:
            self.db.execute("DELETE FROM dedup_docs WHERE node < ?", (cut,))
            # Runs are numbered in node order: those before the first one left have none.
            first = self.db.execute("SELECT run FROM dedup_docs ORDER BY node LIMIT 1").fetchone()
            self.db.execute(
                "DELETE FROM dedup_runs WHERE number < ?", (first[0] if first else 1 << 62,)
            )
            self.load_runs()
        if with_sets:
            self._orphaned(with_sets)
        return int(expired)

    # --- band rows of documents no longer indexed -----------------------------------------

    def _orphaned(self, documents: int) -> None:
        """Count the band rows ``documents`` left behind (about one per band each), and
        sweep them all once they are :data:`SWEEP_SHARE` of the rows of those indexed."""
        orphans = self.orphan_rows() + documents * self._band_count()
        indexed = self._indexed() * self._band_count()
        if orphans > SWEEP_SHARE * indexed:
            self.sweep()
            return
        self.db.execute(
            "INSERT OR REPLACE INTO dedup_settings VALUES (?, ?)", (ORPHAN_ROWS, str(orphans))
        )

    def _band_count(self) -> int:
        return minhash.choose_bands(
            float(self.settings["threshold"]), int(self.settings["permutations"])
        )[0]

    def orphan_rows(self) -> int:
        """About how many band rows name a document no longer indexed (expired, or read
        again with another text) since the last sweep: they only propose candidates that
        are no longer there."""
        found = self.db.execute(
            "SELECT value FROM dedup_settings WHERE key = ?", (ORPHAN_ROWS,)
        ).fetchone()
        return int(found[0]) if found else 0

    def sweep(self) -> int:
        """Delete the band rows of documents no longer indexed; return how many.

        One pass over the band table (it is keyed by prefix, not by document), which
        expiry runs only once such rows are a good share of it, and ``pipeline state
        --compact`` runs too (the same statement, :data:`SWEEP`).
        """
        self.flush_bands()
        deleted = self.db.execute(SWEEP).rowcount
        self.db.execute("DELETE FROM dedup_settings WHERE key = ?", (ORPHAN_ROWS,))
        log.info("dedup index swept", band_rows=deleted)
        return int(deleted)

    def _first_kept(self, max_age_days: int | None, max_documents: int | None) -> int:
        """The node from which documents are kept (the ones below it expire)."""
        first = 0
        if max_age_days is not None:
            # (a run whose clock went back keeps the runs indexed after it, not fewer)
            oldest_kept = self.db.execute(
                "SELECT MIN(first_node) FROM dedup_runs WHERE indexed >= ?",
                (int(self.now) - max_age_days * _DAY,),
            ).fetchone()[0]
            last = self.db.execute("SELECT MAX(node) FROM dedup_docs").fetchone()[0] or 0
            first = last + 1 if oldest_kept is None else oldest_kept
        if max_documents is not None:
            newest = self.db.execute(
                "SELECT node FROM dedup_docs ORDER BY node DESC LIMIT 1 OFFSET ?",
                (max_documents - 1,),
            ).fetchone()
            first = max(first, newest[0] if newest is not None else 0)
        return first
