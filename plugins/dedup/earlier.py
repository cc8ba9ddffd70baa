"""Earlier runs' documents in a run's copy groups: matched batch by batch, held only if needed.

:class:`EarlierRuns` is the side of :class:`~docstage_plugins.dedup.copies.CopyFinder`
that faces the index (:class:`~docstage_plugins.dedup.index.CopyIndex`). As each batch of
the run comes, it looks up the earlier documents that share an id or an exact key with
the batch, and those that share a band key's prefix with a window of batches (a share of
the budget's worth of sets), and joins (in the finder's union-find, where an earlier
document is the negative node ``-1 - node`` of its place in the index) a document to an
earlier one it copies, and an earlier copy to its original.

Memory grows with the copies found, never with the index nor with the documents merely
read again: a document of the run that an earlier run indexed (the same id) is the same
document, not a copy, so the pair goes to a spill (:mod:`docstage.spill`) and is joined
only where a group needs it (:meth:`EarlierRuns.join_reread`); the sets fetched for the
Jaccard checks are a cache within the budget, and the sets of the batches waiting for
their band keys to be looked up a sixteenth of it; the earlier documents of the groups
are read in at the end (:meth:`EarlierRuns.hold`). A run reading its whole input again thus
holds about what its first run held.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import attrs
import numpy as np

from docstage.spill import PARTITIONS, Partitions, ranges
from docstage.unionfind import UnionFind
from docstage_plugins.dedup import minhash
from docstage_plugins.dedup.index import CopyIndex, IndexedDoc, Ref

#: A document of the run that an earlier run indexed (``node`` in the index): read again.
_REREAD = np.dtype([("node", "<i8"), ("row", "<i8")])


class Batched(Protocol):
    """What :class:`EarlierRuns` needs of a document of the batch."""

    @property
    def id(self) -> str: ...


@attrs.frozen
class _Waiting:
    """A batch's arguments to :meth:`EarlierRuns.match`, waiting."""

    first_row: int
    docs: Sequence[Batched]
    sets: dict[int, np.ndarray]
    bands: np.ndarray
    again: dict[int, int]


def ours(node: int) -> int:
    """The finder's (negative) node for the earlier document at ``node`` of the index."""
    return -1 - node


@attrs.define
class EarlierRuns:
    """The earlier documents a run's documents copy, found through the index.

    Attributes:
        index: The index of earlier runs.
        uf: The finder's union-find (earlier documents as :func:`ours` nodes).
        threshold: Jaccard similarity at or above which two texts are near copies.
        memory: Bytes of caches and buffers kept within.
        folder: Where the spill of documents read again goes.
        partitions: Partitions of that spill.
        copies: Earlier documents that were copies of another earlier one (our nodes).
        reread: The run's documents of the groups that are an earlier one read again
            (row -> our node), after :meth:`join_reread`.
    """

    index: CopyIndex
    uf: UnionFind[int]
    threshold: float
    memory: int
    folder: Path
    partitions: int = PARTITIONS
    copies: set[int] = attrs.Factory(set)
    reread: dict[int, int] = attrs.Factory(dict)
    _spill: Partitions = attrs.field(init=False)
    #: Earlier documents fetched for a Jaccard check, by index node (None: no longer
    #: indexed): a cache within the budget.
    _fetched: dict[int, IndexedDoc | None] = attrs.Factory(dict)
    #: Index nodes of the earlier documents whose original was looked for.
    _linked: set[int] = attrs.Factory(set)
    #: Batches waiting for :meth:`match` (:meth:`queue`), and the set values they hold.
    _waiting: list[_Waiting] = attrs.Factory(list)
    _waiting_values: int = 0

    def __attrs_post_init__(self) -> None:
        self._spill = Partitions(
            _REREAD,
            "node",
            budget=max(1, self.memory // 16),
            partitions=self.partitions,
            folder=self.folder,
        )

    def look_up(
        self, first_row: int, docs: Sequence[Batched], keys: list[bytes]
    ) -> tuple[dict[bytes, Ref], dict[int, int]]:
        """The first-indexed earlier document of each of ``keys`` (exact keys), and the
        index node of each document of the batch read again (by position in the batch,
        whose first document is row ``first_row``).

        The documents read again are spilled; one whose earlier self was a copy has that
        one joined to its original now (read again, it is a copy again).
        """
        positions: dict[str, list[int]] = {}
        for i, doc in enumerate(docs):
            positions.setdefault(doc.id, []).append(i)
        again: dict[int, int] = {}
        copies = []
        for ref in self.index.refs_by_ids(positions):
            for i in positions[ref[1]]:
                again[i] = ref[0]
            if ref[3] is not None:
                copies.append(ref)
        if again:
            spilled = np.empty(len(again), dtype=_REREAD)
            spilled["node"] = list(again.values())
            spilled["row"] = np.array(list(again), dtype=np.int64) + first_row
            self._spill.append(spilled)
        self.link(copies)
        return self.index.by_exact(keys), again

    def link(self, refs: Iterable[Ref]) -> None:
        """Join earlier copies to their originals (and those to theirs): what matches an
        earlier copy copies its original, which stays the survivor."""
        todo = list(refs)
        while todo:
            copies: dict[str, list[int]] = {}
            for node, _, _, original in todo:
                if node not in self._linked and original is not None:
                    copies.setdefault(original, []).append(node)
                    self.copies.add(ours(node))
                self._linked.add(node)
            todo = self.index.refs_by_ids(copies) if copies else []
            for node, id_, _, _ in todo:
                for copy in copies[id_]:
                    self.uf.union(ours(node), ours(copy))

    def queue(
        self,
        first_row: int,
        docs: Sequence[Batched],
        sets: dict[int, np.ndarray],
        bands: np.ndarray,
        again: dict[int, int],
    ) -> None:
        """:meth:`match` a batch later, with the batches after it, once their sets fill a
        share of the budget (or at :meth:`flush`).

        The band table is asked for the prefixes of many batches at once, in key order:
        a document's few candidates among a day's keys sit about one to a leaf page of the
        table, so asking a batch of 256 documents alone visits as many pages as it has
        keys, while many batches together visit each page once for several keys (the 4x
        second day's lookups: 0.08 CPU-s in windows of 4,096 documents, 0.23 in batches of
        256). A copy group is the same whatever the order its
        pairs are joined in, so the result is too.
        """
        self._waiting.append(_Waiting(first_row, docs, sets, bands, again))
        self._waiting_values += sum(s.size for s in sets.values())
        if self._waiting_values * 4 >= max(1 << 20, self.memory // 16):
            self.flush()

    def flush(self) -> None:
        """:meth:`match` the batches waiting, together."""
        waiting, self._waiting, self._waiting_values = self._waiting, [], 0
        if not waiting:
            return
        docs: list[Batched] = []
        sets: dict[int, np.ndarray] = {}
        again: dict[int, int] = {}
        for batch in waiting:  # (consecutive rows: positions are rows from the first)
            offset = len(docs)
            docs.extend(batch.docs)
            sets.update((offset + i, s) for i, s in batch.sets.items())
            again.update((offset + i, node) for i, node in batch.again.items())
        bands = np.concatenate([batch.bands for batch in waiting])
        self.match(waiting[0].first_row, docs, sets, bands, again)

    def match(
        self,
        first_row: int,
        docs: Sequence[Batched],
        sets: dict[int, np.ndarray],
        bands: np.ndarray,
        again: dict[int, int],
    ) -> None:
        """Join the batch's documents to the earlier ones they near-copy: those with one
        of their band keys' prefix, verified by Jaccard similarity.

        ``sets`` are the whole shingle sets of the documents with one (by position) and
        ``bands`` their band keys (a row each, in the same order). The index keeps an
        earlier document's set at a width fitted to its size
        (:func:`~docstage_plugins.dedup.minhash.encode_fitted`): today's whole set is
        compared with it at that width (:func:`~docstage_plugins.dedup.minhash.jaccard_at`).
        """
        found, nodes = self.index.band_matches(bands.ravel())
        if not found.size:
            return
        order = np.argsort(found, kind="stable")
        found, nodes = found[order], nodes[order]
        flat = bands.ravel()
        low = np.searchsorted(found, flat, side="left")
        count = np.searchsorted(found, flat, side="right") - low
        within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        matched = nodes[np.repeat(low, count) + within]
        position = np.repeat(np.repeat(np.array(list(sets)), bands.shape[1]), count)
        # A document's earlier self (the same id) is not its copy.
        own = np.full(len(docs), -1, dtype=np.int64)
        own[list(again)] = list(again.values())
        other = matched != own[position]
        pairs = np.stack([position[other], matched[other]], axis=1)
        # (np.unique(pairs, axis=0), by a sort and a mask: several times faster)
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
        if len(pairs) > 1:
            pairs = pairs[np.concatenate(([True], (pairs[1:] != pairs[:-1]).any(axis=1)))]
        earlier = self._fetch(pairs[:, 1].tolist())
        linked = []
        for i, node in pairs.tolist():
            doc = earlier[node]
            # (a band row of a document no longer indexed names no one: it waits for the sweep)
            if doc is None or not doc.shingles or doc.id == docs[i].id:
                continue
            row, theirs = first_row + i, ours(node)
            root = self.uf.find(theirs)
            if root == self.uf.find(row) or (i in again and root == self.uf.find(ours(again[i]))):
                continue  # (joined already, or its earlier self is: join_reread joins them)
            stored, width = minhash.decode_stored(doc.shingles)
            if minhash.jaccard_at(sets[i], 32, stored, width) >= self.threshold:
                self.uf.union(theirs, row)
                linked.append((node, doc.id, doc.exact, doc.original))
        self.link(linked)

    def _fetch(self, nodes: list[int]) -> dict[int, IndexedDoc | None]:
        """The earlier documents at these index nodes (None: no longer indexed)."""
        held = {n: self._fetched[n] for n in set(nodes) if n in self._fetched}
        missing = sorted(set(nodes) - held.keys())
        if missing:
            found = {doc.node: doc for doc in self.index.by_nodes(missing)}
            fresh = {n: found.get(n) for n in missing}
            if len(self._fetched) + len(fresh) > max(1 << 10, self.memory // 16 // 2048):
                self._fetched.clear()
            self._fetched.update(fresh)
            held.update(fresh)
        return held

    def join_reread(self) -> None:
        """Join the run's documents read again to their earlier selves where either is in
        the union-find already (alone together they are no group), partition by
        partition; fill :attr:`reread` for those."""
        if not len(self._spill):
            return
        held = np.fromiter(self.uf, dtype=np.int64)
        for low, high in ranges(self.memory // 16, self._spill):
            pairs = self._spill.read_range(low, high)
            pairs = pairs[np.lexsort((pairs["row"], pairs["node"]))]
            nodes, rows = pairs["node"], pairs["row"]
            starts = np.flatnonzero(np.concatenate(([True], nodes[1:] != nodes[:-1])))
            ends = np.append(starts[1:], nodes.size)
            grouped = np.isin(rows, held) | np.isin(-1 - nodes, held)
            wanted = np.logical_or.reduceat(grouped, starts)
            for start, end in zip(starts[wanted].tolist(), ends[wanted].tolist(), strict=True):
                earlier = ours(int(nodes[start]))
                for row in rows[start:end].tolist():
                    self.uf.union(earlier, row)
                    self.reread[row] = earlier
        self._spill.close()

    def hold(self, nodes: Iterable[int]) -> Iterator[IndexedDoc]:
        """The earlier documents at these (our) nodes, read from the index."""
        return iter(self.index.by_nodes(-1 - n for n in nodes))
