"""``entities.link``: one entity index across documents and sources.

The ``entities`` stage gives every mention a ``canonical`` form within its document
(``Putin`` -> ``Vladimir Putin``). This corpus stage links those names across documents:
the aliases of one entity (``US``, ``U.S.``, ``United States``, ``the United States``)
get one ``entity_id`` and one canonical name on every mention, and an
:class:`EntityIndex` counts each entity's aliases, mentions, documents and sources.

The stream is read twice through a :class:`~docstage.spool.Spool`: the first pass counts
the names, :func:`resolve` groups them, the second sets ``entity_id`` and ``canonical``.
The result depends only on which mentions the corpus holds, never on document order.
"""

from __future__ import annotations

import collections
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

import attrs

from docstage.document import Document, Entity
from docstage.errors import OptionError
from docstage.options import option
from docstage.spool import Spool
from docstage.stages import CorpusStage, Drop, StageContext

#: A distinct name seen in the corpus: (label, the mention's canonical form or text).
NameKey = tuple[str, str]

# Labels that may name the same entity: spaCy calls one place GPE here and LOC there.
_FAMILIES = {"GPE": "place", "LOC": "place"}
# Numbers, dates and people are never abbreviated to initials in the sense linked here.
_NO_ACRONYMS = frozenset(
    {"PERSON", "DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"}
)
_PLACE_OR_ORG = frozenset({"place", "ORG"})

#: Common aliases no rule derives: canonical name, the label families it applies to, aliases.
BUILTIN_ALIASES: tuple[tuple[str, frozenset[str], tuple[str, ...]], ...] = (
    (
        "United States",
        frozenset({"place"}),
        ("US", "USA", "America", "United States of America"),
    ),
    ("United Kingdom", frozenset({"place"}), ("UK", "Britain", "Great Britain")),
    ("European Union", _PLACE_OR_ORG, ("EU",)),
    ("United Nations", frozenset({"ORG"}), ("UN",)),
    ("Soviet Union", frozenset({"place"}), ("USSR",)),
    ("United Arab Emirates", frozenset({"place"}), ("UAE",)),
    ("Russia", frozenset({"place"}), ("Russian Federation",)),
    (
        "NATO",
        frozenset({"ORG"}),
        ("North Atlantic Treaty Organization", "North Atlantic Treaty Organisation"),
    ),
)

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_POSSESSIVE = re.compile(r"(?:'[sS]|(?<=[sS])')$")
_LEADING_THE = re.compile(r"^the\s+", re.IGNORECASE)
_LEADING_LOWER_THE = re.compile(r"^the\s+")
_NOT_WORD = re.compile(r"[^\w&]+")
_ACRONYM = re.compile(r"[A-Z]{2,6}")
_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame"})
_MINOR_WORDS = frozenset({"of", "the", "and", "for", "on", "in", "de", "du", "des", "la", "le"})


def family(label: str) -> str:
    """The group of labels whose mentions may be linked to each other (GPE and LOC)."""
    return _FAMILIES.get(label, label)


def _tidy(name: str) -> str:
    """Unicode NFKC, one kind of apostrophe, single spaces, no possessive ``'s``."""
    text = " ".join(unicodedata.normalize("NFKC", name).translate(_APOSTROPHES).split())
    return _POSSESSIVE.sub("", text).rstrip()


def normalise(name: str, *, person: bool = False) -> str:
    """The form under which two spellings of a name count as the same name.

    Case-folded, without accents, a leading "the", dots (``U.S.`` -> ``us``),
    apostrophes, a possessive ``'s`` or punctuation between words; for people also
    without a courtesy title (``Mr. Steele`` -> ``steele``).
    """
    text = _LEADING_THE.sub("", _tidy(name)).replace(".", "").replace("'", "")
    text = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).casefold()
    tokens = _NOT_WORD.sub(" ", text).split()
    if person:
        while len(tokens) > 1 and tokens[0] in _HONORIFICS:
            tokens = tokens[1:]
    return " ".join(tokens) or name.strip().casefold()


def display_name(name: str) -> str:
    """A name as it may be shown: tidy, without possessive or a lower-case leading "the".

    ``the United States`` -> ``United States``; ``The Hague`` keeps its article.
    """
    return _LEADING_LOWER_THE.sub("", _tidy(name)) or name.strip()


def is_acronym(name: str) -> bool:
    """True for ``US``, ``U.S.``, ``NATO``: two to six capitals, with or without dots."""
    return _ACRONYM.fullmatch(name.replace(".", "")) is not None and " " not in name


def entity_id_for(label: str, canonical: str) -> str:
    """The id of the entity ``canonical`` with ``label``: stable across runs and corpora.

    Derived from the label and the normalised canonical name only, e.g. ``gpe-3f2a…``.
    """
    key = f"{label}\x1f{normalise(canonical, person=label == 'PERSON')}"
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=6).hexdigest()
    return f"{label.lower()}-{digest}"


@attrs.frozen
class AliasTable:
    """Aliases that no rule derives (``America`` -> ``United States``).

    Attributes:
        targets: ``(family, normalised alias)`` -> normalised canonical name; family
            ``"*"`` applies to every label.
        names: Normalised canonical name -> the canonical name as shown.
    """

    targets: Mapping[tuple[str, str], str]
    names: Mapping[str, str]

    @classmethod
    def build(
        cls, user: Mapping[str, Iterable[str]] | None = None, *, builtin: bool = True
    ) -> AliasTable:
        """The built-in table (when ``builtin``) plus ``user``'s canonical -> aliases groups.

        A user's group applies to every label; it overrides a built-in alias it repeats.
        """
        targets: dict[tuple[str, str], str] = {}
        names: dict[str, str] = {}
        groups: list[tuple[str, frozenset[str], Iterable[str]]] = []
        if builtin:
            groups.extend(BUILTIN_ALIASES)
        groups.extend(
            (canonical, frozenset({"*"}), aliases) for canonical, aliases in (user or {}).items()
        )
        for canonical, families, aliases in groups:
            target = normalise(canonical)
            names[target] = display_name(canonical)
            for fam in families:
                for alias in (canonical, *aliases):
                    targets[(fam, normalise(alias))] = target
        return cls(targets=targets, names=names)

    def target(self, fam: str, norm: str) -> str | None:
        """The normalised canonical name ``norm`` is an alias of, for label family ``fam``."""
        found = self.targets.get(("*", norm))
        if found is None:
            found = self.targets.get((fam, norm))
        return found


@attrs.frozen
class Linked:
    """Where a name was linked: the entity's id, canonical name and label."""

    entity_id: str
    canonical: str
    label: str


@attrs.frozen
class _Name:
    label: str
    name: str
    count: int
    family: str
    norm: str
    tokens: tuple[str, ...]
    display: str
    acronym: bool

    @classmethod
    def of(cls, key: NameKey, count: int) -> _Name:
        label, name = key
        norm = normalise(name, person=label == "PERSON")
        display = display_name(name)
        return cls(
            label=label,
            name=name,
            count=count,
            family=family(label),
            norm=norm,
            tokens=tuple(norm.split()),
            display=display,
            acronym=is_acronym(display),
        )

    def initials(self) -> set[str]:
        """``united states of america`` -> {``usa``, ``usoa``}; empty for one word."""
        if len(self.tokens) < 2 or self.acronym:
            return set()
        major = [t for t in self.tokens if t not in _MINOR_WORDS]
        found = {"".join(t[0] for t in self.tokens)}
        if len(major) >= 2:
            found.add("".join(t[0] for t in major))
        return found


class _Groups:
    """Union-find over name indexes; the smaller index is the root, so order never matters."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        parent = self.parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def resolve(
    counts: Mapping[NameKey, int],
    table: AliasTable | None = None,
    *,
    acronyms: bool = True,
    surnames: bool = True,
) -> dict[NameKey, Linked]:
    """Group the names of a corpus into entities and name each entity.

    Names are only grouped within a label family (GPE with LOC; PERSON never with ORG).
    Two names are one entity when they normalise alike (:func:`normalise`) or the alias
    table says so; an acronym joins the one multi-word name whose initials it spells
    (``EU`` -> ``European Union``); a one-word PERSON name joins the one full name in
    the corpus that ends with it (``Putin`` -> ``Vladimir Putin``). Ambiguous acronyms
    and surnames stay entities of their own.

    Args:
        counts: Mentions per ``(label, name)``.
        table: Aliases no rule derives (default: the built-in table).
        acronyms: Link acronyms to the names whose initials they spell.
        surnames: Link one-word PERSON names to a unique full name.

    Returns:
        For every key of ``counts``, the entity it belongs to. Each decision is taken
        on a snapshot of the groups of the step before, and the keys are visited in
        sorted order, so the result depends only on ``counts``.
    """
    aliases = table if table is not None else AliasTable.build()
    names = [_Name.of(key, counts[key]) for key in sorted(counts)]
    groups = _Groups(len(names))

    first: dict[tuple[str, str], int] = {}
    for index, name in enumerate(names):
        key = (name.family, aliases.target(name.family, name.norm) or name.norm)
        if key in first:
            groups.union(first[key], index)
        else:
            first[key] = index

    if acronyms:
        _link_acronyms(names, groups)
    if surnames:
        _link_surnames(names, groups)

    members: dict[int, list[_Name]] = collections.defaultdict(list)
    for index, name in enumerate(names):
        members[groups.find(index)].append(name)
    linked: dict[NameKey, Linked] = {}
    for group in members.values():
        entity = _name_entity(group, aliases)
        for name in group:
            linked[(name.label, name.name)] = entity
    return linked


def _link_acronyms(names: list[_Name], groups: _Groups) -> None:
    spelled: dict[tuple[str, str], set[int]] = collections.defaultdict(set)
    spelled_out: set[int] = set()  # groups that already hold a multi-word name
    for index, name in enumerate(names):
        if name.label in _NO_ACRONYMS:
            continue
        for initials in name.initials():
            root = groups.find(index)
            spelled[(name.family, initials)].add(root)
            spelled_out.add(root)
    links = []
    for index, name in enumerate(names):
        if not name.acronym or name.label in _NO_ACRONYMS:
            continue
        root = groups.find(index)
        if root in spelled_out:
            continue  # already grouped with its long form (alias table)
        candidates = spelled.get((name.family, name.norm), set()) - {root}
        if len(candidates) == 1:
            links.append((index, candidates.pop()))
    for a, b in links:
        groups.union(a, b)


def _link_surnames(names: list[_Name], groups: _Groups) -> None:
    by_surname: dict[str, set[int]] = collections.defaultdict(set)
    full: set[int] = set()
    for index, name in enumerate(names):
        if name.label == "PERSON" and len(name.tokens) > 1:
            root = groups.find(index)
            by_surname[name.tokens[-1]].add(root)
            full.add(root)
    links = []
    for index, name in enumerate(names):
        if name.label != "PERSON" or len(name.tokens) != 1:
            continue
        root = groups.find(index)
        if root in full:
            continue
        candidates = by_surname.get(name.tokens[0], set()) - {root}
        if len(candidates) == 1:
            links.append((index, candidates.pop()))
    for a, b in links:
        groups.union(a, b)


def _most_common(counter: Mapping[str, int]) -> str:
    """The most frequent key; ties go to the first in sorted order."""
    return min(counter.items(), key=lambda item: (-item[1], item[0]))[0]


def _name_entity(group: list[_Name], aliases: AliasTable) -> Linked:
    labels: collections.Counter[str] = collections.Counter()
    for name in group:
        labels[name.label] += name.count
    label = _most_common(labels)
    from_table: collections.Counter[str] = collections.Counter()
    shown: collections.Counter[str] = collections.Counter()
    for name in group:
        target = aliases.target(name.family, name.norm)
        if target is not None:
            from_table[aliases.names[target]] += name.count
        shown[name.display] += name.count
    if from_table:
        canonical = _most_common(from_table)
    else:

        def rank(item: tuple[str, int]) -> tuple[bool, bool, bool, bool, int, int, str]:
            text, count = item
            words = len(text.split())
            return (
                is_acronym(text),  # United States before US
                label == "PERSON" and words == 1,  # Vladimir Putin before Putin
                words > 1 and text.isupper(),  # a headline's UNITED STATES last
                text.startswith("The "),  # a sentence's first word
                -count,
                -len(text),
                text,
            )

        canonical = min(shown.items(), key=rank)[0]
    return Linked(entity_id=entity_id_for(label, canonical), canonical=canonical, label=label)


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
        return _most_common(self.names)

    @property
    def label(self) -> str:
        return _most_common(self.labels)

    def alias_counts(self) -> list[tuple[str, int]]:
        """The aliases, most mentioned first (ties alphabetically)."""
        return sorted(self.aliases.items(), key=lambda item: (-item[1], item[0]))


@attrs.define
class EntityIndex:
    """The entity table of a corpus, built one document at a time in O(entities) memory.

    ``entities.link`` keeps one on the stage; ``render.csv`` builds its own from the
    documents it writes. Mentions without an ``entity_id`` are grouped by
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

    Reads the corpus twice through a temporary file on disk, so memory grows with the
    number of distinct names, not documents. The same mentions give the same ids in any
    document order; an id depends only on the entity's label and canonical name.
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
    _index: EntityIndex = attrs.field(factory=EntityIndex, init=False, repr=False)
    _log: Any = attrs.field(default=None, init=False, repr=False)

    @property
    def index(self) -> EntityIndex:
        """The entity index of the last run (complete once the stream is exhausted)."""
        return self._index

    def setup(self, context: StageContext) -> None:
        for canonical, names in self.aliases.items():
            if not canonical.strip() or not all(n.strip() for n in names):
                raise OptionError("aliases", "canonical names and aliases must not be empty")
        self._table = AliasTable.build(self.aliases, builtin=self.builtin_aliases)
        self._log = context.log

    def process_stream(self, docs: Iterator[Document]) -> Iterator[Document | Drop]:
        counts: collections.Counter[NameKey] = collections.Counter()
        self._index = index = EntityIndex()
        with Spool() as spool:
            for doc in docs:
                for entity in doc.entities:
                    name = mention_name(entity)
                    if name:
                        counts[(entity.label, name)] += 1
                spool.append(doc)
            links = resolve(counts, self._table, acronyms=self.acronyms, surnames=self.surnames)
            for doc in spool:
                linked = link_document(doc, links)
                index.add(linked)
                yield linked
        if self._log is not None:
            self._log.info(
                "entities linked",
                names=len(counts),
                entities=len(index),
                mentions=sum(counts.values()),
            )


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
