"""``cleanup.metadata``: stray header lines and footers of scraped articles, into metadata.

Scrapers leave page furniture at both ends of an article's text: a date line (``Posted
on June 16, 2021``), sometimes glued to the first sentence (``date 2021-06-16 Russian
President ...``), a byline (``By Jane Doe | Reuters``), and at the bottom category and
tag lists, share prompts, "Related articles", copyright lines. This stage moves what
they say into ``metadata`` (``published``, ``authors``, ``categories``, ``tags``) and
cuts them out of the text, recording every cut (see :mod:`docstage.cleaning`).

Only the first ``header_lines`` and the last ``footer_lines`` non-blank lines are looked
at, so a sentence in the middle of an article that starts with "By" or mentions a date
is never touched.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import attrs

from docstage.cleaning import Cut, apply_cuts, lines, tail_start
from docstage.document import Document
from docstage.options import at_least, option
from docstage.stages import Transform

# What may stand before a date at the top of an article.
_DATE_LEAD = re.compile(
    r"(?:date[d]?|posted(?:\s+on)?|published(?:\s+on)?|first\s+published(?:\s+on)?"
    r"|(?:last\s+)?updated(?:\s+on)?|modified(?:\s+on)?)\s*[:\-–—|]?\s*",
    re.IGNORECASE,
)
_ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?!\d)"
)
# A run of date-looking words (month names, weekdays, numbers, times, zones); the date
# parser decides which prefix of the run is a date.
_DATE_WORD = re.compile(
    r"(?:\d{1,2}[:.]\d{2}(?::\d{2})?|\d{1,2}/\d{1,2}/\d{2,4},?|[ap]\.m\.|[A-Za-z]{2,9}\.?,?"
    r"|\d{1,4}(?:st|nd|rd|th)?[,.]?|[+-]\d{2}:?\d{2})"
)
_BYLINE = re.compile(
    r"^\s*[Bb][Yy]:?\s+(?P<names>[A-Z][\w.'’\-]*(?:\s+[A-Z][\w.'’\-]*){0,3}"
    r"(?:\s*(?:,|and|&)\s*[A-Z][\w.'’\-]*(?:\s+[A-Z][\w.'’\-]*){0,3})*)"
    r"\s*(?:(?:\||,|/|-|–|—)\s*(?P<outlet>[\w.'’&\- ]{2,40}?))?\s*$",
)
_NAME_SPLIT = re.compile(r"\s*(?:,|\band\b|&)\s*")
_LIST_SPLIT = re.compile(r"\s*[,;|•·]\s*")

_CATEGORIES = re.compile(
    r"^\s*(?:categori[sz]ed\s+in|categories|category|filed\s+under|posted\s+in|sections?)"
    r"\s*:\s*(?P<values>.*)$",
    re.IGNORECASE,
)
_TAGS = re.compile(
    r"^\s*(?:tags|tagged(?:\s+with)?|keywords|topics)\s*:\s*(?P<values>.*)$", re.IGNORECASE
)
_FURNITURE = re.compile(
    r"^\s*(?:share\s+(?:this|on|via|the\s+article|this\s+(?:article|story|page))\b.*"
    r"|share\s*:?"
    r"|(?:©|\(c\)|copyright\b).*"
    r"|.*\ball\s+rights\s+reserved\.?"
    r"|follow\s+(?:us|\w+)\s+on\b.*"
    r"|(?:like|find)\s+us\s+on\s+facebook.*"
    r"|print\s*(?:this\s+(?:article|page))?|email\s+this(?:\s+(?:article|story))?"
    r"|(?:click\s+)?(?:to\s+)?(?:share|email|print|tweet)\s+(?:on|this|via)\b.*"
    r"|advertisement"
    r")\s*$",
    re.IGNORECASE,
)
# Markers after which a short list of headlines follows.
_RELATED = re.compile(
    r"^\s*(?:related(?:\s+(?:articles?|stories|posts|news|content|reading|coverage))?"
    r"|read\s+more|more\s+(?:from|on|stories|news)\b.*|see\s+also|you\s+may\s+also\s+like"
    r"|recommended(?:\s+for\s+you)?|most\s+(?:read|popular))\s*:?\s*$",
    re.IGNORECASE,
)
_READ_MORE_LINE = re.compile(r"^\s*(?:read\s+more|continue\s+reading)\b.{0,120}$", re.I)
_SENTENCE_END = re.compile(r"[.!?\"”’')\]]\s*$")


@functools.lru_cache(maxsize=4096)
def parse_date(text: str) -> str | None:
    """The ISO 8601 form of a date written ``text``, or None when it is not a date.

    ISO dates are read directly; anything else goes through ``dateparser`` (English,
    no relative dates such as "yesterday": an article's age cannot be known from it).
    """
    text = text.strip().rstrip(",.|-–—").strip()
    if not text or not any(c.isdigit() for c in text):
        return None
    iso = _ISO_DATE.fullmatch(text)
    if iso:
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return text[:10] if len(text) == 10 else parsed.isoformat()
    import dateparser  # imported on first use: it takes a while to load

    found = dateparser.parse(
        text,
        languages=["en"],
        settings={"PARSERS": ["absolute-time"], "STRICT_PARSING": False},
    )
    if found is None or not 1900 <= found.year <= 2100:
        return None
    if found.hour == found.minute == found.second == 0 and not re.search(r"\d[:.]\d\d", text):
        return str(found.date().isoformat())
    return str(found.isoformat())


def _date_prefix(line: str) -> tuple[int, str] | None:
    """If ``line`` starts with a date (after an optional lead word), its end and ISO date."""
    indent = len(line) - len(line.lstrip())
    lead = _DATE_LEAD.match(line, indent)
    start = lead.end() if lead else indent
    has_lead = bool(lead and lead.group(0).strip())
    rest = line[start:]
    iso = _ISO_DATE.match(rest)
    if iso:
        value = parse_date(iso.group(0))
        if value:
            return start + iso.end(), value
        return None
    # Collect a run of date-looking words, then try the longest prefix first.
    words: list[tuple[int, int]] = []
    position = 0
    while len(words) < 8:
        space = len(rest[position:]) - len(rest[position:].lstrip())
        match = _DATE_WORD.match(rest, position + space)
        if not match or (match.end() < len(rest) and rest[match.end()].isalnum()):
            break
        words.append((match.start(), match.end()))
        position = match.end()
    for count in range(len(words), 1, -1):
        end = words[count - 1][1]
        candidate = rest[:end]
        if not has_lead and end < len(rest.rstrip()):
            # Without "Posted on" / "date", only a line that is a date and nothing else.
            continue
        value = parse_date(candidate)
        if value:
            return start + end, value
    return None


def _split_values(text: str) -> list[str]:
    return [v.strip(" .") for v in _LIST_SPLIT.split(text) if v.strip(" .")]


@attrs.define(kw_only=True)
class CleanupMetadata(Transform):
    """Move stray dates, bylines, category and tag footers into metadata; cut furniture.

    At the top (``header_lines``): a date line or a date prefix glued to the first
    sentence (``date 2021-06-16``, ``Posted on June 16, 2021``, ``Published: ...``,
    ``Updated ...``) goes to ``metadata.published`` (ISO 8601); a byline (``By Jane Doe |
    Reuters``) to ``metadata.authors`` (and the outlet after the bar to
    ``metadata.outlet``). At the bottom (``footer_lines``): ``Categorized in:``, ``Filed
    under:`` to ``metadata.categories``; ``Tags:`` to ``metadata.tags``; share prompts,
    "Related articles" with the headlines under it, "Read more", copyright and "Follow us
    on" lines are cut. Values a reader already found are kept; new ones are added.
    Every cut is recorded in the document's ``removed`` list.
    """

    name: ClassVar[str] = "cleanup.metadata"

    header_lines: int = option(
        4,
        help="How many non-blank lines at the top may hold a date or byline.",
        validator=at_least(0),
    )
    footer_lines: int = option(
        12,
        help="How many non-blank lines at the bottom may hold footers.",
        validator=at_least(0),
    )
    dates: bool = option(True, help="Move date lines and prefixes to metadata.published.")
    bylines: bool = option(True, help="Move 'By ...' lines to metadata.authors.")
    footers: bool = option(
        True, help="Move category and tag footers to metadata and cut share/related/copyright."
    )

    def process(self, doc: Document) -> Document:
        text = doc.text
        spans = self._window(text)
        content = [i for i, (_, _, line) in enumerate(spans) if line.strip()]
        if not content:
            return doc
        cuts: list[Cut] = []
        found: dict[str, Any] = {}
        header_done = 0  # content lines cut whole at the top
        for index in content[: self.header_lines]:
            start, end, line = spans[index]
            cut = self._header_line(line, found)
            if cut is None:
                break
            rule, length = cut
            if length >= len(line.rstrip()):
                cuts.append(Cut(start, end, rule))
                header_done += 1
            else:
                # Glued to the first sentence: cut the prefix and the space after it.
                stripped = len(line[length:]) - len(line[length:].lstrip())
                cuts.append(Cut(start, start + length + stripped, rule))
                break
        footer_from = len(content)  # content lines from here on are cut as footers
        if self.footers:
            first = max(len(content) - self.footer_lines, header_done)
            footer = dict(self._footer(spans, content[first:], found))
            while footer_from > header_done and content[footer_from - 1] in footer:
                footer_from -= 1
            cuts.extend(footer.values())
        if not cuts:
            return doc
        # Blank lines left between cut headers and the text, or after the last kept line.
        top = content[header_done] if header_done < len(content) else len(spans)
        bottom = content[footer_from - 1] if footer_from > header_done else -1
        for index, (start, end, line) in enumerate(spans):
            if not line.strip() and (
                (header_done and index < top) or (footer_from < len(content) and index > bottom)
            ):
                cuts.append(Cut(start, end, "blank"))
        cleaned = apply_cuts(doc, cuts, self.name)
        return self._merge_metadata(cleaned, found)

    def _window(self, text: str) -> list[tuple[int, int, str]]:
        """The lines that may be headers or footers: the top and bottom of the text.

        The middle of a long article is skipped (it is article text either way), so the
        stage's cost does not grow with the article's length.
        """
        head: list[tuple[int, int, str]] = []
        seen = 0
        for span in lines(text):
            if span[2].strip():
                if seen == self.header_lines:
                    break
                seen += 1
            head.append(span)
        head_end = head[-1][1] if head else 0
        tail_from = tail_start(text, self.footer_lines + 1)
        if tail_from <= head_end:
            return [*head, *lines(text, head_end)]
        # One line of the middle stands for all of it: it is article text.
        middle = (head_end, head_end, "\u2026")
        return [*head, middle, *lines(text, tail_from)]

    def _header_line(self, line: str, found: dict[str, Any]) -> tuple[str, int] | None:
        """The rule and the length of a header at the start of ``line``, or None."""
        if self.bylines and "authors" not in found:
            byline = _BYLINE.match(line)
            if byline:
                found["authors"] = [n for n in _NAME_SPLIT.split(byline["names"]) if n]
                if byline["outlet"]:
                    found["outlet"] = byline["outlet"].strip()
                return "byline", len(line)
        if self.dates and "published" not in found:
            date = _date_prefix(line)
            if date:
                end, value = date
                found["published"] = value
                return "date", end
        return None

    def _footer(
        self, spans: list[tuple[int, int, str]], tail: list[int], found: dict[str, Any]
    ) -> Iterator[tuple[int, Cut]]:
        """Footer lines to cut, bottom up, as ``(line index, cut)``; stops at article text."""
        pending: list[int] = []  # headline-like lines, cut only under a "Related" marker
        for index in reversed(tail):
            start, end, line = spans[index]
            categories = _CATEGORIES.match(line)
            tags = _TAGS.match(line) if categories is None else None
            if categories or tags:
                match = categories or tags
                assert match is not None
                key = "categories" if categories else "tags"
                values = _split_values(match["values"])
                found[key] = values + [v for v in found.get(key, []) if v not in values]
                yield index, Cut(start, end, key)
            elif _RELATED.match(line):
                yield index, Cut(start, end, "related")
                for headline in pending:
                    yield headline, Cut(spans[headline][0], spans[headline][1], "related")
                pending = []
            elif _FURNITURE.match(line) or _READ_MORE_LINE.match(line):
                yield index, Cut(start, end, "furniture")
            elif len(line.split()) <= 14 and not _SENTENCE_END.search(line):
                pending.append(index)
            else:
                break

    @staticmethod
    def _merge_metadata(doc: Document, found: dict[str, Any]) -> Document:
        metadata = dict(doc.metadata)
        for key, value in found.items():
            if isinstance(value, list):
                existing = list(metadata.get(key) or [])
                metadata[key] = existing + [v for v in value if v not in existing]
            elif not metadata.get(key):
                metadata[key] = value
        return doc.evolve(metadata=metadata)


STAGES = (CleanupMetadata,)
