"""``entities.link``: one entity index across documents and sources.

The ``entities`` stage gives every mention a ``canonical`` form within its document
(``Putin`` -> ``Vladimir Putin``). This corpus stage links those names across documents:
the aliases of one entity (``US``, ``U.S.``, ``United States``, ``the United States``)
get one ``entity_id`` and one canonical name on every mention, and an
:class:`EntityIndex` counts each entity's aliases, mentions, documents and sources.

The stream is read twice through a :class:`~docstage.spool.Spool`: the first pass gives
every document's names to a :class:`~docstage_plugins.entities.name_index.NameIndex`,
which groups them on disk within the run's memory budget; the second sets ``entity_id``
and ``canonical``. The result depends only on which mentions the corpus holds, never on
document order or the budget. The rules for names are in
:mod:`docstage_plugins.entities.names`.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import attrs

from docstage.document import Document, Entity
from docstage.errors import OptionError
from docstage.options import option
from docstage.spill import DEFAULT_MEMORY, PARTITIONS
from docstage.spool import Spool
from docstage.stages import CorpusStage, Drop, StageContext, StageProgress
from docstage_plugins.entities.name_index import NameIndex
from docstage_plugins.entities.names import (
    AliasTable,
    Linked,
    NameKey,
    display_name,
    entity_id_for,
    family,
    is_acronym,
    most_common,
    normalise,
)

__all__ = [
    "AliasTable",
    "EntitiesLink",
    "EntityIndex",
    "IndexEntry",
    "Linked",
    "NameKey",
    "display_name",
    "document_names",
    "entity_id_for",
    "family",
    "is_acronym",
    "link_document",
    "mention_name",
    "normalise",
    "resolve",
]


def resolve(
    counts: Mapping[NameKey, int],
    table: AliasTable | None = None,
    *,
    acronyms: bool = True,
    surnames: bool = True,
    memory: int = DEFAULT_MEMORY,
    partitions: int = PARTITIONS,
) -> dict[NameKey, Linked]:
    """Group the names of a corpus into entities and name each entity.

    Names are only grouped within a label family (GPE with LOC; PERSON never with ORG).
    Two names are one entity when they normalise alike (:func:`~.names.normalise`) or
    the alias table says so; an acronym joins the one multi-word name whose initials it
    spells (``EU`` -> ``European Union``); a one-word PERSON name joins the one full name
    in the corpus that ends with it (``Putin`` -> ``Vladimir Putin``). Ambiguous
    acronyms and surnames stay entities of their own.

    Args:
        counts: Mentions per ``(label, name)``.
        table: Aliases no rule derives (default: the built-in table).
        acronyms: Link acronyms to the names whose initials they spell.
        surnames: Link one-word PERSON names to a unique full name.
        memory: Bytes the work may keep in memory; the rest goes to temporary files.
        partitions: Partitions of the temporary files (a power of two).

    Returns:
        For every key of ``counts``, the entity it belongs to. Each decision is taken on
        the groups of the step before, as a whole, so the result depends only on
        ``counts`` (not on its order, nor on ``memory``).
    """
    with NameIndex(
        table, acronyms=acronyms, surnames=surnames, memory=memory, partitions=partitions
    ) as index:
        index.add(counts)
        return index.links(counts)


def mention_name(entity: Entity) -> str:
    """The name a mention is linked by: its in-document canonical form, else its text."""
    return (entity.canonical or entity.text).strip()


@attrs.define(kw_only=True)
class IndexEntry:
    """One entity of the index, with what the corpus says about it.

    Attributes:
        entity_id: The entity's id.
        mentions: Mentions of the entity.
        documents: Documents that mention it.
        aliases: Mentions per surface text (``US``: 3, ``United States``: 5).
        names: Mentions per canonical name (one name after ``entities.link``).
        labels: Mentions per label (GPE and LOC may share an entity).
        sources: The sources of those documents.
    """

    entity_id: str
    mentions: int = 0
    documents: int = 0
    aliases: collections.Counter[str] = attrs.Factory(collections.Counter)
    names: collections.Counter[str] = attrs.Factory(collections.Counter)
    labels: collections.Counter[str] = attrs.Factory(collections.Counter)
    sources: set[str] = attrs.Factory(set)

    @property
    def canonical(self) -> str:
        return most_common(self.names)

    @property
    def label(self) -> str:
        return most_common(self.labels)

    def alias_counts(self) -> list[tuple[str, int]]:
        """The aliases, most mentioned first (ties alphabetically)."""
        return sorted(self.aliases.items(), key=lambda item: (-item[1], item[0]))


@attrs.define
class EntityIndex:
    """The entity table of a corpus, built one document at a time in O(entities) memory.

    ``render.csv`` and ``render.html`` build one from the documents they write (after
    ``entities.link``, from its ids). Mentions without an ``entity_id`` are grouped by
    :func:`entity_id_for` of their label and name.
    """

    entries: dict[str, IndexEntry] = attrs.Factory(dict)

    def add(self, doc: Document) -> None:
        """Count the mentions of ``doc``."""
        seen: set[str] = set()
        for entity in doc.entities:
            name = mention_name(entity)
            entity_id = entity.entity_id or entity_id_for(entity.label, name)
            entry = self.entries.get(entity_id)
            if entry is None:
                entry = self.entries[entity_id] = IndexEntry(entity_id=entity_id)
            entry.mentions += 1
            entry.aliases[" ".join(entity.text.split())] += 1
            entry.names[name] += 1
            entry.labels[entity.label] += 1
            if entity_id not in seen:
                seen.add(entity_id)
                entry.documents += 1
                entry.sources.add(doc.source)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, entity_id: str) -> IndexEntry:
        return self.entries[entity_id]

    def sorted(self) -> list[IndexEntry]:
        """The entries by documents (most first), then canonical name, label and id."""
        return sorted(
            self.entries.values(),
            key=lambda e: (-e.documents, e.canonical.casefold(), e.canonical, e.label, e.entity_id),
        )


@attrs.define(kw_only=True)
class EntitiesLink(CorpusStage):
    """Link entity mentions across documents into one entity index.

    Aliases of one entity get one ``entity_id`` and one canonical name on every mention:
    names that differ only in case, accents, dots, a leading "the" or a possessive;
    aliases from a small built-in table (``America``, ``UK``) and the ``aliases`` option;
    an acronym and the one multi-word name it abbreviates (``EU``, ``European Union``);
    a surname and the one full name in the corpus that ends with it (``Putin``,
    ``Vladimir Putin``). Only compatible labels are linked: GPE with LOC, never PERSON
    with ORG. The canonical name prefers the full form (``United States``).

    Reads the corpus twice through a temporary file on disk and groups the names on disk
    too, so memory stays within the run's budget (``[run] memory``) whatever the number
    of documents or names. The same mentions give the same ids in any document order and
    under any budget; an id depends only on the entity's label and canonical name.
    """

    name: ClassVar[str] = "entities.link"

    aliases: dict[str, list[str]] = option(
        factory=dict,
        help="More aliases: a table of canonical name -> its aliases, e.g. "
        '{"New York City" = ["NYC", "Big Apple"]}; applies to every label.',
    )
    builtin_aliases: bool = option(
        True, help="Use the built-in aliases (America, USA -> United States; UK; EU; UN; ...)."
    )
    acronyms: bool = option(
        True, help="Link an acronym to the one multi-word name whose initials it spells."
    )
    surnames: bool = option(
        True, help="Link a one-word PERSON name to the one full name in the corpus ending in it."
    )
    _table: AliasTable = attrs.field(factory=AliasTable.build, init=False, repr=False)
    _memory: int = attrs.field(default=DEFAULT_MEMORY, init=False, repr=False)
    _log: Any = attrs.field(default=None, init=False, repr=False)
    _progress: StageProgress = attrs.field(factory=StageProgress, init=False, repr=False)

    def setup(self, context: StageContext) -> None:
        for canonical, names in self.aliases.items():
            if not canonical.strip() or not all(n.strip() for n in names):
                raise OptionError("aliases", "canonical names and aliases must not be empty")
        self._table = AliasTable.build(self.aliases, builtin=self.builtin_aliases)
        self._memory = context.memory
        self._log = context.log
        self._progress = context.progress

    def process_stream(self, docs: Iterator[Document]) -> Iterator[Document | Drop]:
        with (
            Spool.behind(docs) as spool,
            NameIndex(
                self._table,
                acronyms=self.acronyms,
                surnames=self.surnames,
                memory=self._memory,
            ) as index,
        ):
            for doc in docs:
                index.add(collections.Counter(document_names(doc)))
                spool.append(doc)
            self._progress.phase("names")  # the index is built on the first question
            for doc in spool:
                yield link_document(doc, index.links(document_names(doc)))
        if self._log is not None:
            self._log.info(
                "entities linked",
                names=index.names,
                entities=index.entities,
                mentions=index.mentions,
                partitions=index.build_partitions,
            )


def document_names(doc: Document) -> list[NameKey]:
    """The name of every mention of ``doc`` that has one, as ``(label, name)``."""
    return [(entity.label, name) for entity in doc.entities if (name := mention_name(entity))]


def link_document(doc: Document, links: Mapping[NameKey, Linked]) -> Document:
    """``doc`` with ``entity_id`` and the cross-document ``canonical`` on every mention.

    Returns ``doc`` itself when nothing changes.
    """
    changed = False
    entities = []
    for entity in doc.entities:
        found = links.get((entity.label, mention_name(entity)))
        if found is not None and (
            entity.entity_id != found.entity_id or entity.canonical != found.canonical
        ):
            entity = attrs.evolve(entity, canonical=found.canonical, entity_id=found.entity_id)
            changed = True
        entities.append(entity)
    return doc.evolve(entities=tuple(entities)) if changed else doc


STAGES = (EntitiesLink,)
