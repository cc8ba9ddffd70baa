"""The story view the renderers share: what a reader needs to know of a story.

``render.html`` and ``render.markdown`` keep a :class:`Brief` of every document while the
run goes on (never its text), group the briefs into stories by the ``story_id`` dedup
gave them (:func:`group_stories`) and make each group a :class:`Story`: a headline (an
article's own title where one has it, else its cut lead sentence), the sources and dates,
the articles per day, the key people, places and organisations (never dates first), the
quotes the outlets share with their speaker and carriers (which outlet first), and what
each outlet added (:class:`Added`, found by
:class:`~docstage_plugins.render_additions.Additions` in the documents read back at the
end of the run).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from docstage import Document
from docstage_plugins.dedup.passages import split_passages

#: Entity labels that make a story's key entities, in the order they are named.
KEY_LABELS = ("PERSON", "GPE", "LOC", "FAC", "ORG", "NORP", "EVENT")
#: How a reader calls each kind of key entity.
KINDS = {
    "PERSON": "people",
    "GPE": "places",
    "LOC": "places",
    "FAC": "places",
    "ORG": "organisations",
    "NORP": "groups",
    "EVENT": "events",
}
_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")
#: A dateline that opens a wire story (``BREVIK —``, ``NEW YORK (Reuters) -``).
_DATELINE = re.compile(r"^[A-Z]{3}[A-Z .,'’/]{0,40}(?:\([^)]{1,30}\))?\s*[—–-]{1,2}\s+(?=\w)")
_REPLY = re.compile(r"^(?:(?:re|fwd?|aw|sv|tr)\s*:\s*)+", re.IGNORECASE)


def field(value: Any, name: str) -> Any:
    """A field of an annotation value: an attrs object, or a dict read back from JSON."""
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def one_line(text: str) -> str:
    """``text`` with every whitespace run made one space."""
    return _SPACE.sub(" ", text).strip()


def cut(text: str, width: int) -> str:
    """``text`` on one line, shortened at a word to at most ``width`` characters."""
    text = one_line(text)
    if len(text) <= width:
        return text
    return text[: width - 1].rsplit(" ", 1)[0] + " …"


def lead(text: str, width: int = 90) -> str:
    """The first sentence of ``text`` without its dateline, cut at a word to ``width``
    characters."""
    for start, end in split_passages(text):
        sentence = one_line(text[start:end])
        return cut(_DATELINE.sub("", sentence) or sentence, width)
    return ""


def headline(doc: Document, width: int = 90) -> str:
    """The document's title, else its lead sentence (cut), else its id."""
    title = doc.metadata.get("title")
    if title and one_line(str(title)):
        return one_line(str(title))
    return lead(doc.text, width) or doc.id


@attrs.frozen(kw_only=True)
class Carrier:
    """One document that carries a quote, in its own words."""

    id: str
    source: str
    published: str | None
    text: str
    speaker: str | None
    first: bool = False


@attrs.frozen(kw_only=True)
class QuoteBrief:
    """A quote of one document and the documents of other sources that carry it."""

    text: str
    speaker: str | None
    matches: tuple[Carrier, ...]
    passage: bool = False  # a shared passage standing in for a quote: no wordings known


@attrs.frozen(kw_only=True)
class Brief:
    """What the renderers keep of a document while the run goes on (never its text)."""

    row: int
    id: str
    source: str
    title: str
    titled: bool
    published: str | None
    story: str | None
    copies: tuple[dict[str, Any], ...]
    entities: tuple[tuple[str, str], ...]  # (name, label) of its key entities, distinct
    quotes: tuple[QuoteBrief, ...]
    has_quotes: bool  # dedup listed quotes (with ``quotes = true``), whether or not shared

    @classmethod
    def of(cls, doc: Document, row: int) -> Brief:
        published = doc.metadata.get("published")
        names = {(e.canonical or e.text, e.label) for e in doc.entities if e.label in KEY_LABELS}
        quotes = doc.annotations.get("quotes")
        if quotes is not None:
            found = tuple(_quote(q) for q in quotes if field(q, "matches"))
        else:  # dedup ran without quotes: its shared passages stand in for them
            found = tuple(_passage(p) for p in doc.annotations.get("shared_passages", ()))
        return cls(
            row=row,
            id=doc.id,
            source=doc.source,
            title=headline(doc),
            titled=bool(doc.metadata.get("title")),
            published=str(published)[:10] if published else None,
            story=doc.annotations.get("story_id"),
            copies=tuple(
                {k: field(c, k) for k in ("id", "source", "relation", "score")}
                for c in doc.annotations.get("duplicates", ())
            ),
            entities=tuple(sorted(names)),
            quotes=found,
            has_quotes=quotes is not None,
        )


def quoted(text: Any) -> str:
    """The words of a quote on one line, without the comma that ends a quote before its
    attribution (``"…," she said``)."""
    return one_line(str(text)).rstrip(",;")


def _quote(quote: Any) -> QuoteBrief:
    speaker = field(quote, "speaker")
    return QuoteBrief(
        text=quoted(field(quote, "text")),
        speaker=field(speaker, "name") if speaker else None,
        matches=tuple(
            Carrier(
                id=str(field(m, "id")),
                source=str(field(m, "source")),
                published=str(field(m, "published"))[:10] if field(m, "published") else None,
                text=quoted(field(m, "text")),
                speaker=field(m, "speaker"),
            )
            for m in field(quote, "matches")
        ),
    )


def _passage(passage: Any) -> QuoteBrief:
    return QuoteBrief(
        text=one_line(str(field(passage, "text"))),
        speaker=None,
        matches=tuple(
            Carrier(
                id=str(field(m, "id")),
                source=str(field(m, "source")),
                published=None,
                text="",
                speaker=None,
            )
            for m in field(passage, "matches") or ()
        ),
        passage=True,
    )


@attrs.frozen(kw_only=True)
class SharedQuote:
    """A quote the story's outlets share: who said it, and who carried it, first first."""

    text: str
    speaker: str | None
    carriers: tuple[Carrier, ...]


@attrs.frozen(kw_only=True)
class Added:
    """What one outlet added to a story: its passages no other source of the story has."""

    source: str
    passages: tuple[str, ...]  # the first ones, each cut to PASSAGE_CHARS
    total: int


@attrs.frozen(kw_only=True)
class Story:
    """A story told by two documents or more, as readers see it."""

    id: str
    title: str
    documents: tuple[Brief, ...]  # by date, undated last
    sources: tuple[str, ...]
    days: tuple[tuple[str, int], ...]  # articles per publication day
    entities: tuple[tuple[str, str, int], ...]  # (name, label, documents naming it)
    quotes: tuple[SharedQuote, ...]
    added: tuple[Added, ...] = ()

    @property
    def dates(self) -> tuple[str, ...]:
        """The first and the last publication day (one when they are the same)."""
        if not self.days:
            return ()
        first, last = self.days[0][0], self.days[-1][0]
        return (first,) if first == last else (first, last)

    @property
    def when(self) -> str:
        """The dates as a reader reads them: ``2024-03-12 – 2024-03-13``, or undated."""
        return " – ".join(self.dates) or "undated"


def in_date_order(brief: Brief) -> tuple[bool, str, int]:
    return (brief.published is None, brief.published or "", brief.row)


def group_stories(briefs: Iterable[Brief]) -> list[list[Brief]]:
    """The stories of two documents or more, each in date order; most sources first,
    then most documents, then the one seen first."""
    groups: dict[str, list[Brief]] = {}
    for brief in briefs:
        if brief.story is not None:
            groups.setdefault(brief.story, []).append(brief)
    stories = [sorted(g, key=in_date_order) for g in groups.values() if len(g) > 1]
    stories.sort(key=lambda g: (-len({b.source for b in g}), -len(g), min(b.row for b in g)))
    return stories


def story_title(docs: Sequence[Brief]) -> str:
    """The earliest title of three words or more, else the earliest title, else the
    earliest document's lead sentence; a mail's ``Re:`` left out."""
    titles = [_REPLY.sub("", b.title).strip() or b.title for b in docs if b.titled]
    informative = [t for t in titles if len(_WORD.findall(t)) >= 3]
    return (informative or titles or [docs[0].title])[0]


def make_story(docs: Sequence[Brief], *, max_entities: int, max_quotes: int) -> Story:
    """The view of one story from its documents' briefs (in date order)."""
    days = Counter(b.published for b in docs if b.published)
    entities = _key_entities(docs, max_entities)
    people = {name for name, label, _ in entities if label == "PERSON"}
    return Story(
        id=str(docs[0].story),
        title=story_title(docs),
        documents=tuple(docs),
        sources=tuple(sorted({b.source for b in docs})),
        days=tuple(sorted(days.items())),
        entities=entities,
        quotes=tuple(_shared_quotes(docs, people))[:max_quotes],
    )


def _key_entities(docs: Sequence[Brief], limit: int) -> tuple[tuple[str, str, int], ...]:
    counts: Counter[tuple[str, str]] = Counter(e for b in docs for e in b.entities)
    order = {label: n for n, label in enumerate(KEY_LABELS)}
    ranked = sorted(counts, key=lambda e: (-counts[e], order.get(e[1], 99), e[0]))
    return tuple((name, label, counts[(name, label)]) for name, label in ranked[:limit])


def _shared_quotes(docs: Sequence[Brief], people: set[str]) -> Iterable[SharedQuote]:
    """Each quote the story's documents share once, from the earliest document carrying
    it; its carriers are the story's documents only."""
    dates = {b.id: b.published for b in docs}
    mates = set(dates)
    # (document, its wording) of the quotes listed; for passages, whose other wordings are
    # not known, (document, the document that listed them)
    covered: set[tuple[str, str]] = set()
    for brief in docs:
        for quote in brief.quotes:
            inside = [m for m in quote.matches if m.id in mates and m.source != brief.source]
            if not inside:
                continue
            if quote.passage:
                if any((brief.id, m.id) in covered for m in inside):
                    continue
                covered.update((m.id, brief.id) for m in inside)
            else:
                if (brief.id, quote.text) in covered:
                    continue
                covered.update((m.id, m.text) for m in inside)
            own = Carrier(
                id=brief.id,
                source=brief.source,
                published=brief.published,
                text=quote.text,
                speaker=quote.speaker,
            )
            carriers = [own, *(attrs.evolve(m, published=dates.get(m.id)) for m in inside)]
            yield SharedQuote(
                text=quote.text, speaker=_speaker(carriers, people), carriers=_first(carriers)
            )


def _first(carriers: list[Carrier]) -> tuple[Carrier, ...]:
    """The carriers with the earliest date marked first and put first, then by date."""
    dates = [c.published for c in carriers if c.published]
    earliest = min(dates) if dates else None
    marked = [attrs.evolve(c, first=c.published == earliest) for c in carriers]
    return tuple(
        sorted(
            marked, key=lambda c: (not c.first, c.published is None, c.published or "", c.source)
        )
    )


def _speaker(carriers: Sequence[Carrier], people: set[str]) -> str | None:
    """The name most carriers give; on a tie, one of the story's people, else the first."""
    names = Counter(c.speaker for c in carriers if c.speaker)
    if not names:
        return None
    order = {name: n for n, name in reversed(list(enumerate(c.speaker for c in carriers)))}
    return min(names, key=lambda n: (-names[n], n not in people, order[n]))
