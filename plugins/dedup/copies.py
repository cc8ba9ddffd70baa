"""Exact and near copies: which documents are the same text, and which one survives.

:class:`CopyFinder` sees documents batch by batch (the first pass of the ``dedup`` stage),
finds their exact copies (same normalised text) and near copies (MinHash LSH over word
shingles, every candidate verified by its true Jaccard similarity), and groups them with
union-find. Documents indexed by earlier runs (:class:`CopyIndex`, tables in the state
store) take part as well: a new document that copies one of them joins its group, and
the earlier document, already published, stays the survivor.

Memory stays within the run's budget (:mod:`docstage.spill`): each document's
fingerprints (exact key, shingle set, band keys) and what survivor choice needs go to a
record file, its exact key and band keys to partitioned spills. Earlier runs' documents
are looked up batch by batch, and near-copy candidates among them matched a window of
batches at a time (:mod:`.earlier`: a document merely read again is spilled, not held);
the run's own documents are matched when every one is in,
partition by partition (band keys into candidate pairs, pairs verified by Jaccard with the
sets read back). The union-find holds only documents that have a copy. What stays in
memory per document is the 8-byte offset of its record.
"""

from __future__ import annotations

import itertools
import os
import pickle
import struct
import tempfile
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Literal

import attrs
import numpy as np

from docstage.spill import (
    DEFAULT_MEMORY,
    PARTITIONS,
    Partitions,
    group_pairs,
    ranges,
    remove_scratch,
)
from docstage.unionfind import UnionFind
from docstage_plugins.dedup import minhash
from docstage_plugins.dedup.earlier import EarlierRuns, ours
from docstage_plugins.dedup.index import CopyIndex, Ref

Keep = Literal["earliest", "longest", "first"]


@attrs.frozen(kw_only=True)
class DocInfo:
    """What survivor choice needs to know of a document (kept in memory for each one).

    Attributes:
        row: Position in the run's input (0-based); earlier runs' documents have none.
        id: The document id.
        source: Its source.
        published: ISO 8601 date, or None.
        length: Characters of text.
        earlier: The run that indexed it, for a document of an earlier run.
    """

    row: int | None
    id: str
    source: str
    published: str | None
    length: int
    earlier: str | None = None


@attrs.frozen(kw_only=True)
class Copy:
    """A copy and how it relates to its group's survivor."""

    doc: DocInfo
    relation: Literal["exact", "near"]
    score: float


@attrs.frozen(kw_only=True)
class Group:
    """A survivor and its copies (an exact or near duplicate cluster)."""

    survivor: DocInfo
    copies: tuple[Copy, ...]


#: A document's exact key (two halves) and row; ``earlier``: an earlier run has the key.
_EXACT = np.dtype([("k1", "<u8"), ("k2", "<u8"), ("row", "<i8"), ("earlier", "<i1")])
#: An exact key as two little-endian 64-bit halves (as ``_EXACT`` keeps it).
_HALVES = struct.Struct("<QQ")
#: A document's band key.
_BAND = np.dtype([("key", "<u8"), ("row", "<i8")])
#: Two documents sharing a band key (``a < b``).
_PAIR = np.dtype([("a", "<i8"), ("b", "<i8")])


#: A :class:`DocInfo`'s fields in the record file: row, id, source, published, length, earlier.
_Fields = tuple[int | None, str, str, str | None, int, str | None]


@attrs.frozen
class _Record:
    """What the finder keeps of one of the run's documents on disk, for survivor choice
    and the Jaccard checks, pickled as ``(fields, exact, shingles)`` (plain values: several
    times cheaper than attrs instances); what only the index needs goes by batch."""

    info: DocInfo
    exact: bytes
    shingles: bytes  # the whole set, sorted uint32 hashes; empty without a set


#: A batch as the index wants it (:meth:`CopyFinder.documents`), pickled once: fields,
#: exact keys, fitted sets (empty without a set), band keys (a row each, unread without).
_Indexed = tuple[list[_Fields], list[bytes], list[bytes], np.ndarray]


def _fields(info: DocInfo) -> _Fields:
    return (info.row, info.id, info.source, info.published, info.length, info.earlier)


def _info(fields: _Fields) -> DocInfo:
    row, id_, source, published, length, earlier = fields
    return DocInfo(
        row=row, id=id_, source=source, published=published, length=length, earlier=earlier
    )


@attrs.define
class CopyFinder:
    """Finds exact and near copies among a run's documents and an earlier index.

    Call :meth:`add_many` for every batch of documents (their rows numbered from 0 in
    order), then :meth:`groups`; :meth:`documents` gives every document's fingerprints
    back, for the index; :meth:`close` deletes the temporary files. Each batch looks up in
    the index the earlier documents that share a key with it (the same exact key, a MinHash
    band key or the same id) and joins it to those it copies (:class:`.earlier.EarlierRuns`):
    memory grows with the copies found, never with the index nor with the documents read
    again. Earlier documents get negative node numbers (``-1 -`` their place in the index),
    the run's documents their row.

    Attributes:
        exact: Look for exact copies.
        near: Look for near copies.
        threshold: Jaccard similarity at or above which two texts are near copies.
        shingle_size: Words per shingle.
        min_words: Texts with fewer words are never exact copies (near copies need a
            shingle, so ``shingle_size`` words, anyway).
        permutations: MinHash permutations.
        index: Documents of earlier runs, or None.
        memory: Bytes of buffers and caches the finder keeps within.
        partitions: Partitions of its spills.
    """

    exact: bool = True
    near: bool = True
    threshold: float = 0.8
    shingle_size: int = 5
    min_words: int = 5
    permutations: int = 128
    index: CopyIndex | None = None
    memory: int = DEFAULT_MEMORY
    partitions: int = PARTITIONS
    _hasher: minhash.MinHasher = attrs.field(init=False)
    _bands: tuple[int, int] = attrs.field(init=False)
    _folder: Path = attrs.field(init=False)
    _records: IO[bytes] = attrs.field(init=False)
    _indexed: IO[bytes] = attrs.field(init=False)
    _cleanup: Callable[[], object] = attrs.field(init=False)
    _record_at: array[int] = attrs.field(init=False, factory=lambda: array("q", [0]))
    _cache: dict[int, _Record] = attrs.Factory(dict)
    _exact_spill: Partitions = attrs.field(init=False)
    _band_spill: Partitions = attrs.field(init=False)
    _uf: UnionFind[int] = attrs.Factory(UnionFind)
    _earlier: EarlierRuns | None = attrs.field(init=False, default=None)
    #: The earlier documents of the groups, by our node (filled by :meth:`groups`).
    _earlier_docs: dict[int, DocInfo] = attrs.Factory(dict)
    _earlier_keys: dict[int, bytes] = attrs.Factory(dict)
    _earlier_sets: dict[int, bytes] = attrs.Factory(dict)

    def __attrs_post_init__(self) -> None:
        self._bands = minhash.choose_bands(self.threshold, self.permutations)
        # Only the values the bands use (the first ones: the same whatever the count).
        self._hasher = minhash.MinHasher(permutations=self._bands[0] * self._bands[1])
        self._folder = Path(tempfile.mkdtemp(prefix="docstage-copies-"))
        self._records = open(self._folder / "records", "w+b")  # noqa: SIM115 - closed by close()
        self._indexed = open(self._folder / "indexed", "w+b")  # noqa: SIM115 - closed by close()
        # A finder dropped without close() still deletes its files.
        self._cleanup = weakref.finalize(
            self, remove_scratch, (self._records, self._indexed), self._folder
        )
        share = max(1, self.memory // 16)
        self._exact_spill = Partitions(
            _EXACT, "k1", budget=share, partitions=self.partitions, folder=self._sub("exact")
        )
        self._band_spill = Partitions(
            _BAND, "key", budget=share, partitions=self.partitions, folder=self._sub("bands")
        )
        if self.index is not None:
            self._earlier = EarlierRuns(
                self.index,
                self._uf,
                threshold=self.threshold,
                memory=self.memory,
                folder=self._sub("again"),
                partitions=self.partitions,
            )

    def _sub(self, name: str) -> Path:
        folder = self._folder / name
        folder.mkdir()
        return folder

    def close(self) -> None:
        """Delete the finder's temporary files."""
        self._cleanup()

    def __len__(self) -> int:
        """The run's documents added."""
        return len(self._record_at) - 1

    @property
    def earlier_count(self) -> int:
        """How many earlier runs' documents are joined to another document (held in the
        union-find); one only read again is not, unless its group needs it."""
        return sum(1 for node in self._uf if node < 0)

    # --- the run's documents, on disk --------------------------------------------------

    def _record(self, row: int) -> _Record:
        found = self._cache.get(row)
        if found is None:
            start, end = self._record_at[row], self._record_at[row + 1]
            data = os.pread(self._records.fileno(), end - start, start)
            fields, exact, whole = pickle.loads(data)
            found = _Record(_info(fields), exact, whole)
            if len(self._cache) >= max(1 << 10, self.memory // 16 // 2048):
                self._cache.clear()
            self._cache[row] = found
        return found

    def _info(self, node: int) -> DocInfo:
        return self._earlier_docs[node] if node < 0 else self._record(node).info

    def _key(self, node: int) -> bytes:
        return self._earlier_keys[node] if node < 0 else self._record(node).exact

    def _set(self, node: int) -> tuple[np.ndarray, int] | None:
        """A document's set and the width of its values in bits: an earlier document's
        at the width the index keeps (:func:`~docstage_plugins.dedup.minhash.encode_fitted`),
        one of this run's whole (32)."""
        if node < 0:
            stored = self._earlier_sets.get(node)
            return minhash.decode_stored(stored) if stored is not None else None
        whole = self._record(node).shingles
        return (np.frombuffer(whole, dtype=np.uint32), 32) if whole else None

    def documents(self) -> Iterator[tuple[DocInfo, bytes, bytes, np.ndarray]]:
        """Every document of the run in row order: facts, exact key, shingle set as the
        index stores it (empty without one) and band keys."""
        self._indexed.flush()
        empty = np.empty(0, dtype=np.uint64)
        with open(self._folder / "indexed", "rb") as file:
            done = 0
            while done < len(self):
                fields, exact, fitted, keys = pickle.load(file)  # (an _Indexed)
                for i, values in enumerate(fields):
                    yield _info(values), exact[i], fitted[i], keys[i] if fitted[i] else empty
                done += len(fields)

    # --- earlier runs' documents, looked up batch by batch -----------------------------

    def add_many(self, docs: Sequence[DocInfo], texts: Sequence[str]) -> None:
        """Add a batch of this run's documents (hashing is vectorised over the batch)."""
        sets = minhash.shingle_batch(texts, self.shingle_size) if self.near else []
        keys = np.empty((len(texts), 0), dtype=np.uint64)
        with_set = [i for i, s in enumerate(sets) if s.size]
        fitted: dict[int, bytes] = {}
        if with_set:
            keys = np.empty((len(texts), self._bands[0]), dtype=np.uint64)
            keys[with_set] = minhash.band_keys(
                self._hasher.signatures([sets[i] for i in with_set]), *self._bands
            )
            encoded = minhash.encode_fitted_many([sets[i] for i in with_set])
            fitted = dict(zip(with_set, encoded, strict=True))
        exact = minhash.exact_keys(texts)
        wordy = [self.exact and _has_words(text, self.min_words) for text in texts]
        first_row = len(self)
        earlier = self._earlier
        firsts: dict[bytes, Ref] = {}
        again: dict[int, int] = {}
        if earlier is not None:
            wordy_keys = [k for k, w in zip(exact, wordy, strict=True) if w]
            firsts, again = earlier.look_up(first_row, docs, wordy_keys)
        exact_rows: list[tuple[int, int, int, int]] = []
        linked = []
        data = bytearray()
        at = self._record_at[-1]
        for i, doc in enumerate(docs):
            row = doc.row
            assert row == first_row + i, "rows are numbered from 0 in the order added"
            key = exact[i]
            if wordy[i]:
                first = firsts.get(key)
                # The same document read again (an earlier run indexed its id) is not a copy.
                if first is not None and first[1] != doc.id:
                    self._uf.union(ours(first[0]), row)
                    linked.append(first)
                k1, k2 = _HALVES.unpack(key)
                exact_rows.append((k1, k2, row, first is not None))
            whole = sets[i].tobytes() if i in fitted else b""
            record = pickle.dumps((_fields(doc), key, whole), pickle.HIGHEST_PROTOCOL)
            data += record
            at += len(record)
            self._record_at.append(at)
        self._records.write(data)
        fields = [_fields(doc) for doc in docs]
        indexed: _Indexed = (fields, exact, [fitted.get(i, b"") for i in range(len(docs))], keys)
        pickle.dump(indexed, self._indexed, pickle.HIGHEST_PROTOCOL)
        if earlier is not None:
            earlier.link(linked)
        if exact_rows:
            self._exact_spill.append(np.array(exact_rows, dtype=_EXACT))
        if with_set:
            if earlier is not None:
                batch = {i: sets[i] for i in with_set}
                earlier.queue(first_row, docs, batch, keys[with_set], again)
            pairs = np.empty(len(with_set) * self._bands[0], dtype=_BAND)
            pairs["key"] = keys[with_set].ravel()
            pairs["row"] = np.repeat(np.array(with_set, dtype=np.int64) + first_row, self._bands[0])
            self._band_spill.append(pairs)

    # --- the run's documents among themselves, partition by partition -----------------

    def _join_exact(self) -> None:
        """Join every run's document to the first with its exact key (unless an earlier
        run has the key: it was joined to that one as it came)."""
        for low, high in ranges(self.memory // 16, self._exact_spill):
            rows = self._exact_spill.read_range(low, high)
            rows = rows[np.lexsort((rows["row"], rows["k2"], rows["k1"]))]
            if rows.size < 2:
                continue
            same = (rows["k1"][1:] == rows["k1"][:-1]) & (rows["k2"][1:] == rows["k2"][:-1])
            starts = np.flatnonzero(np.concatenate(([True], ~same)))
            sizes = np.diff(np.append(starts, rows.size))
            for start, size in zip(starts.tolist(), sizes.tolist(), strict=True):
                if size < 2 or rows["earlier"][start]:
                    continue
                members = rows["row"][start : start + size].tolist()
                first = members[0]
                first_id = self._info(first).id
                for row in members[1:]:
                    if self._info(row).id != first_id:
                        self._uf.union(first, row)

    def _candidate_pairs(self, pairs: Partitions) -> None:
        """Pairs of the run's documents sharing a band key (duplicates across bands too)."""
        for low, high in ranges(self.memory // 16, self._band_spill):
            rows = self._band_spill.read_range(low, high)
            rows = rows[np.lexsort((rows["row"], rows["key"]))]
            for a, b in group_pairs(rows["key"], rows["row"]):
                out = np.empty(a.size, dtype=_PAIR)
                out["a"], out["b"] = a, b
                pairs.append(out)

    def _join_near(self) -> None:
        """Verify the run's candidate pairs by Jaccard similarity and join the copies."""
        folder = self._sub("pairs")
        with Partitions(
            _PAIR, "a", budget=self.memory // 16, partitions=self.partitions, folder=folder
        ) as pairs:
            self._candidate_pairs(pairs)
            self._band_spill.close()
            sets: dict[int, np.ndarray] = {}
            limit = max(1 << 10, self.memory // 16 // 4096)
            for low, high in ranges(self.memory // 16, pairs):
                found = pairs.read_range(low, high)
                found = found[np.lexsort((found["b"], found["a"]))]
                new = np.ones(found.size, dtype=bool)
                new[1:] = (found["a"][1:] != found["a"][:-1]) | (found["b"][1:] != found["b"][:-1])
                for a, b in found[new].tolist():
                    if self._uf.find(a) == self._uf.find(b):
                        continue
                    if self._info(a).id == self._info(b).id:
                        continue
                    if len(sets) >= limit:
                        sets.clear()
                    for row in (a, b):
                        if row not in sets:
                            whole = self._record(row).shingles
                            sets[row] = np.frombuffer(whole, dtype=np.uint32)
                    if minhash.jaccard(sets[a], sets[b]) >= self.threshold:
                        self._uf.union(a, b)

    def groups(self, keep: Keep, source_priority: Sequence[str] = ()) -> list[Group]:
        """Every group with at least one copy from this run, survivor chosen by policy.

        A group holding documents of earlier runs keeps the earliest-indexed of them as
        its survivor: it was published already.
        """
        self._records.flush()
        if self._earlier is not None:
            self._earlier.flush()
        self._join_exact()
        self._exact_spill.close()
        if self.near:
            self._join_near()
        reread: dict[int, int] = {}
        earlier_copies: set[int] = set()
        if self._earlier is not None:
            self._earlier.join_reread()
            reread, earlier_copies = self._earlier.reread, self._earlier.copies
        members: dict[int, list[int]] = {}
        for node in self._uf:
            members.setdefault(self._uf.find(node), []).append(node)
        self._hold(n for nodes in members.values() if max(nodes) >= 0 for n in nodes if n < 0)
        rank = {source: i for i, source in enumerate(source_priority)}
        out = []
        for found in members.values():
            # Earlier documents first (in the order they were indexed), then rows in order.
            nodes = sorted(found, key=lambda n: (n >= 0, -n if n < 0 else n))
            if len(nodes) < 2 or all(n < 0 for n in nodes):
                continue
            # An earlier run published its survivor already: it stays the survivor.
            held = [n for n in nodes if n < 0]
            earlier = [n for n in held if n not in earlier_copies] or held
            best = min(earlier or nodes, key=lambda n: _policy_key(self._info(n), keep, rank))
            # Documents read again are the earlier ones, kept as before: never copies
            # (unless the earlier one was a copy too).
            copies = [
                self._copy(best, n)
                for n in nodes
                if n != best and n >= 0 and reread.get(n) not in earlier
            ]
            if not copies:
                continue
            copies.sort(key=lambda c: c.doc.id)
            survivor = self._survivor(best, [n for n in nodes if reread.get(n) == best])
            out.append(Group(survivor=survivor, copies=tuple(copies)))
        out.sort(key=lambda g: g.survivor.id)
        return out

    def _hold(self, nodes: Iterable[int]) -> None:
        """Read in the earlier documents of the groups (our nodes): what survivor choice
        and the copies' scores need of them."""
        for doc in self._earlier.hold(nodes) if self._earlier is not None else ():
            assert doc.node is not None
            node = ours(doc.node)
            self._earlier_docs[node] = DocInfo(
                row=None,
                id=doc.id,
                source=doc.source,
                published=doc.published,
                length=doc.length,
                earlier=doc.run_id,
            )
            self._earlier_keys[node] = doc.exact
            if self.near and doc.shingles:
                self._earlier_sets[node] = doc.shingles

    def _survivor(self, best: int, again: list[int]) -> DocInfo:
        """The survivor; an earlier run's document read again in this run (``again``:
        the rows that read it) is that one."""
        survivor = self._info(best)
        if again:
            return attrs.evolve(self._info(min(again)), earlier=survivor.earlier)
        return survivor

    def _copy(self, survivor: int, node: int) -> Copy:
        doc = self._info(node)
        if self._key(survivor) == self._key(node):
            return Copy(doc=doc, relation="exact", score=1.0)
        a, b = self._set(survivor), self._set(node)
        # (an earlier document's set is the index's, at a fitted width: both are compared
        # at the coarser width; two of this run's at 32 bits, exactly)
        score = minhash.jaccard_at(*a, *b) if a is not None and b is not None else 0.0
        return Copy(doc=doc, relation="near", score=round(score, 4))


def _has_words(text: str, count: int) -> bool:
    """Whether ``text`` has at least ``count`` words (it stops counting there)."""
    return sum(1 for _ in itertools.islice(minhash.TOKEN.finditer(text), count)) >= count


def _policy_key(doc: DocInfo, keep: Keep, rank: dict[str, int]) -> tuple[object, ...]:
    priority = rank.get(doc.source, len(rank))
    if keep == "earliest":
        # Undated documents come after dated ones; ISO dates sort as text.
        policy: tuple[object, ...] = (doc.published is None, doc.published or "")
    elif keep == "longest":
        policy = (-doc.length,)
    else:
        policy = (doc.row if doc.row is not None else -1,)
    return (priority, *policy, doc.id)
