"""The document model: immutable values that flow through a pipeline.

A :class:`Document` never changes in place; a stage returns ``doc.evolve(...)`` (or
``attrs.evolve``). Plugin-private data lives in ``annotations`` under typed keys
(:class:`Key`), declared once at the top of the module that owns them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Generic, NoReturn, TypeVar

import attrs

T = TypeVar("T")


class FrozenMap(dict[str, Any]):
    """A ``dict`` that refuses changes, so a document's metadata cannot be mutated in place.

    It is still a real ``dict``: it serialises to JSON, pickles and compares like one.
    Make a changed copy with ``{**old, "key": value}`` and pass it to ``evolve``.
    """

    __slots__ = ()

    def _readonly(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("document metadata and annotations are read-only; use doc.evolve()")

    __setitem__ = __delitem__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly
    __ior__ = _readonly

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenMap({dict.__repr__(self)})"


_EMPTY = FrozenMap()


def freeze(mapping: Mapping[str, Any] | None) -> FrozenMap:
    """Convert any mapping to a :class:`FrozenMap` (free when it already is one)."""
    if mapping is None:
        return _EMPTY
    if type(mapping) is FrozenMap:
        return mapping
    return FrozenMap(mapping)


@attrs.frozen
class Key(Generic[T]):
    """A typed name for plugin-private data on a document.

    Declare keys at module top and use them with :meth:`Document.get` and
    :meth:`Document.annotate`; the name is what renderers write out.

    Example::

        LANGUAGE: Key[str] = Key("language", "ISO 639-1 code detected by my_plugin")
    """

    name: str
    doc: str = attrs.field(default="", eq=False)


@attrs.frozen(kw_only=True)
class Entity:
    """One entity mention in a document's text.

    Attributes:
        label: The entity type in spaCy's label set (PERSON, ORG, GPE, LOC, NORP, DATE, ...).
        text: The mention as it appears in the text.
        start: Character offset where the mention starts.
        end: Character offset just past the mention.
        canonical: The full form the mention refers to (``Putin`` -> ``Vladimir Putin``).
        entity_id: The id of the entity across documents, set by cross-document linking.
    """

    label: str
    text: str
    start: int
    end: int
    canonical: str | None = None
    entity_id: str | None = None


@attrs.frozen(kw_only=True)
class Removal:
    """A piece of text a stage removed (or replaced), recorded so a user can audit every
    change and :func:`docstage.cleaning.restore` can undo it.

    Attributes:
        rule: The rule that removed it, e.g. ``cleanup.metadata:date-prefix``.
        text: The removed text.
        start: Offset of the removed text in the text the stage received, when known.
        inserted: What the stage put in its place: empty for a cut; for a repair (a line
            whose mojibake ``cleanup.normalize`` fixed) the new text.
    """

    rule: str
    text: str
    start: int | None = None
    inserted: str = ""


#: Text removed by cleanup stages, in the order they removed it.
REMOVED: Key[tuple[Removal, ...]] = Key("removed", "text removed by cleanup stages")
#: The story cluster this document belongs to.
STORY_ID: Key[str] = Key("story_id", "the story cluster this document belongs to")


@attrs.frozen(kw_only=True)
class Duplicate:
    """A copy of a document (dedup provenance; see docs/stages.md).

    Attributes:
        id: The copy's id.
        source: The copy's source.
        relation: ``exact`` (same normalised text) or ``near`` (Jaccard similarity at or
            above the threshold).
        score: The copy's Jaccard similarity over word shingles with the survivor (1.0 for
            exact); below the threshold only when it was linked through another copy.
    """

    id: str
    source: str
    relation: str
    score: float


@attrs.frozen(kw_only=True)
class Original:
    """The document a copy duplicates: like :class:`Duplicate`, plus the run that kept it
    (an earlier run's, when the copy was matched against the state store's index)."""

    id: str
    source: str
    relation: str
    score: float
    run_id: str


#: On a survivor: the copies it stands for (dropped, or kept in annotate mode).
DUPLICATES: Key[tuple[Duplicate, ...]] = Key("duplicates", "copies this document stands for")
#: On a copy kept in annotate mode (and on a dropped copy the hooks see): its original.
DUPLICATE_OF: Key[Original] = Key("duplicate_of", "the original this document copies")


@attrs.frozen(kw_only=True)
class PassageMatch:
    """A document of another source that carries a passage too.

    Attributes:
        id: That document's id.
        source: That document's source.
        score: Word-sequence similarity of the two passages, 0-1 (1.0: the same words).
    """

    id: str
    source: str
    score: float


@attrs.frozen(kw_only=True)
class SharedPassage:
    """A sentence (typically a quote) found, perhaps slightly reworded, in other sources.

    Attributes:
        start: Offset of the passage in this document's text.
        end: Offset just past it.
        text: The passage as this document words it (``text[start:end]``).
        matches: The documents of other sources that carry it, best match first.
    """

    start: int
    end: int
    text: str
    matches: tuple[PassageMatch, ...]


#: Passages (quotes) this document shares with documents of other sources.
SHARED_PASSAGES: Key[tuple[SharedPassage, ...]] = Key(
    "shared_passages", "passages shared with documents of other sources"
)


def _entities(value: Iterable[Entity]) -> tuple[Entity, ...]:
    return value if type(value) is tuple else tuple(value)


@attrs.frozen(kw_only=True, eq=True, hash=False)
class Document:
    """One document: an article, a post, a mail.

    Attributes:
        id: Stable identifier, unique within a run (readers derive it from the input path
            or key).
        text: The document's text as the pipeline currently sees it.
        source: The outlet, feed or folder the document came from.
        metadata: Title, published date (ISO 8601), url, categories, authors and any
            free keys.
        entities: Entity mentions in ``text``.
        annotations: Plugin data under :class:`Key` names (dedup relations, removals, ...).
        stages: The provenance trail: names of the stages that produced or changed it.
    """

    id: str
    text: str
    source: str = ""
    metadata: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=freeze)
    entities: tuple[Entity, ...] = attrs.field(default=(), converter=_entities)
    annotations: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=freeze)
    stages: tuple[str, ...] = ()

    def evolve(self, **changes: Any) -> Document:
        """Return a copy with ``changes`` applied (``attrs.evolve``)."""
        return attrs.evolve(self, **changes)

    def get(self, key: Key[T], default: T | None = None) -> T | None:
        """Return the annotation stored under ``key``, or ``default``."""
        value: T | None = self.annotations.get(key.name, default)
        return value

    def annotate(self, key: Key[T], value: T) -> Document:
        """Return a copy with ``value`` stored under ``key``."""
        return attrs.evolve(self, annotations={**self.annotations, key.name: value})

    def with_metadata(self, **values: Any) -> Document:
        """Return a copy whose metadata has ``values`` added or replaced."""
        return attrs.evolve(self, metadata={**self.metadata, **values})

    def record_removal(self, rule: str, text: str, start: int | None = None) -> Document:
        """Return a copy that records ``text`` as removed by ``rule`` (see :data:`REMOVED`)."""
        removed = (*(self.get(REMOVED) or ()), Removal(rule=rule, text=text, start=start))
        return self.annotate(REMOVED, removed)


def to_jsonable(value: Any) -> Any:
    """Turn annotation values (attrs or dataclass instances, tuples, sets) into JSON data."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_jsonable(v) for v in value), key=repr)
    if attrs.has(type(value)):
        return {k: to_jsonable(v) for k, v in attrs.asdict(value, recurse=False).items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)
