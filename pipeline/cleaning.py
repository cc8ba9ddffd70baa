"""Cutting text out of a document so that every cut can be audited and undone.

Cleanup stages decide *what* to remove as :class:`Cut` spans over the text they received;
:func:`apply_cuts` removes them and records each one on the document as a
:class:`~docstage.document.Removal` (rule, text, offset). :func:`restore` undoes the
removals, which is how tests prove that nothing disappears silently: the kept text plus
the recorded removals give back the input.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence

import attrs

from docstage.document import REMOVED, Document, Removal

_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


@attrs.frozen
class Cut:
    """A span ``[start, end)`` of a document's text to remove, and the rule that says so.

    Attributes:
        start: Offset of the first character to remove.
        end: Offset just past the last character to remove.
        rule: A short name for why, e.g. ``date-prefix`` or ``footer``; the stage's name
            is prefixed when the cut is recorded.
    """

    start: int
    end: int
    rule: str


def lines(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, str]]:
    """Each line of ``text`` as ``(start, end, line)``; ``end`` includes the newline.

    ``line`` has no newline. Spans tile the text exactly, so cutting whole lines by
    their spans removes the line break with them. ``start`` and ``end`` limit the scan
    to a part of the text that begins at a line start (offsets stay absolute).
    """
    for match in _LINE.finditer(text, start, len(text) if end is None else end):
        start, end = match.span()
        yield start, end, text[start:end].rstrip("\n")


def tail_start(text: str, count: int) -> int:
    """Offset of the line start from which ``text`` has its last ``count`` non-blank lines.

    Scans back from the end, so finding a long document's footer costs its footer only.
    """
    position = len(text)
    found = 0
    while position > 0 and found < count:
        previous = text.rfind("\n", 0, position - 1) + 1
        if text[previous:position].strip():
            found += 1
        position = previous
    return position


def apply_cuts(doc: Document, cuts: Iterable[Cut], stage: str) -> Document:
    """Remove ``cuts`` from ``doc.text`` and record each as removed by ``stage:rule``.

    Overlapping or touching cuts of the same rule are merged; when cuts of different
    rules overlap, the earlier one wins the shared characters. Empty cuts are ignored.
    Returns ``doc`` itself when there is nothing to cut.
    """
    ordered = sorted((c for c in cuts if c.end > c.start), key=lambda c: (c.start, c.end))
    if not ordered:
        return doc
    text = doc.text
    merged: list[Cut] = []
    for cut in ordered:
        start, end = max(cut.start, 0), min(cut.end, len(text))
        if merged and start <= merged[-1].end:
            last = merged[-1]
            if end <= last.end:
                continue
            if last.rule == cut.rule:
                merged[-1] = Cut(last.start, end, last.rule)
                continue
            start = last.end
        if end > start:
            merged.append(Cut(start, end, cut.rule))
    kept: list[str] = []
    removals: list[Removal] = []
    position = 0
    for cut in merged:
        kept.append(text[position : cut.start])
        removals.append(
            Removal(rule=f"{stage}:{cut.rule}", text=text[cut.start : cut.end], start=cut.start)
        )
        position = cut.end
    kept.append(text[position:])
    previous = doc.get(REMOVED) or ()
    annotations = {**doc.annotations, REMOVED.name: (*previous, *removals)}
    return attrs.evolve(doc, text="".join(kept), annotations=annotations)


def restore(text: str, removals: Sequence[Removal]) -> str:
    """Undo recorded removals: put every removed piece back where it was cut (in place
    of what was inserted there, for a replacement).

    Removals are undone stage by stage, the last stage first (a stage's removals are
    consecutive and share the ``stage:`` prefix of their rule).
    """
    groups = [
        list(group)
        for _, group in itertools.groupby(removals, key=lambda r: r.rule.partition(":")[0])
    ]
    for group in reversed(groups):
        for removal in sorted(group, key=lambda r: r.start or 0):
            start = removal.start if removal.start is not None else len(text)
            text = text[:start] + removal.text + text[start + len(removal.inserted) :]
    return text
