"""``cleanup.boilerplate``: lines a source repeats on every page, and page furniture.

Two passes over the stream. The first counts, per source, how many distinct documents
contain each line (normalised and hashed; the counts are kept on disk, within the run's
memory budget, by :class:`~docstage_plugins.cleanup.line_keys.LineKeys`) and spools the
documents to disk; the second reads them back in their original order and cuts the lines
found in enough documents of their source (rule ``learned``). Documents of sources too
small to learn from get a text-only heuristic instead (rule ``furniture``, in
:mod:`docstage_plugins.cleanup.furniture`): menus, share bars, cookie and copyright lines,
and the short lines around a page's main block of text.

Every decision depends only on the set of documents of a source, never on their order
or on how the stream was batched, so the output is the same in any order and with any
number of workers. Every cut is recorded on the document through
:func:`docstage.cleaning.apply_cuts`, so :func:`docstage.cleaning.restore` undoes it.
"""

from __future__ import annotations

import array
import functools
import json
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import structlog

from docstage.cleaning import Cut, apply_cuts
from docstage.document import Document
from docstage.io import AtomicFile, writable_folder
from docstage.options import at_least, between, option
from docstage.spill import DEFAULT_MEMORY
from docstage.spool import Spool
from docstage.stages import CorpusStage, StageContext, StageProgress
from docstage_plugins.cleanup.furniture import EXTRACTED_BY, FURNITURE, furniture_lines
from docstage_plugins.cleanup.line_keys import LineKeys

LEARNED = "learned"

_WORD = re.compile(r"\w+")
_ZEROS = re.compile(r"00+")
_SPACE_RUN = re.compile(r"  +")


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

    The documents wait on disk between the passes, and the line counts are kept on disk
    too, so memory stays within the run's budget (``[run] memory``) whatever the number
    of documents; the output is the same under any budget.
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
    _memory: int = attrs.field(default=DEFAULT_MEMORY, init=False, repr=False)
    _progress: StageProgress = attrs.field(factory=StageProgress, init=False, repr=False)

    def setup(self, context: StageContext) -> None:
        self._log = context.log
        self._memory = context.memory
        self._progress = context.progress
        if self.report is not None:
            writable_folder(self.report, option="report")

    def process_stream(self, docs: Iterator[Document]) -> Iterator[Document]:
        summaries: dict[str, SourceSummary] = {}
        self.removed_counts = summaries
        with Spool.behind(docs) as spool, LineKeys(memory=self._memory) as keys:
            for doc in docs:
                summary = summaries.get(doc.source)
                if summary is None:
                    summary = summaries[doc.source] = SourceSummary()
                summary.documents += 1
                keys.add(doc.source, doc.text, self._normal_lines(doc.text))
                spool.append(doc)
            self._progress.phase("learning")
            for summary in summaries.values():
                if summary.documents >= self.min_documents:
                    share = math.ceil(self.min_fraction * summary.documents)
                    summary.threshold = max(self.min_documents, share)
            learned = keys.learned({source: s.threshold for source, s in summaries.items()})
            nothing: set[int] = set()
            for doc, doc_keys in zip(spool, keys, strict=True):
                found = learned.get(doc.source, nothing)
                yield self._clean(doc, doc_keys, summaries[doc.source], found)
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
        self, doc: Document, keys: array.array[int], summary: SourceSummary, source: set[int]
    ) -> Document:
        """``doc`` without the lines of ``source``'s learned ``keys``, and its furniture."""
        text_lines = doc.text.split("\n")
        rules: list[str | None] = [None] * len(text_lines)
        learning = summary.threshold > 0
        if learning:
            learned = source.intersection(keys)
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


STAGES = (CleanupBoilerplate,)
