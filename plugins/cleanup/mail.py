"""``cleanup.mail``: mail and Usenet articles: header blocks into metadata, signatures out.

An RFC 822 mail or RFC 1036 news article starts with a header block (``Name: value``
lines, folded onto indented continuation lines, ended by a blank line). This stage moves
what the block says into ``metadata`` (``from``, ``authors``, ``title``, ``published``,
``newsgroups``, ``message_id``, ``organization`` and the rest under ``headers``) and cuts
the block out of the text; it also cuts the signature after a ``-- `` line and, when
asked, quoted reply text. Every cut is recorded (see :mod:`docstage.cleaning`).

A document that does not start with a header block is passed on untouched: a news
article whose first line happens to read ``Note: ...`` is not a mail.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import KeysView
from email.utils import parseaddr, parsedate_to_datetime, parsedate_tz
from typing import Any, ClassVar

import attrs

from docstage.cleaning import Cut, apply_cuts
from docstage.document import Document
from docstage.options import at_least, option
from docstage.stages import Transform

# A header name is any printable ASCII but the colon (RFC 822), so news software's
# "Nntp-Posting-Host-[nntpd-23809]" is one too; "http://..." would be, which is why a
# block needs evidence that it is mail (see _looks_like_mail).
_NAME = r"[!-9;-~]+"
# One header field: the name, a colon, the value and its continuation lines. A line of
# white space alone is folding too (RFC 822 3.1.1) when more header lines follow it;
# otherwise it ends the block.
_FIELD = rf"{_NAME}:[^\n]*(?:\n[ \t][^\n]*)*(?:\n|\Z)"
_BLANK_LINES = r"(?:[ \t\r]*\n)*"
# The header block at the very start of the text (after blank lines), with an optional
# mbox "From " envelope line; it must be followed by a blank line or the end of the text.
_HEADER_BLOCK = re.compile(
    rf"{_BLANK_LINES}(?:From [^\n]*\n)?(?P<fields>(?:{_FIELD})+)(?=[ \t\r]*(?:\n|\Z))",
)
# No mail header is this long; a text that "starts with a header" for longer is no mail.
_MAX_HEADER = 100_000
# A header line at the top of the body, maybe indented (quoted from another post).
_BODY_FIELD = re.compile(rf"([ \t]*)({_NAME}):[ \t]*([^\n]*)(?:\n|\Z)")
_TRAILING_BLANKS = re.compile(rf"{_BLANK_LINES}(?:[ \t\r]+\Z)?")
# A field's name and value, matched from one line start to the next (no searching).
_FIELD_PARTS = re.compile(rf"({_NAME}):[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)\n?")
_FOLD = re.compile(r"[ \t\r]*(?:\n[ \t\r]*)+")
_LONE_CR = re.compile(r"\r(?!\n)")

# Headers that mark a block as mail or news on their own; otherwise two known names.
_DECISIVE = frozenset({"from", "newsgroups", "message-id"})
_KNOWN = frozenset(
    {
        "from", "to", "cc", "bcc", "subject", "date", "newsgroups", "message-id", "path",
        "organization", "organisation", "sender", "reply-to", "references", "in-reply-to",
        "lines", "xref", "keywords", "summary", "distribution", "followup-to", "expires",
        "approved", "supersedes", "nntp-posting-host", "nntp-posting-user", "article-i.d.",
        "originator", "return-path", "received", "mime-version", "content-type",
        "content-transfer-encoding", "content-length", "user-agent", "news-software",
        "delivered-to", "apparently-to", "comments", "control", "subj",
    }
)  # fmt: skip
# Headers that become metadata keys of their own rather than entries of ``headers``.
_PROMOTED = {
    "from": "from",
    "subject": "title",
    "date": "published",
    "newsgroups": "newsgroups",
    "message-id": "message_id",
    "organization": "organization",
    "organisation": "organization",
}

# Common forms of a From value: "addr (Name)", "Name <addr>", a bare address.
_ADDR_COMMENT = re.compile(r"([^\s()<>\"]+)\s*\(([^()]*)\)")
_NAME_ANGLE = re.compile(r"\"?([^\"<>]*?)\"?\s*<([^<>]*)>")
_BARE_ADDR = re.compile(r"[^\s()<>\",;]+")
_COMMENT = re.compile(r"\([^()]*\)")
_GROUPS = re.compile(r"[,\s]+")
# Zone names that email.utils does not know and mail of the era often used.
_ZONES = {
    "WET": 0, "BST": 60, "WEST": 60, "CET": 60, "MET": 60, "MEZ": 60, "CEST": 120,
    "MEST": 120, "MESZ": 120, "EET": 120, "EEST": 180, "IDT": 180, "JST": 540,
    "AEST": 600, "AEDT": 660, "NZST": 720, "NZDT": 780, "HST": -600, "AKST": -540,
    "AKDT": -480, "NST": -210, "NDT": -150,
}  # fmt: skip

# "Mon, 19 Apr 1993 13:45:00 -0500", "18 Apr 93 18:59:07 GMT": most mail dates.
_USUAL_DATE = re.compile(
    r"[ \t]*(?:[A-Za-z]{3},[ \t]*)?(\d{1,2})[ \t]+([A-Za-z]{3})[ \t]+(\d{4}|\d{2})[ \t]+"
    r"(\d{1,2}):(\d\d)(?::(\d\d))?[ \t]+([+-]\d{4}|GMT|UTC?|Z|[ECMP][SD]T|A[SD]T)[ \t]*"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Zone names email.utils knows, as ISO suffixes; numeric zones are added on first use.
_ZONE_SUFFIX: dict[str, str] = {
    "GMT": "+00:00", "UT": "+00:00", "UTC": "+00:00", "Z": "+00:00",
    "AST": "-04:00", "ADT": "-03:00", "EST": "-05:00", "EDT": "-04:00", "CST": "-06:00",
    "CDT": "-05:00", "MST": "-07:00", "MDT": "-06:00", "PST": "-08:00", "PDT": "-07:00",
}  # fmt: skip

_SIGNATURE_MARKS = frozenset({"--", "-- ", "--\r", "-- \r"})
# A quoted line, after the line break before it (found by searching for the break).
_QUOTED_LINE = re.compile(r"\n([ \t]{0,4}>[^\n]*)")
_COLON_LINE_END = re.compile(r":[ \t\r]*(?:\n|\Z)")
_IN_ARTICLE = re.compile(r"[ \t]*In (?:article|message|reply to)\b", re.IGNORECASE)
_WRITES = re.compile(r"\b(?:writes|write|wrote|says|said)[ \t]*:$", re.IGNORECASE)


def parse_headers(block: str) -> dict[str, str]:
    """The fields of a header block by lower-case name, with their values unfolded.

    ``block`` holds header fields only: each line is a field or a continuation line.
    The different values of a repeated field are joined by line breaks, first one first.
    """
    values: dict[str, str] = {}
    for name, value in _FIELD_PARTS.findall(block):
        _add_field(values, name.lower(), _FOLD.sub(" ", value) if "\n" in value else value)
    return values


def _add_field(values: dict[str, str], name: str, value: str) -> None:
    value = value.strip()
    known = values.get(name)
    if not known:
        values[name] = value
    elif value and value not in known.split("\n"):
        values[name] = f"{known}\n{value}"


def _skip_blank_lines(text: str, position: int) -> int:
    """Where the first non-blank line at or after ``position`` starts (or the end)."""
    blanks = _TRAILING_BLANKS.match(text, position)
    return blanks.end() if blanks else position


def _looks_like_mail(names: KeysView[str]) -> bool:
    """True when header names show a mail or news header, not a "Note: ..." line."""
    return not _DECISIVE.isdisjoint(names) or len(_KNOWN.intersection(names)) >= 2


def _body_headers(text: str, start: int) -> tuple[int, list[tuple[str, str]]] | None:
    """A block of known header lines at ``start``: where it ends, and its fields.

    The lines may be indented alike; a more indented line continues the field above it.
    Every name must be a known header name (or an ``X-`` one), and the block must end
    at a blank line or the end of the text, unless it has several fields or the line
    after it starts with punctuation (a quote, a rule).
    """
    fields: list[tuple[str, str]] = []
    indent: str | None = None
    position = start
    length = len(text)
    while position < length:
        line_end = text.find("\n", position)
        if line_end < 0:
            line_end = length
        line = text[position:line_end]
        if not line.strip():
            break
        if indent is not None and line.startswith(indent) and line[len(indent)] in " \t":
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}".strip())
        else:
            match = _BODY_FIELD.match(line)
            if match is None:
                # Header lines run straight into the text: accept several of them, or
                # one over a quote or a rule ("From: ..." then "> ..." or "-----").
                if fields and (len(fields) > 1 or not line.lstrip()[:1].isalnum()):
                    break
                return None
            name = match[2].lower()
            if indent is None:
                indent = match[1]
            if match[1] != indent or not (name in _KNOWN or name.startswith("x-")):
                return None
            fields.append((name, match[3].strip()))
        position = line_end + 1
    if not fields:
        return None
    return min(position, length), fields


def parse_mail_date(value: str) -> str | None:
    """The ISO 8601 form of an RFC 822 ``Date`` value, or None when it is no date.

    The offset is kept (``+00:00`` for GMT); a date without a known zone stays naive.
    Mail's own date format is tried first, an impossible offset (``+3000``) is dropped,
    and only then does ``dateparser`` guess.
    """
    fast = _common_date(value)
    if fast is not None:
        return fast
    text = _COMMENT.sub(" ", value) if "(" in value else value
    try:
        parsed: dt.datetime | None = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = _without_offset(text)
    if parsed is None:
        return _guess_date(text)
    if parsed.tzinfo is None:
        offset = _ZONES.get(text.rsplit(None, 1)[-1].upper()) if text.strip() else None
        if offset is not None:
            parsed = parsed.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset)))
    return parsed.isoformat()


def _common_date(value: str) -> str | None:
    """``parse_mail_date`` for the usual shape of a mail date, quickly; None otherwise.

    Gives what ``email.utils.parsedate_to_datetime(value).isoformat()`` gives (a test
    compares the two) at a third of the cost: every mail has a date.
    """
    match = _USUAL_DATE.fullmatch(value)
    if match is None:
        return None
    day_text, month_name, year_text, hour_text, minute, second, zone = match.groups()
    month = _MONTHS.get(month_name.lower())
    suffix = _ZONE_SUFFIX.get(zone)
    if suffix is None:
        suffix = _offset_suffix(zone)
    year, day, hour = int(year_text), int(day_text), int(hour_text)
    if year < 100:  # as email.utils reads two-digit years
        year += 1900 if year > 68 else 2000
    if (
        month is None
        or suffix is None
        or not 1 <= day <= _MONTH_DAYS[month]
        or (month == 2 and day == 29 and not calendar.isleap(year))
        or hour > 23
        or minute > "59"
        or (second is not None and second > "59")
    ):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute}:{second or '00'}{suffix}"


def _offset_suffix(zone: str) -> str | None:
    """The ISO suffix of a numeric zone (``-0500`` -> ``-05:00``), cached; None if invalid."""
    minutes = int(zone[1:3]) * 60 + int(zone[3:])  # "+0090" is 1:30, as email.utils has it
    if minutes >= 24 * 60:
        return None
    if minutes == 0 and zone[0] == "-":  # RFC 2822: -0000 means "zone unknown"
        suffix = ""
    else:
        hours, minutes = divmod(minutes, 60)
        suffix = f"{zone[0]}{hours:02d}:{minutes:02d}"
    _ZONE_SUFFIX[zone] = suffix
    return suffix


def _without_offset(text: str) -> dt.datetime | None:
    """The date and time of a mail date whose zone offset is out of range, naive."""
    fields = parsedate_tz(text)
    if fields is None:
        return None
    try:
        return dt.datetime(*fields[:6])
    except (ValueError, OverflowError):
        return None


def _guess_date(text: str) -> str | None:
    text = text.strip()
    if not text or len(text) > 100 or not any(c.isdigit() for c in text):
        return None
    import dateparser  # imported on first use: it takes a while to load

    try:
        found = dateparser.parse(text, languages=["en"], settings={"PARSERS": ["absolute-time"]})
    except Exception:  # dateparser raises many kinds of error on odd input; it is a guess
        return None
    if found is None or not 1900 <= found.year <= 2100:
        return None
    return str(found.isoformat())


def parse_author(value: str) -> str:
    """The display name in a ``From`` value, else the address, else the value itself.

    Returns an empty string for a value that names no one (``()``).
    """
    value = value.strip()
    match = _ADDR_COMMENT.fullmatch(value)
    if match:
        return match[2].strip() or match[1]
    match = _NAME_ANGLE.fullmatch(value)
    if match:
        return match[1].strip() or match[2].strip() or value
    if _BARE_ADDR.fullmatch(value):
        return value
    name, address = parseaddr(value)
    if name:
        return name
    if "@" in address:
        return address
    # parseaddr reads "Jane Roe, jroe@example.org" as the address "Jane": keep it whole.
    return value if any(c.isalnum() for c in value) else ""


def mail_metadata(fields: dict[str, str], keep_headers: bool) -> dict[str, Any]:
    """Metadata from header fields (as :func:`parse_headers` gives them).

    A repeated field's first value goes to its metadata key; ``headers`` (when
    ``keep_headers``) has every field without a key of its own, empty ones left out.
    """
    found: dict[str, Any] = {}
    for name, key in _PROMOTED.items():
        value = fields.get(name)
        if not value or key in found:
            continue
        value = value.partition("\n")[0]
        if key == "from":
            found["from"] = value
            author = parse_author(value)
            if author:
                found["authors"] = [author]
        elif key == "published":
            published = parse_mail_date(value)
            found["published" if published else "date_raw"] = published or value
        elif key == "newsgroups":
            found["newsgroups"] = [group for group in _GROUPS.split(value) if group]
        else:
            found[key] = value
    if keep_headers:
        headers = {name: value for name, value in fields.items() if value and name not in _PROMOTED}
        if headers:
            found["headers"] = headers
    return found


@attrs.define(kw_only=True)
class CleanupMail(Transform):
    """Turn mail and Usenet header blocks into metadata; cut signatures and, optionally, quotes.

    A header block at the very start of the text (``From:``, ``Subject:``, ``Date:``,
    ``Newsgroups:``, ``Message-ID:`` ...; it needs a ``From``, ``Newsgroups`` or
    ``Message-ID`` line or two known header names) goes to metadata: ``from``,
    ``authors`` (the display name), ``title`` (the subject as written, ``Re:`` included),
    ``published`` (ISO 8601 with the zone offset; ``date_raw`` when the date cannot be
    read), ``newsgroups`` (a list), ``message_id``, ``organization``, and every other
    header under ``headers``. Header lines repeated at the top of the body are cut with
    the block. The signature, after the last ``-- `` line, is cut when it is short.
    Values a reader already set are kept. Documents without a header block pass unchanged.
    """

    name: ClassVar[str] = "cleanup.mail"

    keep_headers: bool = option(
        True, help="Keep the headers that have no metadata key of their own under 'headers'."
    )
    max_signature_lines: int = option(
        10,
        help="Cut the text after the last '-- ' line only when it has at most this many lines.",
        validator=at_least(0),
    )
    quotes: bool = option(
        False,
        help="Also cut quoted reply text: '>' lines and 'In article <...> ... writes:' lines.",
    )

    def process(self, doc: Document) -> Document:
        text = doc.text
        block = _HEADER_BLOCK.match(text)
        if block is None or block.end() > _MAX_HEADER:
            return doc
        if "\r" in block.group() and _LONE_CR.search(block.group()):
            return doc  # lines not ended by line feeds: not a header this stage can read
        fields = parse_headers(block["fields"])
        if not _looks_like_mail(fields.keys()):
            return doc
        end = _skip_blank_lines(text, block.end())
        # Some posts carry more header lines at the top of the body: a forwarded mail's,
        # a gateway's, or those of the post replied to. They go with the block.
        while _BODY_FIELD.match(text, end):
            more = _body_headers(text, end)
            if more is None:
                break
            for name, value in more[1]:
                _add_field(fields, name, value)
            end = _skip_blank_lines(text, more[0])

        cuts = [Cut(0, end, "headers")]
        body_end = len(text)
        signature = self._signature(text, end)
        if signature is not None:
            cuts.append(Cut(signature, len(text), "signature"))
            body_end = signature
        if self.quotes:
            cuts.extend(_quotes(text, end, body_end))

        found = mail_metadata(fields, self.keep_headers)
        metadata = dict(doc.metadata)
        for key, value in found.items():
            if not metadata.get(key):
                metadata[key] = value
        return apply_cuts(doc.evolve(metadata=metadata), cuts, self.name)

    def _signature(self, text: str, start: int) -> int | None:
        """Where the signature's ``-- `` line starts, if there is a short one after ``start``."""
        high = len(text)
        while True:
            mark = text.rfind("\n--", start - 1, high)  # start >= 1: the headers are cut
            if mark < 0:
                return None
            line_start = mark + 1
            line_end = text.find("\n", line_start)
            if line_end < 0:
                line_end = len(text)
            if text[line_start:line_end] in _SIGNATURE_MARKS:
                break
            high = mark
        rest = text[line_end:].strip()
        if rest and rest.count("\n") + 1 > self.max_signature_lines:
            return None
        return line_start


def _in_article(
    text: str, start: int, line_start: int, line_end: int, spans: dict[int, int]
) -> bool:
    """Record the attribution that ends at this line if it starts "In article" (up to two
    lines above, with no blank line between and not already ended by an earlier line)."""
    first = line_start
    for _ in range(3):
        if _IN_ARTICLE.match(text, first):
            if first in spans:
                return False
            spans[first] = line_end
            return True
        if first <= start:
            return False
        previous = text.rfind("\n", start, first - 1) + 1 or start
        if not text[previous:first].strip():
            return False
        first = previous
    return False


def _quotes(text: str, start: int, end: int) -> list[Cut]:
    """Cuts for quoted lines and their attributions in ``text[start:end]``.

    ``text[start - 1]`` is a line break (the header cut ends with one). Blank lines
    between two cut lines are cut with them, so a reply's quote block, attribution
    included, goes as one piece.
    """
    quoted = {  # line start -> line end, its line break included
        match.start(1): min(match.end(1) + 1, end)
        for match in _QUOTED_LINE.finditer(text, start - 1, end)
    }
    spans = dict(quoted)
    for match in _COLON_LINE_END.finditer(text, start, end):
        line_start = text.rfind("\n", start, match.start()) + 1 or start
        line_end = match.end()
        if not _WRITES.search(text, line_start, match.start() + 1):
            continue
        # "In article <id>, someone@site (Name) writes:", often folded over lines.
        if _in_article(text, start, line_start, line_end, spans):
            continue
        # "Omar wrote:" counts when a quote follows, after one blank line at most.
        if line_end - line_start < 200:
            following = line_end
            if following < end and following not in quoted:
                next_end = text.find("\n", following, end)
                next_end = end if next_end < 0 else next_end + 1
                if not text[following:next_end].strip():
                    following = next_end
            if following in quoted:
                spans[line_start] = line_end
    cuts: list[Cut] = []
    previous_end = -1
    for span_start, span_end in sorted(spans.items()):
        if 0 <= previous_end < span_start and not text[previous_end:span_start].strip():
            cuts.append(Cut(previous_end, span_start, "quote"))
        cuts.append(Cut(span_start, span_end, "quote"))
        previous_end = max(previous_end, span_end)
    return cuts


STAGES = (CleanupMail,)
