"""Page furniture: menus, share bars, cookie and copyright lines, and the short lines
around a page's main block of text.

``cleanup.boilerplate`` cuts these from documents of sources too small to learn their
boilerplate from (rule ``furniture``); :func:`furniture_lines` looks at one page's lines
only, so it needs no corpus.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

#: The rule (and the kind of line) the heuristic cuts.
FURNITURE = "furniture"

_WORD = re.compile(r"\w+")
# A sentence ends: . ! ? … (also CJK), optionally followed by closing quotes or brackets.
_SENTENCE_END = re.compile(r"[.!?。！？…][\"”»’')\]]*\s*$")
_SOCIAL = (
    r"(?:facebook|twitter|linkedin|pinterest|instagram|whatsapp|reddit|tumblr|youtube"
    r"|telegram|flipboard|e-?mail|print|sms|messenger|copy\s+link)"
)
# Copyright and cookie notices: furniture up to _NOTICE_WORDS words.
_NOTICE = re.compile(
    r"^\W*(?:©|\(c\)|copyright\s*(?:©|\(c\)|\d{4}))|\ball\s+rights\s+reserved\b"
    r"|\b(?:we|(?:this|our)\s+(?:web\s*)?site)\s+(?:uses?|is\s+using)\s+cookies\b"
    r"|\bcookies?\s+(?:policy|settings|preferences|notice|statement|consent)\b"
    r"|\b(?:use|accept|consent\s+to)\s+(?:of\s+)?(?:all\s+)?cookies\b"
    r"|^\W*(?:privacy\s*(?:&|and)\s*)?cookies\W*$",
    re.IGNORECASE,
)
_NOTICE_WORDS = 100
_NOTICE_HINTS = ("©", "(c)", "copyright", "reserved", "cookie")
# Short furniture: (most words, pattern at the start of the line after punctuation).
_LEADS = [
    (8, r"share\b"),
    (12, r"(?:follow|like|join|find|connect\s+with)\s+(?:us|\w+(?:\s+\w+)?)\s+on\b"),
    (6, rf"(?:{_SOCIAL}\W*)+$"),
    (
        6,
        r"(?:advertisement|advertising|ad|sponsored(?:\s+(?:content|links?|stories))?"
        r"|paid\s+content|promoted(?:\s+content)?"
        r"|story\s+continues\s+below(?:\s+advertisement)?)\W*$",
    ),
    (
        12,
        r"(?:sign\s*(?:up|in)|log\s*(?:in|out)|subscribe|register|newsletters?"
        r"|create\s+(?:an|your)\s+account|already\s+(?:a\s+subscriber|have\s+an\s+account)"
        r"|enter\s+your\s+e-?mail|get\s+(?:our|the)\s+.{0,40}newsletter)\b",
    ),
    (10, r"(?:read|see|view|show|load)\s+(?:more|all|full|the\s+full)\b"),
    (
        10,
        r"(?:continue\s+reading|related|more\s+(?:from|on|in|stories|news|articles|videos)"
        r"|recommended|you\s+(?:may|might)\s+(?:also\s+)?like|see\s+also"
        r"|most\s+(?:popular|read|viewed|shared)|trending|top\s+stories"
        r"|latest\s+(?:news|stories|articles)|editor.s\s+picks?)\b",
    ),
    (
        4,
        r"(?:skip\s+to\s+(?:main\s+)?(?:content|navigation|site\s+index)|(?:main\s+)?menu"
        r"|search|home|back\s+to\s+top|close|toggle\s+navigation|navigation)\W*$",
    ),
    (
        8,
        r"(?:\d+\s+)?(?:comments?|responses?|replies)\W*$"
        r"|(?:leave|post|add|view|show)\s+(?:a\s+|your\s+)?(?:comments?|reply)\b"
        r"|reply(?:\s+to\s+this)?\W*$",
    ),
    (
        20,
        r"(?:tags?|tagged(?:\s+with)?|topics?|keywords|filed\s+under"
        r"|categor(?:y|ies|i[sz]ed\s+in)|posted\s+in)\s*:",
    ),
    (
        10,
        r"(?:image|photo|picture|video|graphic)s?\s*(?:credit)?\s*:"
        r"|(?:credit|photograph)\s*:|\(?(?:photo|image)\s+(?:by|courtesy)\b",
    ),
]
# Short furniture: (most words, pattern anywhere in the line).
_INSIDE = [
    (
        12,
        r"\b(?:privacy\s+(?:policy|notice|settings)|terms\s+(?:of\s+(?:use|service)"
        r"|(?:and|&)\s+conditions)|contact\s+us|about\s+us|site\s*map|ad\s*choices)\b",
    ),
    (10, r"\bgetty\s+images\b"),
]
_INSIDE_HINTS = ("privacy", "terms", "contact", "about", "map", "choices", "getty")
_SHORT_WORDS = max(words for words, _ in _LEADS + _INSIDE)


def _alternatives(patterns: list[tuple[int, str]]) -> tuple[str, dict[str, int]]:
    """One regex alternation with a named group per pattern, and each group's word limit."""
    names = {f"p{i}": words for i, (words, _) in enumerate(patterns)}
    body = "|".join(f"(?P<p{i}>{pattern})" for i, (_, pattern) in enumerate(patterns))
    return body, names


_LEAD_BODY, _LEAD_WORDS = _alternatives(_LEADS)
_LEAD = re.compile(rf"^\W*(?:{_LEAD_BODY})", re.IGNORECASE)
_INSIDE_BODY, _INSIDE_WORDS = _alternatives(_INSIDE)
_INSIDE_LINE = re.compile(_INSIDE_BODY, re.IGNORECASE)
_MENU_SEPARATOR = re.compile(r"\s+[|•·]\s+|\s*[|•]\s*")

# The layout rule: lines of prose are "good", short lines are kept only beside them, and
# only the main block (the best-scoring run of lines) is kept.
_PROSE_WORDS = 10  # a line of this many words ending a sentence is prose
_LONG_WORDS = 25  # a line this long is prose even without an ending
_ALONE_WORDS = 40  # prose shorter than this with no prose neighbour is a teaser
_REPEAT_WORDS = 5  # a line of this many words seen earlier on the page is a repeat
_REACH = 2  # short lines kept between prose lines at most this far away
_SHORT_COST = 4  # score of a short line in the main-block search (prose scores its words)
_FURNITURE_COST = 6
_PARAGRAPH_WORDS = 20  # a line this long is a whole paragraph: the text is not hard-wrapped


#: Metadata key a reader sets when its text is already an article's main text.
EXTRACTED_BY = "extracted_by"


def _is_furniture(line: str, words: int) -> bool:
    lower = line.lower()
    # Substring tests first: the regexes are slow on long lines that cannot match.
    if (
        words <= _NOTICE_WORDS
        and any(word in lower for word in _NOTICE_HINTS)
        and _NOTICE.search(line)
    ):
        return True
    if words > _SHORT_WORDS:
        return False
    lead = _LEAD.match(line)
    if lead and words <= _LEAD_WORDS[lead.lastgroup or ""]:
        return True
    if any(word in lower for word in _INSIDE_HINTS):
        inside = _INSIDE_LINE.search(line)
        if inside and words <= _INSIDE_WORDS[inside.lastgroup or ""]:
            return True
    if "|" not in line and "•" not in line and "·" not in line:
        return False
    items = [item for item in _MENU_SEPARATOR.split(line) if item.strip()]
    return (
        len(items) >= 3
        and all(len(_WORD.findall(item)) <= 4 for item in items)
        and not _SENTENCE_END.search(line)
    )


def furniture_lines(text_lines: Sequence[str], known: Sequence[str | None] = ()) -> list[int]:
    """The indices of the lines of a page that are furniture, in order.

    ``known`` marks lines already cut for another reason (weighed as furniture when
    looking for the main block, never returned). Two rules:

    * **phrases**, on any text: copyright and cookie notices; short share, follow,
      sign-up, "Read more", "Related", comment, tag, credit and menu lines; lines of short
      items separated by ``|`` or ``•``.
    * **layout**, only on texts whose paragraphs are single lines (scraped pages; a
      hard-wrapped mail is left alone): a line repeated further down the page is cut.
      Lines of prose are those of at least 10 words that end a sentence, or of 25 words;
      prose with no prose neighbour is a teaser. A short line is kept only between prose
      lines at most two lines away. Then only the main block is kept: the run of lines
      where prose (scored by its words) most outweighs the short lines and furniture
      around it. A text without prose is left to the phrase rule.
    """
    page = _unwrapped(text_lines)
    units: list[int] = []  # the non-blank lines
    kinds: list[str] = []  # "prose", "short", "furniture" or "known"
    words: list[int] = []
    seen: set[str] = set()
    for index, line in enumerate(text_lines):
        stripped = line.strip()
        if not stripped:
            continue
        count = len(_WORD.findall(stripped))
        if index < len(known) and known[index] is not None:
            kind = "known"
        elif count and _is_furniture(stripped, count):
            kind = FURNITURE
        elif count >= _LONG_WORDS or (count >= _PROSE_WORDS and _SENTENCE_END.search(stripped)):
            kind = "prose"
        else:
            kind = "short"
        if page and count >= _REPEAT_WORDS:
            normal = " ".join(stripped.split()).casefold()
            if normal in seen and kind != "known":
                kind = FURNITURE
            seen.add(normal)
        units.append(index)
        kinds.append(kind)
        words.append(count)
    if page and "prose" in kinds:
        keep = _main_block(kinds, words)
    else:
        keep = [kind in ("prose", "short") for kind in kinds]
    return [
        index
        for index, kind, kept in zip(units, kinds, keep, strict=True)
        if not kept and kind != "known"
    ]


def _unwrapped(text_lines: Sequence[str]) -> bool:
    """Whether paragraphs are single lines (scraped pages) rather than hard-wrapped (mail).

    Evidence of wrapping is a line of 40 to 100 characters that stops mid-sentence and
    goes on in lower case on the next line; an unwrapped text has at least as many lines
    of a whole paragraph's length.
    """
    paragraphs = wrapped = 0
    for index, line in enumerate(text_lines):
        stripped = line.strip()
        if len(stripped.split()) >= _PARAGRAPH_WORDS:
            paragraphs += 1
        elif (
            40 <= len(stripped) <= 100
            and index + 1 < len(text_lines)
            and text_lines[index + 1].lstrip()[:1].islower()
            and not _SENTENCE_END.search(stripped)
        ):
            wrapped += 1
    return paragraphs > 0 and paragraphs >= wrapped


def _main_block(kinds: list[str], words: list[int]) -> list[bool]:
    """Which lines the layout rule keeps, given each non-blank line's kind and words."""
    size = len(kinds)
    kinds = list(kinds)
    prose = [kind == "prose" for kind in kinds]
    # Neighbours are the nearest lines that are not furniture (a cut pull quote or ad
    # between two paragraphs does not make them lone).
    text = [i for i in range(size) if kinds[i] not in (FURNITURE, "known")]
    paired = [False] * size
    for before, after in itertools.pairwise(text):
        if prose[before] and prose[after]:
            paired[before] = paired[after] = True
    if any(paired):  # a lone line of prose among menus is a teaser, unless all are lone
        for i in range(size):
            if prose[i] and not paired[i] and words[i] < _ALONE_WORDS:
                kinds[i] = "short"
    keep = [kind == "prose" for kind in kinds]
    for i in range(size):
        if kinds[i] == "short":
            keep[i] = _between_prose(kinds, i)
    best, start, end = 0, 0, -1
    running, first = 0, 0
    for i in range(size):
        if running <= 0:
            running, first = 0, i
        if keep[i]:
            running += words[i]
        else:
            running -= _SHORT_COST if kinds[i] == "short" else _FURNITURE_COST
        if running > best:
            best, start, end = running, first, i
    return [kept and start <= i <= end for i, kept in enumerate(keep)]


def _between_prose(kinds: list[str], index: int) -> bool:
    """Whether prose lies on both sides of line ``index``, within reach, past short lines."""
    found = 0
    for step in (-1, 1):
        position = index + step
        while 0 <= position < len(kinds) and abs(position - index) <= _REACH:
            if kinds[position] != "short":
                found += kinds[position] == "prose"
                break
            position += step
    return found == 2
