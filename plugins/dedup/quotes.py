"""Direct quotations: found from their opening to their closing mark, with their speaker.

:func:`find_quotes` reads one text and returns its quotes. A quote is what stands between
an opening and a closing quotation mark: straight (``"…"``, ``'…'``) and typographic
marks (``“…”``, ``‘…’``, ``„…“``, ``‚…‘``, ``«…»``, ``»…«``, ``「…」``). Quotes nested in
another are part of it. Two more shapes are one quote:

- a quote split by its attribution, ``"We agreed," he said, "in principle."``: the parts
  around a short clause with a speech verb (:mod:`~docstage_plugins.dedup.speakers`);
- a quote across paragraphs: a paragraph that leaves its quote open, followed by one that
  opens with a mark, continues it (the news convention for long quotations).

An opening mark left unclosed at the end of its paragraph (with no continuation) is not a
quote, and what follows it is read again as if it were not there.

The types here are what the ``dedup`` stage writes under the ``quotes`` annotation
(:data:`QUOTES`); :mod:`~docstage_plugins.dedup.quote_index` fills in the matches.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

import attrs

from docstage.document import Entity, Key
from docstage_plugins.dedup.speakers import Speaker, SpeakerFinder, is_attribution


@attrs.frozen(kw_only=True)
class QuoteMatch:
    """Another document that carries a quote, perhaps in other words.

    Attributes:
        id: That document's id.
        source: That document's source.
        text: The quote as that document words it.
        speaker: Who that document says said it (the speaker's name), or None.
        published: That document's ``published`` date, or None.
        score: Word-sequence similarity of the two wordings, 0-1 (1.0: the same words).
        first: Whether that document carried the quote first: its date is the earliest of
            all the documents that carry the quote (ties are all first; undated never are).
    """

    id: str
    source: str
    text: str
    speaker: str | None
    published: str | None
    score: float
    first: bool


@attrs.frozen(kw_only=True)
class Quote:
    """A direct quotation in a document's text.

    Attributes:
        start: Offset of the opening mark.
        end: Offset just past the closing mark (``text[start:end]`` begins and ends with a
            mark; for a split quote it holds the attribution too).
        text: The words quoted, marks left out; the parts of a split quote or of a quote
            across paragraphs joined by a space.
        parts: ``(start, end)`` of each quoted part, marks included (one part for most).
        speaker: Who said it, when the text names them.
        first: Whether this document carried the quote first among those that carry it
            (see :attr:`QuoteMatch.first`); False when no other document carries it.
        matches: Documents of other sources that carry it, best match first.
    """

    start: int
    end: int
    text: str
    parts: tuple[tuple[int, int], ...]
    speaker: Speaker | None = None
    first: bool = False
    matches: tuple[QuoteMatch, ...] = ()


#: Direct quotations in the document, in text order (set by ``dedup`` with ``quotes``).
QUOTES: Key[tuple[Quote, ...]] = Key(
    "quotes", "direct quotations, their speakers and the documents of other sources that carry them"
)

# What each opening mark may be closed by.
_CLOSERS: dict[str, str] = {
    '"': '"”“',
    "“": '”“"',
    "”": "”",  # Swedish and Finnish: ”…”
    "„": '“”"',
    "«": "»",
    "»": "«",  # German and Danish: »…«
    "「": "」",
    "『": "』",
    "‘": "’",
    "‚": "‘’",
    "'": "'’",
}
_SINGLE = frozenset("‘‚'’")
_MARK = re.compile("[\"“”„«»「」『』‘’‚'\n]")
_AFTER_CLOSE = frozenset(" \t\r\n\xa0\u202f,.;:!?)]}—–-…*")
_BEFORE_OPEN = frozenset(" \t\r\n\xa0\u202f([{—–-:/*")
#: A French guillemet is spaced from its quote; a German one is not.
_SPACED = frozenset("«»")
_WORD = re.compile(r"\w+")


def _can_open(text: str, at: int) -> bool:
    """Whether the mark at ``at`` stands where a quote can open."""
    mark = text[at]
    before = text[at - 1] if at else " "
    after = text[at + 1] if at + 1 < len(text) else " "
    if after.isspace() and mark not in _SPACED:
        return False
    if mark in "“„«「『‚" or (mark == "»" and before.isspace()):
        return True
    if mark not in _CLOSERS:  # a closing mark only (」, 』, ’: ’twas, ’90s is an elision)
        return False
    if mark in "'‘":  # an apostrophe unless it follows a space and leads a word
        return (before in _BEFORE_OPEN or before in '"“„«') and after.isalpha()
    return before in _BEFORE_OPEN or before in _CLOSERS


def _can_close(text: str, at: int) -> bool:
    """Whether the mark at ``at`` stands where a quote can close."""
    mark = text[at]
    before = text[at - 1] if at else " "
    after = text[at + 1] if at + 1 < len(text) else " "
    if before.isspace() and mark not in _SPACED:
        return False
    if mark in "”」』»" or (mark == "«" and not after.isalnum()):
        return True
    return after in _AFTER_CLOSE or after in '"”’“»«'


def _paragraph_end(text: str, at: int) -> int:
    """Where the line holding ``at`` ends, trailing spaces left out."""
    end = text.find("\n", at)
    end = len(text) if end < 0 else end
    while end > at and text[end - 1].isspace():
        end -= 1
    return end


def _scan(text: str) -> list[list[tuple[int, int]]]:
    """The quotes of ``text`` as lists of parts, marks included, before joining split ones."""
    marks = [(m.start(), m.group()) for m in _MARK.finditer(text)]
    positions = [at for at, _ in marks]
    found: list[list[tuple[int, int]]] = []
    dead: set[int] = set()  # opening marks left unclosed: read again without them
    i, opener, start = 0, "", -1
    parts: list[tuple[int, int]] = []
    while True:
        broken = opener and marks[i][1] == "\n" if i < len(marks) else False
        if i >= len(marks) or (broken and (opener in _SINGLE or not _continues(text, marks[i]))):
            if not opener:
                return found
            first = parts[0][0] if parts else start  # unclosed: read again from past it
            dead.add(first)
            i = bisect.bisect_right(positions, first)
            opener, parts = "", []
            continue
        at, mark = marks[i]
        i += 1
        if not opener:
            if mark != "\n" and at not in dead and _can_open(text, at):
                opener, start, parts = mark, at, []
        elif mark == "\n":  # the next paragraph opens with a mark: it continues the quote
            parts.append((start, _paragraph_end(text, start)))
            start = _next_paragraph(text, at)
            while i < len(marks) and marks[i][0] <= start:
                i += 1
        elif (
            mark in _CLOSERS[opener]
            and _can_close(text, at)
            and (opener in _SINGLE or mark not in _SINGLE)
        ):
            found.append([*parts, (start, at + 1)])
            opener, parts = "", []


def _next_paragraph(text: str, at: int) -> int:
    """The first character after the line break at ``at`` that is not a space."""
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def _continues(text: str, mark: tuple[int, str]) -> bool:
    """Whether the text after the line break ``mark`` continues an open double quote."""
    nxt = _next_paragraph(text, mark[0])
    return nxt < len(text) and text[nxt] in _CLOSERS and text[nxt] not in _SINGLE


def part_text(text: str, start: int, end: int) -> str:
    """A part's words without its marks (a continued part has no closing mark)."""
    low = start + 1
    high = end - 1 if end > low and text[end - 1] in "\"”“»«」』’‘'" else end
    return text[low:high].strip()


def _join_split(text: str, quotes: list[list[tuple[int, int]]]) -> list[list[tuple[int, int]]]:
    """Quotes split by their attribution (``"…," he said, "…"``) as one: the first part
    ends with a comma (inside its closing mark or just after it), then a short clause with
    a speech verb, and the second part follows in the same paragraph."""
    joined: list[list[tuple[int, int]]] = []
    for quote in quotes:
        if joined:
            last = joined[-1]
            close = last[-1][1]
            between = text[close : quote[0][0]]
            comma = text[close - 2 : close - 1] == "," or between.startswith(",")
            if comma and "\n" not in between and is_attribution(between):
                last.extend(quote)
                continue
        joined.append(list(quote))
    return joined


def find_quotes(text: str, entities: Sequence[Entity] = ()) -> list[Quote]:
    """The direct quotations of ``text``, in order, with their speakers.

    Args:
        text: The document's text.
        entities: The document's entities, when an entities stage ran: speakers are then
            named by the entity they mention (its canonical form) and a pronoun is resolved
            to the nearest person before it; without them a capitalised-name rule is used.
    """
    quotes = _join_split(text, _scan(text))
    finder = SpeakerFinder(text, quotes, entities)
    found = []
    for number, parts in enumerate(quotes):
        words = " ".join(part_text(text, a, b) for a, b in parts)
        if not _WORD.search(words):
            continue
        found.append(
            Quote(
                start=parts[0][0],
                end=parts[-1][1],
                text=words,
                parts=tuple(parts),
                speaker=finder.speaker(number),
            )
        )
    return found
