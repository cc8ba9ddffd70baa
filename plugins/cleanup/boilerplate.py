"""``cleanup.boilerplate``: lines a source repeats on every page, and page furniture.

Two passes over the stream. The first counts, per source, how many distinct documents
contain each line (normalised and hashed) and spools the documents to disk; the second
reads them back in their original order and cuts the lines found in enough documents of
their source (rule ``learned``). Documents of sources too small to learn from get a
text-only heuristic instead (rule ``furniture``): menus, share bars, cookie and
copyright lines, and the short lines around a page's main block of text.

Every decision depends only on the set of documents of a source, never on their order
or on how the stream was batched, so the output is the same in any order and with any
number of workers. Every cut is recorded on the document through
:func:`docstage.cleaning.apply_cuts`, so :func:`docstage.cleaning.restore` undoes it.
"""

from __future__ import annotations

import array
import functools
import itertools
import json
import math
import re
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, ClassVar

import attrs
import structlog

from docstage.cleaning import Cut, apply_cuts
from docstage.document import Document
from docstage.io import AtomicFile, writable_folder
from docstage.options import at_least, between, option
from docstage.spool import Spool
from docstage.stages import CorpusStage, StageContext

LEARNED = "learned"
FURNITURE = "furniture"

_WORD = re.compile(r"\w+")
_ZEROS = re.compile(r"00+")
_SPACE_RUN = re.compile(r"  +")
_MASK = (1 << 64) - 1


@functools.cache
def _fold_table(digits: bool) -> dict[int, str]:
    """A str.translate table: every whitespace but the line break to a space and, with
    ``digits``, every decimal digit to 0. Unicode has both only below U+20000."""
    chars = [chr(c) for c in range(0x20000)]
    table = {ord(c): " " for c in chars if c.isspace() and c != "\n"}
    if digits:
        table.update({ord(c): "0" for c in chars if c.isdecimal()})
    return table


@attrs.define
class SourceSummary:
    """What the stage learned about one source, and what it cut there.

    Attributes:
        documents: Documents of the source.
        threshold: Documents a line had to be found in to be learned; 0 when the source
            has too few documents to learn from.
        learned: Per learned line that was cut (by key): its text (the first in sorted
            order of the forms it took) and the number of documents it was cut from.
        learned_lines: Lines cut as learned boilerplate.
        furniture_documents: Documents the furniture heuristic cut something from.
        furniture_lines: Lines cut as furniture.
    """

    documents: int = 0
    threshold: int = 0
    learned: dict[int, tuple[str, int]] = attrs.field(factory=dict)
    learned_lines: int = 0
    furniture_documents: int = 0
    furniture_lines: int = 0

    def count_learned(self, key: int, line: str) -> None:
        """Count one cut of the learned line ``key``, which read ``line`` there."""
        self.learned_lines += 1
        entry = self.learned.get(key)
        self.learned[key] = (line, 1) if entry is None else (min(entry[0], line), entry[1] + 1)

    def as_json(self, source: str) -> dict[str, Any]:
        """The report entry of the source; learned lines most frequent first."""
        cut = sorted(self.learned.values(), key=lambda entry: (-entry[1], entry[0]))
        return {
            "source": source,
            "documents": self.documents,
            "threshold": self.threshold,
            "lines_removed": {LEARNED: self.learned_lines, FURNITURE: self.furniture_lines},
            "furniture_documents": self.furniture_documents,
            "learned": [{"line": line, "documents": count} for line, count in cut],
        }


@attrs.define(kw_only=True)
class CleanupBoilerplate(CorpusStage):
    """Cut lines that recur across a source's documents, and obvious page furniture.

    A line is boilerplate of its source when at least ``min_documents`` documents of the
    source, and at least ``min_fraction`` of them, contain it; it is then cut from every
    document of the source. Lines are compared with spaces collapsed, case ignored and,
    with ``fold_digits``, every number read as 0. Copies of one text count once (a story
    fetched three times is not boilerplate); a line found in only one document is never
    cut, nor a line without a letter or digit (a rule, the ``--`` above a signature).

    Documents of a source with fewer than ``min_documents`` documents, where nothing can
    be learned, get the ``furniture`` heuristic instead (see :func:`furniture_lines`),
    unless a reader already extracted their main text (``metadata.extracted_by``, set by
    ``read.html``).

    Every cut is recorded under ``removed`` with the rule ``cleanup.boilerplate:learned``
    or ``cleanup.boilerplate:furniture``; each source's counts are logged at the end, and
    ``report`` writes them with every learned line and how many documents lost it.
    """

    name: ClassVar[str] = "cleanup.boilerplate"

    min_documents: int = option(
        3,
        validator=at_least(2, why="a line found in only one document is never boilerplate"),
        help="Documents of one source a line must be found in to be learned (at least 2).",
    )
    min_fraction: float = option(
        0.1,
        validator=between(0, 1),
        help="Fraction of the source's documents a line must also be found in; spares "
        "quotes and stock phrases in big sources.",
    )
    min_length: int = option(
        1,
        validator=at_least(1),
        help="Characters a normalised line needs to be learned; raise it to spare short "
        "lines such as 'Yes.'.",
    )
    fold_digits: bool = option(
        True, help="Read every number as 0 when comparing lines, so 'Page 3 of 7' lines group."
    )
    furniture: bool = option(
        True,
        help="Cut page furniture (menus, share bars, cookie and copyright lines, short lines "
        "around the main text) from documents of sources too small to learn from.",
    )
    furniture_everywhere: bool = option(
        False, help="Apply the furniture heuristic to every document, learned sources too."
    )
    report: Path | None = option(
        None,
        path=True,
        help="JSON file written at the end: per source, the learned lines cut and how often.",
    )
    #: Per source, what was learned and cut (filled by the run, read by the report).
    removed_counts: dict[str, SourceSummary] = attrs.field(
        factory=dict, init=False, repr=False, eq=False
    )
    _log: structlog.typing.FilteringBoundLogger | None = attrs.field(
        default=None, init=False, repr=False
    )

    def setup(self, context: StageContext) -> None:
        self._log = context.log
        if self.report is not None:
            writable_folder(self.report, option="report")

    def process_stream(self, docs: Iterator[Document]) -> Iterator[Document]:
        summaries: dict[str, SourceSummary] = {}
        self.removed_counts = summaries
        with Spool() as spool, _LineKeys() as keys:
            for doc in docs:
                summary = summaries.get(doc.source)
                if summary is None:
                    summary = summaries[doc.source] = SourceSummary()
                summary.documents += 1
                keys.add(doc.source, doc.text, self._normal_lines(doc.text))
                spool.append(doc)
            for summary in summaries.values():
                if summary.documents >= self.min_documents:
                    share = math.ceil(self.min_fraction * summary.documents)
                    summary.threshold = max(self.min_documents, share)
            counts = keys.frequent(self.min_documents)
            for doc, doc_keys in zip(spool, keys, strict=True):
                yield self._clean(doc, doc_keys, summaries[doc.source], counts)
        self._finish()

    def _normal_lines(self, text: str) -> list[str]:
        """Each line of ``text`` as lines are compared; "" for a line never learned."""
        folded = text.casefold().translate(_fold_table(self.fold_digits))
        if "  " in folded:
            folded = _SPACE_RUN.sub(" ", folded)
        if self.fold_digits and "00" in folded:
            folded = _ZEROS.sub("0", folded)
        shortest, word = self.min_length, _WORD.search
        return [
            line if len(line) >= shortest and (line[:1].isalnum() or word(line)) else ""
            for line in (line.strip(" ") for line in folded.split("\n"))
        ]

    def _clean(
        self,
        doc: Document,
        keys: array.array[int],
        summary: SourceSummary,
        counts: dict[int, int],
    ) -> Document:
        text_lines = doc.text.split("\n")
        rules: list[str | None] = [None] * len(text_lines)
        learning = summary.threshold > 0
        if learning:
            threshold = summary.threshold
            learned = {key for key in counts.keys() & set(keys) if counts[key] >= threshold}
            if learned:
                for index in [i for i, key in enumerate(keys) if key in learned]:
                    rules[index] = LEARNED
                    summary.count_learned(keys[index], text_lines[index].strip())
        # An extractor (read.html) already took the main text out of the page: the
        # furniture heuristic would only cut article text there.
        extracted = bool(doc.metadata.get(EXTRACTED_BY))
        if self.furniture and not extracted and (self.furniture_everywhere or not learning):
            furniture = furniture_lines(text_lines, rules)
            for index in furniture:
                rules[index] = FURNITURE
            if furniture:
                summary.furniture_documents += 1
                summary.furniture_lines += len(furniture)
        if not any(rules):
            return doc
        _attach_blank_lines(text_lines, rules)
        if not text_lines[-1]:
            rules[-1] = None  # what follows a final line break is not a line
        cuts = []
        start = 0
        for line, rule in zip(text_lines, rules, strict=True):
            end = start + len(line) + 1  # with its line break (none after the last line)
            if rule is not None:
                cuts.append(Cut(start, end, rule))
            start = end
        return apply_cuts(doc, cuts, self.name)

    def _finish(self) -> None:
        log = self._log or structlog.get_logger()
        for source in sorted(self.removed_counts):
            summary = self.removed_counts[source]
            log.info(
                "boilerplate removed",
                source=source,
                documents=summary.documents,
                threshold=summary.threshold,
                learned=len(summary.learned),
                learned_lines=summary.learned_lines,
                furniture_documents=summary.furniture_documents,
                furniture_lines=summary.furniture_lines,
            )
        if self.report is not None:
            options = {
                "min_documents": self.min_documents,
                "min_fraction": self.min_fraction,
                "min_length": self.min_length,
                "fold_digits": self.fold_digits,
                "furniture": self.furniture,
                "furniture_everywhere": self.furniture_everywhere,
            }
            sources = [self.removed_counts[s].as_json(s) for s in sorted(self.removed_counts)]
            report = {"stage": self.name, "options": options, "sources": sources}
            with AtomicFile.open(self.report, option="report") as output:
                output.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def _attach_blank_lines(text_lines: Sequence[str], rules: list[str | None]) -> None:
    """Cut the blank lines that only separated cut lines, so no gap is left behind.

    A run of blank lines goes with the cut line above it; the blank lines between the
    last kept line and cut lines that end the text go with those. Blank lines between
    two kept lines, and at the very start, stay.
    """
    size = len(text_lines)
    for index in [i for i, rule in enumerate(rules) if rule is not None]:
        after = index + 1
        while after < size and not text_lines[after].strip():
            rules[after] = rules[index]
            after += 1
    last_kept = size - 1
    while last_kept >= 0 and (rules[last_kept] is not None or not text_lines[last_kept].strip()):
        last_kept -= 1
    below: str | None = None
    for index in range(size - 1, last_kept, -1):
        if rules[index] is not None:
            below = rules[index]
        elif below is not None:
            rules[index] = below


class _LineKeys:
    """The lines of every document as 64-bit keys: counted across documents, replayed.

    A key hashes a document's source with one normalised line (Python's string hash:
    stable for the life of the process, which is all a run needs, as keys are never
    written out; two different lines share a key with odds of about 1 in 2**64, the
    only way a line found in one document could be taken for boilerplate). ``add``
    appends each document's distinct keys to one of 64 partitions (in memory, spilled to
    temporary files when large) and all its keys, in line order, to a sequence file read
    back by iterating. ``frequent`` counts one partition at a time, so memory is bounded
    by a partition, not by the number of distinct lines in the corpus; the counts do not
    depend on the order in which documents were added.
    """

    PARTITIONS = 64
    BUFFER = 1 << 14  # keys per partition held in memory: 64 x 16 Ki x 16 bytes = 16 MiB

    def __init__(self) -> None:
        self._keys = [array.array("Q") for _ in range(self.PARTITIONS)]
        self._texts = [array.array("Q") for _ in range(self.PARTITIONS)]
        self._spilled: list[tuple[IO[bytes], IO[bytes]] | None] = [None] * self.PARTITIONS
        self._sequence: IO[bytes] = tempfile.TemporaryFile(prefix="docstage-lines-")  # noqa: SIM115 - closed in close()
        self._documents = 0

    def add(self, source: str, text: str, normal_lines: Sequence[str]) -> None:
        """Add one document: its ``text`` and its lines as normalised ("" to skip)."""
        salt = hash(source)
        keys = array.array(
            "Q", [(hash(line) ^ salt) & _MASK if line else 0 for line in normal_lines]
        )
        array.array("Q", [len(keys)]).tofile(self._sequence)
        keys.tofile(self._sequence)
        self._documents += 1
        distinct = set(keys)
        distinct.discard(0)
        text_key = hash((source, text)) & _MASK  # copies of a text count once
        mask = self.PARTITIONS - 1
        for key in distinct:
            self._keys[key & mask].append(key)
            self._texts[key & mask].append(text_key)
        if self._documents % 256 == 0:
            for part in range(self.PARTITIONS):
                if len(self._keys[part]) >= self.BUFFER:
                    self._spill(part)

    def _spill(self, part: int) -> None:
        files = self._spilled[part]
        if files is None:
            files = self._spilled[part] = (
                tempfile.TemporaryFile(prefix="docstage-lines-"),  # noqa: SIM115 - closed in close()
                tempfile.TemporaryFile(prefix="docstage-lines-"),  # noqa: SIM115 - closed in close()
            )
        self._keys[part].tofile(files[0])
        self._texts[part].tofile(files[1])
        self._keys[part] = array.array("Q")
        self._texts[part] = array.array("Q")

    def _partition(self, part: int) -> Iterator[tuple[int, int]]:
        """The (line key, text key) pairs of one partition."""
        keys, texts = array.array("Q"), array.array("Q")
        files = self._spilled[part]
        if files is not None:
            for target, handle in zip((keys, texts), files, strict=True):
                handle.seek(0)
                target.frombytes(handle.read())
        keys.extend(self._keys[part])
        texts.extend(self._texts[part])
        return zip(keys, texts, strict=True)

    def frequent(self, minimum: int) -> dict[int, int]:
        """The keys found in at least ``minimum`` distinct texts, with that number."""
        found: dict[int, int] = {}
        for part in range(self.PARTITIONS):
            counts = Counter(map(itemgetter(0), set(self._partition(part))))
            found.update((key, count) for key, count in counts.items() if count >= minimum)
        return found

    def __iter__(self) -> Iterator[array.array[int]]:
        """Each document's line keys, in the order the documents were added."""
        self._sequence.flush()
        self._sequence.seek(0)
        for _ in range(self._documents):
            size = array.array("Q")
            size.fromfile(self._sequence, 1)
            keys = array.array("Q")
            keys.fromfile(self._sequence, size[0])
            yield keys

    def close(self) -> None:
        self._sequence.close()
        for files in self._spilled:
            for handle in files or ():
                handle.close()
        self._spilled = [None] * self.PARTITIONS

    def __enter__(self) -> _LineKeys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the furniture heuristic ------------------------------------------------------------

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


STAGES = (CleanupBoilerplate,)
