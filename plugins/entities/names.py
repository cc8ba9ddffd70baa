"""Names of entities: when two spellings are one name, aliases, and what an entity is called.

The rules ``entities.link`` links by, one name at a time: :func:`normalise` (the form
under which ``U.S.`` and ``US`` are one name), the :class:`AliasTable` (``America`` ->
``United States``), :class:`NameFacts` (what the linking steps need to know of a name:
its group key, initials, surname) and :func:`name_entity` (the label, canonical name and
id of a group of names). Nothing here sees more than one name or one group at a time;
:mod:`docstage_plugins.entities.name_index` relates the names of a whole corpus.
"""

from __future__ import annotations

import collections
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping

import attrs

#: A distinct name seen in the corpus: (label, the mention's canonical form or text).
NameKey = tuple[str, str]

# Labels that may name the same entity: spaCy calls one place GPE here and LOC there.
_FAMILIES = {"GPE": "place", "LOC": "place"}
# Numbers, dates and people are never abbreviated to initials in the sense linked here.
NO_ACRONYMS = frozenset(
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
class NameFacts:
    """What linking needs to know of one name, derived from the name alone.

    Attributes:
        label: The mentions' label.
        family: The label's family (:func:`family`).
        norm: The normalised name (:func:`normalise`).
        group: Names with the same ``group`` are one entity: the family and the alias
            table's target of ``norm``, else ``norm``.
        display: The name as it may be shown (:func:`display_name`).
        table_name: The alias table's canonical name for it, if it has one.
        tokens: The words of ``norm``.
        acronym: Whether the name is an acronym (``U.S.``).
    """

    label: str
    family: str
    norm: str
    group: tuple[str, str]
    display: str
    table_name: str | None
    tokens: tuple[str, ...]
    acronym: bool

    @classmethod
    def of(cls, key: NameKey, aliases: AliasTable) -> NameFacts:
        label, name = key
        fam = family(label)
        norm = normalise(name, person=label == "PERSON")
        target = aliases.target(fam, norm)
        display = display_name(name)
        return cls(
            label=label,
            family=fam,
            norm=norm,
            group=(fam, target or norm),
            display=display,
            table_name=None if target is None else aliases.names[target],
            tokens=tuple(norm.split()),
            acronym=is_acronym(display),
        )

    def initials(self) -> set[str]:
        """The initials this name spells out, for acronyms to link to (none for labels
        never abbreviated): ``united states of america`` -> {``usa``, ``usoa``}."""
        if self.label in NO_ACRONYMS or len(self.tokens) < 2 or self.acronym:
            return set()
        major = [t for t in self.tokens if t not in _MINOR_WORDS]
        found = {"".join(t[0] for t in self.tokens)}
        if len(major) >= 2:
            found.add("".join(t[0] for t in major))
        return found

    def abbreviates(self) -> str | None:
        """For an acronym that may be linked to a spelled-out name, what it spells."""
        return self.norm if self.acronym and self.label not in NO_ACRONYMS else None

    def surname(self) -> str | None:
        """The last word of a PERSON name of several words (what a lone surname matches)."""
        return self.tokens[-1] if self.label == "PERSON" and len(self.tokens) > 1 else None

    def lone_name(self) -> str | None:
        """The word of a one-word PERSON name (``Putin``), linked to a unique full name."""
        return self.tokens[0] if self.label == "PERSON" and len(self.tokens) == 1 else None


def most_common(counter: Mapping[str, int]) -> str:
    """The most frequent key; ties go to the first in sorted order."""
    return min(counter.items(), key=lambda item: (-item[1], item[0]))[0]


def name_entity(members: Iterable[tuple[str, int, str, str | None]]) -> Linked:
    """The entity a group of names forms, from each name's ``(label, mentions, display
    name, alias table name)``; the result does not depend on the order of ``members``.

    The label is the one most mentioned; the canonical name is the alias table's (the
    most mentioned, when several), else the full form: not an acronym, not a lone
    surname, not in capitals, then the most mentioned and longest.
    """
    labels: collections.Counter[str] = collections.Counter()
    from_table: collections.Counter[str] = collections.Counter()
    shown: collections.Counter[str] = collections.Counter()
    for label, count, display, table_name in members:
        labels[label] += count
        if table_name is not None:
            from_table[table_name] += count
        shown[display] += count
    label = most_common(labels)
    if from_table:
        canonical = most_common(from_table)
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
