"""The names of a corpus grouped into entities on disk, in memory bounded by a budget.

``entities.link`` needs every name of the corpus before it can link any: an acronym joins
the one spelled-out name in the corpus with its initials, a surname the one full name
that ends with it. :class:`NameIndex` takes each document's names, writes them to
partitioned spills (:mod:`docstage.spill`) and builds the entities one step at a time,
each step a pass over partitions keyed by a 64-bit BLAKE2b hash:

1. names (one record each, with what :class:`~.names.NameFacts` says of it) are joined
   with their mentions, by name key, and regrouped by alias key (the family and the
   normalised name or its alias table target): names with one alias key are one entity;
2. per alias key, the initials its names spell out and the acronyms of keys that spell
   none out are joined by (family, letters); an acronym whose letters one key spells out
   links the two keys;
3. the connected components of those links (minimum label propagation, a pass over the
   links per round) regroup the names; then lone PERSON words and the surnames of full
   PERSON names are joined the same way, per group, and the groups regrouped again;
4. each final group is named (:func:`~.names.name_entity`) and every document's names
   are joined with their entity, written out by document number and read back in order.

The decisions only depend on which names are in the same group, never on which record
came first, so the result is that of linking all names in memory, whatever the budget.
What stays in memory is one step's partitions and a bounded set of names already seen.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import tempfile
from collections.abc import Iterable, Mapping
from typing import IO

import numpy as np

from docstage.spill import DEFAULT_MEMORY, PARTITIONS, Partitions, ranges
from docstage_plugins.entities.names import AliasTable, Linked, NameFacts, NameKey, name_entity
from docstage_plugins.entities.spilled import (
    Held,
    Spill,
    by_field,
    components,
    lookup,
    run_starts,
    spans,
)

#: A document's mentions (``n``) of one name (``k``).
_OCCURRENCE = np.dtype([("k", "<u8"), ("doc", "<i8"), ("n", "<i8")])
#: A name and its facts, as hashes (0: none): its group (``g``, first its alias key), the
#: initials it spells out, the letters it abbreviates as an acronym, its surname (a full
#: PERSON name) or its one word (a lone PERSON name); its mentions, and where its label,
#: display name and alias table name are in the strings file.
_NAME = np.dtype(
    [
        ("k", "<u8"),
        ("g", "<u8"),
        ("ini1", "<u8"),
        ("ini2", "<u8"),
        ("abbr", "<u8"),
        ("sur", "<u8"),
        ("lone", "<u8"),
        ("n", "<i8"),
        ("off", "<i8"),
        ("l1", "<i4"),
        ("l2", "<i4"),
        ("l3", "<i4"),
    ]
)
#: Group ``g`` offers (a target) or asks for (a request) ``key``.
_KEYED = np.dtype([("key", "<u8"), ("g", "<u8")])
#: A link between two groups (written both ways).
_EDGE = np.dtype([("a", "<u8"), ("b", "<u8")])
#: A name's entity: where its id, canonical name and label are in the strings file.
_ENTITY = np.dtype([("k", "<u8"), ("off", "<i8"), ("l1", "<i4"), ("l2", "<i4"), ("l3", "<i4")])
#: The entity of a name of a document.
_ANSWER = np.dtype(
    [("doc", "<i8"), ("k", "<u8"), ("off", "<i8"), ("l1", "<i4"), ("l2", "<i4"), ("l3", "<i4")]
)
#: Rows gathered in Python lists before they become arrays.
_PENDING = 1 << 14


def _hash(*parts: str) -> int:
    """A 64-bit BLAKE2b key of ``parts`` (never 0, which means "none")."""
    data = "".join(f"{len(part)}:{part}" for part in parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") or 1


class NameIndex:
    """The names of many documents, linked into entities in bounded memory.

    Add every document's names first (:meth:`add`), then ask for each document's links in
    the order the documents were added (:meth:`links`): the entities are built on the
    first question, within ``memory`` bytes of buffers. Close it (or use it as a context
    manager) to delete its temporary files.

    Args:
        aliases: The alias table (default: the built-in one).
        acronyms: Link acronyms to the one group that spells them out.
        surnames: Link lone PERSON words to the one group with a full name ending in them.
        memory: The budget, in bytes.
        partitions: Partitions of every spill (a power of two).
    """

    def __init__(
        self,
        aliases: AliasTable | None = None,
        *,
        acronyms: bool = True,
        surnames: bool = True,
        memory: int = DEFAULT_MEMORY,
        partitions: int = PARTITIONS,
    ) -> None:
        self.aliases = aliases if aliases is not None else AliasTable.build()
        self.acronyms, self.surnames = acronyms, surnames
        #: Distinct names, mentions and entities (known once built).
        self.names = self.mentions = self.entities = 0
        #: Partitions the build went through (1: it was held in memory).
        self.build_partitions = 0
        self._partitions = partitions
        #: Partitions of the build's spills: one, held in memory, when the names are few.
        self._parts = partitions
        self._disks: list[Partitions] = []
        self._share = max(1, memory // 256)
        #: Bytes of records one step reads at once (numpy needs a few times that).
        self._step = max(1, memory // 256)
        self._strings: IO[bytes] = tempfile.TemporaryFile(prefix="docstage-names-")  # noqa: SIM115 - lives as long as the index
        self._strings_at = 0
        self._occurrences = self._disk(_OCCURRENCE, "k", partitions)
        self._names = self._disk(_NAME, "k", partitions)
        #: Names whose facts were written (forgotten when it grows too big: a repeat is
        #: then written again, and the build keeps one).
        self._seen: set[int] = set()
        self._seen_limit = max(1 << 10, memory // 8192)
        self._pending = max(1, min(_PENDING, self._share // _OCCURRENCE.itemsize))
        self._pending_occurrences: list[tuple[int, int, int]] = []
        self._pending_names: list[tuple[int, ...]] = []
        self._documents = 0
        self._answers: Spill | None = None
        self._span = 1
        self._asked = 0
        self._loaded = -1
        self._current = np.empty(0, dtype=_ANSWER)
        self._cache: dict[int, Linked] = {}

    def _spill(self, dtype: np.dtype[np.void], key: str, span: int | None = None) -> Spill:
        """A spill for a build step: held in memory when the build fits the budget."""
        if self._parts == 1:
            return Held(dtype)
        return self._disk(dtype, key, self._parts, span)

    def _disk(
        self, dtype: np.dtype[np.void], key: str, partitions: int, span: int | None = None
    ) -> Partitions:
        spill = Partitions(dtype, key, budget=self._share, partitions=partitions, span=span)
        self._disks.append(spill)
        return spill

    def close(self) -> None:
        """Delete the index's temporary files."""
        self._strings.close()
        for spill in self._disks:
            spill.close()
        self._disks.clear()

    def __enter__(self) -> NameIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- adding ------------------------------------------------------------------------

    def _write(self, *texts: str | None) -> tuple[int, ...]:
        """Write ``texts`` to the strings file: their offset and lengths (-1 for None)."""
        data = [b"" if t is None else t.encode("utf-8", "surrogatepass") for t in texts]
        at = self._strings_at
        self._strings.write(b"".join(data))
        self._strings_at += sum(map(len, data))
        return (at, *(-1 if t is None else len(d) for t, d in zip(texts, data, strict=True)))

    def _read(self, off: int, *lengths: int) -> list[str | None]:
        """The strings :meth:`_write` wrote at ``off`` with ``lengths``."""
        data = os.pread(self._strings.fileno(), sum(n for n in lengths if n > 0), off)
        found: list[str | None] = []
        for n in lengths:
            if n < 0:
                found.append(None)
            else:
                found.append(data[:n].decode("utf-8", "surrogatepass"))
                data = data[n:]
        return found

    def _facts(self, k: int, key: NameKey) -> tuple[int, ...]:
        facts = NameFacts.of(key, self.aliases)
        initials = [*sorted(_hash(facts.family, i) for i in facts.initials()), 0, 0]
        abbreviates, surname, lone = facts.abbreviates(), facts.surname(), facts.lone_name()
        return (
            k,
            _hash(*facts.group),
            initials[0],
            initials[1],
            0 if abbreviates is None else _hash(facts.family, abbreviates),
            0 if surname is None else _hash(surname),
            0 if lone is None else _hash(lone),
            0,
            *self._write(facts.label, facts.display, facts.table_name),
        )

    def add(self, names: Mapping[NameKey, int]) -> None:
        """Add one document: its names and how often each is mentioned."""
        if self._answers is not None:
            raise RuntimeError("NameIndex: add every document before asking for links")
        doc = self._documents
        self._documents += 1
        for key, count in names.items():
            k = _hash(*key)
            self._pending_occurrences.append((k, doc, count))
            if k in self._seen:
                continue
            if len(self._seen) >= self._seen_limit:
                self._seen.clear()
            self._seen.add(k)
            self._pending_names.append(self._facts(k, key))
        if len(self._pending_occurrences) >= self._pending:
            self._flush_pending()

    def _flush_pending(self) -> None:
        if self._pending_occurrences:
            self._occurrences.append(np.array(self._pending_occurrences, dtype=_OCCURRENCE))
            self._pending_occurrences.clear()
        if self._pending_names:
            self._names.append(np.array(self._pending_names, dtype=_NAME))
            self._pending_names.clear()

    # --- building, one partition at a time ---------------------------------------------

    def _count(self, grouped: Spill) -> None:
        """Each name once, with its mentions, by group."""
        for low, high in ranges(self._step, self._names, self._occurrences):
            rows = self._names.read_range(low, high)
            if not rows.size:
                continue
            _, first = np.unique(rows["k"], return_index=True)
            rows = rows[first]  # sorted by name key
            found = by_field(self._occurrences.read_range(low, high), "k")
            starts = run_starts(found["k"])
            at, _ = lookup(found["k"][starts], rows["k"])
            rows["n"] = np.add.reduceat(found["n"], starts)[at]
            self.names += rows.size
            self.mentions += int(rows["n"].sum())
            grouped.append(rows)

    def _offers(self, grouped: Spill, offered: tuple[str, ...], asked: str) -> Spill:
        """Links between groups: a group whose names offer none of the keys in fields
        ``offered`` asks for the key in field ``asked`` of its names, and is linked to the
        group that offers it when exactly one does."""
        edges = self._spill(_EDGE, "a")
        with self._spill(_KEYED, "key") as targets, self._spill(_KEYED, "key") as requests:
            for low, high in spans(self._step, grouped):
                rows = by_field(grouped.read_range(low, high), "g")
                if not rows.size:
                    continue
                offers = np.zeros(rows.size, dtype=bool)
                for field in offered:
                    given = rows[field] != 0
                    offers |= given
                    out = np.empty(int(given.sum()), dtype=_KEYED)
                    out["key"], out["g"] = rows[field][given], rows["g"][given]
                    targets.append(out)
                starts = run_starts(rows["g"])
                sizes = np.diff(np.append(starts, rows.size))
                ask = (rows[asked] != 0) & ~np.repeat(np.logical_or.reduceat(offers, starts), sizes)
                out = np.empty(int(ask.sum()), dtype=_KEYED)
                out["key"], out["g"] = rows[asked][ask], rows["g"][ask]
                requests.append(out)
            for low, high in spans(self._step, targets, requests):
                offer = targets.read_range(low, high)
                wants = requests.read_range(low, high)
                if not offer.size or not wants.size:
                    continue
                offer = np.unique(offer)  # by key, then group: each pair once
                starts = run_starts(offer["key"])
                single = starts[np.diff(np.append(starts, offer.size)) == 1]
                at, hit = lookup(offer["key"][single], wants["key"])
                a, b = wants["g"][hit], offer["g"][single][at[hit]]
                out = np.empty(2 * a.size, dtype=_EDGE)
                out["a"], out["b"] = np.concatenate((a, b)), np.concatenate((b, a))
                edges.append(out)
        return edges

    def _link(self, grouped: Spill, offered: tuple[str, ...], asked: str) -> Spill:
        """``grouped`` with the groups linked by :meth:`_offers` merged (into the smallest
        group key of each component)."""
        out = self._spill(_NAME, "g")
        with (
            self._offers(grouped, offered, asked) as edges,
            components(edges, self._spill, self._step) as labels,
        ):
            for low, high in spans(self._step, grouped, labels):
                rows = grouped.read_range(low, high)
                known = by_field(labels.read_range(low, high), "node")
                at, hit = lookup(known["node"], rows["g"])
                rows["g"][hit] = known["comp"][at[hit]]
                out.append(rows)
        return out

    def _name(self, grouped: Spill, entities: Partitions) -> None:
        """Each group's entity, for every name of the group."""
        for low, high in spans(max(1, self._step // 4), grouped):
            rows = by_field(grouped.read_range(low, high), "g")
            bounds = np.append(run_starts(rows["g"]), rows.size).tolist()
            keys, counts = rows["k"].tolist(), rows["n"].tolist()
            where = rows[["off", "l1", "l2", "l3"]].tolist()
            found: list[tuple[int, ...]] = []
            for start, end in itertools.pairwise(bounds):
                members = []
                for at in range(start, end):
                    label, display, table_name = self._read(*where[at])
                    members.append((label or "", counts[at], display or "", table_name))
                entity = name_entity(members)
                written = self._write(entity.entity_id, entity.canonical, entity.label)
                found.extend((k, *written) for k in keys[start:end])
            self.entities += len(bounds) - 1
            if found:
                entities.append(np.array(found, dtype=_ENTITY))

    def _answer(self, entities: Partitions, answers: Spill) -> None:
        """Every document's names with their entity, by document number."""
        for low, high in ranges(self._step, entities, self._occurrences):
            known = by_field(entities.read_range(low, high), "k")
            found = self._occurrences.read_range(low, high)
            if not found.size:
                continue
            at, _ = lookup(known["k"], found["k"])
            out = np.empty(found.size, dtype=_ANSWER)
            out["doc"], out["k"] = found["doc"], found["k"]
            for field in ("off", "l1", "l2", "l3"):
                out[field] = known[field][at]
            answers.append(out)

    def _build(self) -> Spill:
        self._flush_pending()
        self._strings.flush()
        self._seen.clear()
        # What the names become is held in memory when a step's few copies of all of it
        # fit the budget, else partitioned on disk.
        size = int(self._names.sizes().sum() + self._occurrences.sizes().sum())
        need = 4 * size // self._step + 1
        self._parts = self.build_partitions = min(self._partitions, 1 << (need - 1).bit_length())
        self._span = max(1, -(-self._documents // self._parts))
        grouped = self._spill(_NAME, "g")
        self._count(grouped)
        self._names.close()
        steps = [(self.acronyms, ("ini1", "ini2"), "abbr"), (self.surnames, ("sur",), "lone")]
        for wanted, offered, asked in steps:
            if wanted:
                regrouped = self._link(grouped, offered, asked)
                grouped.close()
                grouped = regrouped
        answers = self._spill(_ANSWER, "doc", span=self._span)
        with self._disk(_ENTITY, "k", self._partitions) as entities:  # joins occurrences
            self._name(grouped, entities)
            grouped.close()
            self._strings.flush()
            self._answer(entities, answers)
        self._occurrences.close()
        return answers

    # --- questions -------------------------------------------------------------------

    def links(self, names: Iterable[NameKey]) -> dict[NameKey, Linked]:
        """The entities of the next document's ``names`` (ask about every document, in
        the order they were added); a name the document was not added with has none."""
        if self._answers is None:
            self._answers = self._build()
        doc = self._asked
        if doc >= self._documents:
            raise RuntimeError("NameIndex: asked about more documents than were added")
        self._asked += 1
        partition = min(doc // self._span, self._parts - 1)
        if partition != self._loaded:
            self._current = by_field(self._answers.read(partition), "doc")
            self._loaded, self._cache = partition, {}
        low, high = np.searchsorted(self._current["doc"], [doc, doc + 1]).tolist()
        rows = self._current[low:high]
        where = dict(zip(rows["k"].tolist(), rows[["off", "l1", "l2", "l3"]].tolist(), strict=True))
        found: dict[NameKey, Linked] = {}
        for key in names:
            at = where.get(_hash(*key))
            if at is None:
                continue
            linked = self._cache.get(at[0])
            if linked is None:
                entity_id, canonical, label = self._read(*at)
                linked = self._cache[at[0]] = Linked(
                    entity_id=entity_id or "", canonical=canonical or "", label=label or ""
                )
            found[key] = linked
        return found
