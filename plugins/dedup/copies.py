"""Exact and near copies: which documents are the same text, and which one survives.

:class:`CopyFinder` sees documents one at a time (the first pass of the ``dedup`` stage),
finds their exact copies (same normalised text) and near copies (MinHash LSH over word
shingles, every candidate verified by its true Jaccard similarity), and groups them with
union-find. Documents indexed by earlier runs (:class:`CopyIndex`, tables in the state
store) take part as well: a new document that copies one of them joins its group, and
the earlier document, already published, stays the survivor.

:func:`choose_survivors` then applies the declared policy to each group.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import attrs
import numpy as np

from docstage.unionfind import UnionFind
from docstage_plugins.dedup import minhash
from docstage_plugins.dedup.index import CopyIndex, IndexedDoc

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


@attrs.define
class CopyFinder:
    """Finds exact and near copies among a run's documents and an earlier index.

    Call :meth:`add_many` for every batch of documents, then :meth:`groups`. Each batch
    first looks up in the index the earlier documents that share a key with it (the
    same exact key, a MinHash band key or the same id) and, for an earlier copy among
    them, its original: only those become nodes of the union-find, so memory grows with
    the run's documents and their matches, never with the index. Nodes are numbered in
    the order they arrive; which ones are earlier documents is a flag, not a range.

    Attributes:
        exact: Look for exact copies.
        near: Look for near copies.
        threshold: Jaccard similarity at or above which two texts are near copies.
        shingle_size: Words per shingle.
        min_words: Texts with fewer words are never exact copies (near copies need a
            shingle, so ``shingle_size`` words, anyway).
        permutations: MinHash permutations.
        index: Documents of earlier runs, or None.
    """

    exact: bool = True
    near: bool = True
    threshold: float = 0.8
    shingle_size: int = 5
    min_words: int = 5
    permutations: int = 128
    index: CopyIndex | None = None
    _hasher: minhash.MinHasher = attrs.field(init=False)
    _bands: tuple[int, int] = attrs.field(init=False)
    _lsh: minhash.LshIndex = attrs.field(init=False)
    _by_key: dict[bytes, int] = attrs.Factory(dict)
    _sets: dict[int, bytes] = attrs.Factory(dict)
    _keys: dict[int, bytes] = attrs.Factory(dict)
    _docs: list[DocInfo] = attrs.Factory(list)
    _uf: UnionFind[int] = attrs.Factory(UnionFind)
    #: Earlier runs' documents held: their index node -> our node; and by id.
    _earlier: dict[int, int] = attrs.Factory(dict)
    _earlier_ids: dict[str, int] = attrs.Factory(dict)
    #: This run's documents that are an earlier one read again (node -> earlier node):
    #: the same document, never a copy of itself.
    _reread: dict[int, int] = attrs.Factory(dict)
    #: Earlier runs' documents that were copies of another earlier one.
    _earlier_copies: set[int] = attrs.Factory(set)
    #: Earlier copies brought in whose original is still to be joined: (node, its id).
    _pending: list[tuple[int, str]] = attrs.Factory(list)
    #: Per new document (by input row): its exact key, shingle set and band keys, for
    #: the index.
    fingerprints: dict[int, tuple[bytes, bytes, np.ndarray]] = attrs.Factory(dict)

    def __attrs_post_init__(self) -> None:
        self._hasher = minhash.MinHasher(permutations=self.permutations)
        self._bands = minhash.choose_bands(self.threshold, self.permutations)
        self._lsh = minhash.LshIndex()

    @property
    def earlier_count(self) -> int:
        """How many earlier runs' documents this finder holds."""
        return len(self._earlier)

    def _is_earlier(self, node: int) -> bool:
        return self._docs[node].earlier is not None

    def _add_earlier(self, doc: IndexedDoc) -> int:
        assert doc.node is not None
        node = self._earlier.get(doc.node)
        if node is not None:
            return node
        node = len(self._docs)
        self._docs.append(
            DocInfo(
                row=None,
                id=doc.id,
                source=doc.source,
                published=doc.published,
                length=doc.length,
                earlier=doc.run_id,
            )
        )
        self._earlier[doc.node] = node
        self._earlier_ids[doc.id] = node
        self._keys[node] = doc.exact
        if self.near and doc.shingles:
            self._sets[node] = doc.shingles
        if doc.original is not None:
            self._pending.append((node, doc.original))
        return node

    def _look_up(self, docs: Sequence[DocInfo], exact: list[bytes], bands: np.ndarray) -> None:
        """Bring in the earlier documents that share an id, exact key or band key with
        this batch, and the originals of the earlier copies among them."""
        index = self.index
        if index is None:
            return
        # A key or id of an earlier batch was asked then: its earlier documents are held.
        for doc in index.by_ids(d.id for d in docs if d.id not in self._earlier_ids):
            self._add_earlier(doc)
        for key, doc in index.by_exact(k for k in exact if k not in self._by_key).items():
            self._by_key[key] = self._add_earlier(doc)
        matches = index.by_bands(np.unique(bands).tolist())
        known = self._earlier
        for doc in index.by_nodes(n for _, n in matches if n not in known):
            self._add_earlier(doc)
        # (A band key asked again in a later batch adds its documents again: candidates
        # are a set, and only copies within the run share keys across batches.)
        by_node: dict[int, list[int]] = {}
        for band, n in matches:
            if known[n] in self._sets:
                by_node.setdefault(known[n], []).append(band)
        for node, node_keys in sorted(by_node.items()):
            self._lsh.add(node, np.array(node_keys, dtype=np.uint64))
        # An earlier copy stands with its original: what matches it copies that one.
        while self._pending:
            pending, self._pending = self._pending, []
            missing = {o for _, o in pending if o not in self._earlier_ids}
            for doc in index.by_ids(missing):
                self._add_earlier(doc)
            for node, original in pending:
                other = self._earlier_ids.get(original)
                if other is not None:
                    self._uf.union(other, node)
                    self._earlier_copies.add(node)

    def add_many(self, docs: Sequence[DocInfo], texts: Sequence[str]) -> None:
        """Add a batch of this run's documents (hashing is vectorised over the batch)."""
        sets = [minhash.shingles(t, self.shingle_size) for t in texts] if self.near else []
        keys = np.empty((len(texts), 0), dtype=np.uint64)
        if sets:
            signatures = self._hasher.signatures(sets)
            keys = minhash.band_keys(signatures, *self._bands)
        exact = [minhash.exact_key(text) for text in texts]
        wordy = [self.exact and _has_words(text, self.min_words) for text in texts]
        with_set = [i for i, s in enumerate(sets) if s.size]
        self._look_up(docs, [k for k, w in zip(exact, wordy, strict=True) if w], keys[with_set])
        for i, doc in enumerate(docs):
            assert doc.row is not None  # this run's documents have a row
            node = len(self._docs)
            self._docs.append(doc)
            key = exact[i]
            self._keys[node] = key
            earlier = self._earlier_ids.get(doc.id)
            if earlier is not None:
                self._reread[node] = earlier
                self._uf.union(earlier, node)
            encoded = b""
            bands = np.empty(0, dtype=np.uint64)
            if wordy[i]:
                first = self._by_key.setdefault(key, node)
                # The same document read again (an earlier run indexed its id) is not a copy.
                if first != node and self._docs[first].id != doc.id:
                    self._uf.union(first, node)
            if self.near and sets[i].size:
                bands = keys[i]
                encoded = minhash.encode_set(sets[i])
                self._match(node, sets[i], bands)
                self._lsh.add(node, bands)
                self._sets[node] = encoded
            self.fingerprints[doc.row] = (key, encoded, bands)

    def _match(self, node: int, shingles: np.ndarray, bands: np.ndarray) -> None:
        for other in sorted(self._lsh.candidates(bands)):
            if self._uf.find(other) == self._uf.find(node):
                continue
            if self._docs[other].id == self._docs[node].id:
                continue
            score = minhash.jaccard(shingles, minhash.decode_set(self._sets[other]))
            if score >= self.threshold:
                self._uf.union(other, node)

    def groups(self, keep: Keep, source_priority: Sequence[str] = ()) -> list[Group]:
        """Every group with at least one copy from this run, survivor chosen by policy.

        A group holding documents of earlier runs keeps the earliest-indexed of them as
        its survivor: it was published already.
        """
        members: dict[int, list[int]] = {}
        for node in range(len(self._docs)):
            members.setdefault(self._uf.find(node), []).append(node)
        rank = {source: i for i, source in enumerate(source_priority)}
        out = []
        for nodes in members.values():
            if len(nodes) < 2 or all(self._is_earlier(n) for n in nodes):
                continue
            # An earlier run published its survivor already: it stays the survivor.
            held = [n for n in nodes if self._is_earlier(n)]
            earlier = [n for n in held if n not in self._earlier_copies] or held
            best = min(earlier or nodes, key=lambda n: _policy_key(self._docs[n], keep, rank))
            # Documents read again are the earlier ones, kept as before: never copies
            # (unless the earlier one was a copy too).
            copies = [
                self._copy(best, n)
                for n in nodes
                if n != best and not self._is_earlier(n) and self._reread.get(n, -1) not in earlier
            ]
            if not copies:
                continue
            copies.sort(key=lambda c: c.doc.id)
            out.append(Group(survivor=self._survivor(best, nodes), copies=tuple(copies)))
        out.sort(key=lambda g: g.survivor.id)
        return out

    def _survivor(self, best: int, nodes: list[int]) -> DocInfo:
        """The survivor; an earlier run's document read again in this run is that one."""
        survivor = self._docs[best]
        again = [n for n in nodes if self._reread.get(n) == best]
        if again:
            return attrs.evolve(self._docs[min(again)], earlier=survivor.earlier)
        return survivor

    def _copy(self, survivor: int, node: int) -> Copy:
        doc = self._docs[node]
        if self._keys[survivor] == self._keys[node]:
            return Copy(doc=doc, relation="exact", score=1.0)
        a, b = self._sets.get(survivor), self._sets.get(node)
        score = (
            minhash.jaccard(minhash.decode_set(a), minhash.decode_set(b))
            if a is not None and b is not None
            else 0.0
        )
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
