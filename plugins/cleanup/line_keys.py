"""The lines of a corpus as 64-bit keys: counted on disk within a memory budget, replayed.

``cleanup.boilerplate`` learns a source's boilerplate from how many distinct documents
of the source contain each line. :class:`LineKeys` keeps that count on disk: every
document's distinct line keys go, with the document's text key and source, to a spill
partitioned by line key (:mod:`docstage.spill`), and :meth:`LineKeys.learned` counts them
a few partitions at a time, so memory is bounded by the budget, not by the number of
distinct lines in the corpus. What it returns, the lines learned per source, is bounded
by the sources: a source's learned lines are each in at least ``min_fraction`` of its
documents, so there are at most ``1 / min_fraction`` times a document's lines of them.
"""

from __future__ import annotations

import tempfile
from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import IO

import numpy as np

from docstage.spill import DEFAULT_MEMORY, PARTITIONS, Partitions, ranges

_MASK = (1 << 64) - 1
#: A document (by its text key) of source ``src`` contains the line ``key``.
_LINE = np.dtype([("key", "<u8"), ("text", "<u8"), ("src", "<i4")])
#: Records gathered in arrays before they go to the spill.
_PENDING = 1 << 15


class LineKeys:
    """The lines of every document as 64-bit keys: counted across documents, replayed.

    A key hashes a document's source with one normalised line (Python's string hash:
    stable for the life of the process, which is all a run needs, as keys are never
    written out; two different lines share a key with odds of about 1 in 2**64, the
    only way a line found in one document could be taken for boilerplate). ``add``
    spills each document's distinct keys and writes all its keys, in line order, to a
    sequence file read back by iterating. The counts do not depend on the order in
    which documents were added, nor on the budget.

    Args:
        memory: The budget, in bytes: buffers and what one counting step reads.
        partitions: Partitions of the spill (a power of two).
    """

    def __init__(self, *, memory: int = DEFAULT_MEMORY, partitions: int = PARTITIONS) -> None:
        self._spill = Partitions(_LINE, "key", budget=max(1, memory // 256), partitions=partitions)
        #: Bytes of records one counting step reads (numpy needs a few times that).
        self._step = max(1, memory // 1024)
        self._pending = max(1, min(_PENDING, memory // 256 // _LINE.itemsize))
        self._sequence: IO[bytes] = tempfile.TemporaryFile(prefix="docstage-lines-")  # noqa: SIM115 - closed in close()
        self._documents = 0
        self._sources: dict[str, int] = {}
        self._keys, self._texts, self._srcs = array("Q"), array("Q"), array("i")

    def add(self, source: str, text: str, normal_lines: Sequence[str]) -> None:
        """Add one document: its ``text`` and its lines as normalised ("" to skip)."""
        salt = hash(source)
        keys = array("Q", [(hash(line) ^ salt) & _MASK if line else 0 for line in normal_lines])
        array("Q", [len(keys)]).tofile(self._sequence)
        keys.tofile(self._sequence)
        self._documents += 1
        distinct = set(keys)
        distinct.discard(0)
        src = self._sources.setdefault(source, len(self._sources))
        text_key = hash((source, text)) & _MASK  # copies of a text count once
        self._keys.extend(distinct)
        self._texts.extend([text_key] * len(distinct))
        self._srcs.extend([src] * len(distinct))
        if len(self._keys) >= self._pending:
            self._flush()

    @property
    def spilled(self) -> int:
        """Times the buffered keys were written to disk."""
        return self._spill.spilled

    def _flush(self) -> None:
        rows = np.empty(len(self._keys), dtype=_LINE)
        rows["key"] = np.frombuffer(self._keys, dtype=np.uint64)
        rows["text"] = np.frombuffer(self._texts, dtype=np.uint64)
        rows["src"] = np.frombuffer(self._srcs, dtype=np.int32)
        self._spill.append(rows)
        self._keys, self._texts, self._srcs = array("Q"), array("Q"), array("i")

    def learned(self, thresholds: Mapping[str, int]) -> dict[str, set[int]]:
        """Per source, the keys found in at least its threshold of distinct texts (a
        source with threshold 0, or none, learns nothing)."""
        self._flush()
        names = sorted(self._sources, key=self._sources.__getitem__)
        limits = np.array([thresholds.get(name, 0) for name in names] or [0], dtype=np.int64)
        found: dict[str, set[int]] = {}
        for low, high in ranges(self._step, self._spill):
            rows = self._spill.read_range(low, high)
            if not rows.size:
                continue
            per_text = np.unique(rows[["key", "text"]])["key"]  # each line once a text
            keys, texts = np.unique(per_text, return_counts=True)
            pairs = np.unique(rows[["key", "src"]])  # the sources of each line
            del rows, per_text
            limit = limits[pairs["src"]]
            hit = (limit > 0) & (texts[np.searchsorted(keys, pairs["key"])] >= limit)
            sources, lines = pairs["src"][hit].tolist(), pairs["key"][hit].tolist()
            for src, key in zip(sources, lines, strict=True):
                found.setdefault(names[src], set()).add(key)
        return found

    def __iter__(self) -> Iterator[array[int]]:
        """Each document's line keys, in the order the documents were added."""
        self._sequence.flush()
        self._sequence.seek(0)
        for _ in range(self._documents):
            size = array("Q")
            size.fromfile(self._sequence, 1)
            keys = array("Q")
            keys.fromfile(self._sequence, size[0])
            yield keys

    def close(self) -> None:
        self._sequence.close()
        self._spill.close()

    def __enter__(self) -> LineKeys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
