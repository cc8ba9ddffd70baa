"""``cleanup.normalize``: Unicode and whitespace normalisation, mojibake repair with ftfy."""

from __future__ import annotations

import re
import unicodedata
from typing import ClassVar, Literal

import attrs

from docstage.cleaning import Cut, apply_cuts
from docstage.document import Document
from docstage.options import at_least, option
from docstage.stages import StageContext, Transform

# Unicode spaces (no-break, en, em, thin, ideographic, ...) read as a plain space.
_UNICODE_SPACES = dict.fromkeys([0x00A0, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000], " ")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")
_LEADING = re.compile(r"\n+")
_BREAKS = re.compile(r"\n\n+")


def _fix_mojibake(text: str) -> str:
    """ftfy's repair, line by line where it would join lines (it reads bytes such as
    ``C0 0A`` in nonsense as one character, swallowing the line break)."""
    import ftfy

    def fix(part: str) -> str:
        return ftfy.fix_text(part, normalization=None, uncurl_quotes=False, fix_line_breaks=False)

    fixed = fix(text)
    if fixed.count("\n") == text.count("\n"):
        return fixed
    lines = []
    for line in text.split("\n"):
        repaired = fix(line) if not line.isascii() else line
        lines.append(repaired if "\n" not in repaired else line)
    return "\n".join(lines)


def _tidy_spaces(text: str) -> str:
    """Collapse runs of spaces and tabs to one space and cut trailing spaces.

    Done with ``str.replace``, which scans many times faster than a regex: a run of n
    spaces needs about log2(n) passes.
    """
    if not text.isascii():
        text = text.translate(_UNICODE_SPACES)
    if "\t" in text:
        text = text.replace("\t", " ")
    while "  " in text:
        text = text.replace("  ", " ")
    if " \n" in text:
        text = text.replace(" \n", "\n")
    return text.rstrip(" ")


@attrs.define(kw_only=True)
class CleanupNormalize(Transform):
    """Repair mojibake, normalise Unicode and tidy whitespace.

    Within each line: mojibake such as ``donâ€™t`` is repaired with ftfy (only text that
    is not plain ASCII is looked at), the text is put in Unicode normal form ``form``,
    control and zero-width characters go, runs of spaces and tabs become one space and
    trailing spaces are cut. Between lines: more than ``max_blank_lines`` blank lines in
    a row, and blank lines at the start and end, are cut and recorded like every other
    removal. Line breaks inside paragraphs are kept.
    """

    name: ClassVar[str] = "cleanup.normalize"

    mojibake: bool = option(True, help="Repair mojibake and HTML entities left in text (ftfy).")
    form: Literal["NFC", "NFKC", "none"] = option(
        "NFC",
        help="Unicode normal form: 'NFC' composes accents, 'NFKC' also folds "
        "compatibility characters (ligatures, full-width forms), 'none' leaves them.",
    )
    whitespace: bool = option(
        True, help="Collapse spaces and tabs, cut trailing spaces and extra blank lines."
    )
    max_blank_lines: int = option(
        1,
        help="Blank lines kept in a row between paragraphs.",
        validator=at_least(0),
    )

    def setup(self, context: StageContext) -> None:
        if self.mojibake:
            import ftfy  # noqa: F401 - fail at setup, not on the first document

    def process(self, doc: Document) -> Document:
        # Within lines first (the line count stays), then blank lines are cut and recorded.
        text = doc.text
        fixed = text
        if self.mojibake and not fixed.isascii():
            fixed = _fix_mojibake(fixed)
        if self.form != "none" and not fixed.isascii():
            fixed = unicodedata.normalize(self.form, fixed)
        if self.whitespace:
            # Whole-text passes: a regex over the text is far cheaper than a loop over lines.
            if not fixed.isascii():
                fixed = _ZERO_WIDTH.sub("", fixed)
            if _CONTROL.search(fixed):
                fixed = _CONTROL.sub("", fixed)
            fixed = _tidy_spaces(fixed)
        if fixed != text:
            doc = doc.evolve(text=fixed)
        if self.whitespace:
            doc = self._cut_blank_lines(doc)
        return doc

    def _cut_blank_lines(self, doc: Document) -> Document:
        """Cut blank lines at both ends and beyond ``max_blank_lines`` in a row.

        Runs after the in-line pass, so a blank line is an empty line: runs of line breaks.
        """
        text = doc.text
        keep = self.max_blank_lines + 1  # line breaks in a row between two lines of text
        if not (text.startswith("\n") or text.endswith("\n\n") or "\n" * (keep + 1) in text):
            return doc
        cuts: list[Cut] = []
        leading = _LEADING.match(text)
        start = leading.end() if leading else 0
        end = len(text)
        while end > start and text[end - 1] == "\n":
            end -= 1
        if start:
            cuts.append(Cut(0, start, "blank"))
        if end == start:
            cuts.append(Cut(0, len(text), "blank"))
        elif len(text) - end > 1:
            cuts.append(Cut(end + 1, len(text), "blank"))  # keep the last line's break
        for run in _BREAKS.finditer(text, start, end):
            if run.end() - run.start() > keep:
                cuts.append(Cut(run.start() + keep, run.end(), "blank"))
        return apply_cuts(doc, cuts, self.name) if cuts else doc


STAGES = (CleanupNormalize,)
